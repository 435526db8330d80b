// The Beast/Asio side of the HTTP server: the listener, one coroutine per connection, and the bridge between the
// coroutine (which owns the socket) and the worker thread running the handler (exchange.h).
//
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include "http/server.h"

#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <exception>
#include <limits>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include "http/access_log.h"
#include "http/exchange.h"
#include "http/worker_pool.h"

namespace blobseal::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace {

// A request body a handler left unread is read and discarded up to this much to keep the connection; beyond it
// the connection is closed (after a lingering close, so the client still gets the response).
constexpr std::uint64_t kDrainLimit = 256 * 1024;
// A lingering close discards what the client still sends for at most this long / this much: longer when the
// request body was left unread (the client may still be sending it), shorter after a complete exchange (only a
// pipelined request can be in flight).
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr auto kShortLingerTime = std::chrono::milliseconds(500);
constexpr std::size_t kLingerBytes = 4 << 20;
// Connections being turned away with a 503 at once; beyond it they are closed without a word.
constexpr int kMaxRejecting = 64;
constexpr std::string_view kContinueLine = "HTTP/1.1 100 Continue\r\n\r\n";

auto on_error(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

std::string_view sv(beast::string_view s) { return std::string_view(s.data(), s.size()); }

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Whether a comma-separated header value holds `token` (case-insensitive), e.g. "close" in "keep-alive, close".
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (equals_ignore_case(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool is_token_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// A handler-supplied header that could not split the response (no CR, LF or NUL; a token for a name).
bool is_safe_header(const Header& h) {
  if (h.name.empty()) return false;
  for (unsigned char c : h.name)
    if (!is_token_char(c)) return false;
  for (unsigned char c : h.value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

std::string http_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_endpoint(const tcp::endpoint& ep) {
  std::string address = ep.address().to_string();
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", address, ep.port());
  return fmt::format("{}:{}", address, ep.port());
}

// A bijective 64-bit mix (splitmix64's finaliser): distinct counters give distinct, unpredictable-looking ids.
std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool is_http_parse_error(const error_code& ec) {
  if (ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) return false;
  return ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
         ec != bhttp::error::need_more && ec != bhttp::error::need_buffer;
}

bool is_peer_gone(const error_code& ec) {
  return ec == asio::error::eof || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "blobseal http: connection ended by an exception: %s\n", x.what());
  } catch (...) {
    std::fprintf(stderr, "blobseal http: connection ended by an unknown exception\n");
  }
}

Result<tcp::endpoint> resolve_listen(asio::io_context& ioc, std::string_view listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string_view::npos)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("listen address '{}' is not HOST:PORT", listen));
  std::string host(listen.substr(0, colon));
  std::string port(listen.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) > 65535)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("listen address '{}' has no valid port", listen));
  tcp::resolver resolver(ioc);
  error_code ec;
  auto results = resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("cannot resolve listen address '{}': {}", listen, ec.message()));
  return results.begin()->endpoint();
}

// Per-connection state that the server's control path (stop) shares with the connection's coroutine. Every
// member but `executor` and `id` is touched only on the connection's strand.
struct Connection {
  Connection(asio::any_io_executor ex, std::uint64_t connection_id)
      : executor(std::move(ex)), id(connection_id), signal(executor) {}

  // Closes the socket (cancelling whatever the coroutine waits for) and wakes the coroutine, which then gives up
  // on its request.
  void force_close() {
    closing = true;
    if (tcp != nullptr) tcp->close();
    signal.cancel();
  }

  const asio::any_io_executor executor;  // the connection's strand
  const std::uint64_t id;
  asio::steady_timer signal;          // wakes the coroutine when its exchange has posted work
  beast::tcp_stream* tcp = nullptr;   // the socket, while the session runs
  bool idle = false;                  // waiting for the first byte of a request
  bool draining = false;              // graceful stop: no keep-alive after the current request
  bool closing = false;               // forced close
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler& handler);
  ~Impl();

  Status listen();
  std::uint16_t port() const { return port_; }
  void run();
  void stop(std::chrono::milliseconds grace);
  void install_signals(std::chrono::milliseconds grace);

  // For sessions.
  const ServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(); }
  std::size_t read_buffer_limit() const { return std::max<std::size_t>(options_.max_header_bytes + 16 * 1024, 64 * 1024); }
  std::string next_request_id() {
    return fmt::format("{:016X}", mix64(request_base_ + request_counter_.fetch_add(1)));
  }
  bool respond_inline(Request& request, ResponseWriter& response) {
    try {
      return handler_.respond_inline(request, response);
    } catch (...) {
      return false;  // handle() follows on a worker, which answers 500 if it throws again
    }
  }
  void submit(std::shared_ptr<internal::Exchange> exchange) {
    workers_.submit([exchange, &handler = handler_] { exchange->run_handler(handler); });
  }
  void log(const internal::AccessRecord& record) {
    if (!options_.access_log) return;
    try {
      options_.access_log(internal::format_access_line(record));
    } catch (...) {
      // A failing log sink must not take a connection down.
    }
  }
  void unregister(std::uint64_t id);

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(std::shared_ptr<Connection> conn, beast::tcp_stream tcp, std::string remote);
  asio::awaitable<void> reject(beast::tcp_stream tcp);
  std::vector<std::shared_ptr<Connection>> live_connections();

  ServerOptions options_;
  Handler& handler_;
  // One io_context per I/O thread, each run by its thread alone: a connection lives on one of them (assigned round
  // robin at accept), so its coroutine never migrates between threads and the schedulers share no lock.
  std::vector<std::unique_ptr<asio::io_context>> iocs_;
  // Keeps each io_context running while it has no connection; released once the server has stopped.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;  // control_ only
  std::size_t next_ioc_ = 0;  // control_ only
  // Serialises the acceptor, the signal set, the grace timer and the stop sequence.
  asio::strand<asio::io_context::executor_type> control_;
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> ssl_;
  asio::steady_timer grace_timer_;
  std::optional<asio::signal_set> signals_;
  std::uint16_t port_ = 0;
  bool stop_started_ = false;  // control_ only
  std::uint64_t next_connection_id_ = 0;  // control_ only
  std::atomic<bool> stopping_{false};
  std::atomic<int> rejecting_{0};
  std::atomic<std::uint64_t> request_counter_{0};
  std::uint64_t request_base_ = 0;

  std::mutex connections_mu_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;  // guarded by connections_mu_

  // Declared last so it is destroyed (joined) first: handlers may still hold exchanges that post to ioc_.
  internal::WorkerPool workers_;
};

namespace {

// One connection's request loop, over a plain or a TLS stream.
template <class Stream>
class Session {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(Server::Impl& server, std::shared_ptr<Connection> conn, Stream& stream, std::string remote,
          SteadyClock::time_point first_deadline)
      : server_(server),
        options_(server.options()),
        conn_(std::move(conn)),
        stream_(stream),
        remote_(std::move(remote)),
        first_deadline_(first_deadline),
        buffer_(server.read_buffer_limit()) {
    conn_->tcp = &beast::get_lowest_layer(stream_);
  }
  ~Session() { conn_->tcp = nullptr; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::awaitable<void> run() {
    beast::tcp_stream& tcp = lowest();
    if constexpr (kTls) {
      error_code ec;
      tcp.expires_at(first_deadline_);
      co_await stream_.async_handshake(asio::ssl::stream_base::server, on_error(ec));
      if (ec) {
        tcp.close();
        co_return;
      }
    }
    bool first = true;
    while (!conn_->closing) {
      bool keep = co_await serve_one(first);
      first = false;
      if (!keep) break;
    }
    tcp.close();
  }

 private:
  // The state of one request/response; lives in serve_one()'s frame.
  struct Exchange {
    std::optional<bhttp::request_parser<bhttp::buffer_body>> parser;
    std::shared_ptr<internal::Exchange> shared;
    std::optional<bhttp::response<bhttp::buffer_body>> response;
    std::optional<bhttp::response_serializer<bhttp::buffer_body>> serializer;  // after `response`: refers to it
    unsigned version = 11;
    bool head_request = false;
    bool expect_continue = false;
    bool continue_sent = false;
    bool head_sent = false;
    bool finished = false;
    bool aborted = false;
    bool no_body = false;       // HEAD, 1xx, 204, 304: writes are discarded
    bool keep_alive = false;    // what the response header promised
    std::optional<Error> broken;      // the socket is unusable; every later operation fails with this
    std::optional<Error> body_error;  // the request body was malformed (the response may still go out)
    std::optional<std::uint64_t> declared_length;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    int status = 0;
    std::string_view outcome = "ok";
    std::chrono::system_clock::time_point time;
    SteadyClock::time_point started;
    std::optional<SteadyClock::time_point> ended;
    // While a kRespond runs its three steps, each step's result lands here instead of completing the operation.
    bool batching = false;
    std::optional<Result<std::size_t>> step_result;
  };

  // Completes the handler's operation, or records a step's result while a kRespond is performed step by step.
  static void done(Exchange& x, Result<std::size_t> result) {
    if (x.batching) x.step_result = std::move(result);
    else x.shared->complete(std::move(result));
  }

  // Closes the exchange when serve_one()'s frame goes away, however it goes away.
  struct ExchangeCloser {
    std::shared_ptr<internal::Exchange> exchange;
    ~ExchangeCloser() {
      if (exchange) exchange->close(Error(ErrorCode::kCancelled, "the connection closed"));
    }
  };

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // Serves one request. Returns whether the connection may carry another; when not, it is closed already.
  asio::awaitable<bool> serve_one(bool first) {
    beast::tcp_stream& tcp = lowest();
    error_code ec;
    SteadyClock::time_point header_deadline;
    if (buffer_.size() == 0) {
      if (server_.stopping() || conn_->draining) co_return false;
      conn_->idle = true;
      if (first) tcp.expires_at(first_deadline_);
      else tcp.expires_after(options_.idle_timeout);
      std::size_t n = co_await stream_.async_read_some(buffer_.prepare(16 * 1024), on_error(ec));
      conn_->idle = false;
      if (ec) co_return false;  // the client left, the idle timeout or stop(): no request, no response
      buffer_.commit(n);
    }
    header_deadline = first ? first_deadline_ : SteadyClock::now() + options_.header_timeout;

    Exchange x;
    x.parser.emplace();
    x.parser->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(options_.max_header_bytes, UINT32_MAX)));
    // The exchange enforces max_body_bytes, so that the handler can answer 413. (Not boost::none: Beast 1.74
    // compares `length > body_limit`, which is true for an empty optional.)
    x.parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    tcp.expires_at(header_deadline);
    co_await bhttp::async_read_header(stream_, buffer_, *x.parser, on_error(ec));
    x.time = std::chrono::system_clock::now();
    x.started = SteadyClock::now();
    if (ec) {
      co_await reject_head(x, ec);
      co_return false;
    }

    const auto& req = x.parser->get();
    x.version = req.version();
    x.head_request = req.method() == bhttp::verb::head;
    x.expect_continue = equals_ignore_case(sv(req[bhttp::field::expect]), "100-continue");
    internal::RequestInfo info;
    info.method = std::string(sv(req.method_string()));
    info.target = std::string(sv(req.target()));
    for (const auto& field : req) info.headers.push_back(Header{std::string(sv(field.name_string())), std::string(sv(field.value()))});
    if (!x.parser->chunked()) info.content_length = x.parser->content_length().value_or(0);
    info.remote_address = remote_;
    info.request_id = server_.next_request_id();
    info.is_tls = kTls;
    if (x.version != 10 && x.version != 11) {
      x.status = 505;
      x.outcome = "bad_request";
      co_await write_simple(x, 505);
      log(x, &info);
      co_await lingering_close();
      co_return false;
    }

    std::weak_ptr<Connection> weak = conn_;
    asio::any_io_executor executor = conn_->executor;
    auto wake = [weak, executor] {
      asio::post(executor, [weak] {
        if (auto c = weak.lock()) c->signal.cancel();
      });
    };
    x.shared = std::make_shared<internal::Exchange>(std::move(info), options_.max_body_bytes, std::move(wake));
    ExchangeCloser closer{x.shared};

    // A request without a body may be answered right here (Handler::respond_inline): no worker, no hand-off.
    bool answered_inline = false;
    if (x.parser->is_done()) {
      internal::InlineRequest inline_request(x.shared->info());
      internal::InlineResponse inline_response;
      answered_inline = server_.respond_inline(inline_request, inline_response);
      if (answered_inline) co_await send_inline(x, inline_response);
    }
    if (!answered_inline) {
      server_.submit(x.shared);
      // Perform what the handler asks until it returns.
      for (;;) {
        internal::Exchange::Next next = x.shared->next();
        if (next.op) {
          co_await perform(x, *next.op);
          continue;
        }
        if (next.handler_returned || conn_->closing) break;
        conn_->signal.expires_at(asio::steady_timer::time_point::max());
        co_await conn_->signal.async_wait(on_error(ec));
      }
    }
    if (conn_->closing) {
      // stop()'s grace ran out: the handler is left to fail its next call.
      x.shared->close(Error(ErrorCode::kCancelled, "the server is shutting down"));
      if (!x.broken) x.outcome = "shutdown";
      log(x, &x.shared->info());
      co_return false;
    }
    x.shared->close(Error(ErrorCode::kFailedPrecondition, "the handler has returned"));

    if (!x.broken && !x.aborted) {
      if (!x.head_sent) {
        x.outcome = "handler_unfinished";
        x.status = 500;
        co_await write_simple(x, 500);
      } else if (!x.finished) {
        x.outcome = "handler_unfinished";
        abort_connection(x);
      }
    }
    if (!x.ended) x.ended = SteadyClock::now();

    bool keep = !x.broken && !x.aborted && x.keep_alive && !x.body_error && !server_.stopping() &&
                !conn_->draining && !conn_->closing;
    bool body_complete = x.parser->is_done();
    if (keep && !body_complete) {
      if (x.expect_continue && !x.continue_sent) keep = false;  // the client may never send it
      else body_complete = keep = co_await drain_body(x);
    }
    log(x, &x.shared->info());
    if (keep) co_return true;
    if (x.broken || x.aborted) {
      tcp.close();
    } else if (!body_complete) {
      co_await lingering_close();
    } else {
      co_await close_gracefully();
    }
    co_return false;
  }

  // A request head that could not be read: answers 431/400 where that helps the client, and logs it.
  asio::awaitable<void> reject_head(Exchange& x, const error_code& ec) {
    int status = 0;
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      status = 431;
      x.outcome = "header_too_large";
    } else if (is_http_parse_error(ec)) {
      status = 400;
      x.outcome = "bad_request";
    } else if (ec == beast::error::timeout) {
      x.outcome = "timeout";
    } else if (conn_->closing) {
      x.outcome = "shutdown";
    } else {
      x.outcome = "client_closed";
    }
    if (status != 0) {
      x.status = status;
      co_await write_simple(x, status);
      log(x, nullptr);
      co_await lingering_close();
    } else {
      log(x, nullptr);
      lowest().close();
    }
  }

  asio::awaitable<void> perform(Exchange& x, const internal::Exchange::Op& op) {
    using Kind = internal::Exchange::OpKind;
    if (x.broken) {
      x.shared->complete(make_error(*x.broken));
    } else if (op.kind == Kind::kReadBody) {
      co_await read_body(x, op.read_buffer);
    } else if (op.kind == Kind::kSendHeaders) {
      co_await send_headers(x, *op.head);
    } else if (op.kind == Kind::kWriteBody) {
      co_await write_body(x, op.write_data);
    } else if (op.kind == Kind::kFinish) {
      co_await finish(x);
    } else if (op.kind == Kind::kRespond) {
      // A whole small response in one hand-off: headers, body, end; the first failing step's result is the answer.
      x.batching = true;
      x.step_result.reset();
      co_await send_headers(x, *op.head);
      if (x.step_result && *x.step_result && !op.write_data.empty()) co_await write_body(x, op.write_data);
      if (x.step_result && *x.step_result) co_await finish(x);
      x.batching = false;
      Result<std::size_t> result = x.step_result ? std::move(*x.step_result)
                                                 : Result<std::size_t>(make_error(ErrorCode::kInternal, "no result"));
      x.shared->complete(std::move(result));
    } else {
      abort_connection(x);
      x.shared->complete(std::size_t{0});
    }
  }

  // Sends what an inline answer recorded, with the meaning the same calls have on a worker: headers never sent →
  // the caller answers 500; not finished → reset; aborted → what was written, then a reset.
  asio::awaitable<void> send_inline(Exchange& x, const internal::InlineResponse& r) {
    if (!r.headers_sent()) co_return;
    x.batching = true;
    x.step_result.reset();
    const auto& declared = r.head().content_length;
    if (r.finished() && !r.aborted() && declared && *declared == r.body().size()) {
      // Complete and of the declared length: head and body leave in one write (one system call).
      if (co_await begin_response(x, r.head())) {
        auto& body = x.response->body();
        body.data = x.no_body ? nullptr : const_cast<std::uint8_t*>(r.body().data());
        body.size = x.no_body ? 0 : r.body().size();
        body.more = false;
        error_code ec;
        lowest().expires_after(options_.body_timeout);
        co_await bhttp::async_write(stream_, *x.serializer, on_error(ec));
        body.data = nullptr;
        body.size = 0;
        if (ec) {
          fail(x, ec, "writing the response");
        } else {
          if (!x.no_body) x.bytes_out += r.body().size();
          x.finished = true;
          x.ended = SteadyClock::now();
        }
      }
      x.batching = false;
      co_return;
    }
    co_await send_headers(x, r.head());
    auto ok = [&] { return x.step_result && *x.step_result; };
    if (ok() && !r.body().empty()) co_await write_body(x, r.body());
    if (ok() && r.finished() && !r.aborted()) co_await finish(x);
    x.batching = false;
    if (r.aborted() && !x.broken) abort_connection(x);
  }

  // Marks the connection unusable after a socket error, with the error the handler's calls will see.
  void fail(Exchange& x, const error_code& ec, std::string_view doing) {
    if (ec == beast::error::timeout) {
      x.outcome = "timeout";
      x.broken = Error(ErrorCode::kUnavailable, fmt::format("timed out {}", doing));
    } else if (conn_->closing) {
      x.outcome = "shutdown";
      x.broken = Error(ErrorCode::kCancelled, fmt::format("the server is shutting down ({})", doing));
    } else if (is_peer_gone(ec)) {
      x.outcome = "client_closed";
      x.broken = Error(ErrorCode::kCancelled, fmt::format("the client closed the connection ({})", doing));
    } else {
      x.outcome = "client_closed";
      x.broken = Error(ErrorCode::kUnavailable, fmt::format("{}: {}", doing, ec.message()));
    }
    lowest().close();
  }

  asio::awaitable<void> read_body(Exchange& x, std::span<std::uint8_t> out) {
    beast::tcp_stream& tcp = lowest();
    error_code ec;
    auto& parser = *x.parser;
    if (x.body_error) {
      x.shared->complete(make_error(*x.body_error));
      co_return;
    }
    if (parser.is_done()) {
      x.shared->complete(std::size_t{0}, true);
      co_return;
    }
    if (x.expect_continue && !x.continue_sent && !x.head_sent) {
      x.continue_sent = true;
      tcp.expires_after(options_.body_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinueLine.data(), kContinueLine.size()), on_error(ec));
      if (ec) {
        fail(x, ec, "sending 100 Continue");
        x.shared->complete(make_error(*x.broken));
        co_return;
      }
    }
    auto& body = parser.get().body();
    body.data = out.data();
    body.size = out.size();
    for (;;) {
      tcp.expires_after(options_.body_timeout);
      co_await bhttp::async_read_some(stream_, buffer_, parser, on_error(ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec || body.size < out.size() || parser.is_done()) break;
    }
    std::size_t got = out.size() - body.size;
    body.data = nullptr;
    body.size = 0;
    x.bytes_in += got;
    if (ec) {
      if (is_http_parse_error(ec)) {
        x.outcome = "bad_request";
        x.body_error = Error(ErrorCode::kInvalidArgument, fmt::format("malformed request body: {}", ec.message()));
      } else {
        fail(x, ec, "reading the request body");
      }
      if (got == 0) {
        x.shared->complete(make_error(x.body_error ? *x.body_error : *x.broken));
        co_return;
      }
    }
    x.shared->complete(got, parser.is_done());
  }

  asio::awaitable<void> send_headers(Exchange& x, const internal::ResponseHead& head) {
    if (!co_await begin_response(x, head)) co_return;
    error_code ec;
    lowest().expires_after(options_.body_timeout);
    co_await bhttp::async_write_header(stream_, *x.serializer, on_error(ec));
    if (ec) {
      fail(x, ec, "writing the response headers");
      done(x, make_error(*x.broken));
      co_return;
    }
    done(x, std::size_t{0});
  }

  // Decides the status line and headers of a response and readies its serializer (nothing of it written yet,
  // except a "100 Continue" that is owed first). False, with the operation completed, when it cannot go out.
  asio::awaitable<bool> begin_response(Exchange& x, const internal::ResponseHead& head) {
    if (x.head_sent) {
      done(x, make_error(ErrorCode::kFailedPrecondition, "response headers were already sent"));
      co_return false;
    }
    x.head_sent = true;
    // A client that sent "Expect: 100-continue" with an empty body is still waiting for the interim response.
    // botocore, for one, misreads a final response that comes without it and poisons the pooled connection
    // (botocore#3755), so an empty body gets its "100 Continue" first. A non-empty body the handler did not read
    // gets none: the client must not send it.
    if (x.expect_continue && !x.continue_sent && x.parser->is_done()) {
      x.continue_sent = true;
      error_code continue_ec;
      lowest().expires_after(options_.body_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinueLine.data(), kContinueLine.size()),
                                 on_error(continue_ec));
      if (continue_ec) {
        fail(x, continue_ec, "sending 100 Continue");
        done(x, make_error(*x.broken));
        co_return false;
      }
    }
    int status = head.status;
    if (status < 200 || status > 999) status = 500;  // informational responses are the server's business
    x.status = status;
    x.response.emplace();
    auto& res = *x.response;
    res.version(x.version);
    res.result(static_cast<unsigned>(status));
    bool handler_close = false;
    for (const Header& h : head.headers) {
      if (equals_ignore_case(h.name, "content-length") || equals_ignore_case(h.name, "transfer-encoding")) continue;
      if (equals_ignore_case(h.name, "connection")) {
        handler_close = handler_close || has_token(h.value, "close");
        continue;
      }
      if (is_safe_header(h)) res.insert(beast::string_view(h.name), beast::string_view(h.value));
    }
    if (res.find(bhttp::field::date) == res.end()) res.set(bhttp::field::date, http_date());
    if (res.find(bhttp::field::server) == res.end()) res.set(bhttp::field::server, "blobseal");
    x.no_body = x.head_request || status == 204 || status == 304;
    bool keep = x.parser->keep_alive() && !handler_close && !x.body_error && !server_.stopping() &&
                !conn_->draining && !(x.expect_continue && !x.continue_sent && !x.parser->is_done());
    // An answer before the request body was read (an early error): the connection is kept only if what is left of
    // the body will be drained afterwards (drain_body: a known length within kDrainLimit). Promising keep-alive and
    // then closing would fail the client's next request on this connection.
    if (keep && !x.parser->is_done()) {
      const auto& info = x.shared->info();
      if (!info.content_length || *info.content_length - x.bytes_in > kDrainLimit) keep = false;
    }
    x.declared_length = head.content_length;
    if (head.content_length) {
      if (status != 204) res.content_length(*head.content_length);
    } else if (!x.no_body) {
      if (x.version >= 11) res.chunked(true);
      else keep = false;  // HTTP/1.0: the end of the body is the end of the connection
    }
    res.keep_alive(keep);
    x.keep_alive = keep;
    x.serializer.emplace(res);
    co_return true;
  }

  asio::awaitable<void> write_body(Exchange& x, std::span<const std::uint8_t> data) {
    if (!x.head_sent || x.finished || x.aborted) {
      done(x, make_error(ErrorCode::kFailedPrecondition, "no response body is open"));
      co_return;
    }
    if (x.no_body) {
      done(x, data.size());
      co_return;
    }
    if (x.declared_length && data.size() > *x.declared_length - x.bytes_out) {
      done(x, make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("response body would exceed its Content-Length of {} bytes", *x.declared_length)));
      co_return;
    }
    auto& body = x.response->body();
    body.data = const_cast<std::uint8_t*>(data.data());
    body.size = data.size();
    body.more = true;
    error_code ec;
    lowest().expires_after(options_.body_timeout);
    co_await bhttp::async_write(stream_, *x.serializer, on_error(ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    body.data = nullptr;
    body.size = 0;
    if (ec) {
      fail(x, ec, "writing the response body");
      done(x, make_error(*x.broken));
      co_return;
    }
    x.bytes_out += data.size();
    done(x, data.size());
  }

  asio::awaitable<void> finish(Exchange& x) {
    if (!x.head_sent || x.aborted) {
      done(x, make_error(ErrorCode::kFailedPrecondition, "no response to finish"));
      co_return;
    }
    if (x.finished) {
      done(x, std::size_t{0});
      co_return;
    }
    if (!x.no_body) {
      if (x.declared_length && x.bytes_out < *x.declared_length) {
        std::uint64_t missing = *x.declared_length - x.bytes_out;
        abort_connection(x);
        done(x, make_error(
            ErrorCode::kInternal,
            fmt::format("response ended {} bytes short of its Content-Length; connection reset", missing)));
        co_return;
      }
      auto& body = x.response->body();
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      error_code ec;
      lowest().expires_after(options_.body_timeout);
      co_await bhttp::async_write(stream_, *x.serializer, on_error(ec));
      if (ec) {
        fail(x, ec, "ending the response body");
        done(x, make_error(*x.broken));
        co_return;
      }
    }
    x.finished = true;
    x.ended = SteadyClock::now();
    done(x, std::size_t{0});
  }

  // Resets the connection (RST, not FIN): the client cannot take a cut-off body for a whole one.
  void abort_connection(Exchange& x) {
    beast::tcp_stream& tcp = lowest();
    error_code ec;
    tcp.socket().set_option(asio::socket_base::linger(true, 0), ec);
    tcp.close();
    x.aborted = true;
    x.outcome = "aborted";
    x.broken = Error(ErrorCode::kCancelled, "the response was aborted");
    x.ended = SteadyClock::now();
  }

  // A complete response from the server itself (400, 431, 500, 505); always "Connection: close".
  asio::awaitable<void> write_simple(Exchange& x, int status) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), x.version == 10 ? 10u : 11u};
    res.set(bhttp::field::server, "blobseal");
    res.set(bhttp::field::date, http_date());
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::string(sv(bhttp::obsolete_reason(static_cast<bhttp::status>(status)))) + "\n";
    res.keep_alive(false);
    res.prepare_payload();
    error_code ec;
    lowest().expires_after(options_.body_timeout);
    co_await bhttp::async_write(stream_, res, on_error(ec));
    if (ec) {
      if (!x.broken) fail(x, ec, "writing an error response");
      co_return;
    }
    x.head_sent = true;
    x.finished = true;
    x.keep_alive = false;
    x.ended = SteadyClock::now();
  }

  // Reads and discards what is left of a request body the handler did not read, up to kDrainLimit. Returns
  // whether the body ended (so the connection may carry another request).
  asio::awaitable<bool> drain_body(Exchange& x) {
    auto& parser = *x.parser;
    const auto& info = x.shared->info();
    if (info.content_length && *info.content_length - x.bytes_in > kDrainLimit) co_return false;
    std::vector<std::uint8_t> scratch(16 * 1024);
    std::uint64_t drained = 0;
    error_code ec;
    auto& body = parser.get().body();
    while (!parser.is_done() && drained <= kDrainLimit) {
      body.data = scratch.data();
      body.size = scratch.size();
      lowest().expires_after(options_.body_timeout);
      co_await bhttp::async_read_some(stream_, buffer_, parser, on_error(ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      drained += scratch.size() - body.size;
      body.data = nullptr;
      body.size = 0;
      if (ec) co_return false;
    }
    co_return parser.is_done();
  }

  // Half-closes and discards what the client still sends for a moment before closing, so that unread request
  // bytes do not make the kernel reset the connection under the response the client has yet to read.
  asio::awaitable<void> lingering_close(SteadyClock::duration linger = kLingerTime) {
    beast::tcp_stream& tcp = lowest();
    error_code ec;
    tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
      std::vector<char> scratch(16 * 1024);
      std::size_t total = 0;
      auto deadline = SteadyClock::now() + linger;
      while (total < kLingerBytes && !conn_->closing) {
        tcp.expires_at(deadline);
        std::size_t n = co_await tcp.async_read_some(asio::buffer(scratch), on_error(ec));
        if (ec) break;
        total += n;
      }
    }
    tcp.close();
  }

  asio::awaitable<void> close_gracefully() {
    if constexpr (kTls) {
      error_code ec;
      lowest().expires_after(std::chrono::seconds(1));
      co_await stream_.async_shutdown(on_error(ec));
      lowest().close();
    } else {
      co_await lingering_close(kShortLingerTime);
    }
  }

  void log(const Exchange& x, const internal::RequestInfo* info) {
    internal::AccessRecord r;
    r.time = x.time;
    r.remote = remote_;
    r.tls = kTls;
    if (info != nullptr) {
      r.request_id = info->request_id;
      r.method = info->method;
      r.target = info->target;
      for (const Header& h : info->headers)
        if (equals_ignore_case(h.name, "user-agent")) {
          r.user_agent = h.value;
          break;
        }
    }
    r.status = x.status;
    r.bytes_in = x.bytes_in;
    r.bytes_out = x.bytes_out;
    auto end = x.ended.value_or(SteadyClock::now());
    r.duration_ms = std::chrono::duration<double, std::milli>(end - x.started).count();
    r.outcome = x.outcome;
    server_.log(r);
  }

  Server::Impl& server_;
  const ServerOptions& options_;
  std::shared_ptr<Connection> conn_;
  Stream& stream_;
  std::string remote_;
  SteadyClock::time_point first_deadline_;
  beast::flat_buffer buffer_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

namespace {
std::vector<std::unique_ptr<asio::io_context>> make_io_contexts(unsigned count) {
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  for (unsigned i = 0; i < count; ++i) iocs.push_back(std::make_unique<asio::io_context>(1));
  return iocs;
}
}  // namespace

Server::Impl::Impl(ServerOptions options, Handler& handler)
    : options_(std::move(options)),
      handler_(handler),
      iocs_(make_io_contexts(std::max(1u, options_.io_threads))),
      control_(asio::make_strand(*iocs_.front())),
      acceptor_(control_),
      grace_timer_(control_),
      workers_(options_.worker_threads) {
  std::random_device random;
  request_base_ = (static_cast<std::uint64_t>(random()) << 32) ^ random();
}

Server::Impl::~Impl() = default;

Status Server::Impl::listen() {
  if (options_.tls) {
    ssl_.emplace(asio::ssl::context::tls_server);
    error_code ec;
    ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                      ec);
    SSL_CTX* native = ssl_->native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
      return make_error(ErrorCode::kInternal, "cannot set the minimum TLS version");
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    ssl_->use_certificate_chain_file(options_.tls->certificate_chain_file, ec);
    if (ec)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("loading TLS certificate chain {}: {}", options_.tls->certificate_chain_file,
                                    ec.message()));
    ssl_->use_private_key_file(options_.tls->private_key_file, asio::ssl::context::pem, ec);
    if (ec)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("loading TLS private key {}: {}", options_.tls->private_key_file, ec.message()));
    if (SSL_CTX_check_private_key(native) != 1)
      return make_error(ErrorCode::kInvalidArgument, "the TLS private key does not match the certificate");
  }

  tcp::endpoint endpoint = BLOBSEAL_TRY(resolve_listen(*iocs_.front(), options_.listen));
  error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    ErrorCode code = ec == asio::error::address_in_use ? ErrorCode::kUnavailable : ErrorCode::kInternal;
    return make_error(code, fmt::format("listening on {}: {}", options_.listen, ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  return {};
}

void Server::Impl::run() {
  for (auto& ioc : iocs_) keep_running_.push_back(asio::make_work_guard(*ioc));
  asio::co_spawn(control_, accept_loop(), report_exception);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < iocs_.size(); ++i) threads.emplace_back([this, i] { iocs_[i]->run(); });
  iocs_.front()->run();
  for (std::thread& t : threads) t.join();
  // Handlers whose connections were closed fail their next call at once; wait for them to return so that the
  // caller may tear down what they use.
  workers_.join();
  signals_.reset();
}

void Server::Impl::install_signals(std::chrono::milliseconds grace) {
  signals_.emplace(control_, SIGINT, SIGTERM);
  signals_->async_wait([this, grace](const error_code& ec, int) {
    if (!ec) stop(grace);
  });
}

std::vector<std::shared_ptr<Connection>> Server::Impl::live_connections() {
  std::vector<std::shared_ptr<Connection>> live;
  std::lock_guard lock(connections_mu_);
  for (auto& [id, weak] : connections_)
    if (auto c = weak.lock()) live.push_back(std::move(c));
  return live;
}

void Server::Impl::stop(std::chrono::milliseconds grace) {
  asio::post(control_, [this, grace] {
    if (stop_started_) return;
    stop_started_ = true;
    stopping_ = true;
    error_code ec;
    acceptor_.close(ec);
    if (signals_) signals_->cancel(ec);
    auto live = live_connections();
    if (live.empty()) keep_running_.clear();
    for (auto& c : live)
      asio::post(c->executor, [c] {
        c->draining = true;
        if (c->idle) c->force_close();
      });
    if (live.empty()) return;
    grace_timer_.expires_after(grace);
    grace_timer_.async_wait([this](const error_code& wait_ec) {
      if (wait_ec) return;
      for (auto& c : live_connections()) asio::post(c->executor, [c] { c->force_close(); });
    });
  });
}

void Server::Impl::unregister(std::uint64_t id) {
  bool none_left;
  {
    std::lock_guard lock(connections_mu_);
    connections_.erase(id);
    none_left = connections_.empty();
  }
  if (none_left && stopping_)
    asio::post(control_, [this] {
      grace_timer_.cancel();
      keep_running_.clear();
    });
}

asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    tcp::socket socket(iocs_[next_ioc_++ % iocs_.size()]->get_executor());
    error_code ec;
    co_await acceptor_.async_accept(socket, on_error(ec));
    if (stopping_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // Out of descriptors or buffers: back off instead of spinning on the error.
      asio::steady_timer backoff(control_);
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(on_error(ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    tcp::endpoint peer = socket.remote_endpoint(ec);
    if (ec) continue;  // already gone

    std::size_t count;
    {
      std::lock_guard lock(connections_mu_);
      count = connections_.size();
    }
    asio::any_io_executor executor = socket.get_executor();
    if (count >= options_.max_connections) {
      if (rejecting_.load() >= kMaxRejecting) continue;  // the socket closes as it goes out of scope
      ++rejecting_;
      asio::co_spawn(executor, reject(beast::tcp_stream(std::move(socket))), report_exception);
      continue;
    }
    auto conn = std::make_shared<Connection>(executor, ++next_connection_id_);
    {
      std::lock_guard lock(connections_mu_);
      connections_[conn->id] = conn;
    }
    asio::co_spawn(executor, session(conn, beast::tcp_stream(std::move(socket)), format_endpoint(peer)),
                   report_exception);
  }
}

asio::awaitable<void> Server::Impl::session(std::shared_ptr<Connection> conn, beast::tcp_stream tcp,
                                            std::string remote) {
  struct Unregister {
    Server::Impl& server;
    std::uint64_t id;
    ~Unregister() { server.unregister(id); }
  } unregister{*this, conn->id};
  auto first_deadline = SteadyClock::now() + options_.header_timeout;
  if (ssl_) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *ssl_);
    Session<beast::ssl_stream<beast::tcp_stream>> session(*this, conn, stream, std::move(remote), first_deadline);
    co_await session.run();
  } else {
    Session<beast::tcp_stream> session(*this, conn, tcp, std::move(remote), first_deadline);
    co_await session.run();
  }
}

asio::awaitable<void> Server::Impl::reject(beast::tcp_stream tcp) {
  struct Count {
    std::atomic<int>& n;
    ~Count() { --n; }
  } count{rejecting_};
  static const std::string kBody = "Too many connections\n";
  static const std::string kResponse = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nServer: blobseal\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{}",
      kBody.size(), kBody);
  error_code ec;
  if (ssl_) {
    // Over TLS the answer needs a handshake first: a bounded one (at most kMaxRejecting at a time, 2 s each).
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *ssl_);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_handshake(asio::ssl::stream_base::server, on_error(ec));
    if (!ec) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
      co_await asio::async_write(stream, asio::buffer(kResponse), on_error(ec));
    }
    if (!ec) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
      co_await stream.async_shutdown(on_error(ec));
    }
    beast::get_lowest_layer(stream).close();
    co_return;
  }
  tcp.expires_after(std::chrono::seconds(1));
  co_await asio::async_write(tcp, asio::buffer(kResponse), on_error(ec));
  if (!ec) tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
  char scratch[4096];
  std::size_t total = 0;
  while (!ec && total < 64 * 1024) {
    tcp.expires_after(std::chrono::seconds(1));
    std::size_t n = co_await tcp.async_read_some(asio::buffer(scratch), on_error(ec));
    total += n;
  }
  tcp.close();
}

// ---------------------------------------------------------------------------------------------------------------

AccessLogSink access_log_to(std::ostream& out) {
  auto mu = std::make_shared<std::mutex>();
  return [&out, mu](std::string_view line) {
    std::lock_guard lock(*mu);
    out << line << '\n';
    out.flush();
  };
}

Result<std::unique_ptr<Server>> Server::create(ServerOptions options, Handler& handler) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (options.io_threads == 0) options.io_threads = cores;
  if (options.worker_threads == 0) options.worker_threads = 4 * cores;
  if (options.max_connections == 0) options.max_connections = 1;
  options.max_header_bytes = std::clamp<std::size_t>(options.max_header_bytes, 1024, 1 << 20);
  auto impl = std::make_unique<Impl>(std::move(options), handler);
  BLOBSEAL_TRY_STATUS(impl->listen());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() = default;

std::uint16_t Server::port() const { return impl_->port(); }

void Server::run() { impl_->run(); }

void Server::run_until_signal(std::chrono::milliseconds grace) {
  impl_->install_signals(grace);
  impl_->run();
}

void Server::stop(std::chrono::milliseconds grace) { impl_->stop(grace); }

}  // namespace blobseal::http
