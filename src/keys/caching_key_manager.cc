#include "keys/caching_key_manager.h"

#include <string>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::keys {

namespace {
// Length-prefixed fields, so that no two different unwraps hash alike.
void put_field(Bytes& out, ByteSpan field) {
  put_u32(out, static_cast<std::uint32_t>(field.size()));
  put_bytes(out, field);
}

std::array<std::uint8_t, 32> entry_id(const WrappedKey& wrapped, ByteSpan associated_data) {
  Bytes material;
  put_field(material, as_bytes(wrapped.provider));
  put_field(material, as_bytes(wrapped.key_id));
  put_u32(material, wrapped.version);
  put_field(material, wrapped.ciphertext);
  put_field(material, associated_data);
  return crypto::sha256(material);
}
}  // namespace

CachingKeyManager::CachingKeyManager(std::unique_ptr<KeyManager> inner, DataKeyCacheOptions options)
    : inner_(std::move(inner)), options_(std::move(options)) {}

CachingKeyManager::~CachingKeyManager() = default;

void CachingKeyManager::insert(const std::array<std::uint8_t, 32>& id, const SecretBytes& key) {
  if (options_.max_entries == 0) return;
  if (auto it = index_.find(id); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  // Expired entries go now rather than when pushed out, so no key outlives its ttl by much.
  auto now = options_.clock();
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (now >= it->expires) {
      index_.erase(it->id);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
  while (lru_.size() >= options_.max_entries) {
    index_.erase(lru_.back().id);
    lru_.pop_back();  // the SecretBytes is zeroized as it goes
  }
  lru_.push_front(Entry{id, key.clone(), now + options_.ttl, 0});
  index_[id] = lru_.begin();
}

Result<DataKey> CachingKeyManager::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  auto generated = BLOBSEAL_TRY(inner_->generate_data_key(associated_data, key_id));
  std::lock_guard lock(mu_);
  insert(entry_id(generated.wrapped, associated_data), generated.plaintext);
  return generated;
}

Result<WrappedKey> CachingKeyManager::wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                           std::string_view key_id) {
  return inner_->wrap(data_key, associated_data, key_id);
}

Result<SecretBytes> CachingKeyManager::unwrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  auto id = entry_id(wrapped, associated_data);
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(id); it != index_.end()) {
      Entry& entry = *it->second;
      bool expired = options_.clock() >= entry.expires;
      bool used_up = options_.max_uses != 0 && entry.uses >= options_.max_uses;
      if (!expired && !used_up) {
        ++entry.uses;
        ++stats_.hits;
        lru_.splice(lru_.begin(), lru_, it->second);
        return entry.key.clone();
      }
      lru_.erase(it->second);
      index_.erase(it);
    }
    ++stats_.misses;
  }
  auto key = BLOBSEAL_TRY(inner_->unwrap(wrapped, associated_data));
  std::lock_guard lock(mu_);
  insert(id, key);
  return key;
}

CachingKeyManager::Stats CachingKeyManager::stats() const {
  std::lock_guard lock(mu_);
  Stats stats = stats_;
  stats.entries = lru_.size();
  return stats;
}

void CachingKeyManager::clear() {
  std::lock_guard lock(mu_);
  index_.clear();
  lru_.clear();
}

}  // namespace blobseal::keys
