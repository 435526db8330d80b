// One upstream bucket per blobseal bucket (store/s3/bucket_mapped_store.h), on the real upstream named by the
// environment: keys land in the upstream bucket of their blobseal bucket, internal keys in the main one, and a
// listing that spans buckets is the merge of the stores' listings, in key order, page by page.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "s3_upstream.h"
#include "store/s3/bucket_mapped_store.h"
#include "test_sources.h"

namespace blobseal::store::testing {
namespace {

TEST(BucketMappedStoreRoutes, KeysToTheirBucketAndInternalKeysToTheMainStore) {
  EXPECT_EQ(BucketMappedStore::bucket_of_key("photos/2024/a.jpg"), "photos");
  EXPECT_EQ(BucketMappedStore::bucket_of_key(".blobseal/uploads/photos/0123"), "photos");
  EXPECT_EQ(BucketMappedStore::bucket_of_key(".blobseal/parts/photos/0123/00001"), "photos");
  EXPECT_EQ(BucketMappedStore::bucket_of_key(".blobseal/buckets/photos"), "");
  EXPECT_EQ(BucketMappedStore::bucket_of_key(".blobseal/index-key"), "");
  EXPECT_EQ(BucketMappedStore::bucket_of_key("no-slash"), "");
  auto name = BucketMappedStore::upstream_bucket_name("sealed-{bucket}-{bucket}", "x");
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, "sealed-x-x");
  EXPECT_FALSE(BucketMappedStore::upstream_bucket_name("sealed", "x"));
}

class BucketMappedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto environment = upstream_environment();
    if (!environment) GTEST_SKIP() << "no upstream (BLOBSEAL_UPSTREAM_ENDPOINT): run through tests/upstream/with_upstream.sh";
    environment_ = *environment;
    under_test_ = std::make_unique<S3StoreUnderTest>(environment_);
    std::mt19937_64 rng(std::random_device{}());
    tag_ = std::to_string(rng() % 1000000);
    auto main = S3Store::open_bucket(upstream_options(environment_, under_test_->prefix()));
    ASSERT_TRUE(main) << main.error().to_string();
    store_ = std::make_unique<BucketMappedStore>(
        std::move(*main), [this](const std::string& bucket) { return open_mapped(bucket); }, ".blobseal/buckets/");
  }

  Result<std::unique_ptr<S3Store>> open_mapped(const std::string& bucket) {
    S3StoreOptions options = upstream_options(environment_, under_test_->prefix());
    options.bucket = upstream_bucket(bucket);
    options.create_bucket = true;
    return S3Store::open_bucket(std::move(options));
  }
  std::string upstream_bucket(const std::string& bucket) const { return "bm" + tag_ + "-" + bucket; }

  Result<ObjectInfo> put(std::string_view key, const std::string& body) {
    StringSource source(body);
    PutOptions options;
    options.header = Bytes{1, 2, 3};
    return store_->put(key, source, options);
  }

  // Every entry (objects and common prefixes) of a listing, read a page of `max_keys` at a time.
  std::vector<std::string> list_all(const std::string& prefix, const std::string& delimiter, std::size_t max_keys) {
    std::vector<std::string> out;
    ListRequest request;
    request.prefix = prefix;
    request.delimiter = delimiter;
    request.max_keys = max_keys;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = store_->list(request);
      EXPECT_TRUE(page) << page.error().to_string();
      if (!page) break;
      std::vector<std::string> entries;
      for (const auto& o : page->objects) entries.push_back(o.key);
      for (const auto& p : page->common_prefixes) entries.push_back(p);
      std::sort(entries.begin(), entries.end());
      EXPECT_LE(entries.size(), max_keys);
      out.insert(out.end(), entries.begin(), entries.end());
      if (!page->truncated) break;
      EXPECT_FALSE(page->next_start_after.empty());
      request.start_after = page->next_start_after;
    }
    return out;
  }

  UpstreamEnvironment environment_;
  std::unique_ptr<S3StoreUnderTest> under_test_;
  std::string tag_;
  std::unique_ptr<BucketMappedStore> store_;
};

TEST_F(BucketMappedStoreTest, ObjectsLiveInTheirBucketsUpstreamAndListingsMergeInKeyOrder) {
  const std::vector<std::string> keys = {
      ".blobseal/buckets/aa",        ".blobseal/buckets/bb",     ".blobseal/index-key",
      ".blobseal/parts/bb/u2/00001", ".blobseal/uploads/aa/u1",  ".blobseal/uploads/bb/u2",
      "aa/1",                        "aa/2",                     "aa/dir/3",
      "bb/1",                        "bb/x/y",                   "bb/z"};
  for (const auto& key : keys) ASSERT_TRUE(put(key, "body of " + key)) << key;

  // Placement: the objects of aa in aa's upstream bucket only; the registry in the main one.
  auto aa = open_mapped("aa");
  ASSERT_TRUE(aa) << aa.error().to_string();
  EXPECT_TRUE((*aa)->head("aa/dir/3"));
  EXPECT_TRUE((*aa)->head(".blobseal/uploads/aa/u1"));
  EXPECT_EQ((*aa)->head("bb/1").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->main().head("aa/1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->main().head(".blobseal/buckets/aa"));

  // Listings that span stores, every page size: the keys in order, each once.
  for (std::size_t max_keys : {1u, 2u, 3u, 5u, 1000u}) {
    EXPECT_EQ(list_all("", "", max_keys), keys) << "max_keys " << max_keys;
    EXPECT_EQ(list_all("", "/", max_keys), (std::vector<std::string>{".blobseal/", "aa/", "bb/"}))
        << "max_keys " << max_keys;
    EXPECT_EQ(list_all(".blobseal/", "/", max_keys),
              (std::vector<std::string>{".blobseal/buckets/", ".blobseal/index-key", ".blobseal/parts/",
                                        ".blobseal/uploads/"}))
        << "max_keys " << max_keys;
    EXPECT_EQ(list_all(".blobseal/uploads/", "", max_keys),
              (std::vector<std::string>{".blobseal/uploads/aa/u1", ".blobseal/uploads/bb/u2"}));
  }
  // A listing within one bucket goes to that bucket's store.
  EXPECT_EQ(list_all("bb/", "/", 1000), (std::vector<std::string>{"bb/1", "bb/x/", "bb/z"}));
}

TEST_F(BucketMappedStoreTest, CopiesBetweenBucketsAndCompositionsWithinOne) {
  ASSERT_TRUE(put("aa/src", std::string(100000, 'a')));
  PutOptions options;
  options.header = Bytes{9};
  auto copied = store_->copy("aa/src", "bb/dst", options);
  ASSERT_TRUE(copied) << copied.error().to_string();
  auto object = store_->open("bb/dst");
  ASSERT_TRUE(object);
  EXPECT_EQ(read_body(**object), std::string(100000, 'a'));
  EXPECT_EQ((*object)->info().header, Bytes{9});

  ASSERT_TRUE(put(".blobseal/parts/aa/u/00001", "one-"));
  ASSERT_TRUE(put(".blobseal/parts/aa/u/00002", "two"));
  auto composed = store_->compose(
      "aa/whole", {{".blobseal/parts/aa/u/00001", ""}, {".blobseal/parts/aa/u/00002", ""}}, options);
  ASSERT_TRUE(composed) << composed.error().to_string();
  auto whole = store_->open("aa/whole");
  ASSERT_TRUE(whole);
  EXPECT_EQ(read_body(**whole), "one-two");
}

}  // namespace
}  // namespace blobseal::store::testing
