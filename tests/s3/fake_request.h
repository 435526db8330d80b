// A test double of the HTTP layer's request: method, target, headers and an in-memory body, nothing else. Only the
// virtual interface of http::Request is implemented; the S3 code under test uses nothing more.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "http/handler.h"

namespace blobseal::s3::testing {

class FakeRequest final : public http::Request {
 public:
  FakeRequest(std::string method, std::string target, std::vector<http::Header> headers, std::string body = {})
      : method_(std::move(method)),
        target_(std::move(target)),
        headers_(std::move(headers)),
        body_text_(std::move(body)),
        body_(as_bytes(body_text_)) {}
  // The body source points into body_text_.
  FakeRequest(const FakeRequest&) = delete;
  FakeRequest& operator=(const FakeRequest&) = delete;

  std::string_view method() const override { return method_; }
  std::string_view target() const override { return target_; }
  const std::vector<http::Header>& headers() const override { return headers_; }
  std::optional<std::uint64_t> content_length() const override { return body_text_.size(); }
  std::string_view remote_address() const override { return "127.0.0.1:40000"; }
  std::string_view request_id() const override { return "test-request"; }
  bool is_tls() const override { return false; }
  ByteSource& body() override { return body_; }

  const std::string& body_text() const { return body_text_; }

 private:
  std::string method_;
  std::string target_;
  std::vector<http::Header> headers_;
  std::string body_text_;
  SpanSource body_;
};

}  // namespace blobseal::s3::testing
