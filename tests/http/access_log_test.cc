// The access-log line format and its query redaction, without sockets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/access_log.h"

namespace blobseal::http::internal {
namespace {

TEST(AccessLog, RedactsSignatureBearingParameters) {
  EXPECT_EQ(redact_query("uploads"), "uploads");
  EXPECT_EQ(redact_query("partNumber=1&uploadId=x"), "partNumber=1&uploadId=x");
  EXPECT_EQ(redact_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F2024&X-Amz-Signature=abc"),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED");
  EXPECT_EQ(redact_query("AWSAccessKeyId=AKID&Signature=abc&Expires=1"),
            "AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1");
  EXPECT_EQ(redact_query("x-amz-security-token=t&X%2DAmz%2DSignature=s"),
            "x-amz-security-token=REDACTED&X%2DAmz%2DSignature=REDACTED");
  EXPECT_EQ(redact_query("a=1&&b"), "a=1&&b");
  EXPECT_EQ(redact_query(""), "");
}

TEST(AccessLog, LineIsJsonWithTheFields) {
  AccessRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  r.request_id = "0123456789ABCDEF";
  r.remote = "127.0.0.1:5000";
  r.method = "GET";
  r.target = "/b/k\xff?X-Amz-Signature=secret";
  r.user_agent = "ua \"quoted\"";
  r.status = 200;
  r.bytes_in = 1;
  r.bytes_out = 2;
  r.duration_ms = 1.23456;
  std::string line = format_access_line(r);
  EXPECT_EQ(line.find("secret"), std::string::npos);
  auto j = nlohmann::json::parse(line);  // invalid UTF-8 in the target was replaced, not thrown
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["query"], "X-Amz-Signature=REDACTED");
  EXPECT_EQ(j["user_agent"], "ua \"quoted\"");
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.235);
  EXPECT_EQ(j["outcome"], "ok");
}

}  // namespace
}  // namespace blobseal::http::internal
