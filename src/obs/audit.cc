#include "obs/audit.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace blobseal::obs {

std::string format_rfc3339_millis(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto millis = floor<milliseconds>(time);
  auto seconds = floor<std::chrono::seconds>(millis);
  std::time_t t = system_clock::to_time_t(time_point_cast<system_clock::duration>(seconds));
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, (millis - seconds).count());
}

std::string format_audit_line(const AuditEvent& event) {
  // ordered_json keeps the fields in the documented order.
  nlohmann::ordered_json json;
  json["time"] = format_rfc3339_millis(event.time);
  json["request_id"] = event.request_id;
  json["principal"] = event.principal;
  json["tenant"] = event.tenant;
  json["action"] = event.action;
  json["bucket"] = event.bucket;
  json["key"] = event.key;
  json["bytes_in"] = event.bytes_in;
  json["bytes_out"] = event.bytes_out;
  json["status"] = event.http_status;
  json["error_code"] = event.error_code.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(event.error_code);
  json["client_address"] = event.client_address;
  json["user_agent"] = event.user_agent ? nlohmann::ordered_json(*event.user_agent) : nlohmann::ordered_json(nullptr);
  json["duration_ms"] = static_cast<double>(event.duration.count()) / 1000.0;
  json["key_id"] = event.key_id ? nlohmann::ordered_json(*event.key_id) : nlohmann::ordered_json(nullptr);
  json["key_version"] = event.key_version ? nlohmann::ordered_json(*event.key_version) : nlohmann::ordered_json(nullptr);
  // ensure_ascii: nothing but printable ASCII reaches the file; replace: invalid UTF-8 becomes U+FFFD instead of
  // throwing.
  return json.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::ordered_json::error_handler_t::replace);
}

void MemoryAuditSink::record(AuditEvent event) noexcept {
  std::lock_guard lock(mutex_);
  if (events_.size() >= max_events_) {
    ++dropped_;
    return;
  }
  try {
    events_.push_back(std::move(event));
  } catch (...) {
    ++dropped_;
  }
}

std::vector<AuditEvent> MemoryAuditSink::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::size_t MemoryAuditSink::size() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

std::uint64_t MemoryAuditSink::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void MemoryAuditSink::clear() {
  std::lock_guard lock(mutex_);
  events_.clear();
  dropped_ = 0;
}

}  // namespace blobseal::obs
