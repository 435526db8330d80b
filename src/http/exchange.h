// One request/response exchange, shared between a connection's coroutine (which owns the socket and performs all
// I/O) and the worker thread that runs the Handler (which must not block an I/O thread). The worker's Request and
// ResponseWriter calls post an operation and block until the coroutine has performed it; the coroutine performs
// at most one operation at a time, directly on the worker's buffers, so a connection holds no body bytes of its
// own beyond its socket read buffer. Private to src/http; no Boost here, so it is testable without sockets.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "http/handler.h"

namespace blobseal::http::internal {

// What the connection learnt from the request head; immutable once the exchange starts.
struct RequestInfo {
  std::string method;
  std::string target;
  std::vector<Header> headers;
  std::optional<std::uint64_t> content_length;  // 0 when the request has neither Content-Length nor chunked coding
  std::string remote_address;
  std::string request_id;
  bool is_tls = false;
};

// The status line and headers a handler asked for, as handed to the connection by send_headers().
struct ResponseHead {
  int status = 200;
  std::vector<Header> headers;
  std::optional<std::uint64_t> content_length;
};

class Exchange {
 public:
  // kRespond is kSendHeaders + kWriteBody + kFinish in one hand-off, for a small response with a known length that
  // the writer held back until it was complete.
  enum class OpKind { kReadBody, kSendHeaders, kWriteBody, kFinish, kAbort, kRespond };
  // The largest declared response length that is held back for one kRespond.
  static constexpr std::uint64_t kHoldLimit = 64 * 1024;

  // An operation posted by the worker. The spans and `head` point into the worker's memory, which stays valid
  // until the operation is completed (the worker is blocked until then).
  struct Op {
    OpKind kind = OpKind::kFinish;
    std::span<std::uint8_t> read_buffer;
    std::span<const std::uint8_t> write_data;
    const ResponseHead* head = nullptr;
  };

  struct Next {
    std::optional<Op> op;
    bool handler_returned = false;  // the handler has returned; no further operation will come
  };

  // `wake` is called (from the worker thread, without locks held) after an operation is posted or the handler
  // returned; it must make the connection call next() soon. `max_body_bytes` bounds what body().read() delivers.
  Exchange(RequestInfo info, std::uint64_t max_body_bytes, std::function<void()> wake);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  const RequestInfo& info() const { return info_; }

  // ---- Connection side: never blocks.
  // Takes the posted operation, if any. An operation taken must be completed before the next is taken.
  Next next();
  // Completes the taken operation with its result (bytes read or written) and wakes the worker. `body_done`
  // reports, on a body read, that the request body has ended, so later reads return 0 without a round trip.
  void complete(Result<std::size_t> result, bool body_done = false);
  // The connection is gone (or will perform no more operations): the posted operation, taken or not, and every
  // later one, fail with `reason`. Call it only once the connection no longer touches a taken operation's buffers.
  void close(Error reason);

  // ---- Worker side.
  // Runs handler.handle() on the calling thread, then reports handler_returned to the connection. An exception
  // escaping the handler is swallowed (the connection answers 500 or aborts, as for an unfinished response).
  void run_handler(Handler& handler);

  Request& request() { return request_; }
  ResponseWriter& response() { return response_; }

 private:
  class RequestImpl final : public Request, public ByteSource {
   public:
    explicit RequestImpl(Exchange& exchange) : exchange_(exchange) {}
    std::string_view method() const override { return exchange_.info_.method; }
    std::string_view target() const override { return exchange_.info_.target; }
    const std::vector<Header>& headers() const override { return exchange_.info_.headers; }
    std::optional<std::uint64_t> content_length() const override { return exchange_.info_.content_length; }
    std::string_view remote_address() const override { return exchange_.info_.remote_address; }
    std::string_view request_id() const override { return exchange_.info_.request_id; }
    bool is_tls() const override { return exchange_.info_.is_tls; }
    ByteSource& body() override { return *this; }
    Result<std::size_t> read(std::span<std::uint8_t> out) override;

   private:
    Exchange& exchange_;
    std::uint64_t bytes_read_ = 0;
    bool done_ = false;
    std::optional<Error> failed_;  // sticky: a failed body stays failed
  };

  class ResponseImpl final : public ResponseWriter, public ByteSink {
   public:
    explicit ResponseImpl(Exchange& exchange) : exchange_(exchange) {}
    void set_status(int status) override;
    void add_header(std::string name, std::string value) override;
    Status send_headers(std::optional<std::uint64_t> content_length) override;
    ByteSink& body_sink() override { return *this; }
    Status write(std::span<const std::uint8_t> data) override;
    Status finish() override;
    void abort() override;
    bool headers_sent() const override { return headers_sent_; }

   private:
    // Posts the held-back head and body (if any) as separate operations: the response outgrew the hold-back.
    Status release_held();

    Exchange& exchange_;
    ResponseHead head_;
    // A response whose declared length is at most kHoldLimit is held back (head and body) until finish(), then
    // handed over in one kRespond: a 4 KiB GET crosses between threads twice instead of six times.
    bool holding_ = false;
    std::vector<std::uint8_t> held_body_;
    bool headers_sent_ = false;
    bool finished_ = false;
    bool aborted_ = false;
  };

  // Posts `op`, wakes the connection and blocks until it is completed or the connection closes.
  Result<std::size_t> call(const Op& op);

  const RequestInfo info_;
  const std::uint64_t max_body_bytes_;
  const std::function<void()> wake_;
  RequestImpl request_{*this};
  ResponseImpl response_{*this};

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Op> posted_;      // guarded by mu_
  bool taken_ = false;            // guarded by mu_
  std::optional<Result<std::size_t>> result_;  // guarded by mu_: set by complete(), consumed by call()
  bool body_done_ = false;        // guarded by mu_
  bool handler_returned_ = false; // guarded by mu_
  std::optional<Error> closed_;   // guarded by mu_
};

// The request and response of an inline answer (Handler::respond_inline), on the I/O thread: the request has no
// body to read, and the response is only recorded, for the connection to send once the handler returns.
class InlineRequest final : public Request, public ByteSource {
 public:
  explicit InlineRequest(const RequestInfo& info) : info_(info) {}
  std::string_view method() const override { return info_.method; }
  std::string_view target() const override { return info_.target; }
  const std::vector<Header>& headers() const override { return info_.headers; }
  std::optional<std::uint64_t> content_length() const override { return info_.content_length; }
  std::string_view remote_address() const override { return info_.remote_address; }
  std::string_view request_id() const override { return info_.request_id; }
  bool is_tls() const override { return info_.is_tls; }
  ByteSource& body() override { return *this; }
  Result<std::size_t> read(std::span<std::uint8_t>) override { return std::size_t{0}; }

 private:
  const RequestInfo& info_;
};

class InlineResponse final : public ResponseWriter, public ByteSink {
 public:
  void set_status(int status) override;
  void add_header(std::string name, std::string value) override;
  // Refuses a declared length above kInlineBodyLimit (InvalidArgument): an inline answer is small by contract.
  Status send_headers(std::optional<std::uint64_t> content_length) override;
  ByteSink& body_sink() override { return *this; }
  // Refuses bytes beyond kInlineBodyLimit or beyond the declared length.
  Status write(std::span<const std::uint8_t> data) override;
  Status finish() override;
  void abort() override;
  bool headers_sent() const override { return headers_sent_; }

  const ResponseHead& head() const { return head_; }
  std::span<const std::uint8_t> body() const { return body_; }
  bool finished() const { return finished_; }
  bool aborted() const { return aborted_; }

 private:
  ResponseHead head_;
  std::vector<std::uint8_t> body_;
  bool headers_sent_ = false;
  bool finished_ = false;
  bool aborted_ = false;
};

}  // namespace blobseal::http::internal
