// The HTTP(S) client blobseal uses to reach an upstream service (an S3 store now; KMS, Vault later). Below the engine
// in the module graph, it speaks byte streams (core/byte_stream.h) and knows nothing of objects or sealing.
//
// - Connections: a pool of keep-alive connections to one endpoint, shared by every thread; a connection is reused
//   only after an exchange that ended cleanly (its body read to the end).
// - Timeouts: connect_timeout for the TCP (and TLS) handshake; read_timeout as an idle timeout — an exchange that
//   moves no byte in either direction for that long fails with Unavailable. A transfer the caller has paused (it
//   is not reading the body) is not idle.
// - Streaming both ways, with backpressure: a request body is pulled from a ByteSource as the socket takes it; a
//   response body is pulled by the caller (ResponseStream) or pushed into a ByteSink, and while the caller does not
//   read, the client stops reading the socket (at most one 256 KiB buffer is held per exchange).
// - SigV4: with credentials, every attempt is signed afresh (net/sigv4_signer.h, the same functions the S3 front
//   end verifies with).
// - Retries: exponential backoff with full jitter, for idempotent requests whose body can be sent again, on
//   connection errors and timeouts, on 500, 502, 503, 504 and 429, and on any response whose error code is SlowDown;
//   bounded by RetryPolicy::max_attempts and max_total. A response body is never retried once a byte of it reached
//   the caller; a request body read from a stream is never sent twice. retries() counts every retry made.
// - Failing fast: when attempts keep failing in transport, the upstream is taken as down and requests fail at once
//   for a cool-down, then one probes (ClientOptions::down_after_failures); upstream_up() says which.
//
// Errors: a transport failure (refused, reset, timeout, TLS) is Unavailable, reason "UpstreamUnreachable" or
// "UpstreamTimeout"; a failure of the caller's source or sink is returned as that source or sink reported it. An HTTP
// error status is not an Error: the Response carries it, with the error body, for the protocol layer to interpret.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"
#include "net/header.h"

namespace blobseal::net {

struct RetryPolicy {
  int max_attempts = 4;                            // the first attempt included; 1 disables retries
  std::chrono::milliseconds base_delay{100};       // the cap of the first retry's delay
  std::chrono::milliseconds max_delay{5000};       // the cap of any one delay
  std::chrono::milliseconds max_total{30000};      // no retry starts once this much time has passed since the first
};

// The delay before retry `retry` (1 for the first retry): "full jitter", uniform in [0, min(max_delay,
// base_delay * 2^(retry-1))], drawn from `random` (any 64-bit value).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::uint64_t random);

// True for the statuses worth another attempt: 500, 502, 503, 504, 429.
bool is_retryable_status(int status);

// The <Code> of an S3-style XML error body ("SlowDown", "NoSuchKey"), or "" when there is none.
std::string error_code_of(std::string_view body);

// Credentials that sign every request (SigV4).
struct Credentials {
  std::string access_key;
  SecretBytes secret_key;
  std::string session_token;      // AWS_SESSION_TOKEN, sent as X-Amz-Security-Token when not empty
  std::string region = "us-east-1";
  std::string service = "s3";
};

// One retry about to be made, for logs and metrics.
struct RetryEvent {
  std::string method;
  std::string target;
  int attempt = 0;                    // the attempt that failed (1 = the first)
  int status = 0;                     // its HTTP status, 0 for a transport failure
  std::string reason;                 // "HTTP 503 SlowDown", "connection reset", ...
  std::chrono::milliseconds delay{0}; // the backoff before the next attempt
};

struct ClientOptions {
  // scheme://host[:port], no path: "http://127.0.0.1:9000", "https://bucket.s3.eu-west-1.amazonaws.com".
  std::string endpoint;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{30000};
  std::size_t max_idle_connections = 32;  // idle connections kept for reuse; more may be open while busy
  bool verify_tls = true;                 // check the server certificate and name (https)
  std::string ca_file;                    // PEM bundle to trust instead of the system's
  RetryPolicy retry;
  std::optional<Credentials> credentials; // sign with SigV4 when set
  std::function<void(const RetryEvent&)> on_retry;  // called before each retry's delay, on the calling thread
  // Failing fast while the upstream is down: after this many attempts in a row fail in transport (refused, reset,
  // timed out), requests fail at once (Unavailable, reason "UpstreamDown") for `down_cooldown`; then one request
  // is let through to probe, and any answer at all closes the circuit again. 0 disables it.
  int down_after_failures = 5;
  std::chrono::milliseconds down_cooldown{2000};
};

struct Request {
  std::string method = "GET";
  std::string target = "/";         // path and query as sent, percent-encoded: "/bucket/a%20b?uploads"
  // Headers to send; Host, Content-Length, X-Amz-Date, x-amz-content-sha256 and Authorization are added by the
  // client and must not be given.
  std::vector<Header> headers;
  // The body: `body` (bytes the client may send again), or `body_stream` (read once, exactly `body_length` bytes;
  // a request with a streamed body is never retried). Neither: an empty body.
  ByteSpan body;
  ByteSource* body_stream = nullptr;
  std::uint64_t body_length = 0;
  // The SigV4 payload hash; empty: the SHA-256 of `body`, or UNSIGNED-PAYLOAD for a streamed body.
  std::string payload_hash;
  // Whether sending the request twice is harmless; unset: true for GET, HEAD, PUT and DELETE.
  std::optional<bool> idempotent;
  // Overrides RetryPolicy::max_attempts for this request (1: a health probe that must answer now).
  std::optional<int> max_attempts;
};

struct Response {
  int status = 0;
  std::vector<Header> headers;
  // The body, when collected: always for a status outside 200..299 (up to 64 KiB), and for send().
  std::string body;
  int attempts = 1;  // attempts made for this response (1 + the retries)

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
  bool ok() const { return status >= 200 && status < 300; }
};

// A response whose body the caller pulls: the client reads the socket only as the caller reads the stream.
class ResponseStream : public ByteSource {
 public:
  ~ResponseStream() override = default;
  virtual const Response& response() const = 0;
  // Body bytes; 0 at the end of the body. Unavailable when the connection fails or times out before the end (a
  // short body is never a clean end).
  Result<std::size_t> read(std::span<std::uint8_t> out) override = 0;
};

class HttpClient {
 public:
  // InvalidArgument for a malformed endpoint.
  static Result<std::unique_ptr<HttpClient>> create(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends and collects the whole response body (ResourceExhausted beyond `max_body` bytes).
  Result<Response> send(const Request& request, std::size_t max_body = 1 << 20);

  // Sends and streams a 2xx response body into `sink` as it arrives; any other status's body is collected into
  // the Response. Retries stop once a byte reached the sink: a failure after that is returned.
  Result<Response> send(const Request& request, ByteSink& sink);

  // Sends and returns once the final status and headers are in (after any retries); the body is then read from
  // the stream. For a status outside 200..299 the body is already collected into response().body.
  Result<std::unique_ptr<ResponseStream>> open(const Request& request);

  // Retries made since creation (all requests, all threads).
  std::uint64_t retries() const;
  // False while requests fail fast because the upstream looked down (see ClientOptions::down_after_failures).
  bool upstream_up() const;
  const ClientOptions& options() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::net
