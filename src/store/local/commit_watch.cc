#include "store/local/commit_watch.h"

#include <atomic>

#include "store/local/sqlite_connection.h"

namespace blobseal::store::local {

namespace {

constexpr std::size_t kHeaderWords = 12;  // 48 bytes per copy
// WalIndexHdr: u32 iVersion, u32 unused, u32 iChange, u8 isInit, u8 bigEndCksum, u16 szPage, u32 mxFrame, ...
constexpr std::uint32_t kWalIndexVersion = 3007000;
constexpr std::size_t kVersionWord = 0;
constexpr std::size_t kIsInitByte = 12;

}  // namespace

Result<std::unique_ptr<CommitWatch>> CommitWatch::open(const SqliteConnection& connection) {
  const void* mapping = BLOBSEAL_TRY(connection.wal_index());
  return std::unique_ptr<CommitWatch>(new CommitWatch(mapping));
}

CommitWatch::Snapshot CommitWatch::copy(int which) const {
  // Word by word, as another process may be writing it: a torn copy differs from the other copy or from a snapshot.
  auto* words = static_cast<std::uint32_t*>(const_cast<void*>(mapping_)) + which * kHeaderWords;
  Snapshot out;
  for (std::size_t i = 0; i < kHeaderWords; ++i)
    out[i] = std::atomic_ref<std::uint32_t>(words[i]).load(std::memory_order_acquire);
  return out;
}

std::optional<CommitWatch::Snapshot> CommitWatch::snapshot() const {
  Snapshot first = copy(0);
  Snapshot second = copy(1);
  if (first != second) return std::nullopt;
  auto bytes = reinterpret_cast<const unsigned char*>(first.data());
  if (first[kVersionWord] != kWalIndexVersion || bytes[kIsInitByte] != 1) return std::nullopt;
  return first;
}

bool CommitWatch::unchanged_since(const Snapshot& snapshot) const { return copy(0) == snapshot; }

}  // namespace blobseal::store::local
