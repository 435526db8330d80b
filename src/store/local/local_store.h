// The local-disk object store, the embedded default. Its root directory holds:
//
//   index.sqlite (-wal, -shm)   the index (object_index.h): one row per object with its key, data file id, body
//                               size, time, generation, header and metadata. The row is every change's commit point.
//   data/<2 hex>/<32 hex id>    bodies, one file per row, named by random ids (data_directory.h)
//   tmp/<32 hex id>             bodies being written
//
// Keys are stored only in the index, never as file names, so every valid key ("../../x", "/abs", 1,024 bytes,
// names differing only in case) is just a name, and nothing a key says can reach outside the root.
//
// Atomicity and crashes: put streams the body into tmp/, fsyncs it, renames it into data/ and fsyncs that
// directory, then commits the row (WAL, synchronous=FULL); the replaced body is unlinked after the commit. Copy
// hard-links the source's body under a new id instead of writing one; replace_header rewrites the row only. A
// crash at any point leaves the old object or the new one, never a mix; at worst an unreferenced data or temporary
// file remains, which no listing can show (listings read the index) and remove_orphans() deletes.
//
// Threads and processes: every method may be called from any number of threads at once, and other processes (the
// CLI beside a running server) may open the same root. Index writes use one connection under a mutex, in BEGIN
// IMMEDIATE transactions that SQLite also serialises across processes (a writer waits up to 10 s for another
// process, then fails with Unavailable); reads use a small pool of read-only connections, each query seeing one
// consistent snapshot. Bodies are streamed and fsynced outside every lock, so one slow upload delays no one else.
// A writer holds its new file (flock) until the row naming it is committed, so garbage collection in any process
// never deletes a file that is about to be referenced.
//
// Limits enforced here (docs/FORMAT.md): a header of at most 16 MiB, at most 1,024 metadata entries with names and
// values of at most 64 KiB (ResourceExhausted otherwise). A list page holds at most 1,000 items, as on S3.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "store/object_store.h"

namespace blobseal::store {

namespace local {
class ObjectIndex;
class DataDirectory;
class OpenDataFiles;
}  // namespace local

class LocalStore final : public ObjectStore {
 public:
  // Temporary files older than this, held by no writer, are left-overs of a crash; open_directory()
  // removes them.
  static constexpr std::chrono::hours kStaleTemporaryAge{1};

  // Opens the store in `root`, creating the directory (mode 0700, and missing parents likewise), data/, tmp/ and
  // an empty index when missing, and removes stale temporary files. FailedPrecondition when `root` is not a
  // directory; Unimplemented when the index was written by a newer schema version.
  // (Not an overload of open(key): a string argument would be ambiguous between the two.)
  static Result<std::unique_ptr<LocalStore>> open_directory(const std::filesystem::path& root);
  ~LocalStore() override;

  // put checks if_generation_match once before streaming the body (to fail fast) and again in the committing
  // transaction (which decides). options.finalize_header runs once the body is durable in data/, just before the
  // commit. When the index cannot tell whether a commit happened (an I/O error inside it),
  // the new data file is left in place for remove_orphans() to judge, never deleted under a possibly committed row.
  Result<ObjectInfo> put(std::string_view key, ByteSource& body, const PutOptions& options) override;

  // The returned body is an open file descriptor (or, for a small object, its bytes read at open), so it keeps
  // reading the same bytes after the key is replaced or removed. DataLoss when the data file is missing or its size
  // differs from the index. The index row and small data files may come from what an earlier open kept
  // (object_index.h, open_data_files.h); neither is ever older than the last commit before the call.
  Result<std::unique_ptr<StoredObject>> open(std::string_view key) override;
  Result<ObjectInfo> head(std::string_view key) override;

  // Rewrites the row only; the body and the modification time stay, the generation changes.
  Result<ObjectInfo> replace_header(std::string_view key, std::string_view expected_generation, const Bytes& header,
                                    const std::map<std::string, std::string>& metadata) override;

  // Hard-links the source's current body; options.if_generation_match applies to the destination, and
  // options.finalize_header, when set, is called once before the commit. Copying a key onto itself is allowed (a
  // new generation with a new header over the same bytes).
  Result<ObjectInfo> copy(std::string_view source, std::string_view destination, const PutOptions& options) override;

  Status remove(std::string_view key) override;

  // Semantics as in key_listing.h (ListObjectsV2).
  Result<ListResult> list(const ListRequest& request) override;

  // Files no index row references and no writer holds: data files of puts and copies interrupted before their
  // commit, bodies whose unlink after a replace or remove was interrupted, and temporary files. Paths relative to
  // the root ("data/3f/3f…", "tmp/…"). Costs one indexed lookup per file on disk.
  Result<std::vector<std::string>> orphan_data_files();

  // Deletes the orphans (as above) last modified at least `min_age` ago. Safe while other threads and processes
  // write, whatever `min_age`: a file is deleted only while locked exclusively and after the index, read again
  // under that lock, confirms that no row names it. For `blobseal verify --gc`.
  Status remove_orphans(std::chrono::seconds min_age);

  // Test support: indexes `keys` (all absent, all valid) as empty objects in a single transaction, skipping the
  // data-file protocol. They list and head like any object, but no data file exists, so open() reports DataLoss.
  // For listing tests at a scale that one fsync-bound put at a time would take minutes to build.
  Status index_empty_objects_for_testing(std::span<const std::string> keys);

  const std::filesystem::path& root() const { return root_; }

 private:
  LocalStore(std::filesystem::path root, std::unique_ptr<local::ObjectIndex> index,
             std::unique_ptr<local::DataDirectory> data);
  // Unlinks a data file no row names any more, closing it first if it was kept open.
  void forget_and_remove(const std::string& data_file);

  std::filesystem::path root_;
  std::unique_ptr<local::ObjectIndex> index_;
  std::unique_ptr<local::DataDirectory> data_;
  std::unique_ptr<local::OpenDataFiles> open_files_;  // small data files kept open between reads
};

}  // namespace blobseal::store
