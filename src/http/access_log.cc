#include "http/access_log.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace blobseal::http::internal {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoded ('+' left alone), lower-cased: good enough to recognise a parameter name.
std::string normalized_name(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '%' && i + 2 < name.size()) {
      int hi = hex_value(name[i + 1]), lo = hex_value(name[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool is_secret_parameter(std::string_view name) {
  std::string n = normalized_name(name);
  for (std::string_view word : {"signature", "credential", "token", "secret", "awsaccesskeyid", "password"})
    if (n.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace

std::string redact_query(std::string_view query) {
  std::string out;
  while (true) {
    auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    auto eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    if (eq != std::string_view::npos && is_secret_parameter(name)) {
      out.append(name);
      out.append("=REDACTED");
    } else {
      out.append(param);
    }
    if (amp == std::string_view::npos) break;
    out.push_back('&');
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string format_access_line(const AccessRecord& r) {
  using namespace std::chrono;
  auto since_epoch = duration_cast<milliseconds>(r.time.time_since_epoch());
  std::time_t seconds = static_cast<std::time_t>(duration_cast<std::chrono::seconds>(since_epoch).count());
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  std::string time = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, since_epoch.count() % 1000);

  auto q = r.target.find('?');
  std::string_view path = r.target.substr(0, q);
  nlohmann::ordered_json line;
  line["time"] = time;
  line["request_id"] = r.request_id;
  line["remote"] = r.remote;
  line["method"] = r.method;
  line["path"] = path;
  if (q != std::string_view::npos && q + 1 < r.target.size()) line["query"] = redact_query(r.target.substr(q + 1));
  line["status"] = r.status;
  line["bytes_in"] = r.bytes_in;
  line["bytes_out"] = r.bytes_out;
  line["duration_ms"] = std::round(r.duration_ms * 1000.0) / 1000.0;
  line["user_agent"] = r.user_agent;
  line["tls"] = r.tls;
  line["outcome"] = r.outcome;
  // Replace invalid UTF-8 (a raw target may hold any bytes) instead of throwing.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace blobseal::http::internal
