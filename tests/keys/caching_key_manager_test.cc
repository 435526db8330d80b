// The optional data-key cache in front of a real local keyring: hits skip the key manager, entries end after their
// ttl or their maximum uses, the least recently used go first when full, an entry only ever serves the exact unwrap
// it came from (another location still fails), and with the key manager down a cached key keeps its object readable
// while an uncached one fails cleanly.
#include <gtest/gtest.h>

#include <atomic>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "keys/caching_key_manager.h"
#include "keys/local/local_keyring.h"

namespace blobseal::keys {
namespace {

using namespace std::chrono_literals;

// Fault injection, not a stand-in: the real local keyring behind a switch that makes every call fail as a provider
// outage would (Unavailable), and a count of the calls that reached it.
class SwitchableKeyring final : public KeyManager {
 public:
  explicit SwitchableKeyring(std::unique_ptr<KeyManager> real) : real_(std::move(real)) {}
  std::string id() const override { return real_->id(); }
  Result<DataKey> generate_data_key(ByteSpan aad, std::string_view key_id = {}) override {
    BLOBSEAL_TRY_STATUS(reach());
    return real_->generate_data_key(aad, key_id);
  }
  Result<WrappedKey> wrap(const SecretBytes& key, ByteSpan aad, std::string_view key_id = {}) override {
    BLOBSEAL_TRY_STATUS(reach());
    return real_->wrap(key, aad, key_id);
  }
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan aad) override {
    BLOBSEAL_TRY_STATUS(reach());
    return real_->unwrap(wrapped, aad);
  }
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override { return real_->needs_rewrap(wrapped); }
  Result<std::vector<KeyInfo>> describe() override { return real_->describe(); }
  Status health() override { return reach(); }

  std::atomic<bool> down{false};
  std::atomic<int> calls{0};

 private:
  Status reach() {
    ++calls;
    if (down) return make_error(ErrorCode::kUnavailable, "the key manager is unreachable (injected)");
    return {};
  }
  std::unique_ptr<KeyManager> real_;
};

class DataKeyCache : public ::testing::Test {
 protected:
  void make(DataKeyCacheOptions options) {
    auto keyring = LocalKeyring::from_blob_key(to_base64(crypto::random_secret(32).view()));
    ASSERT_TRUE(keyring) << keyring.error().to_string();
    auto switchable = std::make_unique<SwitchableKeyring>(std::move(*keyring));
    inner_ = switchable.get();
    options.clock = [this] { return now_; };
    cache_ = std::make_unique<CachingKeyManager>(std::move(switchable), std::move(options));
  }
  // A data key wrapped by the real keyring directly (not entered in the cache by generation).
  DataKey fresh(std::string_view aad) {
    inner_->down = false;
    auto key = inner_->generate_data_key(as_bytes(aad));
    EXPECT_TRUE(key);
    return std::move(*key);
  }

  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  SwitchableKeyring* inner_ = nullptr;
  std::unique_ptr<CachingKeyManager> cache_;
};

TEST_F(DataKeyCache, HitsSkipTheKeyManagerAndServeOnlyTheExactUnwrap) {
  make({.ttl = 60s, .max_uses = 0, .max_entries = 10});
  DataKey key = fresh("bucket/a");
  int before = inner_->calls;
  auto first = cache_->unwrap(key.wrapped, as_bytes("bucket/a"));
  ASSERT_TRUE(first);
  EXPECT_TRUE(crypto::constant_time_equal(first->view(), key.plaintext.view()));
  auto second = cache_->unwrap(key.wrapped, as_bytes("bucket/a"));
  ASSERT_TRUE(second);
  EXPECT_TRUE(crypto::constant_time_equal(second->view(), key.plaintext.view()));
  EXPECT_EQ(inner_->calls - before, 1) << "the second unwrap came from the cache";
  EXPECT_EQ(cache_->stats().hits, 1u);

  // Another location: not served from the entry; the keyring refuses it.
  auto moved = cache_->unwrap(key.wrapped, as_bytes("bucket/b"));
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code(), ErrorCode::kDataLoss);
  // A tampered wrapped key: likewise.
  WrappedKey tampered = key.wrapped;
  tampered.ciphertext.back() ^= 1;
  EXPECT_FALSE(cache_->unwrap(tampered, as_bytes("bucket/a")));
}

TEST_F(DataKeyCache, EntriesEndAfterTheirTtlOrTheirUses) {
  make({.ttl = 10s, .max_uses = 2, .max_entries = 10});
  DataKey key = fresh("k");
  ASSERT_TRUE(cache_->unwrap(key.wrapped, as_bytes("k")));  // miss, entered
  inner_->down = true;
  EXPECT_TRUE(cache_->unwrap(key.wrapped, as_bytes("k")));   // use 1
  EXPECT_TRUE(cache_->unwrap(key.wrapped, as_bytes("k")));   // use 2
  auto used_up = cache_->unwrap(key.wrapped, as_bytes("k"));  // dropped: the key manager is asked, and is down
  ASSERT_FALSE(used_up);
  EXPECT_EQ(used_up.error().code(), ErrorCode::kUnavailable);

  inner_->down = false;
  ASSERT_TRUE(cache_->unwrap(key.wrapped, as_bytes("k")));  // entered again
  now_ += 11s;
  inner_->down = true;
  auto expired = cache_->unwrap(key.wrapped, as_bytes("k"));
  ASSERT_FALSE(expired) << "an entry past its ttl must not be served";
  EXPECT_EQ(expired.error().code(), ErrorCode::kUnavailable);
}

TEST_F(DataKeyCache, FullCacheDropsTheLeastRecentlyUsed) {
  make({.ttl = 60s, .max_uses = 0, .max_entries = 2});
  DataKey a = fresh("a"), b = fresh("b"), c = fresh("c");
  ASSERT_TRUE(cache_->unwrap(a.wrapped, as_bytes("a")));
  ASSERT_TRUE(cache_->unwrap(b.wrapped, as_bytes("b")));
  ASSERT_TRUE(cache_->unwrap(a.wrapped, as_bytes("a")));  // a is now the most recent
  ASSERT_TRUE(cache_->unwrap(c.wrapped, as_bytes("c")));  // b goes
  EXPECT_EQ(cache_->stats().entries, 2u);
  inner_->down = true;
  EXPECT_TRUE(cache_->unwrap(a.wrapped, as_bytes("a")));
  EXPECT_TRUE(cache_->unwrap(c.wrapped, as_bytes("c")));
  EXPECT_FALSE(cache_->unwrap(b.wrapped, as_bytes("b")));
}

TEST_F(DataKeyCache, WithTheKeyManagerDownCachedKeysReadAndEverythingElseFailsCleanly) {
  make({.ttl = 60s, .max_uses = 0, .max_entries = 10});
  auto generated = cache_->generate_data_key(as_bytes("new/object"));  // entered as it is generated
  ASSERT_TRUE(generated);
  DataKey uncached = fresh("old/object");
  inner_->down = true;
  auto cached = cache_->unwrap(generated->wrapped, as_bytes("new/object"));
  ASSERT_TRUE(cached) << "a cached key keeps its object readable while the key manager is down";
  EXPECT_TRUE(crypto::constant_time_equal(cached->view(), generated->plaintext.view()));
  auto not_cached = cache_->unwrap(uncached.wrapped, as_bytes("old/object"));
  ASSERT_FALSE(not_cached);
  EXPECT_EQ(not_cached.error().code(), ErrorCode::kUnavailable);
  auto write = cache_->generate_data_key(as_bytes("another/object"));
  ASSERT_FALSE(write) << "writes need the key manager";
  EXPECT_EQ(write.error().code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(cache_->health());
}

TEST_F(DataKeyCache, ZeroEntriesMeansNothingIsKept) {
  make({.ttl = 60s, .max_uses = 0, .max_entries = 0});
  DataKey key = fresh("k");
  ASSERT_TRUE(cache_->unwrap(key.wrapped, as_bytes("k")));
  EXPECT_EQ(cache_->stats().entries, 0u);
  inner_->down = true;
  EXPECT_FALSE(cache_->unwrap(key.wrapped, as_bytes("k")));
}

}  // namespace
}  // namespace blobseal::keys
