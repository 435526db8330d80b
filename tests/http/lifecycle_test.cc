// Connection lifetimes: slowloris and idle timeouts, abort() as a reset, graceful and forced stop, the connection
// limit, and the access log.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_client.h"
#include "test_support.h"

namespace blobseal::http::testing {
namespace {

using namespace std::chrono_literals;

LambdaHandler ok_handler() {
  return LambdaHandler([](Request&, ResponseWriter& res) { (void)respond(res, 200, "text/plain", "ok"); });
}

TEST(HttpServer, SlowlorisHeadIsCutOffAtTheHeaderTimeout) {
  auto handler = ok_handler();
  ServerOptions options;
  options.header_timeout = 1s;
  RunningServer server(options, handler);

  // One byte every 100 ms, for far longer than the timeout.
  Client slow(server.port());
  auto start = std::chrono::steady_clock::now();
  std::string head = request_head("GET", "/", {{"X-Padding", std::string(200, 'p')}});
  std::atomic<bool> cut{false};
  std::thread dribble([&] {
    for (char c : head) {
      if (cut || !slow.send(std::string_view(&c, 1))) return;
      std::this_thread::sleep_for(100ms);
    }
  });
  ReadEnd end = slow.read_to_end();
  auto waited = std::chrono::steady_clock::now() - start;
  cut = true;
  dribble.join();
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << to_string(end);
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 3s);

  // A connection that sends nothing at all is closed too.
  Client silent(server.port());
  start = std::chrono::steady_clock::now();
  end = silent.read_to_end();
  waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << to_string(end);
  EXPECT_LT(waited, 3s);

  // A prompt client is unaffected.
  Client prompt(server.port());
  ASSERT_TRUE(prompt.send(request("GET", "/")));
  auto r = prompt.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosed) {
  auto handler = ok_handler();
  ServerOptions options;
  options.idle_timeout = 500ms;
  RunningServer server(options, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  ASSERT_TRUE(client.read_response());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 400ms);
  EXPECT_LT(waited, 3s);
}

class Abort : public ::testing::TestWithParam<bool> {};  // param: the response has a Content-Length

TEST_P(Abort, ClientSeesAResetNotACleanEnd) {
  const bool with_length = GetParam();
  std::atomic<bool> aborted{false};
  std::atomic<int> write_after_abort{-1};
  LambdaHandler handler([&](Request&, ResponseWriter& res) {
    if (!res.send_headers(with_length ? std::optional<std::uint64_t>(1 << 20) : std::nullopt)) return;
    std::vector<std::uint8_t> piece(16 * 1024, 'd');
    for (int i = 0; i < 8; ++i)
      if (!res.body_sink().write(piece)) return;
    res.abort();
    aborted = true;
    write_after_abort = res.body_sink().write(piece) ? 1 : 0;
  });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  auto head = client.read_head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  std::uint64_t got = 0;
  ReadEnd end = client.read_body(*head, [&](std::string_view p) { got += p.size(); });
  EXPECT_EQ(end, ReadEnd::kReset) << to_string(end) << " after " << got << " bytes";
  EXPECT_LE(got, 8u * 16 * 1024);
  wait_until([&] { return write_after_abort.load() != -1; }, 2s);
  EXPECT_TRUE(aborted);
  EXPECT_EQ(write_after_abort.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(HttpServer, Abort, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "ContentLength" : "Chunked"; });

TEST(HttpServer, GracefulStopLetsAnInFlightRequestFinish) {
  std::atomic<bool> started{false};
  LambdaHandler handler([&](Request&, ResponseWriter& res) {
    started = true;
    std::this_thread::sleep_for(1s);
    (void)respond(res, 200, "text/plain", "finished");
  });
  auto server = std::make_unique<RunningServer>(ServerOptions{}, handler);
  std::uint16_t port = server->port();

  Client idle(port);  // a keep-alive connection with nothing in flight
  ASSERT_TRUE(idle.ok());
  Client busy(port);
  ASSERT_TRUE(busy.send(request("GET", "/slow")));
  ASSERT_TRUE(wait_until([&] { return started.load(); }));

  std::chrono::milliseconds took{};
  std::thread stopper([&] { took = server->stop(10s); });
  // The idle connection is closed promptly.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(idle.read_to_end(), ReadEnd::kEof);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 800ms);
  // New connections are refused.
  std::this_thread::sleep_for(50ms);
  Client late(port);
  EXPECT_FALSE(late.ok());
  // The in-flight request completes, and the connection is not kept.
  auto r = busy.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "finished");
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_EQ(busy.read_to_end(), ReadEnd::kEof);
  stopper.join();
  EXPECT_LT(took, 5s);  // run() returned once the request was done, not at the end of the grace period
}

TEST(HttpServer, StopClosesWhatOutlivesTheGracePeriod) {
  std::atomic<bool> started{false};
  std::atomic<int> code{-1};
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    started = true;
    std::uint8_t buf[100];
    Result<std::size_t> n;
    do n = req.body().read(buf);
    while (n && *n > 0);
    code = n ? -2 : static_cast<int>(n.error().code());
    (void)respond(res, 200, "text/plain", "never");
  });
  RunningServer server({}, handler);
  Client client(server.port());
  // Half a body, then silence: the handler blocks in read().
  ASSERT_TRUE(client.send(request_head("PUT", "/", {{"Content-Length", "100"}}) + "0123456789"));
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  std::this_thread::sleep_for(50ms);
  auto took = server.stop(300ms);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(server.finished());
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::kCancelled));  // run() waited for the handler to return
  ReadEnd end = client.read_to_end();
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << to_string(end);
}

TEST(HttpServer, RunUntilSignalStopsOnSigterm) {
  auto handler = ok_handler();
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  auto created = Server::create(options, handler);
  ASSERT_TRUE(created) << created.error().to_string();
  Server& server = **created;
  std::atomic<bool> returned{false};
  std::thread runner([&] {
    server.run_until_signal(5s);
    returned = true;
  });
  // Once a request is served, run() is running and the signal set is installed.
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  ASSERT_TRUE(client.read_response());
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_TRUE(wait_until([&] { return returned.load(); }, 5s));
  runner.join();
  EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);  // the idle keep-alive connection was closed
}

TEST(HttpServer, StopBeforeAnyConnectionReturnsAtOnce) {
  auto handler = ok_handler();
  RunningServer server({}, handler);
  EXPECT_LT(server.stop(10s), 1s);
}

TEST(HttpServer, ConnectionsBeyondTheLimitAreTurnedAway) {
  auto handler = ok_handler();
  ServerOptions options;
  options.max_connections = 2;
  RunningServer server(options, handler);
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(held.back()->send(request("GET", "/")));
    ASSERT_TRUE(held.back()->read_response());  // registered and served
  }
  {
    Client third(server.port());
    ASSERT_TRUE(third.ok());  // accepted by the kernel...
    third.send(request("GET", "/"));
    ReadEnd end;
    auto r = third.read_response(false, &end);
    // ...then turned away: a 503, or at least a closed connection, never a 200.
    if (r) {
      EXPECT_EQ(r->status, 503);
      EXPECT_EQ(r->header("Connection"), "close");
    } else {
      EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << to_string(end);
    }
  }
  // Once a slot frees up, new connections are served again.
  held.pop_back();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    Client again(server.port());
    again.send(request("GET", "/"));
    auto r = again.read_response();
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
  // The held connection still works.
  ASSERT_TRUE(held.front()->send(request("GET", "/")));
  auto r = held.front()->read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, AccessLogIsOneJsonLinePerRequestWithoutQuerySecrets) {
  LambdaHandler handler([](Request& req, ResponseWriter& res) {
    std::uint8_t buf[100];
    while (true) {
      auto n = req.body().read(buf);
      if (!n || *n == 0) break;
    }
    (void)respond(res, 201, "text/plain", "created!");
  });
  LogCapture log;
  ServerOptions options;
  options.access_log = log.sink();
  RunningServer server(options, handler);
  Client client(server.port());
  std::string target =
      "/bucket/some%20key?partNumber=3&X-Amz-Signature=deadbeefcafe0123&X-Amz-Credential=AKIDEXAMPLE%2F20240101"
      "&x-amz-security-token=SESSIONTOKENSECRET&uploadId=abc";
  ASSERT_TRUE(client.send(request("PUT", target, "hello", {{"User-Agent", "test-agent/1.0"}})));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  ASSERT_TRUE(client.send(request("GET", "/plain")));
  ASSERT_TRUE(client.read_response());
  ASSERT_TRUE(log.wait_for(2));
  auto lines = log.lines();
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find("deadbeefcafe0123"), std::string::npos) << line;
    EXPECT_EQ(line.find("AKIDEXAMPLE"), std::string::npos) << line;
    EXPECT_EQ(line.find("SESSIONTOKENSECRET"), std::string::npos) << line;
  }
  auto j = nlohmann::json::parse(lines[0]);
  for (const char* key : {"time", "request_id", "remote", "method", "path", "query", "status", "bytes_in",
                          "bytes_out", "duration_ms", "user_agent", "tls", "outcome"})
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << lines[0];
  EXPECT_EQ(j["method"], "PUT");
  EXPECT_EQ(j["path"], "/bucket/some%20key");
  std::string query = j["query"];
  EXPECT_NE(query.find("partNumber=3"), std::string::npos) << query;
  EXPECT_NE(query.find("uploadId=abc"), std::string::npos) << query;
  EXPECT_NE(query.find("X-Amz-Signature=REDACTED"), std::string::npos) << query;
  EXPECT_EQ(j["status"], 201);
  EXPECT_EQ(j["bytes_in"], 5);
  EXPECT_EQ(j["bytes_out"], 8);
  EXPECT_EQ(j["user_agent"], "test-agent/1.0");
  EXPECT_EQ(j["remote"], client.local_address());
  EXPECT_EQ(j["tls"], false);
  EXPECT_EQ(j["outcome"], "ok");
  EXPECT_GE(j["duration_ms"].get<double>(), 0.0);
  EXPECT_EQ(std::string(j["request_id"]).size(), 16u);
  std::string time = j["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2024-01-01T00:00:00.000Z
  EXPECT_EQ(time.back(), 'Z');

  auto j2 = nlohmann::json::parse(lines[1]);
  EXPECT_FALSE(j2.contains("query"));
  EXPECT_NE(j2["request_id"], j["request_id"]);
}

TEST(HttpServer, AccessLogRecordsRejectedHeads) {
  auto handler = ok_handler();
  LogCapture log;
  ServerOptions options;
  options.access_log = log.sink();
  RunningServer server(options, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("GET", "/", {{"X-Big", std::string(40 * 1024, 'a')}})));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  ASSERT_TRUE(log.wait_for(1));
  auto j = nlohmann::json::parse(log.lines().at(0));
  EXPECT_EQ(j["status"], 431);
  EXPECT_EQ(j["outcome"], "header_too_large");
}

TEST(HttpServer, AccessLogToStreamWritesLines) {
  std::ostringstream out;
  auto sink = access_log_to(out);
  sink("{\"a\":1}");
  sink("{\"b\":2}");
  EXPECT_EQ(out.str(), "{\"a\":1}\n{\"b\":2}\n");
}

}  // namespace
}  // namespace blobseal::http::testing
