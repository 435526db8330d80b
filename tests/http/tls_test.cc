// TLS on the listener: a round trip with a certificate made by the openssl CLI, keep-alive over TLS, and the
// TLS 1.2 floor.
#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include <fmt/format.h>

#include "test_client.h"
#include "test_support.h"

namespace blobseal::http::testing {
namespace {

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = dir_.file("cert.pem");
    key_ = dir_.file("key.pem");
    int rc = run_shell(fmt::format(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout {} -out {} 2>/dev/null",
        key_, cert_));
    ASSERT_EQ(rc, 0) << "openssl CLI failed";
  }
  TempDir dir_;
  std::string cert_;
  std::string key_;
};

TEST_F(Tls, RoundTripWithKeepAlive) {
  LambdaHandler handler([](Request& req, ResponseWriter& res) {
    std::string body;
    std::uint8_t buf[1024];
    for (;;) {
      auto n = req.body().read(buf);
      if (!n || *n == 0) break;
      body.append(reinterpret_cast<char*>(buf), *n);
    }
    (void)respond(res, 200, "text/plain", fmt::format("tls={} body={}", req.is_tls(), body));
  });
  LogCapture log;
  ServerOptions options;
  options.tls = TlsOptions{cert_, key_};
  options.access_log = log.sink();
  RunningServer server(options, handler);
  ASSERT_TRUE(server.ok()) << server.error();

  TlsClientOptions tls{cert_};
  Client client(server.port(), &tls);
  ASSERT_TRUE(client.ok()) << client.error();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send(request("PUT", "/x", fmt::format("secret{}", i))));
    auto r = client.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, fmt::format("tls=true body=secret{}", i));
  }
  // A big chunked body through TLS.
  ASSERT_TRUE(client.send(request_head("PUT", "/x", {{"Transfer-Encoding", "chunked"}})));
  ASSERT_TRUE(client.send_chunked_generated(3 << 20, fill_pattern, 70000));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), (3u << 20) + 14);
  ASSERT_TRUE(log.wait_for(4));
  EXPECT_NE(log.lines()[0].find("\"tls\":true"), std::string::npos) << log.lines()[0];
}

TEST_F(Tls, PlainHttpOnATlsListenerGetsNoAnswer) {
  LambdaHandler handler([](Request&, ResponseWriter& res) { (void)respond(res, 200, "text/plain", "ok"); });
  ServerOptions options;
  options.tls = TlsOptions{cert_, key_};
  RunningServer server(options, handler);
  Client client(server.port());
  ASSERT_TRUE(client.send(request("GET", "/")));
  std::string data;
  client.read_to_end(&data);
  EXPECT_EQ(data.find("HTTP/1.1 200"), std::string::npos);
}

TEST_F(Tls, ConnectionsBeyondTheLimitGetA503OverTls) {
  LambdaHandler handler([](Request&, ResponseWriter& res) { (void)respond(res, 200, "text/plain", "ok"); });
  ServerOptions options;
  options.tls = TlsOptions{cert_, key_};
  options.max_connections = 1;
  RunningServer server(options, handler);
  TlsClientOptions tls{cert_};
  Client held(server.port(), &tls);
  ASSERT_TRUE(held.ok()) << held.error();
  ASSERT_TRUE(held.send(request("GET", "/")));
  ASSERT_TRUE(held.read_response());  // registered and served
  Client turned_away(server.port(), &tls);
  ASSERT_TRUE(turned_away.ok()) << turned_away.error();  // the handshake completes...
  turned_away.send(request("GET", "/"));
  auto r = turned_away.read_response();
  ASSERT_TRUE(r);  // ...and the answer is a clean 503, not a dropped connection
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_EQ(r->header("Retry-After"), "1");
  // The held connection still works.
  ASSERT_TRUE(held.send(request("GET", "/")));
  auto again = held.read_response();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(Tls, Tls11IsRefused) {
  LambdaHandler handler([](Request&, ResponseWriter& res) { (void)respond(res, 200, "text/plain", "ok"); });
  ServerOptions options;
  options.tls = TlsOptions{cert_, key_};
  RunningServer server(options, handler);
  TlsClientOptions old{cert_};
  old.max_version = TLS1_1_VERSION;
  Client client(server.port(), &old);
  EXPECT_FALSE(client.ok());
  // The same client settings with TLS 1.2 allowed succeed, so the refusal is the server's floor.
  TlsClientOptions modern{cert_};
  modern.max_version = TLS1_2_VERSION;
  Client ok(server.port(), &modern);
  EXPECT_TRUE(ok.ok()) << ok.error();
}

TEST_F(Tls, BadCertificateFilesAreReportedByCreate) {
  LambdaHandler handler([](Request&, ResponseWriter&) {});
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.tls = TlsOptions{dir_.file("missing.pem"), key_};
  EXPECT_FALSE(Server::create(options, handler));
  options.tls = TlsOptions{cert_, cert_};  // not a key
  EXPECT_FALSE(Server::create(options, handler));
}

}  // namespace
}  // namespace blobseal::http::testing
