// The upstream S3 service the S3 store tests run against, from the environment that tests/upstream/start_*.sh
// prints (BLOBSEAL_UPSTREAM_ENDPOINT, _BUCKET, _REGION, _ACCESS_KEY, _SECRET_KEY, _KIND). Each store made here
// lives under a fresh random prefix of the bucket, so tests never see each other's objects, and everything under
// it is deleted when the store under test goes.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "net/http_client.h"
#include "store/s3/s3_store.h"
#include "store/s3/upstream_bucket.h"
#include "store_under_test.h"

namespace blobseal::store::testing {

struct UpstreamEnvironment {
  std::string kind;  // "rgw", "s3rver", ...
  std::string endpoint;
  std::string bucket;
  std::string region;
  std::string access_key;
  std::string secret_key;
  std::string tls_endpoint;  // the same service over HTTPS, when it offers it (rgw)
  std::string ca_file;       // the test CA that signed its certificate
};

// nullopt when BLOBSEAL_UPSTREAM_ENDPOINT is not set (the tests then skip).
std::optional<UpstreamEnvironment> upstream_environment();

// Options for a store under `prefix` of the upstream bucket.
S3StoreOptions upstream_options(const UpstreamEnvironment& environment, const std::string& prefix);

// Direct access to the upstream bucket, bypassing the store: to look at what the store wrote, or tamper with it.
class RawBucket {
 public:
  explicit RawBucket(const UpstreamEnvironment& environment);
  s3::UpstreamBucket& bucket() { return *bucket_; }
  // Every object name under `prefix`.
  std::vector<s3::ListedName> list_all(const std::string& prefix);
  void remove_all(const std::string& prefix);

 private:
  std::unique_ptr<net::HttpClient> client_;
  std::unique_ptr<s3::UpstreamBucket> bucket_;
};

class S3StoreUnderTest final : public StoreUnderTest {
 public:
  explicit S3StoreUnderTest(UpstreamEnvironment environment);
  ~S3StoreUnderTest() override;
  Result<std::unique_ptr<ObjectStore>> create_empty() override;
  const std::string& prefix() const { return prefix_; }
  bool atomic_object_replacement() const override { return environment_.kind != "s3rver"; }

 private:
  UpstreamEnvironment environment_;
  std::string prefix_;
};

}  // namespace blobseal::store::testing
