#include "s3/range.h"

#include <limits>

#include "s3/http_date.h"

namespace blobseal::s3 {

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A non-empty run of ASCII digits, saturating at 2^64-1. nullopt when empty or not all digits.
std::optional<std::uint64_t> saturating_number(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    value = value > (kMax - d) / 10 ? kMax : value * 10 + d;
  }
  return value;
}

Error unsatisfiable() {
  return Error(ErrorCode::kOutOfRange, "The requested range is not satisfiable", "InvalidRange");
}

}  // namespace

Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>> resolve_range_header(std::string_view header,
                                                                                   std::uint64_t size) {
  using Resolved = std::optional<std::pair<std::uint64_t, std::uint64_t>>;
  header = trim(header);
  auto equals = header.find('=');
  if (equals == std::string_view::npos) return Resolved{};
  std::string_view unit = trim(header.substr(0, equals));
  if (unit.size() != 5) return Resolved{};
  for (std::size_t i = 0; i < 5; ++i)
    if ((unit[i] | 0x20) != "bytes"[i]) return Resolved{};
  std::string_view spec = trim(header.substr(equals + 1));
  if (spec.find(',') != std::string_view::npos) return Resolved{};  // several ranges: S3 sends the whole object
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return Resolved{};
  std::string_view first_text = spec.substr(0, dash), last_text = spec.substr(dash + 1);

  if (first_text.empty()) {  // suffix range "-n"
    auto suffix = saturating_number(last_text);
    if (!suffix) return Resolved{};
    if (*suffix == 0 || size == 0) return tl::unexpected(unsatisfiable());
    std::uint64_t n = std::min(*suffix, size);
    return Resolved{{size - n, n}};
  }
  auto first = saturating_number(first_text);
  if (!first) return Resolved{};
  std::uint64_t last = kMax;
  if (!last_text.empty()) {
    auto parsed = saturating_number(last_text);
    if (!parsed || *parsed < *first) return Resolved{};
    last = *parsed;
  }
  if (*first >= size) return tl::unexpected(unsatisfiable());
  last = std::min(last, size - 1);
  return Resolved{{*first, last - *first + 1}};
}

bool if_range_matches(std::string_view if_range, std::string_view etag, std::int64_t modified_unix_seconds) {
  if_range = trim(if_range);
  if (if_range.starts_with("W/")) return false;
  if (if_range.size() >= 2 && if_range.front() == '"' && if_range.back() == '"') {
    std::string_view tag = if_range.substr(1, if_range.size() - 2);
    return !etag.empty() && tag == etag;
  }
  if (auto date = parse_http_date(if_range)) return *date == modified_unix_seconds;
  return false;
}

}  // namespace blobseal::s3
