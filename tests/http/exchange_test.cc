// The worker ↔ connection bridge without sockets: which operations a handler's calls post. A small response with a
// known length travels as one kRespond (one hand-off each way); larger, unknown-length, aborted and overrunning
// responses keep their step-by-step operations and meaning.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/exchange.h"
#include "test_support.h"

namespace blobseal::http::testing {
namespace {

using internal::Exchange;
using Kind = Exchange::OpKind;

std::string_view name(Kind kind) {
  switch (kind) {
    case Kind::kReadBody: return "read";
    case Kind::kSendHeaders: return "headers";
    case Kind::kWriteBody: return "write";
    case Kind::kFinish: return "finish";
    case Kind::kAbort: return "abort";
    case Kind::kRespond: return "respond";
  }
  return "?";
}

struct Posted {
  std::vector<std::string> kinds;
  std::string bytes;  // body bytes carried by write and respond operations, in order
};

// Plays the connection: takes each posted operation, records it and completes it as a healthy socket would (a
// body write of n bytes reports n), until the handler returns.
Posted run(LambdaHandler::Fn fn) {
  LambdaHandler handler(std::move(fn));
  Exchange exchange(internal::RequestInfo{.method = "GET", .target = "/"}, 1 << 20, [] {});
  std::thread worker([&] { exchange.run_handler(handler); });
  Posted posted;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto next = exchange.next();
    if (next.op) {
      posted.kinds.emplace_back(name(next.op->kind));
      const auto& data = next.op->write_data;
      posted.bytes.append(reinterpret_cast<const char*>(data.data()), data.size());
      exchange.complete(next.op->kind == Kind::kWriteBody ? data.size() : std::size_t{0});
      continue;
    }
    if (next.handler_returned || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  exchange.close(Error(ErrorCode::kCancelled, "test over"));
  worker.join();
  return posted;
}

std::vector<std::uint8_t> bytes(std::size_t n, char c) { return std::vector<std::uint8_t>(n, static_cast<std::uint8_t>(c)); }

TEST(Exchange, SmallResponseWithALengthIsOneRespondCarryingTheWholeBody) {
  auto posted = run([](Request&, ResponseWriter& res) {
    ASSERT_TRUE(res.send_headers(4096));
    EXPECT_TRUE(res.headers_sent());
    ASSERT_TRUE(res.body_sink().write(bytes(1000, 'a')));
    ASSERT_TRUE(res.body_sink().write(bytes(3096, 'b')));
    ASSERT_TRUE(res.finish());
  });
  EXPECT_EQ(posted.kinds, (std::vector<std::string>{"respond"}));
  EXPECT_EQ(posted.bytes, std::string(1000, 'a') + std::string(3096, 'b'));
}

TEST(Exchange, EmptyAndHeadersOnlyResponsesAreOneRespond) {
  auto posted = run([](Request&, ResponseWriter& res) { ASSERT_TRUE(res.finish()); });
  EXPECT_EQ(posted.kinds, (std::vector<std::string>{"respond"}));
}

TEST(Exchange, LargeOrUnknownLengthResponsesGoStepByStep) {
  auto large = run([](Request&, ResponseWriter& res) {
    ASSERT_TRUE(res.send_headers(Exchange::kHoldLimit + 1));
    ASSERT_TRUE(res.body_sink().write(bytes(Exchange::kHoldLimit + 1, 'x')));
    ASSERT_TRUE(res.finish());
  });
  EXPECT_EQ(large.kinds, (std::vector<std::string>{"headers", "write", "finish"}));
  auto chunked = run([](Request&, ResponseWriter& res) {
    ASSERT_TRUE(res.send_headers(std::nullopt));
    ASSERT_TRUE(res.body_sink().write(bytes(10, 'x')));
    ASSERT_TRUE(res.finish());
  });
  EXPECT_EQ(chunked.kinds, (std::vector<std::string>{"headers", "write", "finish"}));
}

TEST(Exchange, AbortOfAHeldResponseSendsWhatWasWrittenThenResets) {
  auto posted = run([](Request&, ResponseWriter& res) {
    ASSERT_TRUE(res.send_headers(4096));
    ASSERT_TRUE(res.body_sink().write(bytes(100, 'p')));
    res.abort();
    EXPECT_FALSE(res.body_sink().write(bytes(1, 'q')));
  });
  EXPECT_EQ(posted.kinds, (std::vector<std::string>{"headers", "write", "abort"}));
  EXPECT_EQ(posted.bytes, std::string(100, 'p'));
}

TEST(Exchange, WritingPastTheDeclaredLengthReleasesTheHoldAndThePastWriteReachesTheConnection) {
  auto posted = run([](Request&, ResponseWriter& res) {
    ASSERT_TRUE(res.send_headers(150));
    ASSERT_TRUE(res.body_sink().write(bytes(100, 'a')));
    (void)res.body_sink().write(bytes(100, 'b'));  // the connection refuses this one on a real socket
    (void)res.finish();
  });
  EXPECT_EQ(posted.kinds, (std::vector<std::string>{"headers", "write", "write", "finish"}));
  EXPECT_EQ(posted.bytes, std::string(100, 'a') + std::string(100, 'b'));
}

TEST(Exchange, AFailedRespondIsTheFinishResult) {
  LambdaHandler handler([](Request&, ResponseWriter& res) {
    ASSERT_TRUE(res.send_headers(10));
    ASSERT_TRUE(res.body_sink().write(bytes(10, 'z')));
    auto status = res.finish();
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kCancelled);
  });
  Exchange exchange(internal::RequestInfo{.method = "GET", .target = "/"}, 1 << 20, [] {});
  std::thread worker([&] { exchange.run_handler(handler); });
  for (;;) {
    auto next = exchange.next();
    if (next.op) {
      EXPECT_EQ(next.op->kind, Kind::kRespond);
      exchange.complete(make_error(ErrorCode::kCancelled, "the client closed the connection"));
      continue;
    }
    if (next.handler_returned) break;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  worker.join();
}

}  // namespace
}  // namespace blobseal::http::testing
