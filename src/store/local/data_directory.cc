#include "store/local/data_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "store/local/random_id.h"

namespace blobseal::store::local {

namespace {

constexpr std::size_t kWriteBufferSize = 1 << 20;
constexpr mode_t kDirectoryMode = 0700;
constexpr mode_t kDataFileMode = 0400;  // bodies are never modified in place

int open_retrying(const char* path, int flags, mode_t mode = 0) {
  for (;;) {
    int fd = ::open(path, flags, mode);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

int flock_retrying(int fd, int operation) {
  for (;;) {
    int rc = ::flock(fd, operation);
    if (rc == 0 || errno != EINTR) return rc;
  }
}

Status write_all(int fd, const std::uint8_t* data, std::size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errno_error("write", path.string()));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Status make_directory(const std::filesystem::path& path, bool* created) {
  if (::mkdir(path.c_str(), kDirectoryMode) == 0) {
    if (created != nullptr) *created = true;
    return {};
  }
  if (errno == EEXIST) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
    return make_error(ErrorCode::kFailedPrecondition, path.string() + " exists and is not a directory");
  }
  return make_error(errno_error("mkdir", path.string()));
}

// data/<xx> for an id, created (and made durable in data/) when missing.
Status ensure_shard(const std::filesystem::path& root, std::string_view id) {
  std::filesystem::path data = root / "data";
  bool created = false;
  BLOBSEAL_TRY_STATUS(make_directory(data / std::string(id.substr(0, 2)), &created));
  if (created) BLOBSEAL_TRY_STATUS(sync_directory(data));
  return {};
}

bool is_shard_name(std::string_view name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

std::chrono::system_clock::time_point modified_time(const struct stat& st) {
  auto since_epoch = std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(since_epoch));
}

// The names in a directory, read in full before the caller acts on them. NotFound when it does not exist.
Result<std::vector<std::string>> read_names(const std::filesystem::path& directory) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return make_error(errno_error("opendir", directory.string()));
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) break;
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int saved = errno;
  ::closedir(dir);
  if (saved != 0) {
    errno = saved;
    return make_error(errno_error("readdir", directory.string()));
  }
  return names;
}

}  // namespace

Status sync_directory(const std::filesystem::path& directory) {
  int fd = open_retrying(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(errno_error("open", directory.string()));
  if (::fsync(fd) != 0) {
    Error error = errno_error("fsync", directory.string());
    ::close(fd);
    return make_error(std::move(error));
  }
  ::close(fd);
  return {};
}

// ---- PendingDataFile ---------------------------------------------------------------------------------------------

PendingDataFile::PendingDataFile(const DataDirectory& directory, std::string id, int held_fd, std::uint64_t size,
                                 bool published)
    : directory_(&directory), id_(std::move(id)), fd_(held_fd), size_(size), published_(published) {}

PendingDataFile::PendingDataFile(PendingDataFile&& other) noexcept
    : directory_(other.directory_),
      id_(std::move(other.id_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      published_(other.published_) {}

PendingDataFile::~PendingDataFile() {
  if (fd_ < 0) return;
  std::filesystem::path path = published_ ? directory_->data_path(id_) : directory_->temp_path(id_);
  ::unlink(path.c_str());  // still held: no one else can have taken it
  ::close(fd_);
}

Status PendingDataFile::publish() {
  BLOBSEAL_TRY_STATUS(ensure_shard(directory_->root(), id_));
  std::filesystem::path from = directory_->temp_path(id_);
  std::filesystem::path to = directory_->data_path(id_);
  if (::rename(from.c_str(), to.c_str()) != 0) return make_error(errno_error("rename", from.string()));
  published_ = true;
  return sync_directory(to.parent_path());
}

void PendingDataFile::keep() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
  fd_ = -1;
}

// ---- DataDirectory -----------------------------------------------------------------------------------------------

Result<DataDirectory> DataDirectory::open(std::filesystem::path root) {
  bool created = false;
  BLOBSEAL_TRY_STATUS(make_directory(root / "data", &created));
  BLOBSEAL_TRY_STATUS(make_directory(root / "tmp", &created));
  if (created) BLOBSEAL_TRY_STATUS(sync_directory(root));
  return DataDirectory(std::move(root));
}

std::filesystem::path DataDirectory::data_path(std::string_view id) const {
  return root_ / "data" / std::string(id.substr(0, 2)) / std::string(id);
}

std::filesystem::path DataDirectory::temp_path(std::string_view id) const { return root_ / "tmp" / std::string(id); }

Result<PendingDataFile> DataDirectory::write(ByteSource& body) const {
  // A brand-new file could be collected as stale between its creation and the flock that holds it; then it has
  // no name left (st_nlink == 0) and the write starts over with a fresh id.
  for (int attempt = 0;; ++attempt) {
    std::string id = random_hex_id();
    std::filesystem::path path = temp_path(id);
    int fd = open_retrying(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, kDataFileMode);
    if (fd < 0) return make_error(errno_error("create", path.string()));
    PendingDataFile pending(*this, id, fd, 0, false);
    if (flock_retrying(fd, LOCK_SH) != 0) return make_error(errno_error("flock", path.string()));
    struct stat st {};
    if (::fstat(fd, &st) != 0) return make_error(errno_error("stat", path.string()));
    if (st.st_nlink == 0) {
      if (attempt < 3) continue;
      return make_error(ErrorCode::kUnavailable, "temporary files are being removed as fast as they are created");
    }

    auto buffer = std::make_unique_for_overwrite<std::uint8_t[]>(kWriteBufferSize);
    std::uint64_t size = 0;
    for (;;) {
      std::size_t n = BLOBSEAL_TRY(read_full(body, std::span(buffer.get(), kWriteBufferSize)));
      BLOBSEAL_TRY_STATUS(write_all(fd, buffer.get(), n, path));
      size += n;
      if (n < kWriteBufferSize) break;
    }
    if (::fsync(fd) != 0) return make_error(errno_error("fsync", path.string()));
    pending.size_ = size;
    return pending;
  }
}

Result<PendingDataFile> DataDirectory::link(std::string_view id) const {
  std::filesystem::path source = data_path(id);
  int fd = open_retrying(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno_error("open", source.string()));
  // Holding the source's inode holds the new name too: both name the same file.
  if (flock_retrying(fd, LOCK_SH) != 0) {
    Error error = errno_error("flock", source.string());
    ::close(fd);
    return make_error(std::move(error));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_nlink == 0) {
    Error error = st.st_nlink == 0 ? Error(ErrorCode::kNotFound, source.string() + " was removed")
                                   : errno_error("stat", source.string());
    ::close(fd);
    return make_error(std::move(error));
  }
  std::string new_id = random_hex_id();
  if (auto status = ensure_shard(root_, new_id); !status) {
    ::close(fd);
    return make_error(status.error());
  }
  std::filesystem::path destination = data_path(new_id);
  if (::link(source.c_str(), destination.c_str()) != 0) {
    Error error = errno_error("link", source.string());
    ::close(fd);
    return make_error(std::move(error));
  }
  PendingDataFile pending(*this, std::move(new_id), fd, static_cast<std::uint64_t>(st.st_size), true);
  BLOBSEAL_TRY_STATUS(sync_directory(destination.parent_path()));
  return pending;
}

Result<std::unique_ptr<FileSource>> DataDirectory::open_for_reading(std::string_view id) const {
  return FileSource::open(data_path(id).string());
}

void DataDirectory::remove(std::string_view id) const { ::unlink(data_path(id).c_str()); }

Status DataDirectory::scan(const std::function<Status(const DataFileEntry&)>& visit) const {
  auto visit_files = [&](const std::filesystem::path& directory, bool temporary, std::string_view shard) -> Status {
    auto names = read_names(directory);
    if (!names) return names.error().code() == ErrorCode::kNotFound ? Status() : make_error(names.error());
    for (const std::string& name : *names) {
      if (!is_hex_id(name) || (!temporary && name.substr(0, 2) != shard)) continue;
      DataFileEntry entry{name, temporary, directory / name, {}};
      struct stat st {};
      if (::lstat(entry.path.c_str(), &st) != 0) {
        if (errno == ENOENT) continue;  // removed since the directory was read
        return make_error(errno_error("stat", entry.path.string()));
      }
      if (!S_ISREG(st.st_mode)) continue;
      entry.modified = modified_time(st);
      BLOBSEAL_TRY_STATUS(visit(entry));
    }
    return {};
  };
  BLOBSEAL_TRY_STATUS(visit_files(root_ / "tmp", true, ""));
  auto shards = BLOBSEAL_TRY(read_names(root_ / "data"));
  for (const std::string& shard : shards)
    if (is_shard_name(shard)) BLOBSEAL_TRY_STATUS(visit_files(root_ / "data" / shard, false, shard));
  return {};
}

Result<bool> DataDirectory::is_held(const DataFileEntry& entry) const {
  int fd = open_retrying(entry.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;  // gone: its writer removed it or committed and renamed it
    return make_error(errno_error("open", entry.path.string()));
  }
  int rc = flock_retrying(fd, LOCK_EX | LOCK_NB);
  int saved = errno;
  ::close(fd);
  if (rc == 0) return false;
  if (saved == EWOULDBLOCK) return true;
  errno = saved;
  return make_error(errno_error("flock", entry.path.string()));
}

Result<bool> DataDirectory::remove_unheld(const DataFileEntry& entry,
                                          const std::function<Result<bool>()>& still_unreferenced) const {
  int fd = open_retrying(entry.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return make_error(errno_error("open", entry.path.string()));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  if (flock_retrying(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return false;
    return make_error(errno_error("flock", entry.path.string()));
  }
  if (!BLOBSEAL_TRY(still_unreferenced())) return false;
  if (::unlink(entry.path.c_str()) != 0) {
    if (errno == ENOENT) return false;
    return make_error(errno_error("unlink", entry.path.string()));
  }
  return true;
}

}  // namespace blobseal::store::local
