// The local store's body files. Under the store root:
//
//   data/<first 2 hex digits of id>/<id>   one file per index row, id = random_hex_id(), mode 0400, never modified
//   tmp/<id>                               a body being written
//
// Keys never become file names: only random ids do, so no key can name a path outside the root.
//
// The hold protocol: a writer holds each file it creates or links (a shared flock(2) on the file) from its creation
// until its index row is committed. Garbage collection, in this process or another, deletes only files it can lock
// exclusively, so it never deletes a body whose row is about to be committed, however young or old the file's
// modification time looks (a hard link keeps the source's).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/byte_stream.h"
#include "core/error.h"
#include "core/file_stream.h"

namespace blobseal::store::local {

class DataDirectory;

// A data file that no committed row references yet. Destroyed without keep(), it unlinks itself (whether it is
// still in tmp/ or already in data/): every failure path cleans up by returning.
class PendingDataFile {
 public:
  PendingDataFile(const DataDirectory& directory, std::string id, int held_fd, std::uint64_t size, bool published);
  ~PendingDataFile();
  PendingDataFile(PendingDataFile&& other) noexcept;
  PendingDataFile& operator=(PendingDataFile&&) = delete;
  PendingDataFile(const PendingDataFile&) = delete;
  PendingDataFile& operator=(const PendingDataFile&) = delete;

  const std::string& id() const { return id_; }
  std::uint64_t size() const { return size_; }

  // Moves a written file from tmp/ to data/ and makes the new name durable (fsync of its directory).
  Status publish();

  // Call once the row naming this file is committed: releases the hold and leaves the file in place.
  void keep();

 private:
  friend class DataDirectory;
  const DataDirectory* directory_;
  std::string id_;
  int fd_;  // holds the shared flock; -1 once kept or moved from
  std::uint64_t size_;
  bool published_;
};

// A file found by a scan of data/ or tmp/.
struct DataFileEntry {
  std::string id;
  bool temporary = false;  // in tmp/ rather than data/
  std::filesystem::path path;
  std::chrono::system_clock::time_point modified;
};

class DataDirectory {
 public:
  // Uses (creating with mode 0700 when missing) data/ and tmp/ under `root`, which must exist.
  static Result<DataDirectory> open(std::filesystem::path root);

  // Streams `body` into a new file in tmp/ (1 MiB at a time) and fsyncs it. The file is held.
  Result<PendingDataFile> write(ByteSource& body) const;

  // Hard-links data file `id` under a new id in data/ and fsyncs the directory: a second name for the same bytes.
  // The new file is held. NotFound when `id` no longer exists (its row was replaced or removed meanwhile).
  Result<PendingDataFile> link(std::string_view id) const;

  // Opens data file `id` for reading; the open descriptor keeps the bytes readable after the name is unlinked.
  // NotFound when it does not exist.
  Result<std::unique_ptr<FileSource>> open_for_reading(std::string_view id) const;

  // Unlinks data file `id` whose row is gone. Best effort: a file that cannot be removed is an orphan, which
  // garbage collection finds later; the caller's operation has already succeeded.
  void remove(std::string_view id) const;

  // Calls `visit` for every file in data/ and tmp/ whose name is an id (other names are not the store's and are
  // left alone). Stops at the first error `visit` returns.
  Status scan(const std::function<Status(const DataFileEntry&)>& visit) const;

  // Whether a writer holds `entry` (see the hold protocol above). True too when the file is gone: either way it is
  // no orphan.
  Result<bool> is_held(const DataFileEntry& entry) const;

  // Unlinks `entry` if no writer holds it and, with the exclusive lock taken, `still_unreferenced()` confirms no row
  // names it. Returns whether it was removed.
  Result<bool> remove_unheld(const DataFileEntry& entry, const std::function<Result<bool>()>& still_unreferenced) const;

  std::filesystem::path data_path(std::string_view id) const;
  std::filesystem::path temp_path(std::string_view id) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  explicit DataDirectory(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

// fsync(2) of a directory, making the names created or removed in it durable.
Status sync_directory(const std::filesystem::path& directory);

}  // namespace blobseal::store::local
