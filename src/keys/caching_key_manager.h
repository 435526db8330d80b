// An optional, bounded cache of unwrapped data keys in front of any key manager (off unless configured): a data key
// unwrapped once is served again, without a call to the key manager, to at most `max_uses` later reads within `ttl`.
// Entries are keyed by a SHA-256 of everything unwrap() authenticates (provider, key, version, wrapped bytes and
// the associated data), so a cached key is only ever returned for the exact unwrap that produced it: an object moved
// to another location still fails. Keys are zeroized when evicted (SecretBytes). New data keys are entered as they
// are generated, so the first read of a fresh object needs no call either.
//
// What the cache changes, and the operator accepts by enabling it (docs/KMS.md): while the key manager is down,
// reads of objects whose keys are cached keep working; and a key version retired or destroyed in the key manager
// stays usable for cached keys until their entries expire (at most `ttl`).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>

#include "keys/key_manager.h"

namespace blobseal::keys {

struct DataKeyCacheOptions {
  std::chrono::milliseconds ttl{std::chrono::minutes(5)};
  std::uint64_t max_uses = 1000;   // reads served per entry before it is dropped; 0 = no limit
  std::size_t max_entries = 1000;  // least recently used entries go first
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
};

class CachingKeyManager final : public KeyManager {
 public:
  CachingKeyManager(std::unique_ptr<KeyManager> inner, DataKeyCacheOptions options);
  ~CachingKeyManager() override;

  std::string id() const override { return inner_->id(); }
  Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) override;
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override { return inner_->needs_rewrap(wrapped); }
  Result<std::vector<KeyInfo>> describe() override { return inner_->describe(); }
  Status health() override { return inner_->health(); }

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t entries = 0;
  };
  Stats stats() const;
  // Drops every entry (zeroizing the keys).
  void clear();

 private:
  struct Entry {
    std::array<std::uint8_t, 32> id{};
    SecretBytes key;
    std::chrono::steady_clock::time_point expires;
    std::uint64_t uses = 0;
  };
  using Lru = std::list<Entry>;
  void insert(const std::array<std::uint8_t, 32>& id, const SecretBytes& key);  // mu_ held

  std::unique_ptr<KeyManager> inner_;
  DataKeyCacheOptions options_;
  mutable std::mutex mu_;
  Lru lru_;                                                  // most recently used first
  std::map<std::array<std::uint8_t, 32>, Lru::iterator> index_;  // guarded by mu_
  Stats stats_;
};

}  // namespace blobseal::keys
