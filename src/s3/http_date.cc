#include "s3/http_date.h"

#include <array>
#include <chrono>

#include <fmt/format.h>

namespace blobseal::s3 {

namespace {

constexpr std::array<std::string_view, 7> kShortDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A cursor over the date text; every reader fails (returns false/nullopt) instead of reading past the end.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  // `s` exactly, but letters in any case.
  bool literal(std::string_view s) {
    if (text_.size() < s.size() || !iequals(text_.substr(0, s.size()), s)) return false;
    text_.remove_prefix(s.size());
    return true;
  }
  // Exactly `n` ASCII digits.
  std::optional<unsigned> digits(std::size_t n) {
    if (text_.size() < n) return std::nullopt;
    unsigned v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      char c = text_[i];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    text_.remove_prefix(n);
    return v;
  }
  // One of `names`, case-insensitively; returns its index.
  template <std::size_t N>
  std::optional<unsigned> name(const std::array<std::string_view, N>& names) {
    for (unsigned i = 0; i < N; ++i) {
      if (text_.size() >= names[i].size() && iequals(text_.substr(0, names[i].size()), names[i])) {
        text_.remove_prefix(names[i].size());
        return i;
      }
    }
    return std::nullopt;
  }
  bool done() const { return text_.empty(); }

 private:
  std::string_view text_;
};

struct Parts {
  std::int64_t year = 0;
  unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// time-of-day = hour ":" minute ":" second (second may be 60 for a leap second).
bool time_of_day(Cursor& c, Parts& p) {
  auto h = c.digits(2);
  if (!h || !c.literal(":")) return false;
  auto m = c.digits(2);
  if (!m || !c.literal(":")) return false;
  auto s = c.digits(2);
  if (!s) return false;
  p.hour = *h;
  p.minute = *m;
  p.second = *s;
  return true;
}

std::optional<std::int64_t> to_unix(const Parts& p) {
  if (p.month < 1 || p.month > 12 || p.day < 1 || p.day > days_in_month(p.year, p.month)) return std::nullopt;
  if (p.hour > 23 || p.minute > 59 || p.second > 60) return std::nullopt;
  return days_from_civil(p.year, p.month, p.day) * 86400 + p.hour * 3600 + p.minute * 60 + p.second;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> parse_imf_fixdate(std::string_view text) {
  Cursor c(text);
  Parts p;
  if (!c.name(kShortDays) || !c.literal(", ")) return std::nullopt;
  auto d = c.digits(2);
  if (!d || !c.literal(" ")) return std::nullopt;
  auto m = c.name(kMonths);
  if (!m || !c.literal(" ")) return std::nullopt;
  auto y = c.digits(4);
  if (!y || !c.literal(" ") || !time_of_day(c, p) || !c.literal(" GMT") || !c.done()) return std::nullopt;
  p.year = *y;
  p.month = *m + 1;
  p.day = *d;
  return to_unix(p);
}

std::optional<std::int64_t> parse_rfc850(std::string_view text, std::int64_t now_unix_seconds) {
  Cursor c(text);
  Parts p;
  if (!c.name(kLongDays) || !c.literal(", ")) return std::nullopt;
  auto d = c.digits(2);
  if (!d || !c.literal("-")) return std::nullopt;
  auto m = c.name(kMonths);
  if (!m || !c.literal("-")) return std::nullopt;
  auto yy = c.digits(2);
  if (!yy || !c.literal(" ") || !time_of_day(c, p) || !c.literal(" GMT") || !c.done()) return std::nullopt;
  // The most recent year with these last two digits that is not more than 50 years in the future.
  std::int64_t now_year = civil_from_days(now_unix_seconds / 86400 - (now_unix_seconds % 86400 < 0)).year;
  std::int64_t century = now_year - ((now_year % 100) + 100) % 100;
  std::int64_t year = century + *yy;
  if (year > now_year + 50) year -= 100;
  else if (year <= now_year - 50) year += 100;
  p.year = year;
  p.month = *m + 1;
  p.day = *d;
  return to_unix(p);
}

std::optional<std::int64_t> parse_asctime(std::string_view text) {
  Cursor c(text);
  Parts p;
  if (!c.name(kShortDays) || !c.literal(" ")) return std::nullopt;
  auto m = c.name(kMonths);
  if (!m || !c.literal(" ")) return std::nullopt;
  std::optional<unsigned> d;
  if (c.literal(" ")) d = c.digits(1);
  else d = c.digits(2);
  if (!d || !c.literal(" ") || !time_of_day(c, p) || !c.literal(" ")) return std::nullopt;
  auto y = c.digits(4);
  if (!y || !c.done()) return std::nullopt;
  p.year = *y;
  p.month = *m + 1;
  p.day = *d;
  return to_unix(p);
}

}  // namespace

std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_unix_seconds) {
  text = trim(text);
  if (text.size() > 64) return std::nullopt;
  if (auto t = parse_imf_fixdate(text)) return t;
  if (auto t = parse_rfc850(text, now_unix_seconds)) return t;
  return parse_asctime(text);
}

std::optional<std::int64_t> parse_http_date(std::string_view text) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return parse_http_date(text, now.count());
}

std::string format_http_date(std::int64_t unix_seconds) {
  std::int64_t days = unix_seconds / 86400;
  std::int64_t rest = unix_seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  Civil date = civil_from_days(days);
  // 1970-01-01 was a Thursday.
  std::int64_t weekday = ((days % 7) + 7 + 4) % 7;
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kShortDays[weekday], date.day, kMonths[date.month - 1],
                     date.year, rest / 3600, rest % 3600 / 60, rest % 60);
}

std::string format_iso8601(std::int64_t unix_ns) {
  std::int64_t ms = unix_ns / 1000000 - (unix_ns % 1000000 < 0);
  std::int64_t seconds = ms / 1000 - (ms % 1000 < 0);
  std::int64_t millis = ms - seconds * 1000;
  std::int64_t days = seconds / 86400 - (seconds % 86400 < 0);
  std::int64_t rest = seconds - days * 86400;
  Civil date = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", date.year, date.month, date.day, rest / 3600,
                     rest % 3600 / 60, rest % 60, millis);
}

}  // namespace blobseal::s3
