#include "store/local/entry_cache.h"

namespace blobseal::store::local {

std::optional<std::optional<IndexEntry>> EntryCache::find(std::string_view key, const Version& version) {
  std::lock_guard lock(mutex_);
  if (version != version_) {
    clear_locked(version);
    return std::nullopt;
  }
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void EntryCache::keep(std::string_view key, const std::optional<IndexEntry>& entry, const Version& version) {
  std::size_t size = cost(key, entry);
  if (size > kMaxEntryBytes) return;
  std::lock_guard lock(mutex_);
  // Rows of one version only. (Versions are not ordered: a slow reader may replace newer rows with older ones,
  // which the next find() at the current version drops. That costs lookups, never a stale answer.)
  if (version != version_) clear_locked(version);
  if (entries_.size() >= kMaxEntries || bytes_ + size > kMaxBytes) clear_locked(version);
  auto [it, inserted] = entries_.try_emplace(std::string(key), entry);
  if (inserted) bytes_ += size;
}

std::size_t EntryCache::cost(std::string_view key, const std::optional<IndexEntry>& entry) {
  std::size_t size = key.size() + 64;
  if (!entry) return size;
  size += entry->data_file.size() + entry->info.key.size() + entry->info.generation.size() + entry->info.header.size();
  for (const auto& [name, value] : entry->info.metadata) size += name.size() + value.size() + 64;
  return size;
}

void EntryCache::clear_locked(const Version& version) {
  entries_.clear();
  bytes_ = 0;
  version_ = version;
}

}  // namespace blobseal::store::local
