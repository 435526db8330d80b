// The HTTP/1.1 server: accepts connections (optionally TLS), parses requests and hands each one to a Handler on a
// worker thread, streaming bodies both ways with backpressure (handler.h). Boost.Beast and Asio stay inside
// server.cc; this header is all that the CLI and the tests see.
//
// Threads: `io_threads` run the sockets, one coroutine per connection; `worker_threads` run Handler::handle(),
// which may block. A connection holds at most one read buffer of `max_header_bytes + 16 KiB` (at least 64 KiB):
// body bytes move straight between the socket and the handler's own buffers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "http/handler.h"

namespace blobseal::http {

// Receives one access-log line (a JSON object, no trailing newline) per request. Called from I/O threads,
// possibly concurrently: it must be thread-safe and quick.
using AccessLogSink = std::function<void(std::string_view line)>;

// An AccessLogSink that appends each line and a newline to `out` under a mutex, and flushes. `out` must outlive
// the server.
AccessLogSink access_log_to(std::ostream& out);

struct TlsOptions {
  std::string certificate_chain_file;  // PEM: the server certificate first, then intermediates
  std::string private_key_file;        // PEM, unencrypted
  // TLS 1.2 is the minimum and cannot be lowered.
};

struct ServerOptions {
  // "HOST:PORT"; HOST may be a name, an IPv4 address or a bracketed IPv6 address ("[::]:9000"). Port 0 picks a
  // free port (Server::port() tells which).
  std::string listen = "127.0.0.1:9000";
  std::optional<TlsOptions> tls;

  unsigned io_threads = 0;      // 0: std::thread::hardware_concurrency()
  unsigned worker_threads = 0;  // 0: 4 × hardware concurrency; requests beyond it wait for a free worker

  // Connections beyond this are answered "503 Service Unavailable" and closed (plain HTTP) or closed (TLS).
  std::size_t max_connections = 4096;
  // Request line plus header fields; larger heads get "431 Request Header Fields Too Large" and the connection
  // is closed.
  std::size_t max_header_bytes = 16 * 1024;
  // Request body bytes a handler may read; reading past it fails with kResourceExhausted (immediately on the
  // first read when Content-Length already exceeds it). Default 5 GiB, S3's single-PUT maximum.
  std::uint64_t max_body_bytes = 5ULL << 30;

  // A request head (after the first byte; on a new connection, from accept, TLS handshake included) must arrive
  // within this, or the connection is closed without a response (slowloris).
  std::chrono::milliseconds header_timeout{10'000};
  // A keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  // Each body read or write (and each header write) must make progress within this, or the connection is closed
  // and the handler's call fails with kUnavailable.
  std::chrono::milliseconds body_timeout{60'000};

  AccessLogSink access_log;  // empty: no access log
};

class Server {
 public:
  // Binds the listener (and loads the TLS certificate and key) so that errors surface here: an address in use,
  // an unparsable "HOST:PORT", unreadable PEM files. `handler` must outlive the server.
  static Result<std::unique_ptr<Server>> create(ServerOptions options, Handler& handler);

  // Joins the worker threads (waiting for handlers still running). Destroy the server only when run() has
  // returned, or if it never ran.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (useful after listening on port 0).
  std::uint16_t port() const;

  // Serves until stop() (from any thread) has taken effect: blocks the calling thread, which becomes one of the
  // I/O threads. Returns once every connection is closed and every handler has returned, so the caller may then
  // destroy what the handlers use (a handler blocked outside its Request/ResponseWriter calls delays the return).
  // Call at most once.
  void run();

  // Like run(), and the first SIGINT or SIGTERM calls stop(grace). The signals are caught through Asio's
  // signal_set (the handler runs on an I/O thread, not in signal context) and released when this returns.
  void run_until_signal(std::chrono::milliseconds grace);

  // Graceful shutdown: stops accepting, closes idle keep-alive connections, lets requests in progress finish
  // (their responses carry "Connection: close"), and after `grace` closes whatever is left, which makes the
  // remaining handlers' body reads and writes fail with kCancelled. Thread-safe, non-blocking, idempotent (the
  // first call's grace wins); may be called before run().
  void stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::http
