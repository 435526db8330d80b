// The boundary between the HTTP server and the protocol front ends (S3 now, secure-files later). No Boost type
// crosses it: a handler sees a Request whose body is a ByteSource and answers through a ResponseWriter whose body
// is a ByteSink. Both block the calling worker thread while the connection's coroutine moves the bytes, which gives
// backpressure in both directions without the engine knowing about sockets (docs/ARCHITECTURE.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_stream.h"
#include "core/error.h"

namespace blobseal::http {

struct Header {
  std::string name;   // as received / as to be sent
  std::string value;
};

class Request {
 public:
  virtual ~Request() = default;

  virtual std::string_view method() const = 0;          // "GET", "PUT", ...
  // The request-target exactly as received (origin form), e.g. "/bucket/a%20b?uploads&x=1". SigV4 needs the raw
  // bytes; path() and query() split it at the first '?', still percent-encoded.
  virtual std::string_view target() const = 0;
  std::string_view path() const;
  std::string_view query() const;

  virtual const std::vector<Header>& headers() const = 0;
  // First header with this name, compared case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const;

  virtual std::optional<std::uint64_t> content_length() const = 0;  // absent for chunked transfer encoding
  virtual std::string_view remote_address() const = 0;             // "127.0.0.1:53412"
  virtual std::string_view request_id() const = 0;                 // unique per request, also in the access log
  virtual bool is_tls() const = 0;

  // The request body, de-chunked (Transfer-Encoding: chunked) but otherwise as sent. If the client sent
  // "Expect: 100-continue", the first read sends "100 Continue"; a handler that answers without reading the body
  // never triggers it. Reading past the configured body limit fails with ResourceExhausted.
  virtual ByteSource& body() = 0;
};

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // Sets the status line and headers; may be called until send_headers().
  virtual void set_status(int status) = 0;
  virtual void add_header(std::string name, std::string value) = 0;

  // Commits status and headers. With a content length, exactly that many body bytes must follow; without one the
  // body is sent with chunked transfer encoding. Calling body_sink().write() first commits implicitly (chunked).
  virtual Status send_headers(std::optional<std::uint64_t> content_length) = 0;

  // Body bytes; each write returns once the bytes are handed to the socket (backpressure).
  virtual ByteSink& body_sink() = 0;

  // Ends the response normally.
  virtual Status finish() = 0;

  // Ends the response by resetting the connection, so the client can never mistake a cut-off body for a complete
  // one (used when a chunk fails verification after headers went out). The connection is not reused.
  virtual void abort() = 0;

  virtual bool headers_sent() const = 0;
};

// The largest body an inline answer may carry (see Handler::respond_inline).
inline constexpr std::uint64_t kInlineBodyLimit = 64 * 1024;

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on a worker thread, once per request. Must leave the response finished or aborted; the server finishes
  // an untouched response with 500.
  virtual void handle(Request& request, ResponseWriter& response) = 0;

  // Called on an I/O thread, before handle(), for a request that has no body. A handler that can answer at once
  // (no slow or remote I/O) with a body of at most kInlineBodyLimit bytes does so, completely, into `response` and
  // returns true: the request then costs no hand-off between threads. Otherwise it returns false having done
  // nothing visible (no response call, no metric, no audit record) and handle() follows on a worker. The writer
  // buffers everything and refuses body bytes beyond the limit.
  virtual bool respond_inline(Request& request, ResponseWriter& response) {
    (void)request;
    (void)response;
    return false;
  }
};

// Convenience: a complete response with a small in-memory body.
Status respond(ResponseWriter& response, int status, std::string_view content_type, std::string_view body,
               const std::vector<Header>& extra_headers = {});

}  // namespace blobseal::http
