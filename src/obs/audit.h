// Audit: every request produces one AuditEvent, handed to an AuditSink. A sink never blocks the request on I/O and
// never throws; a sink that cannot keep up drops events and counts them (audit_events_dropped_total), because a
// request that waits for the audit writer turns a slow disk into an outage, and an unbounded queue turns it into an
// out-of-memory kill that loses the queue anyway.
//
// An event has no field for a secret: the principal is the access key id, never the secret key, and no header, query
// string or body is recorded. The JSON form (format_audit_line) is one line of ASCII whatever the bucket, key or user
// agent contain.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace blobseal::obs {

struct AuditEvent {
  std::chrono::system_clock::time_point time{};  // when the request was received
  std::string request_id;                        // as in the access log and the S3 error body
  std::string principal;                         // the access key id (never the secret); empty when anonymous
  std::string tenant;
  std::string action;                            // the S3 operation name ("GetObject"), as in s3_requests_total
  std::string bucket;                            // empty for service-level actions (ListBuckets)
  std::string key;                               // empty for bucket-level actions
  std::uint64_t bytes_in = 0;                    // request body bytes read
  std::uint64_t bytes_out = 0;                   // response body bytes written
  int http_status = 0;
  std::string error_code;                        // the S3 error code ("NoSuchKey"); empty on success
  std::string client_address;                    // "203.0.113.7:53412", the peer of the connection
  std::optional<std::string> user_agent;
  std::chrono::microseconds duration{0};         // from the first request byte to the end of the response
  std::optional<std::string> key_id;             // the key that wraps the object's data key, when one was used
  std::optional<std::uint32_t> key_version;
};

// UTC, millisecond precision, RFC 3339: "2024-05-01T12:34:56.789Z".
std::string format_rfc3339_millis(std::chrono::system_clock::time_point time);

// The event as one JSON object, without the line feed:
//   {"time":"…","request_id":"…","principal":"…","tenant":"…","action":"…","bucket":"…","key":"…",
//    "bytes_in":0,"bytes_out":0,"status":200,"error_code":null,"client_address":"…","user_agent":null,
//    "duration_ms":1.234,"key_id":null,"key_version":null}
// Every field is always present (null when absent) so consumers see one schema. The output is pure ASCII: control
// characters, quotes and backslashes are escaped, non-ASCII characters are written as \u escapes, and invalid UTF-8
// is replaced by U+FFFD — so it never contains a line break or a terminal escape, whatever the client sent.
std::string format_audit_line(const AuditEvent& event);

class AuditSink {
 public:
  virtual ~AuditSink() = default;

  // Takes one event. Returns without waiting for I/O; never throws. An event the sink cannot keep is dropped and
  // counted, never queued without bound.
  virtual void record(AuditEvent event) noexcept = 0;

  // Returns once every event recorded before the call is written durably (or dropped). The error, if any, is the
  // first write or sync failure since the previous flush. Sinks without buffering succeed at once.
  virtual Status flush() { return {}; }
};

// Discards every event (audit disabled).
class NullAuditSink final : public AuditSink {
 public:
  void record(AuditEvent) noexcept override {}
};

// Keeps events in memory, in the order recorded: for tests of the modules that emit events, and for embedding. At
// most `max_events` are kept; later ones are dropped and counted.
class MemoryAuditSink final : public AuditSink {
 public:
  explicit MemoryAuditSink(std::size_t max_events = 1 << 20) : max_events_(max_events) {}

  void record(AuditEvent event) noexcept override;

  std::vector<AuditEvent> events() const;
  std::size_t size() const;
  std::uint64_t dropped() const;
  void clear();

 private:
  const std::size_t max_events_;
  mutable std::mutex mutex_;
  std::vector<AuditEvent> events_;
  std::uint64_t dropped_ = 0;
};

}  // namespace blobseal::obs
