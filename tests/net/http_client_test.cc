// net::HttpClient against a scripted server: keep-alive, retries (what is retried, what never is, how often, how
// long), timeouts, streaming with backpressure both ways, SigV4 on every attempt, error bodies.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "net/http_client.h"
#include "net/sigv4_signer.h"
#include "scripted_server.h"

namespace blobseal::net::testing {
namespace {

using namespace std::chrono_literals;

ClientOptions options_for(const ScriptedServer& server) {
  ClientOptions options;
  options.endpoint = server.endpoint();
  options.retry.base_delay = 5ms;
  options.retry.max_delay = 20ms;
  options.connect_timeout = 2000ms;
  options.read_timeout = 5000ms;
  return options;
}

std::unique_ptr<HttpClient> client_for(ClientOptions options) { return HttpClient::create(std::move(options)).value(); }

const std::string kSlowDown = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Reduce your request rate."
                              "</Message></Error>";

// Bytes generated as they are read, in reads of at most `max_read`, counting the largest read asked.
class GeneratedSource final : public ByteSource {
 public:
  GeneratedSource(std::uint64_t size, std::size_t max_read = SIZE_MAX, std::uint64_t fail_at = UINT64_MAX)
      : size_(size), max_read_(max_read), fail_at_(fail_at) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (position_ >= fail_at_) return make_error(ErrorCode::kCancelled, "the source gave up");
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>({out.size(), size_ - position_, max_read_}));
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>((position_ + i) * 31 % 251);
    position_ += n;
    largest_ = std::max(largest_, out.size());
    return n;
  }
  std::size_t largest_read_asked() const { return largest_; }

 private:
  std::uint64_t size_, max_read_, fail_at_;
  std::uint64_t position_ = 0;
  std::size_t largest_ = 0;
};

std::string generated(std::uint64_t size) {
  std::string out(size, '\0');
  for (std::uint64_t i = 0; i < size; ++i) out[i] = static_cast<char>(i * 31 % 251);
  return out;
}

class CountingSink final : public ByteSink {
 public:
  Status write(std::span<const std::uint8_t> data) override {
    bytes += data.size();
    return {};
  }
  std::uint64_t bytes = 0;
};

TEST(HttpClient, KeepAliveReusesOneConnection) {
  ScriptedServer server([](const RawRequest& request, ServerConnection& c) { respond(c, 200, "hello " + request.target); });
  auto client = client_for(options_for(server));
  for (int i = 0; i < 20; ++i) {
    Request request;
    request.target = "/x" + std::to_string(i);
    auto response = client->send(request);
    ASSERT_TRUE(response) << response.error().to_string();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello /x" + std::to_string(i));
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(client->retries(), 0u);
}

TEST(HttpClient, TransientStatusesAreRetriedWithBackoffAndCounted) {
  ScriptedServer server([](const RawRequest& request, ServerConnection& c) {
    if (request.number == 1) respond(c, 503, kSlowDown);
    else if (request.number == 2) respond(c, 500, "");
    else respond(c, 200, "finally");
  });
  auto options = options_for(server);
  std::vector<RetryEvent> events;
  options.on_retry = [&](const RetryEvent& event) { events.push_back(event); };
  auto client = client_for(std::move(options));
  Request request;
  request.method = "PUT";
  request.target = "/b/k";
  std::string body = "replayable";
  request.body = as_bytes(body);
  auto response = client->send(request);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "finally");
  EXPECT_EQ(response->attempts, 3);
  EXPECT_EQ(client->retries(), 2u);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].status, 503);
  EXPECT_NE(events[0].reason.find("SlowDown"), std::string::npos);
  EXPECT_EQ(events[1].status, 500);
  EXPECT_LE(events[0].delay, 5ms);
  EXPECT_LE(events[1].delay, 10ms);
}

TEST(HttpClient, SlowDownIsRetriedWhateverTheStatus) {
  ScriptedServer server([](const RawRequest& request, ServerConnection& c) {
    respond(c, request.number == 1 ? 400 : 200, request.number == 1 ? kSlowDown : "ok");
  });
  auto client = client_for(options_for(server));
  auto response = client->send(Request{});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(client->retries(), 1u);
}

TEST(HttpClient, RetriesAreBoundedAndTheLastAnswerIsReturned) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) { respond(c, 502, "bad gateway"); });
  auto options = options_for(server);
  options.retry.max_attempts = 3;
  auto client = client_for(std::move(options));
  auto response = client->send(Request{});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(response->body, "bad gateway");
  EXPECT_EQ(response->attempts, 3);
  EXPECT_EQ(server.requests(), 3);
}

TEST(HttpClient, RetriesStopWhenTheTotalTimeIsSpent) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) { respond(c, 503, ""); });
  auto options = options_for(server);
  options.retry.max_attempts = 1000;
  options.retry.base_delay = 50ms;
  options.retry.max_delay = 50ms;
  options.retry.max_total = 300ms;
  auto client = client_for(std::move(options));
  auto start = std::chrono::steady_clock::now();
  auto response = client->send(Request{});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_LT(server.requests(), 100);
}

TEST(HttpClient, NonIdempotentRequestsAreNotRetried) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) { respond(c, 503, kSlowDown); });
  auto client = client_for(options_for(server));
  Request request;
  request.method = "POST";
  auto response = client->send(request);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(client->retries(), 0u);
  // Unless the caller says it is safe.
  request.idempotent = true;
  ASSERT_TRUE(client->send(request));
  EXPECT_EQ(client->retries(), 3u);
}

TEST(HttpClient, AStreamedRequestBodyIsNeverSentTwice) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) { respond(c, 503, ""); });
  auto client = client_for(options_for(server));
  GeneratedSource source(100000);
  Request request;
  request.method = "PUT";
  request.body_stream = &source;
  request.body_length = 100000;
  auto response = client->send(request);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpClient, AConnectionClosedBeforeTheAnswerIsRetried) {
  ScriptedServer server([](const RawRequest& request, ServerConnection& c) {
    if (request.number == 1) c.close();
    else respond(c, 200, "second try");
  });
  auto client = client_for(options_for(server));
  auto response = client->send(Request{});
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, "second try");
  EXPECT_GE(client->retries(), 1u);
}

TEST(HttpClient, ARefusedConnectionIsUnavailableAfterBoundedRetries) {
  int port;
  {
    ScriptedServer gone([](const RawRequest&, ServerConnection&) {});
    port = gone.port();
  }
  ClientOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(port);
  options.retry.max_attempts = 3;
  options.retry.base_delay = 10ms;
  auto client = client_for(std::move(options));
  auto start = std::chrono::steady_clock::now();
  auto response = client->send(Request{});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(response.error().reason(), "UpstreamUnreachable");
  EXPECT_EQ(client->retries(), 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(HttpClient, ADownUpstreamFailsFastThenIsProbed) {
  std::atomic<bool> broken{true};
  ScriptedServer server([&](const RawRequest&, ServerConnection& c) {
    if (broken) c.close();
    else respond(c, 200, "back");
  });
  auto options = options_for(server);
  options.retry.max_attempts = 1;
  options.down_after_failures = 3;
  options.down_cooldown = 300ms;
  auto client = client_for(std::move(options));
  for (int i = 0; i < 3; ++i) {
    auto failed = client->send(Request{});
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().reason(), "UpstreamUnreachable");
  }
  EXPECT_FALSE(client->upstream_up());
  int reached = server.requests();
  auto start = std::chrono::steady_clock::now();
  auto fast = client->send(Request{});
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(fast.error().reason(), "UpstreamDown");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_EQ(server.requests(), reached) << "failing fast sends nothing";
  broken = false;
  std::this_thread::sleep_for(350ms);
  auto probe = client->send(Request{});
  ASSERT_TRUE(probe) << probe.error().to_string();
  EXPECT_EQ(probe->body, "back");
  EXPECT_TRUE(client->upstream_up());
}

TEST(HttpClient, AStalledAnswerTimesOut) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
    std::this_thread::sleep_for(4s);
  });
  auto options = options_for(server);
  options.read_timeout = 1000ms;
  options.retry.max_attempts = 1;
  auto client = client_for(std::move(options));
  auto start = std::chrono::steady_clock::now();
  auto stream = client->open(Request{});
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_EQ((*stream)->response().status, 200);
  std::uint8_t buffer[2000];
  std::size_t total = 0;
  Result<std::size_t> n = std::size_t{0};
  while ((n = (*stream)->read(buffer)) && *n > 0) total += *n;
  ASSERT_FALSE(n) << "a short body must never end cleanly";
  EXPECT_EQ(n.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(n.error().reason(), "UpstreamTimeout");
  EXPECT_EQ(total, 7u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3500ms);
}

TEST(HttpClient, ABodyCutAfterBytesReachedTheSinkIsNotRetried) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
    c.write(std::string(100000, 'x'));
    c.close();
  });
  auto client = client_for(options_for(server));
  CountingSink sink;
  auto response = client->send(Request{}, sink);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_GT(sink.bytes, 0u);
  EXPECT_LT(sink.bytes, 1000000u);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(client->retries(), 0u);
}

TEST(HttpClient, ABodyCutBeforeReachingTheCallerIsRetried) {
  ScriptedServer server([](const RawRequest& request, ServerConnection& c) {
    if (request.number == 1) {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
      c.write(std::string(100000, 'x'));
      c.close();
    } else {
      respond(c, 200, std::string(1000000, 'y'));
    }
  });
  auto client = client_for(options_for(server));
  auto response = client->send(Request{}, 2000000);  // collected: nothing reached the caller before the cut
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, std::string(1000000, 'y'));
  EXPECT_EQ(client->retries(), 1u);
}

TEST(HttpClient, AResponseBodyIsReadOnlyAsTheCallerReads) {
  constexpr std::uint64_t kSize = 256u << 20;
  std::atomic<std::uint64_t> written{0};
  ScriptedServer server([&](const RawRequest&, ServerConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    std::string chunk(64 * 1024, 'z');
    for (std::uint64_t sent = 0; sent < kSize; sent += chunk.size()) {
      if (!c.write(chunk)) return;
      written += chunk.size();
    }
  });
  auto client = client_for(options_for(server));
  auto stream = client->open(Request{});
  ASSERT_TRUE(stream);
  std::this_thread::sleep_for(500ms);
  // Socket buffers on both sides, plus the client's one paused buffer: megabytes, not the body.
  EXPECT_LT(written.load(), 32u << 20) << "the client read far ahead of its caller";
  std::vector<std::uint8_t> buffer(1 << 20);
  std::uint64_t total = 0;
  for (;;) {
    auto n = (*stream)->read(buffer);
    ASSERT_TRUE(n) << n.error().to_string();
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_EQ(total, kSize);
}

TEST(HttpClient, ACallerSlowerThanTheIdleTimeoutIsNotATimeout) {
  ScriptedServer server([&](const RawRequest&, ServerConnection& c) { respond(c, 200, std::string(8u << 20, 'w')); });
  auto options = options_for(server);
  options.read_timeout = 300ms;
  auto client = client_for(std::move(options));
  auto stream = client->open(Request{});
  ASSERT_TRUE(stream);
  std::vector<std::uint8_t> buffer(1 << 20);
  std::uint64_t total = 0;
  for (int i = 0;; ++i) {
    if (i < 3) std::this_thread::sleep_for(600ms);  // the caller (a slow download client) holds the transfer
    auto n = (*stream)->read(buffer);
    ASSERT_TRUE(n) << n.error().to_string();
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_EQ(total, 8u << 20);
}

TEST(HttpClient, ARequestBodyIsPulledFromItsSourceAsTheSocketTakesIt) {
  constexpr std::uint64_t kSize = 20u << 20;
  std::string received_digest;
  ScriptedServer server([&](const RawRequest& request, ServerConnection& c) {
    received_digest = to_hex(crypto::sha256(as_bytes(request.body)));
    respond(c, 200, std::to_string(request.body.size()));
  });
  auto client = client_for(options_for(server));
  GeneratedSource source(kSize);
  Request request;
  request.method = "PUT";
  request.body_stream = &source;
  request.body_length = kSize;
  auto response = client->send(request);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->body, std::to_string(kSize));
  EXPECT_EQ(received_digest, to_hex(crypto::sha256(as_bytes(generated(kSize)))));
  EXPECT_LE(source.largest_read_asked(), 1u << 20) << "the body is read a buffer at a time";
}

TEST(HttpClient, ASourceFailureIsReturnedAsTheSourceReportedIt) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) { respond(c, 200, ""); });
  auto client = client_for(options_for(server));
  GeneratedSource source(10u << 20, SIZE_MAX, 3u << 20);
  Request request;
  request.method = "PUT";
  request.body_stream = &source;
  request.body_length = 10u << 20;
  auto response = client->send(request);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(response.error().message(), "the source gave up");
  // A source shorter than announced is the caller's error, never a clean request.
  GeneratedSource short_source(1000);
  request.body_stream = &short_source;
  request.body_length = 2000;
  auto truncated = client->send(request);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().reason(), "IncompleteBody");
}

TEST(HttpClient, EveryAttemptIsSignedWithSigV4) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  std::vector<std::string> dates;
  std::vector<bool> verified;
  ScriptedServer server([&](const RawRequest& request, ServerConnection& c) {
    // Recompute the signature over what arrived, with the signed-headers list the client sent.
    std::string authorization = request.header("Authorization");
    auto signed_at = authorization.find("SignedHeaders=");
    auto signature_at = authorization.find("Signature=");
    std::string signed_list = authorization.substr(signed_at + 14, authorization.find(',', signed_at) - signed_at - 14);
    std::vector<std::string> signed_headers;
    for (std::size_t start = 0;;) {
      auto semi = signed_list.find(';', start);
      signed_headers.push_back(signed_list.substr(start, semi - start));
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
    std::vector<Header> headers;
    for (const auto& [n, v] : request.headers) headers.push_back({n, v});
    auto q = request.target.find('?');
    std::string path = request.target.substr(0, q), query = q == std::string::npos ? "" : request.target.substr(q + 1);
    std::string payload = request.header("x-amz-content-sha256");
    auto canonical = canonical_request(SigningInput{request.method, path, query, headers, signed_headers, payload});
    std::string date = request.header("X-Amz-Date");
    CredentialScope scope{date.substr(0, 8), "eu-west-3", "s3"};
    std::string expected =
        compute_signature(derive_signing_key(as_bytes(secret), scope),
                          string_to_sign(date, scope.to_string(), canonical.value()));
    verified.push_back(authorization.substr(signature_at + 10) == expected &&
                       payload == to_hex(crypto::sha256(as_bytes(request.body))) &&
                       authorization.find("Credential=AKIDEXAMPLE/" + scope.to_string()) != std::string::npos);
    dates.push_back(date);
    if (request.number == 1) std::this_thread::sleep_for(1100ms);  // the retry is signed at another second
    respond(c, request.number == 1 ? 503 : 200, "");
  });
  auto options = options_for(server);
  Credentials credentials;
  credentials.access_key = "AKIDEXAMPLE";
  credentials.secret_key = SecretBytes(as_bytes(secret));
  credentials.region = "eu-west-3";
  options.credentials = std::move(credentials);
  auto client = client_for(std::move(options));
  Request request;
  request.method = "PUT";
  request.target = "/bucket/a%20key?partNumber=2&uploadId=x%2By";
  request.headers.push_back({"x-amz-meta-blobseal-record", "k/00"});
  std::string body = "signed body";
  request.body = as_bytes(body);
  auto response = client->send(request);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(verified.size(), 2u);
  EXPECT_TRUE(verified[0]);
  EXPECT_TRUE(verified[1]);
  EXPECT_NE(dates[0], dates[1]) << "each attempt is signed afresh";
}

TEST(HttpClient, ErrorBodiesAreCollectedAndTheirCodeRead) {
  ScriptedServer server([](const RawRequest&, ServerConnection& c) {
    respond(c, 404, "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>nope</Message></Error>");
  });
  auto client = client_for(options_for(server));
  CountingSink sink;
  auto response = client->send(Request{}, sink);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(error_code_of(response->body), "NoSuchKey");
  EXPECT_EQ(sink.bytes, 0u) << "an error body never goes to the caller's sink";
  auto stream = client->open(Request{});
  ASSERT_TRUE(stream);
  EXPECT_EQ(error_code_of((*stream)->response().body), "NoSuchKey");
}

TEST(HttpClient, HeadAndDeleteHaveNoBody) {
  ScriptedServer server([](const RawRequest& request, ServerConnection& c) {
    if (request.method == "HEAD") {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nETag: \"abc\"\r\n\r\n");
    } else {
      respond(c, 204, "");
    }
  });
  auto client = client_for(options_for(server));
  Request head;
  head.method = "HEAD";
  auto response = client->send(head);
  ASSERT_TRUE(response) << response.error().to_string();
  EXPECT_EQ(response->header("content-length"), "12345");
  EXPECT_EQ(response->header("etag"), "\"abc\"");
  Request remove;
  remove.method = "DELETE";
  auto deleted = client->send(remove);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 204);
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClient, EndpointsAreChecked) {
  for (const char* bad : {"", "ftp://host", "http://", "http://host/path", "http://host:99999", "http://user@host"}) {
    ClientOptions options;
    options.endpoint = bad;
    auto client = HttpClient::create(std::move(options));
    ASSERT_FALSE(client) << bad;
    EXPECT_EQ(client.error().code(), ErrorCode::kInvalidArgument);
  }
  for (const char* good : {"http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com/", "http://[::1]:8080"}) {
    ClientOptions options;
    options.endpoint = good;
    EXPECT_TRUE(HttpClient::create(std::move(options))) << good;
  }
}

TEST(RetryPolicy, FullJitterStaysUnderTheCappedExponential) {
  RetryPolicy policy;
  policy.base_delay = 100ms;
  policy.max_delay = 1000ms;
  for (std::uint64_t r : {std::uint64_t{0}, std::uint64_t{7}, ~std::uint64_t{0}, std::uint64_t{123456789}}) {
    EXPECT_LE(backoff_delay(policy, 1, r), 100ms);
    EXPECT_LE(backoff_delay(policy, 2, r), 200ms);
    EXPECT_LE(backoff_delay(policy, 4, r), 800ms);
    EXPECT_LE(backoff_delay(policy, 10, r), 1000ms);
    EXPECT_LE(backoff_delay(policy, 1000, r), 1000ms);
  }
  EXPECT_EQ(backoff_delay(policy, 1, 0), 0ms);
  EXPECT_EQ(backoff_delay(policy, 10, 1000), 1000ms);
  EXPECT_TRUE(is_retryable_status(503));
  EXPECT_TRUE(is_retryable_status(500));
  EXPECT_FALSE(is_retryable_status(501));
  EXPECT_FALSE(is_retryable_status(404));
}

}  // namespace
}  // namespace blobseal::net::testing
