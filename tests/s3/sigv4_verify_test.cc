// The verifier's refusals (one per way a request can be wrong, with S3's error code), the parsers' edge cases,
// and the canonicalisation rules S3 clients rely on.

#include <cctype>

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "s3/sigv4.h"
#include "sigv4_test_support.h"

namespace blobseal::s3::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kAccessKey = "AKIDVERIFYTEST";
constexpr std::string_view kSecret = "verify/Secret+Key/0123456789abcdefEXAMPLE";
constexpr std::string_view kTime = "20240301T101500Z";
constexpr std::string_view kHost = "s3.blobseal.test";

std::string lower_case(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Verify : public ::testing::Test {
 protected:
  Verify() { EXPECT_TRUE(store_.add(std::string(kAccessKey), kSecret, "acme")); }

  SigningOptions options() const {
    SigningOptions o;
    o.time = amz_time(kTime);
    return o;
  }

  // A header-signed PUT with a SHA-256 payload, as a client would send it.
  struct Signed {
    std::string method, target, body;
    std::vector<http::Header> headers;
  };
  Signed sign(std::string method = "PUT", std::string target = "/bucket/dir/a%20key.txt?tagging=&x=1",
              std::string body = "object body", std::vector<http::Header> extra = {},
              std::string_view secret = kSecret) {
    std::vector<http::Header> headers{{"Host", std::string(kHost)}, {"Content-Type", "text/plain"},
                                      {"x-amz-meta-color", "blue"}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    RequestToSign request{method, target, headers, to_hex(crypto::sha256(as_bytes(body)))};
    auto signature = sign_request(request, make_credential(std::string(kAccessKey), secret), options());
    EXPECT_TRUE(signature) << signature.error().to_string();
    headers.insert(headers.end(), signature->headers.begin(), signature->headers.end());
    return {method, target, body, headers};
  }

  Result<AuthResult> verify(const Signed& s, std::chrono::seconds offset = 0s) {
    FakeRequest request(s.method, s.target, s.headers, s.body);
    return verify_signature(request, store_, "us-east-1", amz_time(kTime) + offset, 15min);
  }
  Result<AuthResult> verify(const std::string& method, const std::string& target, std::vector<http::Header> headers,
                            std::chrono::seconds offset = 0s) {
    FakeRequest request(method, target, std::move(headers));
    return verify_signature(request, store_, "us-east-1", amz_time(kTime) + offset, 15min);
  }

  static void set_header(std::vector<http::Header>& headers, std::string_view name, std::string value) {
    for (auto& h : headers)
      if (h.name == name) {
        h.value = std::move(value);
        return;
      }
    headers.push_back({std::string(name), std::move(value)});
  }
  static void remove_header(std::vector<http::Header>& headers, std::string_view name) {
    std::erase_if(headers, [&](const http::Header& h) { return h.name == name; });
  }

  CredentialStore store_;
};

#define EXPECT_REFUSED(result, code)                                        \
  do {                                                                      \
    auto&& refused_ = (result);                                             \
    ASSERT_FALSE(refused_) << "accepted, expected " << (code);              \
    EXPECT_EQ(refused_.error().reason(), (code)) << refused_.error().message(); \
  } while (0)

TEST_F(Verify, AcceptsTheSignedRequest) {
  auto result = verify(sign());
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->access_key, kAccessKey);
  EXPECT_EQ(result->payload_mode, PayloadMode::kSha256);
  EXPECT_EQ(to_hex(*result->payload_sha256), to_hex(crypto::sha256(as_bytes("object body"))));
  EXPECT_EQ(result->scope, "20240301/us-east-1/s3/aws4_request");
  EXPECT_EQ(result->timestamp, kTime);
  EXPECT_TRUE(result->signing_key.empty()) << "the derived key is kept only for signed streaming bodies";
}

TEST_F(Verify, WrongSecret) {
  EXPECT_REFUSED(verify(sign("PUT", "/bucket/k", "x", {}, "another/Secret+Key/0123456789abcdefEXAMPLE")),
                 "SignatureDoesNotMatch");
}

// The verifier keeps derived signing keys per thread: a secret that changes under the same access key and scope
// must take effect at once (the old secret refused, the new one accepted), on the same thread.
TEST_F(Verify, ChangedSecretUnderTheSameAccessKeyTakesEffectAtOnce) {
  auto signed_old = sign();
  ASSERT_TRUE(verify(signed_old));  // fills the cache for this access key and scope
  constexpr std::string_view kNewSecret = "rotated/Secret+Key/abcdef0123456789EXAMPLE";
  CredentialStore rotated;
  ASSERT_TRUE(rotated.add(std::string(kAccessKey), kNewSecret, "acme"));
  FakeRequest old_request(signed_old.method, signed_old.target, signed_old.headers, signed_old.body);
  auto refused = verify_signature(old_request, rotated, "us-east-1", amz_time(kTime), 15min);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason(), "SignatureDoesNotMatch");
  auto signed_new = sign("PUT", "/bucket/dir/a%20key.txt?tagging=&x=1", "object body", {}, kNewSecret);
  FakeRequest new_request(signed_new.method, signed_new.target, signed_new.headers, signed_new.body);
  EXPECT_TRUE(verify_signature(new_request, rotated, "us-east-1", amz_time(kTime), 15min));
  EXPECT_FALSE(verify(signed_new));  // and the original store still holds the old secret
  EXPECT_TRUE(verify(signed_old));
}

TEST_F(Verify, UnknownAccessKey) {
  auto s = sign();
  for (auto& h : s.headers)
    if (h.name == "Authorization") h.value.replace(h.value.find(kAccessKey), kAccessKey.size(), "AKIDUNKNOWNKEY");
  EXPECT_REFUSED(verify(s), "InvalidAccessKeyId");
}

TEST_F(Verify, AlteredRequestParts) {
  auto base = sign();
  {
    auto s = base;
    set_header(s.headers, "x-amz-meta-color", "red");
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    set_header(s.headers, "Content-Type", "text/html");
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    s.target = "/bucket/dir/b%20key.txt?tagging=&x=1";
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    s.target = "/bucket/dir/a%20key.txt?tagging=&x=2";
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    s.target += "&versionId=3";
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    s.target = "/bucket/dir/a%20key.txt?x=1";  // a parameter removed
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    s.method = "POST";
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    set_header(s.headers, "Host", "other.blobseal.test");
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    set_header(s.headers, "x-amz-content-sha256", std::string(kUnsignedPayload));  // to swap the body unnoticed
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
  {
    auto s = base;
    set_header(s.headers, "X-Amz-Date", "20240301T101501Z");
    EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
  }
}

TEST_F(Verify, UnsignedAmzHeaderIsRefused) {
  auto s = sign();
  s.headers.push_back({"x-amz-copy-source", "/bucket/secret"});
  EXPECT_REFUSED(verify(s), "AccessDenied");
  // Headers outside x-amz-* may be added (proxies add some).
  auto t = sign();
  t.headers.push_back({"X-Forwarded-For", "10.0.0.1"});
  EXPECT_TRUE(verify(t));
}

TEST_F(Verify, SignedHeaderMissingFromTheRequest) {
  auto s = sign();
  remove_header(s.headers, "Content-Type");
  EXPECT_REFUSED(verify(s), "SignatureDoesNotMatch");
}

TEST_F(Verify, ClockSkew) {
  auto s = sign();
  EXPECT_TRUE(verify(s, 15min));
  EXPECT_TRUE(verify(s, -15min));
  EXPECT_REFUSED(verify(s, 15min + 1s), "RequestTimeTooSkewed");
  EXPECT_REFUSED(verify(s, -15min - 1s), "RequestTimeTooSkewed");  // signed in the future
}

TEST_F(Verify, DateHeaderInsteadOfXAmzDate) {
  // Sign by hand with only a Date header: the string to sign uses its time in ISO 8601 basic form.
  std::vector<http::Header> headers{{"Host", std::string(kHost)},
                                    {"Date", "Fri, 01 Mar 2024 10:15:00 GMT"},
                                    {"x-amz-content-sha256", std::string(kUnsignedPayload)}};
  std::vector<std::string> signed_headers{"date", "host", "x-amz-content-sha256"};
  SigningInput input{"GET", "/bucket/k", "", headers, signed_headers, kUnsignedPayload};
  auto canonical = canonical_request(input);
  ASSERT_TRUE(canonical);
  CredentialScope scope{"20240301", "us-east-1", "s3"};
  auto key = derive_signing_key(as_bytes(kSecret), scope);
  std::string signature = compute_signature(key, string_to_sign("20240301T101500Z", scope.to_string(), *canonical));
  headers.push_back({"Authorization", "AWS4-HMAC-SHA256 Credential=" + std::string(kAccessKey) + "/" +
                                          scope.to_string() + ", SignedHeaders=date;host;x-amz-content-sha256, "
                                          "Signature=" + signature});
  auto result = verify("GET", "/bucket/k", headers);
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->timestamp, "20240301T101500Z");
  EXPECT_EQ(result->payload_mode, PayloadMode::kUnsigned);
  EXPECT_FALSE(result->payload_sha256);
}

TEST_F(Verify, MissingOrInvalidDate) {
  auto s = sign();
  remove_header(s.headers, "X-Amz-Date");
  EXPECT_REFUSED(verify(s), "AccessDenied");
  auto t = sign();
  set_header(t.headers, "X-Amz-Date", "2024-03-01T10:15:00Z");
  EXPECT_REFUSED(verify(t), "AccessDenied");
  auto u = sign();
  set_header(u.headers, "X-Amz-Date", "20240230T101500Z");  // no such day
  EXPECT_REFUSED(verify(u), "AccessDenied");
}

TEST_F(Verify, CredentialDateMustMatchRequestDate) {
  auto s = sign();
  for (auto& h : s.headers)
    if (h.name == "Authorization") h.value.replace(h.value.find("/20240301/"), 10, "/20240302/");
  EXPECT_REFUSED(verify(s), "AuthorizationHeaderMalformed");
}

TEST_F(Verify, WrongRegionOrService) {
  auto o = options();
  o.region = "eu-west-1";
  RequestToSign request{"GET", "/bucket/k", {{"Host", std::string(kHost)}}, std::string(kUnsignedPayload)};
  auto signature = sign_request(request, make_credential(std::string(kAccessKey), kSecret), o);
  ASSERT_TRUE(signature);
  auto headers = request.headers;
  headers.insert(headers.end(), signature->headers.begin(), signature->headers.end());
  auto result = verify("GET", "/bucket/k", headers);
  EXPECT_REFUSED(result, "AuthorizationHeaderMalformed");
  EXPECT_NE(result.error().message().find("the region 'eu-west-1' is wrong; expecting 'us-east-1'"), std::string::npos);

  o.region = "us-east-1";
  o.service = "sqs";
  signature = sign_request(request, make_credential(std::string(kAccessKey), kSecret), o);
  headers = request.headers;
  headers.insert(headers.end(), signature->headers.begin(), signature->headers.end());
  EXPECT_REFUSED(verify("GET", "/bucket/k", headers), "AuthorizationHeaderMalformed");
}

TEST_F(Verify, ContentSha256Rules) {
  auto s = sign();
  remove_header(s.headers, "x-amz-content-sha256");
  EXPECT_REFUSED(verify(s), "InvalidRequest");
  auto t = sign();
  set_header(t.headers, "x-amz-content-sha256", "not-a-hash");
  EXPECT_REFUSED(verify(t), "InvalidArgument");
  auto u = sign();
  set_header(u.headers, "x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD");
  EXPECT_REFUSED(verify(u), "NotImplemented");
}

TEST_F(Verify, StreamingModesNeedTheirHeaders) {
  for (auto mode : {kStreamingSignedPayload, kStreamingSignedPayloadTrailer, kStreamingUnsignedPayloadTrailer}) {
    std::vector<http::Header> headers{{"Host", std::string(kHost)}, {"Content-Encoding", "aws-chunked"}};
    RequestToSign request{"PUT", "/bucket/k", headers, std::string(mode)};
    auto signature = sign_request(request, make_credential(std::string(kAccessKey), kSecret), options());
    ASSERT_TRUE(signature);
    headers.insert(headers.end(), signature->headers.begin(), signature->headers.end());
    FakeRequest put("PUT", "/bucket/k", headers, "0\r\n\r\n");
    auto auth = verify_signature(put, store_, "us-east-1", amz_time(kTime), 15min);
    ASSERT_TRUE(auth) << mode << ": " << auth.error().to_string();
    EXPECT_FALSE(auth->payload_sha256);
    EXPECT_EQ(auth->signing_key.empty(), mode == kStreamingUnsignedPayloadTrailer);
    EXPECT_REFUSED(decode_payload(*auth, put, put.body()), "MissingContentLength");
  }
}

TEST_F(Verify, Anonymous) {
  EXPECT_REFUSED(verify("GET", "/bucket/k", {{"Host", std::string(kHost)}}), "AccessDenied");
  EXPECT_REFUSED(verify("GET", "/bucket/k?prefix=a", {{"Host", std::string(kHost)}}), "AccessDenied");
}

TEST_F(Verify, SignatureVersion2IsRefused) {
  EXPECT_REFUSED(verify("GET", "/bucket/k",
                        {{"Host", std::string(kHost)}, {"Authorization", "AWS AKIDVERIFYTEST:frJIUN8DYpKDtOLCwo//yllqDzg="}}),
                 "InvalidRequest");
  EXPECT_REFUSED(verify("GET", "/bucket/k?AWSAccessKeyId=AKIDVERIFYTEST&Expires=1700000000&Signature=abc%3D",
                        {{"Host", std::string(kHost)}}),
                 "InvalidRequest");
}

TEST_F(Verify, SignatureVersion4aIsNotImplemented) {
  EXPECT_REFUSED(
      verify("GET", "/bucket/k",
             {{"Host", std::string(kHost)},
              {"Authorization", "AWS4-ECDSA-P256-SHA256 Credential=AKIDVERIFYTEST/20240301/s3/aws4_request, "
                                "SignedHeaders=host, Signature=3045"}}),
      "NotImplemented");
}

TEST_F(Verify, HeaderAndQueryTogether) {
  auto s = sign();
  s.target += "&X-Amz-Signature=" + std::string(64, '0');
  EXPECT_REFUSED(verify(s), "InvalidArgument");
}

TEST_F(Verify, HostMustBeSigned) {
  // A valid signature over a request that leaves Host out of SignedHeaders.
  std::vector<http::Header> headers{{"Host", std::string(kHost)},
                                    {"x-amz-date", std::string(kTime)},
                                    {"x-amz-content-sha256", std::string(kUnsignedPayload)}};
  std::vector<std::string> signed_headers{"x-amz-content-sha256", "x-amz-date"};
  SigningInput input{"GET", "/bucket/k", "", headers, signed_headers, kUnsignedPayload};
  CredentialScope scope{"20240301", "us-east-1", "s3"};
  std::string signature = compute_signature(derive_signing_key(as_bytes(kSecret), scope),
                                            string_to_sign(kTime, scope.to_string(), *canonical_request(input)));
  headers.push_back({"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/" + scope.to_string() +
                                          ",SignedHeaders=x-amz-content-sha256;x-amz-date,Signature=" + signature});
  EXPECT_REFUSED(verify("GET", "/bucket/k", headers), "AccessDenied");
}

TEST_F(Verify, MalformedAuthorizationHeaders) {
  const std::string credential = "Credential=AKIDVERIFYTEST/20240301/us-east-1/s3/aws4_request";
  const std::string signed_headers = "SignedHeaders=host;x-amz-content-sha256;x-amz-date";
  const std::string signature = "Signature=" + std::string(64, 'a');
  const std::vector<std::string> malformed{
      "AWS4-HMAC-SHA256",
      "AWS4-HMAC-SHA256 ",
      "AWS4-HMAC-SHA256 " + signed_headers + ", " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", " + signed_headers,
      "AWS4-HMAC-SHA256 " + credential + ", " + signed_headers + ", " + signature + ", Extra=1",
      "AWS4-HMAC-SHA256 " + credential + ", " + credential + ", " + signed_headers + ", " + signature,
      "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20240301/us-east-1/s3, " + signed_headers + ", " + signature,
      "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20240301/us-east-1/s3/aws5_request, " + signed_headers + ", " +
          signature,
      "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/2024031/us-east-1/s3/aws4_request, " + signed_headers + ", " +
          signature,
      "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/2024030x/us-east-1/s3/aws4_request, " + signed_headers + ", " +
          signature,
      "AWS4-HMAC-SHA256 Credential=/20240301/us-east-1/s3/aws4_request, " + signed_headers + ", " + signature,
      "AWS4-HMAC-SHA256 Credential=A/B/20240301/us-east-1/s3/aws4_request, " + signed_headers + ", " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", SignedHeaders=, " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", SignedHeaders=Host;x-amz-date, " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", SignedHeaders=host;;x-amz-date, " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", SignedHeaders=host;host, " + signature,
      "AWS4-HMAC-SHA256 " + credential + ", " + signed_headers + ", Signature=" + std::string(63, 'a'),
      "AWS4-HMAC-SHA256 " + credential + ", " + signed_headers + ", Signature=" + std::string(64, 'g'),
      "AWS4-HMAC-SHA256 " + credential + " " + signed_headers + " " + signature,
      "AWS4-HMAC-SHA512 " + credential + ", " + signed_headers + ", " + signature,
      "Bearer abc",
      "",
  };
  for (const auto& value : malformed) {
    SCOPED_TRACE(value);
    auto parsed = parse_authorization_header(value);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().reason(), "AuthorizationHeaderMalformed");
    EXPECT_REFUSED(verify("GET", "/bucket/k",
                          {{"Host", std::string(kHost)},
                           {"x-amz-date", std::string(kTime)},
                           {"x-amz-content-sha256", std::string(kUnsignedPayload)},
                           {"Authorization", value}}),
                   "AuthorizationHeaderMalformed");
  }
}

TEST_F(Verify, AuthorizationHeaderSpacingVariants) {
  for (const std::string& value :
       {std::string("AWS4-HMAC-SHA256 Credential=AK/20240301/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=") +
            std::string(64, 'A'),
        std::string("  AWS4-HMAC-SHA256   Signature=") + std::string(64, 'b') +
            " ,  SignedHeaders=host ,Credential=AK/20240301/us-east-1/s3/aws4_request  "}) {
    auto parsed = parse_authorization_header(value);
    ASSERT_TRUE(parsed) << value << ": " << parsed.error().to_string();
    EXPECT_EQ(parsed->credential.access_key, "AK");
    EXPECT_EQ(parsed->credential.scope.to_string(), "20240301/us-east-1/s3/aws4_request");
    EXPECT_EQ(parsed->signed_headers, std::vector<std::string>{"host"});
    EXPECT_EQ(parsed->signature.size(), 64u);
    EXPECT_EQ(parsed->signature, lower_case(parsed->signature));
  }
}

// ---- presigned ----

class Presigned : public Verify {
 protected:
  std::string presign(std::string target = "/bucket/photos/a%20b%2Bc.jpg?response-content-type=image%2Fjpeg",
                      std::chrono::seconds expires = 3600s, std::string method = "GET") {
    RequestToSign request{method, target, {{"Host", std::string(kHost)}}, std::string(kUnsignedPayload)};
    auto presigned = presign_url(request, make_credential(std::string(kAccessKey), kSecret), options(), expires);
    EXPECT_TRUE(presigned) << presigned.error().to_string();
    return presigned ? presigned->target : std::string();
  }
  Result<AuthResult> get(const std::string& target, std::chrono::seconds offset = 60s,
                         std::vector<http::Header> extra = {}) {
    std::vector<http::Header> headers{{"Host", std::string(kHost)}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return verify("GET", target, headers, offset);
  }
  static std::string replace(std::string s, std::string_view from, std::string_view to) {
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  }
};

TEST_F(Presigned, Accepted) {
  auto result = get(presign());
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_TRUE(result->presigned);
  EXPECT_EQ(result->payload_mode, PayloadMode::kUnsigned);
  // Unsigned headers outside x-amz-* are fine (a browser adds its own).
  EXPECT_TRUE(get(presign(), 60s, {{"Accept", "*/*"}, {"Range", "bytes=0-1"}}));
}

TEST_F(Presigned, ExpiryAndFutureDates) {
  auto target = presign("/bucket/k", 600s);
  EXPECT_TRUE(get(target, 600s));
  auto expired = get(target, 601s);
  EXPECT_REFUSED(expired, "AccessDenied");
  EXPECT_EQ(expired.error().message(), "Request has expired");
  EXPECT_TRUE(get(target, -15min)) << "within the clock skew allowance";
  auto future = get(target, -15min - 1s);
  EXPECT_REFUSED(future, "AccessDenied");
  EXPECT_EQ(future.error().message(), "Request is not valid yet");
}

TEST_F(Presigned, Tampering) {
  auto target = presign();
  EXPECT_REFUSED(get(replace(target, "a%20b", "a%20c")), "SignatureDoesNotMatch");
  EXPECT_REFUSED(get(replace(target, "image%2Fjpeg", "text%2Fhtml")), "SignatureDoesNotMatch");
  EXPECT_REFUSED(get(target + "&response-content-disposition=attachment"), "SignatureDoesNotMatch");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Expires=3600", "X-Amz-Expires=7200")), "SignatureDoesNotMatch");
  std::string flipped = target;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_REFUSED(get(flipped), "SignatureDoesNotMatch");
  FakeRequest put("PUT", target, {{"Host", std::string(kHost)}});
  EXPECT_REFUSED(verify_signature(put, store_, "us-east-1", amz_time(kTime), 15min), "SignatureDoesNotMatch");
  EXPECT_REFUSED(get(target, 60s, {{"x-amz-server-side-encryption", "AES256"}}), "AccessDenied");
}

TEST_F(Presigned, MalformedParameters) {
  auto target = presign("/bucket/k");
  for (std::string_view name : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                "X-Amz-SignedHeaders"}) {
    // Drop one parameter (rename it, so the rest stays well formed).
    EXPECT_REFUSED(get(replace(target, std::string(name) + "=", "Other" + std::string(name.substr(5)) + "=")),
                   "AuthorizationQueryParametersError");
  }
  EXPECT_REFUSED(get(replace(target, "X-Amz-Expires=3600", "X-Amz-Expires=0")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Expires=3600", "X-Amz-Expires=604801")),
                 "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Expires=3600", "X-Amz-Expires=-5")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Expires=3600", "X-Amz-Expires=1h")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")), "NotImplemented");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Date=20240301T101500Z", "X-Amz-Date=20240301")),
                 "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "%2Faws4_request", "%2Faws4")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "us-east-1", "us-west-2")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=HOST")),
                 "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(target + "&X-Amz-Signature=" + std::string(64, '0')), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Signature=", "X-Amz-Signature=zz")), "AuthorizationQueryParametersError");
  EXPECT_REFUSED(get(replace(target, "X-Amz-Date=20240301T101500Z", "X-Amz-Date=20240302T101500Z"), -23h),
                 "AuthorizationQueryParametersError");
}

TEST_F(Presigned, MaximumExpiry) {
  auto target = presign("/bucket/k", 604800s, "GET");
  EXPECT_TRUE(get(target, 604800s));
  EXPECT_REFUSED(get(target, 604801s), "AccessDenied");
  RequestToSign request{"GET", "/bucket/k", {{"Host", std::string(kHost)}}, std::string(kUnsignedPayload)};
  EXPECT_FALSE(presign_url(request, make_credential(std::string(kAccessKey), kSecret), options(), 604801s));
  EXPECT_FALSE(presign_url(request, make_credential(std::string(kAccessKey), kSecret), options(), 0s));
}

// ---- canonicalisation ----

TEST(Canonical, UriEncoding) {
  EXPECT_EQ(uri_encode("AZaz09-._~", true), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a b/c+d=e&f$", true), "a%20b%2Fc%2Bd%3De%26f%24");
  EXPECT_EQ(uri_encode("a b/c", false), "a%20b/c");
  EXPECT_EQ(uri_encode("\xc3\xbc", true), "%C3%BC");
}

TEST(Canonical, PathsAreNotNormalised) {
  EXPECT_EQ(canonical_uri("/bucket/a/../b"), "/bucket/a/../b");
  EXPECT_EQ(canonical_uri("//bucket//k/./"), "//bucket//k/./");
  EXPECT_EQ(canonical_uri("/b/a%20b"), "/b/a%20b") << "encoded once, not twice";
  EXPECT_EQ(canonical_uri("/b/a b"), "/b/a%20b");
  EXPECT_EQ(canonical_uri("/b/%7euser%2a"), "/b/~user%2A");
  EXPECT_EQ(canonical_uri("/b/a+b"), "/b/a%2Bb") << "'+' in a path is a plus";
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_FALSE(canonical_uri("/b/%zz"));
  EXPECT_FALSE(canonical_uri("/b/%4"));
}

TEST(Canonical, QueryStrings) {
  EXPECT_EQ(canonical_query(""), "");
  EXPECT_EQ(canonical_query("uploads"), "uploads=");
  EXPECT_EQ(canonical_query("prefix=a+b"), canonical_query("prefix=a%20b"));
  EXPECT_EQ(canonical_query("prefix=a+b"), "prefix=a%20b");
  EXPECT_EQ(canonical_query("b=2&a=2&a=1&A=0"), "A=0&a=1&a=2&b=2");
  EXPECT_EQ(canonical_query("k=%2f%7E"), "k=%2F~");
  EXPECT_EQ(canonical_query("x=1&X-Amz-Signature=abc"), "x=1");
  EXPECT_EQ(canonical_query("&&x=1&"), "x=1");
  EXPECT_EQ(canonical_query("a=b=c"), "a=b%3Dc");
  EXPECT_FALSE(canonical_query("a=%G0"));
}

TEST(Canonical, HeaderValues) {
  EXPECT_EQ(canonical_header_value("  a   b \t c  "), "a b c");
  EXPECT_EQ(canonical_header_value("\"a   b\""), "\"a b\"");
  EXPECT_EQ(canonical_header_value("value1\r\n  value2"), "value1 value2");
  EXPECT_EQ(canonical_header_value(""), "");
}

TEST(Canonical, Dates) {
  auto t = parse_amz_date("20130524T000000Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_amz_date(*t), "20130524T000000Z");
  EXPECT_EQ(parse_date_header("Fri, 24 May 2013 00:00:00 GMT"), t);
  EXPECT_EQ(format_amz_date(*parse_amz_date("20241231T235959Z")), "20241231T235959Z");
  for (std::string_view bad : {"20130524T000000", "2013-05-24T00:00:00Z", "20131324T000000Z", "20130524T250000Z",
                               "20130524T00000aZ", "", "20130229T000000Z"})
    EXPECT_FALSE(parse_amz_date(bad)) << bad;
  for (std::string_view bad : {"Fri, 24 May 2013 00:00:00 UTC", "Fri, 24 Foo 2013 00:00:00 GMT", "24 May 2013"})
    EXPECT_FALSE(parse_date_header(bad)) << bad;
}

TEST_F(Verify, PlusAndPercent20InQueryBothVerify) {
  RequestToSign request{"GET", "/bucket?prefix=a%20b&delimiter=%2F", {{"Host", std::string(kHost)}},
                        std::string(kEmptyPayloadSha256)};
  auto signature = sign_request(request, make_credential(std::string(kAccessKey), kSecret), options());
  ASSERT_TRUE(signature);
  auto headers = request.headers;
  headers.insert(headers.end(), signature->headers.begin(), signature->headers.end());
  EXPECT_TRUE(verify("GET", "/bucket?prefix=a%20b&delimiter=%2F", headers));
  EXPECT_TRUE(verify("GET", "/bucket?prefix=a+b&delimiter=/", headers));
  EXPECT_TRUE(verify("GET", "/bucket?delimiter=%2f&prefix=a+b", headers)) << "order and hex case do not matter";
}

TEST_F(Verify, PathSignedAsSentAlsoVerifies) {
  // A client that signs its (validly encoded, decoding to the same key) path as sent rather than re-encoded.
  const std::string path = "/bucket/a%2fb%7Ec";
  std::vector<http::Header> headers{{"Host", std::string(kHost)},
                                    {"x-amz-date", std::string(kTime)},
                                    {"x-amz-content-sha256", std::string(kUnsignedPayload)}};
  std::vector<std::string> signed_headers{"host", "x-amz-content-sha256", "x-amz-date"};
  SigningInput input{"GET", path, "", headers, signed_headers, kUnsignedPayload};
  std::string canonical = *canonical_request(input);
  ASSERT_NE(canonical.find("\n/bucket/a/b~c\n"), std::string::npos);
  canonical.replace(canonical.find("/bucket/a/b~c"), 13, path);
  CredentialScope scope{"20240301", "us-east-1", "s3"};
  std::string signature =
      compute_signature(derive_signing_key(as_bytes(kSecret), scope), string_to_sign(kTime, scope.to_string(), canonical));
  headers.push_back({"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/" + scope.to_string() +
                                          ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" + signature});
  EXPECT_TRUE(verify("GET", path, headers));
  EXPECT_REFUSED(verify("GET", "/bucket/a%2fb%7Ed", headers), "SignatureDoesNotMatch");
}

TEST(Signer, RefusesHeadersItSetsItself) {
  Credential credential = make_credential("AKIDVERIFYTEST", kSecret);
  SigningOptions options;
  options.time = amz_time(kTime);
  for (std::string_view name : {"Authorization", "X-Amz-Date", "x-amz-content-sha256"}) {
    RequestToSign request{"GET", "/", {{"Host", "h"}, {std::string(name), "x"}}, std::string(kUnsignedPayload)};
    EXPECT_FALSE(sign_request(request, credential, options)) << name;
  }
  RequestToSign no_host{"GET", "/", {}, std::string(kUnsignedPayload)};
  EXPECT_FALSE(sign_request(no_host, credential, options));
  EXPECT_FALSE(presign_url(no_host, credential, options, 60s));
  RequestToSign relative{"GET", "bucket/k", {{"Host", "h"}}, std::string(kUnsignedPayload)};
  EXPECT_FALSE(sign_request(relative, credential, options));
}

TEST(Signer, SessionTokenIsSignedInBothForms) {
  Credential credential = make_credential("AKIDVERIFYTEST", kSecret);
  SigningOptions options;
  options.time = amz_time(kTime);
  options.session_token = "token/with+chars=";
  RequestToSign request{"GET", "/b/k", {{"Host", "h"}}, std::string(kUnsignedPayload)};
  auto header = sign_request(request, credential, options);
  ASSERT_TRUE(header);
  EXPECT_EQ(header_value(header->headers, "X-Amz-Security-Token"), "token/with+chars=");
  EXPECT_NE(header->canonical_request.find("x-amz-security-token:token/with+chars=\n"), std::string::npos);
  auto query = presign_url(request, credential, options, 60s);
  ASSERT_TRUE(query);
  EXPECT_NE(query->target.find("X-Amz-Security-Token=token%2Fwith%2Bchars%3D"), std::string::npos);
}

TEST(Secrets, NeverInErrorMessages) {
  CredentialStore store;
  ASSERT_TRUE(store.add("AKIDVERIFYTEST", kSecret, "default"));
  FakeRequest request("GET", "/b/k",
                      {{"Host", "h"},
                       {"x-amz-date", std::string(kTime)},
                       {"x-amz-content-sha256", std::string(kUnsignedPayload)},
                       {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDVERIFYTEST/20240301/us-east-1/s3/"
                                         "aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=" +
                                             std::string(64, '0')}});
  auto result = verify_signature(request, store, "us-east-1", amz_time(kTime), 15min);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message().find(kSecret), std::string::npos);
  EXPECT_EQ(result.error().to_string().find("verify/Secret"), std::string::npos);
}

}  // namespace
}  // namespace blobseal::s3::testing
