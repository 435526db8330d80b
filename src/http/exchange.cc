#include "http/exchange.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace blobseal::http::internal {

Exchange::Exchange(RequestInfo info, std::uint64_t max_body_bytes, std::function<void()> wake)
    : info_(std::move(info)), max_body_bytes_(max_body_bytes), wake_(std::move(wake)) {}

Exchange::~Exchange() = default;

Exchange::Next Exchange::next() {
  std::lock_guard lock(mu_);
  Next next;
  next.handler_returned = handler_returned_;
  if (posted_ && !taken_ && !closed_) {
    taken_ = true;
    next.op = *posted_;
  }
  return next;
}

void Exchange::complete(Result<std::size_t> result, bool body_done) {
  {
    std::lock_guard lock(mu_);
    if (!taken_) return;
    taken_ = false;
    posted_.reset();
    result_ = std::move(result);
    if (body_done) body_done_ = true;
  }
  cv_.notify_all();
}

void Exchange::close(Error reason) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (taken_) {
      taken_ = false;
      posted_.reset();
      result_ = make_error(reason);
    }
    closed_ = std::move(reason);
  }
  cv_.notify_all();
}

Result<std::size_t> Exchange::call(const Op& op) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return make_error(*closed_);
    posted_ = op;
    taken_ = false;
    result_.reset();
  }
  wake_();
  std::unique_lock lock(mu_);
  // close() completes a taken operation, so once closed_ is set the connection no longer touches the op's buffers.
  cv_.wait(lock, [&] { return result_.has_value() || closed_.has_value(); });
  if (result_) {
    Result<std::size_t> r = std::move(*result_);
    result_.reset();
    return r;
  }
  posted_.reset();
  return make_error(*closed_);
}

void Exchange::run_handler(Handler& handler) {
  try {
    handler.handle(request_, response_);
  } catch (...) {
    // The handler broke its contract; the connection answers 500 or aborts, as for any unfinished response.
  }
  {
    std::lock_guard lock(mu_);
    handler_returned_ = true;
  }
  wake_();
}

Result<std::size_t> Exchange::RequestImpl::read(std::span<std::uint8_t> out) {
  if (failed_) return make_error(*failed_);
  if (done_ || out.empty()) return std::size_t{0};
  const std::uint64_t limit = exchange_.max_body_bytes_;
  if (exchange_.info_.content_length && *exchange_.info_.content_length > limit) {
    failed_ = Error(ErrorCode::kResourceExhausted,
                    fmt::format("request body of {} bytes exceeds the limit of {} bytes",
                                *exchange_.info_.content_length, limit),
                    "EntityTooLarge");
    return make_error(*failed_);
  }
  {
    std::lock_guard lock(exchange_.mu_);
    if (exchange_.body_done_) {
      done_ = true;
      return std::size_t{0};
    }
  }
  // Ask for at most one byte past the limit: enough to tell that the body is too large without reading on.
  std::uint64_t allowed = limit - bytes_read_;
  if (allowed < std::numeric_limits<std::uint64_t>::max()) ++allowed;
  out = out.first(static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), allowed)));
  Result<std::size_t> n = exchange_.call(Op{OpKind::kReadBody, out, {}, nullptr});
  if (!n) {
    failed_ = n.error();
    return n;
  }
  if (*n == 0) {
    done_ = true;
    return std::size_t{0};
  }
  bytes_read_ += *n;
  if (bytes_read_ > limit) {
    failed_ = Error(ErrorCode::kResourceExhausted,
                    fmt::format("request body exceeds the limit of {} bytes", limit), "EntityTooLarge");
    return make_error(*failed_);
  }
  return n;
}

void Exchange::ResponseImpl::set_status(int status) {
  if (!headers_sent_) head_.status = status;
}

void Exchange::ResponseImpl::add_header(std::string name, std::string value) {
  if (!headers_sent_) head_.headers.push_back(Header{std::move(name), std::move(value)});
}

Status Exchange::ResponseImpl::send_headers(std::optional<std::uint64_t> content_length) {
  if (headers_sent_) return make_error(ErrorCode::kFailedPrecondition, "response headers were already sent");
  head_.content_length = content_length;
  // Marked sent even on failure: a connection that failed mid-header cannot carry another status line.
  headers_sent_ = true;
  if (content_length && *content_length <= kHoldLimit) {
    holding_ = true;
    held_body_.reserve(static_cast<std::size_t>(*content_length));
    return {};
  }
  Result<std::size_t> r = exchange_.call(Op{OpKind::kSendHeaders, {}, {}, &head_});
  if (!r) return make_error(r.error());
  return {};
}

Status Exchange::ResponseImpl::write(std::span<const std::uint8_t> data) {
  if (aborted_) return make_error(ErrorCode::kFailedPrecondition, "response was aborted");
  if (finished_) return make_error(ErrorCode::kFailedPrecondition, "response was already finished");
  if (!headers_sent_) BLOBSEAL_TRY_STATUS(send_headers(std::nullopt));
  if (data.empty()) return {};
  if (holding_) {
    if (data.size() <= *head_.content_length - held_body_.size()) {
      held_body_.insert(held_body_.end(), data.begin(), data.end());
      return {};
    }
    BLOBSEAL_TRY_STATUS(release_held());  // more than declared: the connection refuses it as it always did
  }
  Result<std::size_t> r = exchange_.call(Op{OpKind::kWriteBody, {}, data, nullptr});
  if (!r) return make_error(r.error());
  return {};
}

Status Exchange::ResponseImpl::finish() {
  if (aborted_) return make_error(ErrorCode::kFailedPrecondition, "response was aborted");
  if (finished_) return {};
  if (!headers_sent_) BLOBSEAL_TRY_STATUS(send_headers(0));
  finished_ = true;
  if (holding_) {
    holding_ = false;
    Result<std::size_t> r = exchange_.call(Op{OpKind::kRespond, {}, held_body_, &head_});
    if (!r) return make_error(r.error());
    return {};
  }
  Result<std::size_t> r = exchange_.call(Op{OpKind::kFinish, {}, {}, nullptr});
  if (!r) return make_error(r.error());
  return {};
}

Status Exchange::ResponseImpl::release_held() {
  holding_ = false;
  Result<std::size_t> r = exchange_.call(Op{OpKind::kSendHeaders, {}, {}, &head_});
  if (!r) return make_error(r.error());
  if (!held_body_.empty()) {
    r = exchange_.call(Op{OpKind::kWriteBody, {}, held_body_, nullptr});
    if (!r) return make_error(r.error());
  }
  return {};
}

void Exchange::ResponseImpl::abort() {
  if (aborted_) return;
  aborted_ = true;
  // Held back, nothing sent yet: the status line goes out before the reset, as it would have without the hold-back
  // (the client sees a response cut short, never a clean one).
  if (holding_) (void)release_held();
  (void)exchange_.call(Op{OpKind::kAbort, {}, {}, nullptr});
}

// ---- InlineResponse ----------------------------------------------------------------------------------------------

void InlineResponse::set_status(int status) {
  if (!headers_sent_) head_.status = status;
}

void InlineResponse::add_header(std::string name, std::string value) {
  if (!headers_sent_) head_.headers.push_back(Header{std::move(name), std::move(value)});
}

Status InlineResponse::send_headers(std::optional<std::uint64_t> content_length) {
  if (headers_sent_) return make_error(ErrorCode::kFailedPrecondition, "response headers were already sent");
  if (content_length && *content_length > kInlineBodyLimit)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("an inline answer carries at most {} body bytes, not {}", kInlineBodyLimit,
                                  *content_length));
  head_.content_length = content_length;
  headers_sent_ = true;
  return {};
}

Status InlineResponse::write(std::span<const std::uint8_t> data) {
  if (aborted_) return make_error(ErrorCode::kFailedPrecondition, "response was aborted");
  if (finished_) return make_error(ErrorCode::kFailedPrecondition, "response was already finished");
  if (!headers_sent_) BLOBSEAL_TRY_STATUS(send_headers(std::nullopt));
  std::uint64_t limit = head_.content_length.value_or(kInlineBodyLimit);
  if (data.size() > limit - body_.size())
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("response body would exceed {} bytes", limit));
  body_.insert(body_.end(), data.begin(), data.end());
  return {};
}

Status InlineResponse::finish() {
  if (aborted_) return make_error(ErrorCode::kFailedPrecondition, "response was aborted");
  if (!headers_sent_) BLOBSEAL_TRY_STATUS(send_headers(0));
  finished_ = true;
  return {};
}

void InlineResponse::abort() { aborted_ = true; }

}  // namespace blobseal::http::internal
