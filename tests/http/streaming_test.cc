// Bodies: 64 MiB each way with bounded memory, chunked coding both ways, 100-continue, the body limit, the body
// inactivity timeout, and backpressure from a client that does not read.
#include <gtest/gtest.h>

#include <atomic>

#include <fmt/format.h>

#include "test_client.h"
#include "test_support.h"

namespace blobseal::http::testing {
namespace {

constexpr std::uint64_t kBig = 64ULL << 20;
constexpr std::uint64_t kMaxGrowth = 32ULL << 20;

std::string field(const std::string& body, const std::string& name) {
  auto p = body.find(name + "=");
  if (p == std::string::npos) return "<missing>";
  p += name.size() + 1;
  return body.substr(p, body.find_first_of(" \n", p) - p);
}

// Reads the whole body in 64 KiB pieces, checking it against the pattern.
LambdaHandler checking_upload_handler() {
  return LambdaHandler([](Request& req, ResponseWriter& res) {
    std::vector<std::uint8_t> buf(64 * 1024);
    StreamCheck check;
    for (;;) {
      auto n = req.body().read(buf);
      if (!n) {
        (void)respond(res, 500, "text/plain", n.error().to_string());
        return;
      }
      if (*n == 0) break;
      check.add(std::span<const std::uint8_t>(buf.data(), *n));
    }
    (void)respond(res, 200, "text/plain",
                  fmt::format("bytes={} mismatches={} length={}", check.bytes, check.mismatches,
                              req.content_length() ? std::to_string(*req.content_length()) : "none"));
  });
}

// Writes `size` pattern bytes in 64 KiB pieces, with or without a Content-Length (query "chunked").
LambdaHandler generating_download_handler(std::atomic<std::uint64_t>* progress = nullptr) {
  return LambdaHandler([progress](Request& req, ResponseWriter& res) {
    std::uint64_t size = std::stoull(std::string(req.header("X-Size").value_or("0")));
    bool chunked = req.query() == "chunked";
    res.add_header("Content-Type", "application/octet-stream");
    if (!res.send_headers(chunked ? std::nullopt : std::optional<std::uint64_t>(size))) return;
    std::vector<char> buf(64 * 1024);
    for (std::uint64_t off = 0; off < size;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - off));
      fill_pattern(off, std::span<char>(buf.data(), n));
      if (!res.body_sink().write(std::span<const std::uint8_t>(reinterpret_cast<std::uint8_t*>(buf.data()), n))) return;
      off += n;
      if (progress) *progress = off;
    }
    (void)res.finish();
  });
}

class LargeBody : public ::testing::TestWithParam<bool> {};  // param: chunked transfer coding

TEST_P(LargeBody, UploadStreamsWithBoundedMemory) {
  const bool chunked = GetParam();
  auto handler = checking_upload_handler();
  RunningServer server({}, handler);
  ASSERT_TRUE(server.ok()) << server.error();
  Client client(server.port());
  ASSERT_TRUE(client.ok());
  // Warm up the connection machinery so that one-off allocations do not count.
  ASSERT_TRUE(client.send(request("PUT", "/warm", std::string(100000, 'w'))));
  ASSERT_TRUE(client.read_response());

  bool reset = reset_peak_rss();
  std::uint64_t before = peak_rss_bytes();
  if (chunked) {
    ASSERT_TRUE(client.send(request_head("PUT", "/big", {{"Transfer-Encoding", "chunked"}})));
    ASSERT_TRUE(client.send_chunked_generated(kBig, fill_pattern, 100 * 1000));
  } else {
    ASSERT_TRUE(client.send(request_head("PUT", "/big", {{"Content-Length", std::to_string(kBig)}})));
    ASSERT_TRUE(client.send_generated(kBig, fill_pattern));
  }
  auto r = client.read_response();
  std::uint64_t after = peak_rss_bytes();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(field(r->body, "bytes"), std::to_string(kBig));
  EXPECT_EQ(field(r->body, "mismatches"), "0");
  EXPECT_EQ(field(r->body, "length"), chunked ? "none" : std::to_string(kBig));
  EXPECT_LT(after - before, kMaxGrowth) << "peak RSS grew by " << (after - before) << " bytes (reset " << reset << ")";
}

TEST_P(LargeBody, DownloadStreamsWithBoundedMemory) {
  const bool chunked = GetParam();
  auto handler = generating_download_handler();
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("GET", "/warm", {{"X-Size", "100000"}})));
  ASSERT_TRUE(client.read_response());

  bool reset = reset_peak_rss();
  std::uint64_t before = peak_rss_bytes();
  ASSERT_TRUE(client.send(request_head("GET", chunked ? "/big?chunked" : "/big", {{"X-Size", std::to_string(kBig)}})));
  auto head = client.read_head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  if (chunked) {
    EXPECT_EQ(head->header("Transfer-Encoding"), "chunked");
    EXPECT_FALSE(head->header("Content-Length"));
  } else {
    EXPECT_EQ(head->header("Content-Length"), std::to_string(kBig));
  }
  StreamCheck check;
  ReadEnd end = client.read_body(*head, [&](std::string_view piece) { check.add(piece); });
  std::uint64_t after = peak_rss_bytes();
  EXPECT_EQ(end, ReadEnd::kComplete) << to_string(end);
  EXPECT_EQ(check.bytes, kBig);
  EXPECT_EQ(check.mismatches, 0u);
  EXPECT_LT(after - before, kMaxGrowth) << "peak RSS grew by " << (after - before) << " bytes (reset " << reset << ")";

  // The connection is still usable afterwards.
  ASSERT_TRUE(client.send(request_head("GET", "/small", {{"X-Size", "10"}})));
  auto small = client.read_response();
  ASSERT_TRUE(small);
  EXPECT_EQ(small->body.size(), 10u);
}

INSTANTIATE_TEST_SUITE_P(HttpServer, LargeBody, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Chunked" : "ContentLength"; });

TEST(HttpServer, ChunkedRequestAndChunkedResponse) {
  LambdaHandler handler([](Request& req, ResponseWriter& res) {
    std::string body;
    std::uint8_t buf[7];  // small reads: pieces straddle chunk boundaries
    for (;;) {
      auto n = req.body().read(buf);
      if (!n || *n == 0) break;
      body.append(reinterpret_cast<char*>(buf), *n);
    }
    res.add_header("X-Length", req.content_length() ? std::to_string(*req.content_length()) : "none");
    auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
    // No send_headers(): the first write commits the headers with chunked coding.
    (void)res.body_sink().write(bytes.first(bytes.size() / 2));
    (void)res.body_sink().write(bytes.subspan(bytes.size() / 2));
    (void)res.finish();
  });
  RunningServer server({}, handler);
  Client client(server.port());
  std::string expected;
  std::string wire = request_head("POST", "/echo", {{"Transfer-Encoding", "chunked"}});
  for (int i = 1; i <= 20; ++i) {
    std::string piece(static_cast<std::size_t>(i * 37), static_cast<char>('a' + i));
    expected += piece;
    wire += fmt::format("{:X}{}\r\n{}\r\n", piece.size(), i == 3 ? ";ext=1" : "", piece);
  }
  wire += "0\r\nX-Trailer: t\r\n\r\n";
  for (int round = 0; round < 2; ++round) {  // twice: the connection survives a chunked exchange
    ASSERT_TRUE(client.send(wire));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Transfer-Encoding"), "chunked");
    EXPECT_FALSE(r->header("Content-Length"));
    EXPECT_EQ(r->header("X-Length"), "none");
    EXPECT_EQ(r->body, expected);
  }
}

TEST(HttpServer, ExpectContinueIsSentOnTheFirstBodyReadOnly) {
  std::atomic<bool> reading{false};
  std::atomic<int> reads{0};
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    if (req.path() == "/refuse") {
      (void)respond(res, 403, "text/plain", "no");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reading = true;
    std::string body;
    std::uint8_t buf[3];
    for (;;) {
      auto n = req.body().read(buf);
      ++reads;
      if (!n || *n == 0) break;
      body.append(reinterpret_cast<char*>(buf), *n);
    }
    (void)respond(res, 200, "text/plain", body);
  });
  RunningServer server({}, handler);
  {
    Client client(server.port());
    ASSERT_TRUE(client.send(request_head("PUT", "/accept", {{"Expect", "100-continue"}, {"Content-Length", "11"}})));
    auto interim = client.read_head();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    EXPECT_TRUE(reading.load()) << "100 Continue came before the handler read the body";
    ASSERT_TRUE(client.send("hello world"));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);  // and not a second 100
    EXPECT_EQ(r->body, "hello world");
    EXPECT_GT(reads.load(), 2);
  }
  {
    // The handler answers without reading: no 100, a final status, and the connection closes (the body may never
    // come).
    Client client(server.port());
    ASSERT_TRUE(client.send(request_head("PUT", "/refuse", {{"Expect", "100-continue"}, {"Content-Length", "5000000"}})));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);
  }
}

TEST(HttpServer, BodyLimitFailsReadsWithResourceExhausted) {
  std::atomic<std::uint64_t> delivered{0};
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    std::uint64_t total = 0;
    std::uint8_t buf[300];
    for (;;) {
      auto n = req.body().read(buf);
      if (!n) {
        delivered = total;
        if (n.error().code() == ErrorCode::kResourceExhausted) {
          (void)respond(res, 413, "text/plain", n.error().message());
        } else {
          (void)respond(res, 500, "text/plain", n.error().to_string());
        }
        return;
      }
      if (*n == 0) break;
      total += *n;
    }
    delivered = total;
    (void)respond(res, 200, "text/plain", std::to_string(total));
  });
  ServerOptions options;
  options.max_body_bytes = 1000;
  RunningServer server(options, handler);

  Client at_limit(server.port());
  ASSERT_TRUE(at_limit.send(request("PUT", "/", std::string(1000, 'a'))));
  auto r1 = at_limit.read_response();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, "1000");

  // Declared too large: the first read fails, before any byte is read (and no 100 Continue is sent).
  Client declared(server.port());
  ASSERT_TRUE(declared.send(request_head("PUT", "/", {{"Content-Length", "1001"}, {"Expect", "100-continue"}})));
  auto r2 = declared.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 413);
  EXPECT_EQ(delivered.load(), 0u);

  // Chunked: the body is cut off at the limit.
  Client streamed(server.port());
  ASSERT_TRUE(streamed.send(request_head("PUT", "/", {{"Transfer-Encoding", "chunked"}})));
  ASSERT_TRUE(streamed.send_chunked_generated(1500, fill_pattern, 100));
  auto r3 = streamed.read_response();
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 413);
  EXPECT_LE(delivered.load(), 1000u);
  EXPECT_GE(delivered.load(), 900u);
}

TEST(HttpServer, StalledRequestBodyTimesOut) {
  std::atomic<int> code{-1};
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    std::uint8_t buf[1000];
    Result<std::size_t> n;
    do n = req.body().read(buf);
    while (n && *n > 0);
    code = n ? -2 : static_cast<int>(n.error().code());
    (void)respond(res, 400, "text/plain", "late");  // fails: the connection is gone
  });
  ServerOptions options;
  options.body_timeout = std::chrono::milliseconds(500);
  RunningServer server(options, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("PUT", "/", {{"Content-Length", "100"}}) + "0123456789"));
  auto start = std::chrono::steady_clock::now();
  ReadEnd end = client.read_to_end();
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_NE(end, ReadEnd::kTimeout);
  EXPECT_GE(waited, std::chrono::milliseconds(400));
  EXPECT_LT(waited, std::chrono::seconds(5));
  wait_until([&] { return code.load() != -1; }, std::chrono::seconds(2));
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::kUnavailable));
}

TEST(HttpServer, ResponseWritesBlockWhileTheClientDoesNotRead) {
  std::atomic<std::uint64_t> progress{0};
  auto handler = generating_download_handler(&progress);
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("GET", "/big", {{"X-Size", std::to_string(kBig)}})));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  // Only the socket buffers (a few MiB on loopback) can be ahead of the client.
  EXPECT_LT(progress.load(), 24ULL << 20);
  auto head = client.read_head();
  ASSERT_TRUE(head);
  StreamCheck check;
  EXPECT_EQ(client.read_body(*head, [&](std::string_view p) { check.add(p); }), ReadEnd::kComplete);
  EXPECT_EQ(check.bytes, kBig);
  // The handler's last write() returns once its bytes reached the socket, maybe just after the client read them.
  EXPECT_TRUE(wait_until([&] { return progress.load() == kBig; }, std::chrono::seconds(5)));
}

TEST(HttpServer, RequestBodyIsReadOnlyAsTheHandlerAsks) {
  std::atomic<bool> go{false};
  auto inner = checking_upload_handler();
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    wait_until([&] { return go.load(); });
    inner.handle(req, res);
  });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("PUT", "/big", {{"Content-Length", std::to_string(kBig)}})));
  std::atomic<std::uint64_t> sent{0};
  std::thread sender([&] {
    std::vector<char> buf(64 * 1024);
    for (std::uint64_t off = 0; off < kBig; off += buf.size()) {
      fill_pattern(off, buf);
      if (!client.send(std::string_view(buf.data(), buf.size()))) return;
      sent = off + buf.size();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_LT(sent.load(), 24ULL << 20);  // the server is not reading ahead of the handler
  go = true;
  sender.join();
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(field(r->body, "bytes"), std::to_string(kBig));
  EXPECT_EQ(field(r->body, "mismatches"), "0");
}

}  // namespace
}  // namespace blobseal::http::testing
