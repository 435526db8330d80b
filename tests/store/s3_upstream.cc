#include "s3_upstream.h"

#include <cstdlib>

#include <fmt/format.h>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::store::testing {

namespace {
std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}
}  // namespace

std::optional<UpstreamEnvironment> upstream_environment() {
  UpstreamEnvironment e;
  e.endpoint = env("BLOBSEAL_UPSTREAM_ENDPOINT");
  if (e.endpoint.empty()) return std::nullopt;
  e.kind = env("BLOBSEAL_UPSTREAM_KIND");
  e.bucket = env("BLOBSEAL_UPSTREAM_BUCKET");
  e.region = env("BLOBSEAL_UPSTREAM_REGION");
  if (e.region.empty()) e.region = "us-east-1";
  e.access_key = env("BLOBSEAL_UPSTREAM_ACCESS_KEY");
  e.secret_key = env("BLOBSEAL_UPSTREAM_SECRET_KEY");
  e.tls_endpoint = env("BLOBSEAL_UPSTREAM_TLS_ENDPOINT");
  e.ca_file = env("BLOBSEAL_UPSTREAM_CA_FILE");
  return e;
}

S3StoreOptions upstream_options(const UpstreamEnvironment& environment, const std::string& prefix) {
  S3StoreOptions options;
  options.endpoint = environment.endpoint;
  options.bucket = environment.bucket;
  options.prefix = prefix;
  options.region = environment.region;
  options.access_key = environment.access_key;
  options.secret_key = SecretBytes(as_bytes(environment.secret_key));
  options.part_size = 5u << 20;  // the smallest S3 allows, so that multipart uploads happen at test sizes
  // Replaced bodies go at once, so that tests can count what is left upstream; the two-node test sets a grace.
  options.replaced_body_grace = std::chrono::seconds(0);
  return options;
}

RawBucket::RawBucket(const UpstreamEnvironment& environment) {
  net::ClientOptions options;
  options.endpoint = environment.endpoint;
  net::Credentials credentials;
  credentials.access_key = environment.access_key;
  credentials.secret_key = SecretBytes(as_bytes(environment.secret_key));
  credentials.region = environment.region;
  options.credentials = std::move(credentials);
  client_ = std::move(net::HttpClient::create(std::move(options)).value());
  bucket_ = std::make_unique<s3::UpstreamBucket>(*client_, environment.bucket, true);
}

std::vector<s3::ListedName> RawBucket::list_all(const std::string& prefix) {
  std::vector<s3::ListedName> out;
  std::string continuation;
  for (;;) {
    auto page = bucket_->list(prefix, "", continuation, 1000);
    if (!page) break;
    out.insert(out.end(), page->names.begin(), page->names.end());
    if (!page->truncated) break;
    continuation = page->next_continuation_token;
  }
  return out;
}

void RawBucket::remove_all(const std::string& prefix) {
  if (prefix.empty()) return;
  for (int round = 0; round < 5; ++round) {
    auto names = list_all(prefix);
    if (names.empty()) break;
    for (const auto& name : names) (void)bucket_->remove(name.name);
  }
  if (auto uploads = bucket_->list_uploads(prefix))
    for (const auto& upload : *uploads) (void)bucket_->abort_upload(upload.name, upload.upload_id);
}

S3StoreUnderTest::S3StoreUnderTest(UpstreamEnvironment environment) : environment_(std::move(environment)) {
  std::array<std::uint8_t, 6> random{};
  crypto::random_bytes(random);
  prefix_ = fmt::format("test-{}/", to_hex(random));
}

S3StoreUnderTest::~S3StoreUnderTest() { RawBucket(environment_).remove_all(prefix_); }

Result<std::unique_ptr<ObjectStore>> S3StoreUnderTest::create_empty() {
  auto store = BLOBSEAL_TRY(S3Store::open_bucket(upstream_options(environment_, prefix_)));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace blobseal::store::testing
