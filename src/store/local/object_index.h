// The local store's index: one SQLite row per object, the commit point of every change. The schema (version 1):
//
//   objects(key BLOB PRIMARY KEY,     -- the object key's bytes; BLOB so that order is memcmp order, as S3 lists
//           data_file TEXT UNIQUE,    -- the random id of the body file (data_directory.h)
//           body_size INTEGER, modified_ns INTEGER,
//           generation TEXT,          -- random, new on every put, copy and header replacement
//           header BLOB,              -- the envelope, opaque
//           metadata BLOB)            -- u32 count, then per entry u32 length + name, u32 length + value (big-endian)
//
// PRAGMA user_version holds the schema version; an index written by a newer version is refused (Unimplemented).
//
// Threads: every method may be called concurrently. Writes go through one connection under a mutex, each in a
// BEGIN IMMEDIATE transaction, which also serialises them with other processes (waiting up to the busy timeout,
// then Unavailable). Reads take a read-only connection from a small pool and see one consistent snapshot (WAL).
//
// find() answers from an EntryCache while the WAL index shows no commit by any connection of any process since the
// row was read (commit_watch.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "store/local/key_listing.h"
#include "store/object_store.h"

namespace blobseal::store::local {

class CommitWatch;
class EntryCache;
class SqliteConnection;

struct IndexEntry {
  ObjectInfo info;
  std::string data_file;  // id of the body's data file
};

// What a committed put or copy displaced.
struct Replaced {
  std::optional<std::string> data_file;  // the previous object's data file, now unreferenced; nullopt when none
};

class ObjectIndex {
 public:
  // Opens the index at `path`, creating the file (mode 0600) and schema when missing; turns on WAL.
  static Result<std::unique_ptr<ObjectIndex>> open(const std::string& path);
  ~ObjectIndex();

  // The entry for `key`, or nullopt: as committed when find() was called or later (never older, whichever process
  // committed it).
  Result<std::optional<IndexEntry>> find(std::string_view key);

  // Inserts or replaces the row for entry.info.key, in one transaction, when `if_generation_match` holds for the
  // current row (nullopt: always; "": only when absent). FailedPrecondition otherwise, with nothing changed.
  Result<Replaced> upsert(const IndexEntry& entry, const std::optional<std::string>& if_generation_match);

  // Sets header, metadata and generation of `key` if its generation is `expected_generation`; the body (data
  // file, size) and modification time stay. Returns the updated info. NotFound / FailedPrecondition otherwise.
  Result<ObjectInfo> replace_header(std::string_view key, std::string_view expected_generation,
                                    std::string_view new_generation, const Bytes& header,
                                    const std::map<std::string, std::string>& metadata);

  // Deletes the row of `key` and returns its data file id; NotFound when absent.
  Result<std::string> erase(std::string_view key);

  // Visits at most `limit` entries in `range`, in key order (ORDER BY key LIMIT), stepping the query only while
  // `visit` asks for more.
  Status scan(const KeyRange& range, std::size_t limit, const RowVisitor& visit);

  // Whether any row names `data_file`.
  Result<bool> references(std::string_view data_file);

  // Test support: inserts entries in a single transaction (absent keys only), without any of the data-file
  // protocol. Lets a test build an index of hundreds of thousands of keys in seconds.
  Status insert_for_testing(std::span<const IndexEntry> entries);

 private:
  class ReaderLease;
  ObjectIndex(std::string path, std::unique_ptr<SqliteConnection> writer, std::unique_ptr<CommitWatch> commits);
  Result<ReaderLease> lease_reader();
  Result<std::optional<IndexEntry>> read(std::string_view key);

  std::string path_;
  std::mutex writer_mutex_;
  std::unique_ptr<SqliteConnection> writer_;
  // After writer_, whose mapping of the WAL index it reads: destroyed first.
  std::unique_ptr<CommitWatch> commits_;  // nullptr when the WAL index cannot be watched: then nothing is kept
  std::unique_ptr<EntryCache> cache_;
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<SqliteConnection>> idle_readers_;
};

}  // namespace blobseal::store::local
