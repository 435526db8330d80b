// The S3 API reference's own SigV4 examples (tests/vectors/aws-sigv4/s3-examples.md), end to end: our signer
// produces the documented signatures, and verify_signature + decode_payload accept the documented requests.

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "s3/aws_chunked.h"
#include "s3/sigv4.h"
#include "sigv4_test_support.h"

namespace blobseal::s3::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kTime = "20130524T000000Z";
constexpr std::string_view kBucketHost = "examplebucket.s3.amazonaws.com";

// Each value is the one printed in s3-examples.md.
constexpr std::string_view kPresignedSignature = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
constexpr std::string_view kGetObjectSignature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
constexpr std::string_view kPutObjectSignature = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
constexpr std::string_view kLifecycleSignature = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
constexpr std::string_view kListSignature = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
constexpr std::string_view kSeedSignature = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr std::string_view kChunk1Signature = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
constexpr std::string_view kChunk2Signature = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
constexpr std::string_view kFinalSignature = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

class S3Examples : public ::testing::Test {
 protected:
  S3Examples() { EXPECT_TRUE(store_.add(std::string(kAccessKey), kSecret, "default")); }

  SigningOptions options() const {
    SigningOptions o;
    o.region = "us-east-1";
    o.service = "s3";
    o.time = amz_time(kTime);
    return o;
  }
  Credential credential() const { return make_credential(std::string(kAccessKey), kSecret); }

  // Signs with our signer, checks the documented signature, and verifies the result with our verifier.
  void sign_and_verify(const std::string& method, const std::string& target, std::vector<http::Header> headers,
                       const std::string& body, std::string_view expected_signature) {
    RequestToSign request{method, target, headers, to_hex(crypto::sha256(as_bytes(body)))};
    auto signature = sign_request(request, credential(), options());
    ASSERT_TRUE(signature) << signature.error().to_string();
    EXPECT_EQ(signature->signature, expected_signature) << signature->canonical_request;
    headers.insert(headers.end(), signature->headers.begin(), signature->headers.end());
    FakeRequest signed_request(method, target, headers, body);
    auto result = verify_signature(signed_request, store_, "us-east-1", amz_time(kTime) + 5min, 15min);
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->access_key, kAccessKey);
    EXPECT_EQ(result->payload_mode, PayloadMode::kSha256);
    ASSERT_TRUE(result->payload_sha256);
    EXPECT_EQ(to_hex(*result->payload_sha256), request.payload_hash);
    auto decoded = decode_payload(*result, signed_request, signed_request.body());
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, nullptr) << "a plain body is read as is";
  }

  CredentialStore store_;
};

TEST_F(S3Examples, TheDocumentIsTheOneTheseValuesCameFrom) {
  std::string doc = read_text_file(std::string(BLOBSEAL_VECTORS_DIR) + "/aws-sigv4/s3-examples.md");
  for (auto value : {kPresignedSignature, kGetObjectSignature, kPutObjectSignature, kLifecycleSignature,
                     kListSignature, kSeedSignature, kChunk1Signature, kChunk2Signature, kFinalSignature})
    EXPECT_NE(doc.find(value), std::string::npos) << value;
}

TEST_F(S3Examples, GetObjectWithRange) {
  sign_and_verify("GET", "/test.txt", {{"Host", std::string(kBucketHost)}, {"Range", "bytes=0-9"}}, "",
                  kGetObjectSignature);
}

TEST_F(S3Examples, PutObjectWithDateHeaderAndEscapedDollar) {
  sign_and_verify("PUT", "/test%24file.text",
                  {{"Host", std::string(kBucketHost)},
                   {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                   {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                  "Welcome to Amazon S3.", kPutObjectSignature);
}

TEST_F(S3Examples, GetBucketLifecycle) {
  sign_and_verify("GET", "/?lifecycle", {{"Host", std::string(kBucketHost)}}, "", kLifecycleSignature);
}

TEST_F(S3Examples, ListObjectsWithQuery) {
  sign_and_verify("GET", "/?max-keys=2&prefix=J", {{"Host", std::string(kBucketHost)}}, "", kListSignature);
}

TEST_F(S3Examples, DocumentedHeaderRequestVerifiesAsWritten) {
  // The GET example exactly as the S3 reference prints it, not built by our signer.
  FakeRequest request("GET", "/test.txt",
                      {{"Host", "examplebucket.s3.amazonaws.com"},
                       {"Authorization",
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" +
                            std::string(kGetObjectSignature)},
                       {"Range", "bytes=0-9"},
                       {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
                       {"x-amz-date", std::string(kTime)}});
  auto result = verify_signature(request, store_, "us-east-1", amz_time(kTime), 15min);
  ASSERT_TRUE(result) << result.error().to_string();
  // Same request, 16 minutes later: outside the allowed skew.
  auto skewed = verify_signature(request, store_, "us-east-1", amz_time(kTime) + 16min, 15min);
  ASSERT_FALSE(skewed);
  EXPECT_EQ(skewed.error().reason(), "RequestTimeTooSkewed");
}

TEST_F(S3Examples, PresignedUrl) {
  RequestToSign request{"GET", "/test.txt", {{"Host", std::string(kBucketHost)}}, std::string(kUnsignedPayload)};
  auto presigned = presign_url(request, credential(), options(), 86400s);
  ASSERT_TRUE(presigned) << presigned.error().to_string();
  EXPECT_EQ(presigned->signature, kPresignedSignature);
  EXPECT_EQ(presigned->target,
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%"
            "2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-"
            "Signature=" +
                std::string(kPresignedSignature));

  // As botocore's pure-Python signer orders the parameters, and as its CRT signer does.
  const std::string credential_param = "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request";
  const std::string signature_param = "X-Amz-Signature=" + std::string(kPresignedSignature);
  for (const std::string& target :
       {presigned->target,
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&" + credential_param +
            "&X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=86400&" + signature_param}) {
    FakeRequest get("GET", target, {{"Host", std::string(kBucketHost)}});
    auto result = verify_signature(get, store_, "us-east-1", amz_time(kTime) + 1h, 15min);
    ASSERT_TRUE(result) << target << ": " << result.error().to_string();
    EXPECT_TRUE(result->presigned);
    EXPECT_EQ(result->payload_mode, PayloadMode::kUnsigned);
    EXPECT_FALSE(result->payload_sha256);

    auto at_expiry = verify_signature(get, store_, "us-east-1", amz_time(kTime) + 86400s, 15min);
    EXPECT_TRUE(at_expiry) << "valid through the last second";
    auto expired = verify_signature(get, store_, "us-east-1", amz_time(kTime) + 86401s, 15min);
    ASSERT_FALSE(expired);
    EXPECT_EQ(expired.error().reason(), "AccessDenied");
    EXPECT_EQ(expired.error().message(), "Request has expired");
    auto early = verify_signature(get, store_, "us-east-1", amz_time(kTime) - 16min, 15min);
    ASSERT_FALSE(early);
    EXPECT_EQ(early.error().reason(), "AccessDenied");
  }
}

// The streaming example: 64 KiB + 1 KiB of 'a' in signed chunks.
class StreamingExample : public S3Examples {
 protected:
  std::vector<http::Header> headers(std::string_view seed = kSeedSignature) const {
    return {{"Host", "s3.amazonaws.com"},
            {"x-amz-date", std::string(kTime)},
            {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
            {"Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders="
             "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
             "x-amz-storage-class,Signature=" +
                 std::string(seed)},
            {"x-amz-content-sha256", std::string(kStreamingSignedPayload)},
            {"Content-Encoding", "aws-chunked"},
            {"x-amz-decoded-content-length", "66560"},
            {"Content-Length", "66824"}};
  }
  // The body as the S3 reference lays it out, with its printed signatures.
  static std::string documented_body() {
    return "10000;chunk-signature=" + std::string(kChunk1Signature) + "\r\n" + std::string(65536, 'a') + "\r\n" +
           "400;chunk-signature=" + std::string(kChunk2Signature) + "\r\n" + std::string(1024, 'a') + "\r\n" +
           "0;chunk-signature=" + std::string(kFinalSignature) + "\r\n\r\n";
  }
  Result<std::string> upload(const std::string& body, std::vector<http::Header> request_headers) {
    FakeRequest request("PUT", "/examplebucket/chunkObject.txt", std::move(request_headers), body);
    auto auth = BLOBSEAL_TRY(verify_signature(request, store_, "us-east-1", amz_time(kTime), 15min));
    EXPECT_EQ(auth.payload_mode, PayloadMode::kStreamingSigned);
    EXPECT_FALSE(auth.payload_sha256);
    auto decoder = BLOBSEAL_TRY(decode_payload(auth, request, request.body()));
    EXPECT_NE(decoder, nullptr);
    if (!decoder) return std::string();
    return read_all(*decoder);
  }
};

TEST_F(StreamingExample, SeedSignatureFromOurSigner) {
  std::vector<http::Header> h = headers();
  std::erase_if(h, [](const http::Header& x) {
    return x.name == "Authorization" || x.name == "x-amz-date" || x.name == "x-amz-content-sha256";
  });
  RequestToSign request{"PUT", "/examplebucket/chunkObject.txt", h, std::string(kStreamingSignedPayload)};
  auto signature = sign_request(request, credential(), options());
  ASSERT_TRUE(signature) << signature.error().to_string();
  EXPECT_EQ(signature->signature, kSeedSignature);

  ChunkSigner signer(signature->signing_key.clone(), signature->timestamp, signature->scope, signature->signature);
  std::string first(65536, 'a'), second(1024, 'a');
  std::string body = signer.frame_chunk(as_bytes(first));
  body += signer.frame_chunk(as_bytes(second));
  body += signer.frame_chunk({});  // "0;chunk-signature=<sig>\r\n\r\n" ends the body
  EXPECT_EQ(body, documented_body());
  EXPECT_EQ(body.size(), 66824u);
}

TEST_F(StreamingExample, DocumentedUploadDecodes) {
  auto decoded = upload(documented_body(), headers());
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, std::string(66560, 'a'));
}

TEST_F(StreamingExample, TamperedChunkIsRefused) {
  std::string body = documented_body();
  body[100] = 'b';  // inside the first chunk's data
  auto decoded = upload(body, headers());
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().reason(), "SignatureDoesNotMatch");
}

TEST_F(StreamingExample, TruncatedUploadFails) {
  std::string body = documented_body();
  for (std::size_t cut : {body.size() - 90, body.size() - 1100, std::size_t{65000}, std::size_t{10}}) {
    auto decoded = upload(body.substr(0, cut), headers());
    ASSERT_FALSE(decoded) << "cut at " << cut;
    EXPECT_EQ(decoded.error().reason(), "IncompleteBody") << "cut at " << cut;
  }
}

}  // namespace
}  // namespace blobseal::s3::testing
