// Index rows (and absences) read recently, kept for as long as the index's CommitWatch shows that no connection of
// any process has committed anything since they were read (the protocol is in commit_watch.h). Saves a hot key's lookups their
// read transaction: SQLite's locks on the database and its shared memory cost several fcntl(2) calls each.
//
// Bounded: rows with a header or metadata over kMaxEntryBytes are never kept, and when kMaxEntries or kMaxBytes
// would be exceeded everything is dropped (a hot set refills in one lookup per key). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/local/commit_watch.h"
#include "store/local/object_index.h"

namespace blobseal::store::local {

class EntryCache {
 public:
  static constexpr std::size_t kMaxEntries = 16384;
  static constexpr std::size_t kMaxBytes = 32 << 20;
  static constexpr std::size_t kMaxEntryBytes = 64 << 10;

  using Version = CommitWatch::Snapshot;

  // What was kept for `key` at `version`, which the caller has just had from CommitWatch::snapshot(): the row, or
  // nullopt inside for a key known absent. nullopt when nothing is kept for that version.
  std::optional<std::optional<IndexEntry>> find(std::string_view key, const Version& version);

  // Keeps what a read of `key` returned, the read having begun at snapshot `version` with the header unchanged
  // after it (CommitWatch::unchanged_since). Whatever was kept for another version is dropped.
  void keep(std::string_view key, const std::optional<IndexEntry>& entry, const Version& version);

 private:
  static std::size_t cost(std::string_view key, const std::optional<IndexEntry>& entry);
  void clear_locked(const Version& version);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mutex_;
  Version version_{};
  std::size_t bytes_ = 0;
  std::unordered_map<std::string, std::optional<IndexEntry>, Hash, std::equal_to<>> entries_;
};

}  // namespace blobseal::store::local
