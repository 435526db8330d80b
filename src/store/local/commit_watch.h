// Tells, with a few loads from shared memory and no system call, whether anything may have been committed to a
// SQLite database in WAL mode since a given moment, by any connection of any process, whatever program it runs
// (blobseal, its CLI beside a server, the sqlite3 shell, an operator's script).
//
// It reads the WAL-index header, the first 96 bytes of the database's -shm file: two copies of a 48-byte header that
// every commit rewrites (its change counter, frame count, salts and checksums), the second copy first, then the
// first. This layout is part of SQLite's documented file format (https://www.sqlite.org/walformat.html, "The
// WAL-Index Header"), which every SQLite since 3.7.0 shares with every other process opening the same database.
// A commit becomes visible to readers only when the first copy has been written, so:
//   - snapshot() before a read transaction yields the header when both copies agree (nullopt while a commit is
//     being published, or when the file does not look like a WAL index at all: then nothing may be kept);
//   - what the read returned is current as long as unchanged_since(that snapshot) holds, checked after the read and
//     at every later use.
//
// It reads SQLite's own mapping of that file (SqliteConnection::wal_index), so it is valid for as long as that
// connection stays open, and opens no descriptor of the file (closing one would drop SQLite's locks on it).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/error.h"

namespace blobseal::store::local {

class SqliteConnection;

class CommitWatch {
 public:
  using Snapshot = std::array<std::uint32_t, 12>;

  // Watches the WAL index of `connection`'s database; `connection` must outlive the watch. FailedPrecondition as
  // SqliteConnection::wal_index.
  static Result<std::unique_ptr<CommitWatch>> open(const SqliteConnection& connection);
  CommitWatch(const CommitWatch&) = delete;
  CommitWatch& operator=(const CommitWatch&) = delete;

  // The current header, when no commit is being published and the header is an initialised WAL index.
  std::optional<Snapshot> snapshot() const;
  // Whether the header is still `snapshot`: nothing was committed since it was taken.
  bool unchanged_since(const Snapshot& snapshot) const;

 private:
  explicit CommitWatch(const void* mapping) : mapping_(mapping) {}
  Snapshot copy(int which) const;
  const void* mapping_;
};

}  // namespace blobseal::store::local
