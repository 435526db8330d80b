// The access log line: one JSON object per request. Private to src/http (the server emits it through
// ServerOptions::access_log); Beast-free so that its redaction rules are unit-tested on their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace blobseal::http::internal {

struct AccessRecord {
  std::chrono::system_clock::time_point time;  // when the request head was complete
  std::string_view request_id;
  std::string_view remote;
  std::string_view method;
  std::string_view target;  // raw request-target; only its redacted form reaches the log
  std::string_view user_agent;
  int status = 0;               // 0 when no status line was sent
  std::uint64_t bytes_in = 0;   // request body bytes delivered to the handler
  std::uint64_t bytes_out = 0;  // response body bytes written to the socket
  double duration_ms = 0;
  bool tls = false;
  // "ok", or why the exchange did not end cleanly: "aborted", "client_closed", "timeout", "shutdown",
  // "bad_request", "header_too_large", "handler_unfinished".
  std::string_view outcome = "ok";
};

// The request-target's query with the values of signature-bearing parameters (X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token, Signature, AWSAccessKeyId, and any parameter whose name contains "signature", "credential",
// "token" or "secret", compared case-insensitively after percent-decoding the name) replaced by "REDACTED".
std::string redact_query(std::string_view query);

// The JSON line (no trailing newline) with the fields: time (RFC 3339, UTC, milliseconds), request_id, remote,
// method, path (the target up to '?'), query (redacted, omitted when empty), status, bytes_in, bytes_out,
// duration_ms, user_agent, tls, outcome.
std::string format_access_line(const AccessRecord& record);

}  // namespace blobseal::http::internal
