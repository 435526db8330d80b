// Small data files kept open between reads, by id: a read of a hot small object then costs one pread(2) instead of
// open, fstat, pread and close.
//
// Sound because a data file is never modified once its id exists (data_directory.h) and ids are never reused: a
// descriptor kept for id X reads X's bytes for as long as it is kept. Whether X is still the body of a key is the
// index's to say, asked at every open. Only files of at most kMaxFileSize bytes are kept, at most kMaxFiles of them:
// a kept descriptor keeps an unlinked file's blocks allocated, so removed bodies hold at most
// kMaxFiles × kMaxFileSize bytes of disk until dropped. forget() drops one at once (after this process unlinks it).
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/file_stream.h"

namespace blobseal::store::local {

class OpenDataFiles {
 public:
  static constexpr std::size_t kMaxFiles = 128;
  static constexpr std::uint64_t kMaxFileSize = 128 * 1024;

  // The kept descriptor of `id`, or nullptr.
  std::shared_ptr<FileSource> find(std::string_view id);
  // Keeps `file`, the open data file `id`, when it is small enough; when full, drops every other file first.
  void keep(std::string_view id, std::shared_ptr<FileSource> file);
  void forget(std::string_view id);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<FileSource>, Hash, std::equal_to<>> files_;
};

}  // namespace blobseal::store::local
