// Requests signed by botocore itself (Debian's python3-botocore, run with /usr/bin/python3 at test time, clock
// fixed): header-signed PUT/GET/LIST/multipart requests, unsigned and SHA-256 payloads, aws-chunked uploads with
// trailing checksums, and presigned URLs, over keys with spaces, '+', unicode and punctuation. Each must verify, its
// body must decode to the original bytes, and a one-byte change to the path must break it. Both of botocore's
// signers run: the pure-Python one (BOTO_DISABLE_CRT=true) and the CRT one (python3-awscrt).

#include <cstdio>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "s3/sigv4.h"
#include "sigv4_test_support.h"

namespace blobseal::s3::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kPython = "/usr/bin/python3";

struct Generated {
  int exit_status = -1;
  std::string output;
};

Generated run_generator(bool disable_crt) {
  std::string command = std::string(disable_crt ? "BOTO_DISABLE_CRT=true " : "BOTO_DISABLE_CRT=false ") + kPython +
                        " " + BLOBSEAL_S3_TEST_DIR + "/botocore_signed_requests.py";
  Generated out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[65536];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.output.append(buffer, n);
  int status = ::pclose(pipe);
  out.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string decode_b64(const json& value) {
  auto bytes = from_base64(value.get<std::string>());
  EXPECT_TRUE(bytes.has_value());
  return bytes ? std::string(as_string_view(*bytes)) : std::string();
}

class BotocoreSigned : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::access(kPython, X_OK) != 0)
      GTEST_SKIP() << "\n\n*** /usr/bin/python3 is missing: botocore signatures NOT TESTED "
                      "(./scripts/test installs python3-boto3) ***\n";
    // One run per signer for the whole program.
    static std::map<bool, Generated> cache;
    if (!cache.contains(GetParam())) cache[GetParam()] = run_generator(GetParam());
    const Generated& generated = cache[GetParam()];
    if (generated.exit_status == 3)
      GTEST_SKIP() << "\n\n*** botocore is not importable by /usr/bin/python3: botocore signatures NOT TESTED "
                      "(apt-get install -y python3-boto3, done by ./scripts/test) ***\n";
    ASSERT_EQ(generated.exit_status, 0) << "botocore_signed_requests.py failed";
    data_ = json::parse(generated.output);
    ASSERT_TRUE(store_.add(data_["access_key"], data_["secret_key"].get<std::string>(), "default"));
    now_ = amz_time(data_["time"].get<std::string>());
  }

  json data_;
  CredentialStore store_;
  std::chrono::system_clock::time_point now_;
};

TEST_P(BotocoreSigned, EveryRequestVerifiesAndDecodes) {
  if (GetParam() == false && data_["signer"] != "crt")
    GTEST_SKIP() << "python3-awscrt is not installed: only botocore's pure-Python signer was tested";
  EXPECT_EQ(data_["signer"], GetParam() ? "python" : "crt");
  ASSERT_GE(data_["requests"].size(), 25u);
  std::size_t presigned = 0, streaming = 0, sha256 = 0;
  for (const auto& entry : data_["requests"]) {
    SCOPED_TRACE(entry["name"].get<std::string>());
    std::vector<http::Header> headers;
    for (const auto& h : entry["headers"]) headers.push_back({h[0], h[1]});
    std::string body = decode_b64(entry["body_b64"]);
    FakeRequest request(entry["method"], entry["target"], headers, body);

    auto auth = verify_signature(request, store_, "us-east-1", now_, 15min);
    ASSERT_TRUE(auth) << entry["target"] << ": " << auth.error().to_string();
    EXPECT_EQ(auth->access_key, data_["access_key"]);
    EXPECT_EQ(auth->presigned, entry["presigned"].get<bool>());
    presigned += auth->presigned;

    auto decoder = decode_payload(*auth, request, request.body());
    ASSERT_TRUE(decoder) << decoder.error().to_string();
    if (*decoder) {
      ++streaming;
      auto decoded = read_all(**decoder);
      ASSERT_TRUE(decoded) << decoded.error().to_string();
      EXPECT_EQ(*decoded, decode_b64(entry["payload_b64"]));
    } else if (auth->payload_sha256) {
      ++sha256;
      EXPECT_EQ(to_hex(*auth->payload_sha256), to_hex(crypto::sha256(as_bytes(body))));
    }

    // One byte of the path changed: the signature no longer matches.
    std::string target = entry["target"];
    target.insert(1, "x");
    FakeRequest altered(entry["method"], target, headers, body);
    auto bad = verify_signature(altered, store_, "us-east-1", now_, 15min);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().reason(), "SignatureDoesNotMatch");
  }
  EXPECT_GE(presigned, 6u);
  EXPECT_GE(streaming, 3u);
  EXPECT_GE(sha256, 10u);
}

TEST_P(BotocoreSigned, TamperedTrailerChecksumIsBadDigest) {
  bool tested = false;
  for (const auto& entry : data_["requests"]) {
    if (entry["name"] != "put_trailer_crc32") continue;
    std::vector<http::Header> headers;
    for (const auto& h : entry["headers"]) headers.push_back({h[0], h[1]});
    std::string body = decode_b64(entry["body_b64"]);
    auto at = body.find("x-amz-checksum-crc32:");
    ASSERT_NE(at, std::string::npos);
    body[at + 21] = body[at + 21] == 'A' ? 'B' : 'A';
    FakeRequest request(entry["method"], entry["target"], headers, body);
    auto auth = verify_signature(request, store_, "us-east-1", now_, 15min);
    ASSERT_TRUE(auth) << auth.error().to_string();
    auto decoder = decode_payload(*auth, request, request.body());
    ASSERT_TRUE(decoder && *decoder);
    auto decoded = read_all(**decoder);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().reason(), "BadDigest");
    tested = true;
  }
  EXPECT_TRUE(tested);
}

TEST_P(BotocoreSigned, PresignedUrlsExpire) {
  for (const auto& entry : data_["requests"]) {
    if (!entry["presigned"].get<bool>()) continue;
    SCOPED_TRACE(entry["name"].get<std::string>());
    FakeRequest request(entry["method"], entry["target"], {{"Host", entry["headers"][0][1]}});
    auto late = now_ + (entry["name"] == "presigned_put" ? 604801s : entry["name"] == "presigned_head_short" ? 2s : 3601s);
    auto expired = verify_signature(request, store_, "us-east-1", late, 15min);
    ASSERT_FALSE(expired);
    EXPECT_EQ(expired.error().message(), "Request has expired");
  }
}

std::string signer_name(const ::testing::TestParamInfo<bool>& info) { return info.param ? "Python" : "Crt"; }

INSTANTIATE_TEST_SUITE_P(Signer, BotocoreSigned, ::testing::Values(true, false), signer_name);

}  // namespace
}  // namespace blobseal::s3::testing
