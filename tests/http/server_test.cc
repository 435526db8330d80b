// Request/response basics over real sockets: keep-alive, pipelining, the Request accessors, HEAD, respond(),
// malformed and oversized heads, unfinished responses, and the routing handler.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include <fmt/format.h>

#include "http/routing_handler.h"
#include "test_client.h"
#include "test_support.h"

namespace blobseal::http::testing {
namespace {

std::string str(std::optional<std::string_view> v) { return v ? std::string(*v) : std::string("<none>"); }

// Answers with a description of the request it saw (the body is read and counted).
LambdaHandler describing_handler() {
  return LambdaHandler([](Request& req, ResponseWriter& res) {
    std::uint64_t body_bytes = 0;
    std::uint8_t buf[4096];
    for (;;) {
      auto n = req.body().read(buf);
      if (!n || *n == 0) break;
      body_bytes += *n;
    }
    std::string names;
    for (const Header& h : req.headers()) names += h.name + ",";
    std::string text = fmt::format(
        "method={}\ntarget={}\npath={}\nquery={}\nremote={}\nid={}\ntls={}\nlength={}\nbody={}\nx-test={}\nnames={}\n",
        req.method(), req.target(), req.path(), req.query(), req.remote_address(), req.request_id(), req.is_tls(),
        req.content_length() ? std::to_string(*req.content_length()) : "none", body_bytes, str(req.header("X-TEST")),
        names);
    (void)respond(res, 200, "text/plain", text, {{"X-Handler", "describing"}});
  });
}

std::string field(const std::string& body, const std::string& name) {
  auto p = body.find(name + "=");
  if (p == std::string::npos) return "<missing>";
  p += name.size() + 1;
  return body.substr(p, body.find('\n', p) - p);
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto handler = describing_handler();
  RunningServer server({}, handler);
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_NE(server.port(), 0);

  Client client(server.port());
  ASSERT_TRUE(client.ok()) << client.error();
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    std::string body = i % 2 ? std::string(100 * i, 'x') : std::string();
    ASSERT_TRUE(client.send(request(i % 2 ? "PUT" : "GET", fmt::format("/bucket/k%20{}?uploads&x={}", i, i), body,
                                    {{"X-Test", fmt::format("v{}", i)}, {"X-Other", "o"}})));
    auto r = client.read_response();
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("X-Handler"), "describing");
    EXPECT_EQ(r->header("Content-Type"), "text/plain");
    EXPECT_TRUE(r->header("Date"));
    EXPECT_FALSE(r->header("Connection"));  // HTTP/1.1 keep-alive is implicit
    EXPECT_EQ(field(r->body, "method"), i % 2 ? "PUT" : "GET");
    EXPECT_EQ(field(r->body, "target"), fmt::format("/bucket/k%20{}?uploads&x={}", i, i));
    EXPECT_EQ(field(r->body, "path"), fmt::format("/bucket/k%20{}", i));
    EXPECT_EQ(field(r->body, "query"), fmt::format("uploads&x={}", i));
    EXPECT_EQ(field(r->body, "remote"), client.local_address());  // the same connection every time
    EXPECT_EQ(field(r->body, "tls"), "false");
    EXPECT_EQ(field(r->body, "length"), std::to_string(body.size()));
    EXPECT_EQ(field(r->body, "body"), std::to_string(body.size()));
    EXPECT_EQ(field(r->body, "x-test"), fmt::format("v{}", i));
    std::string names = field(r->body, "names");
    EXPECT_LT(names.find("X-Test,"), names.find("X-Other,")) << names;  // in the order sent
    std::string id = field(r->body, "id");
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789ABCDEF"), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 5u);
}

TEST(HttpServer, EarlyAnswerPromisesKeepAliveOnlyWhenTheRestOfTheBodyWillBeDrained) {
  // A handler that answers without reading the body (an early error, such as NoSuchBucket on a PUT).
  LambdaHandler handler([](Request&, ResponseWriter& res) { (void)respond(res, 404, "text/plain", "no"); });
  RunningServer server({}, handler);
  ASSERT_TRUE(server.ok()) << server.error();
  {
    // A small unread body is drained: the connection stays usable, as promised.
    Client client(server.port());
    ASSERT_TRUE(client.send(request("PUT", "/b/k", std::string(10000, 'x'))));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_FALSE(r->header("Connection"));
    ASSERT_TRUE(client.send(request("GET", "/b/k")));
    auto again = client.read_response();
    ASSERT_TRUE(again) << "the connection promised to stay open was closed";
    EXPECT_EQ(again->status, 404);
  }
  {
    // 6 MiB unread is too much to drain: the answer says Connection: close, so no client reuses the connection.
    Client client(server.port());
    ASSERT_TRUE(client.send(request_head("PUT", "/b/k", {{"Content-Length", std::to_string(6 << 20)}})));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->header("Connection"), "close");
  }
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  auto handler = describing_handler();
  RunningServer server({}, handler);
  ASSERT_TRUE(server.ok()) << server.error();
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/one") + request("PUT", "/two", "abc") + request("GET", "/three")));
  for (std::string path : {"/one", "/two", "/three"}) {
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(field(r->body, "path"), path);
  }
}

TEST(HttpServer, HeadResponseCarriesLengthButNoBody) {
  LambdaHandler handler([](Request& req, ResponseWriter& res) {
    res.set_status(200);
    if (!res.send_headers(1234)) return;
    if (req.method() != "HEAD") {
      std::vector<std::uint8_t> body(1234, 'b');
      if (!res.body_sink().write(body)) return;
    }
    (void)res.finish();
  });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("HEAD", "/obj")));
  auto head = client.read_response(/*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Content-Length"), "1234");
  // The next response must start right away: no body bytes were sent after the HEAD response.
  ASSERT_TRUE(client.send(request_head("GET", "/obj")));
  auto get = client.read_response();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body.size(), 1234u);
}

TEST(HttpServer, Http10GetsAnAnswerAndTheConnectionCloses) {
  auto handler = describing_handler();
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send("GET /old HTTP/1.0\r\n\r\n"));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);
}

TEST(HttpServer, ConnectionCloseFromClientIsHonoured) {
  auto handler = describing_handler();
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/", {}, {{"Connection", "close"}})));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);
}

TEST(HttpServer, OversizedHeaderGets431AndClose) {
  auto handler = describing_handler();
  ServerOptions options;
  options.max_header_bytes = 16 * 1024;
  RunningServer server(options, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("GET", "/", {{"X-Big", std::string(20 * 1024, 'a')}})));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);

  // Just under the limit is fine.
  Client ok(server.port());
  ASSERT_TRUE(ok.send(request_head("GET", "/", {{"X-Big", std::string(15 * 1024, 'a')}})));
  auto r2 = ok.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
}

TEST(HttpServer, MalformedRequestsGet400AndClose) {
  auto handler = describing_handler();
  RunningServer server({}, handler);
  for (std::string bad : {std::string("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"),
                          std::string("\x16\x03\x01\x02\x01 garbage\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n"),
                          std::string("PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")}) {
    Client client(server.port());
    ASSERT_TRUE(client.send(bad));
    auto r = client.read_response();
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);
  }
}

TEST(HttpServer, MalformedChunkedBodyFailsTheReadAndClosesAfterTheResponse) {
  std::atomic<int> code{-1};
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    std::uint8_t buf[64];
    Result<std::size_t> n;
    do n = req.body().read(buf);
    while (n && *n > 0);
    code = n ? -2 : static_cast<int>(n.error().code());
    (void)respond(res, 400, "text/plain", "bad body");
  });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request_head("PUT", "/", {{"Transfer-Encoding", "chunked"}}) + "5\r\nhello\r\nzz\r\n"));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(code.load(), static_cast<int>(ErrorCode::kInvalidArgument));
  EXPECT_EQ(client.read_to_end(), ReadEnd::kEof);
}

TEST(HttpServer, UntouchedResponseBecomes500) {
  LambdaHandler handler([](Request&, ResponseWriter&) {});
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST(HttpServer, ThrowingHandlerBecomes500) {
  LambdaHandler handler([](Request&, ResponseWriter&) { throw std::runtime_error("bug"); });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST(HttpServer, HandlerReturningAfterHeadersResetsTheConnection) {
  LambdaHandler handler([](Request&, ResponseWriter& res) {
    (void)res.send_headers(std::nullopt);
    std::vector<std::uint8_t> some(1000, 'z');
    (void)res.body_sink().write(some);
    // returns without finish()
  });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  auto head = client.read_head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Transfer-Encoding"), "chunked");
  std::string body;
  ReadEnd end = client.read_body(*head, [&](std::string_view p) { body += p; });
  EXPECT_EQ(end, ReadEnd::kReset) << to_string(end);
  EXPECT_LE(body.size(), 1000u);
}

TEST(HttpServer, ContentLengthIsEnforcedOnTheHandler) {
  std::atomic<int> overrun_refused{-1};
  std::atomic<int> short_finish_refused{-1};
  LambdaHandler handler([&](Request& req, ResponseWriter& res) {
    std::vector<std::uint8_t> data(100, 'q');
    (void)res.send_headers(150);
    (void)res.body_sink().write(data);
    if (req.path() == "/over") {
      overrun_refused = res.body_sink().write(data) ? 0 : 1;  // 200 > 150
      (void)res.body_sink().write(std::span(data).first(50));
      (void)res.finish();
    } else {
      short_finish_refused = res.finish() ? 0 : 1;  // 100 < 150
    }
  });
  RunningServer server({}, handler);
  {
    Client client(server.port());
    ASSERT_TRUE(client.send(request("GET", "/over")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body.size(), 150u);
    EXPECT_TRUE(wait_until([&] { return overrun_refused.load() != -1; }));
    EXPECT_EQ(overrun_refused.load(), 1);
  }
  {
    Client client(server.port());
    ASSERT_TRUE(client.send(request("GET", "/short")));
    auto head = client.read_head();
    ASSERT_TRUE(head);
    ReadEnd end = client.read_body(*head, [](std::string_view) {});
    EXPECT_EQ(end, ReadEnd::kReset) << to_string(end);
    EXPECT_TRUE(wait_until([&] { return short_finish_refused.load() != -1; }));
    EXPECT_EQ(short_finish_refused.load(), 1);
  }
}

TEST(HttpServer, ResponseHeadersCannotSplitTheResponse) {
  LambdaHandler handler([](Request&, ResponseWriter& res) {
    (void)respond(res, 200, "text/plain", "ok",
                  {{"X-Evil", "a\r\nSet-Cookie: injected"}, {"Bad Name", "x"}, {"X-Good", "fine"}});
  });
  RunningServer server({}, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->header("Set-Cookie"));
  EXPECT_FALSE(r->header("X-Evil"));
  EXPECT_EQ(r->header("X-Good"), "fine");
}

// Answers GET /small inline ("inline:<path>"), declines everything else to handle() ("worker"); counts both.
class InlineHandler final : public Handler {
 public:
  void handle(Request& req, ResponseWriter& res) override {
    ++handled;
    std::string body = "worker:" + std::string(req.path());
    (void)respond(res, 200, "text/plain", body);
  }
  bool respond_inline(Request& req, ResponseWriter& res) override {
    ++asked;
    if (req.path() == "/small" || req.path() == "/head") {
      (void)respond(res, 200, "text/plain", "inline:" + std::string(req.path()), {{"X-Path", "inline"}});
      return true;
    }
    if (req.path() == "/too-big") {
      refused_over_limit = !res.send_headers(kInlineBodyLimit + 1);
      return true;  // answered nothing: the server's 500
    }
    if (req.path() == "/abort") {
      (void)res.send_headers(100);
      std::vector<std::uint8_t> half(50, 'h');
      (void)res.body_sink().write(half);
      res.abort();
      return true;
    }
    return false;
  }
  std::atomic<int> handled{0}, asked{0};
  std::atomic<bool> refused_over_limit{false};
};

TEST(HttpServer, InlineAnswersAreServedOnTheConnectionWithoutAWorker) {
  InlineHandler handler;
  RunningServer server({}, handler);
  Client client(server.port());
  for (int i = 0; i < 3; ++i) {  // keep-alive across inline answers
    ASSERT_TRUE(client.send(request("GET", "/small")));
    auto r = client.read_response();
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "inline:/small");
    EXPECT_EQ(r->header("X-Path"), "inline");
    EXPECT_EQ(r->header("Content-Length"), "13");
  }
  ASSERT_TRUE(client.send(request("HEAD", "/head")));
  auto head = client.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("Content-Length"), "12");
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(handler.handled.load(), 0);
  EXPECT_EQ(handler.asked.load(), 4);

  // Declined: handle() answers on a worker, on the same connection.
  ASSERT_TRUE(client.send(request("GET", "/other")));
  auto declined = client.read_response();
  ASSERT_TRUE(declined);
  EXPECT_EQ(declined->body, "worker:/other");
  EXPECT_EQ(handler.handled.load(), 1);

  // A request with a body is never offered inline.
  ASSERT_TRUE(client.send(request("PUT", "/small", "payload")));
  auto put = client.read_response();
  ASSERT_TRUE(put);
  EXPECT_EQ(put->body, "worker:/small");
  EXPECT_EQ(handler.asked.load(), 5);
  EXPECT_EQ(handler.handled.load(), 2);
}

TEST(HttpServer, InlineAnswersKeepTheMeaningOfUnfinishedAndAbortedResponses) {
  InlineHandler handler;
  RunningServer server({}, handler);
  {
    Client client(server.port());
    ASSERT_TRUE(client.send(request("GET", "/too-big")));
    auto r = client.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);  // headers never sent: the server's own 500
    EXPECT_TRUE(handler.refused_over_limit.load());
  }
  {
    Client client(server.port());
    ASSERT_TRUE(client.send(request("GET", "/abort")));
    auto head = client.read_head();
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    std::string body;
    ReadEnd end = client.read_body(*head, [&](std::string_view p) { body += p; });
    EXPECT_EQ(end, ReadEnd::kReset) << to_string(end);
    EXPECT_LE(body.size(), 50u);
  }
  EXPECT_EQ(handler.handled.load(), 0);
}

TEST(HttpServer, RoutingHandlerDispatchesExactPaths) {
  LambdaHandler fallback([](Request& req, ResponseWriter& res) {
    (void)respond(res, 200, "text/plain", "fallback " + std::string(req.path()));
  });
  LambdaHandler health([](Request&, ResponseWriter& res) { (void)respond(res, 200, "text/plain", "healthy"); });
  LambdaHandler metrics([](Request&, ResponseWriter& res) { (void)respond(res, 200, "text/plain", "metrics"); });
  RoutingHandler router(fallback);
  router.mount("/health", health);
  router.mount("/metrics", metrics);
  RunningServer server({}, router);
  Client client(server.port());
  auto get = [&](const std::string& target) {
    EXPECT_TRUE(client.send(request("GET", target)));
    auto r = client.read_response();
    return r ? r->body : std::string("<no response>");
  };
  EXPECT_EQ(get("/health"), "healthy");
  EXPECT_EQ(get("/health?verbose=1"), "healthy");
  EXPECT_EQ(get("/metrics"), "metrics");
  EXPECT_EQ(get("/health/x"), "fallback /health/x");
  EXPECT_EQ(get("/healthz"), "fallback /healthz");
  EXPECT_EQ(get("/bucket/key"), "fallback /bucket/key");
}

TEST(HttpServer, CreateReportsBadListenAddresses) {
  auto handler = describing_handler();
  for (std::string bad : {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:-1"}) {
    ServerOptions options;
    options.listen = bad;
    auto s = Server::create(options, handler);
    EXPECT_FALSE(s) << bad;
  }
  // An address in use.
  RunningServer first({}, handler);
  ServerOptions options;
  options.listen = fmt::format("127.0.0.1:{}", first.port());
  auto second = Server::create(options, handler);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);
}

TEST(HttpServer, ManyConcurrentClients) {
  auto handler = describing_handler();
  ServerOptions options;
  options.worker_threads = 4;
  options.io_threads = 2;
  RunningServer server(options, handler);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      Client client(server.port());
      for (int i = 0; i < 20; ++i) {
        if (!client.send(request("PUT", fmt::format("/t{}/{}", t, i), std::string(1000 + i, 'p')))) return;
        auto r = client.read_response();
        if (!r || r->status != 200 || field(r->body, "body") != std::to_string(1000 + i)) return;
      }
      ++good;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 16);
}

}  // namespace
}  // namespace blobseal::http::testing
