#include "keys/local/keyring_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>

#include "keys/local/keyring_file.h"

namespace blobseal::keys::local {

namespace {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes and reports the close error (which, after a write, can be the write's error).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_ = -1;
};

// Removes a temporary file unless released.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  ~TempFileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  void release() { path_.clear(); }

 private:
  std::string path_;
};

FileIdentity identity_of(const struct stat& st) {
  FileIdentity id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return id;
}

Error open_error(std::string_view path) {
  if (errno == ENOENT)
    return Error(ErrorCode::kNotFound,
                 fmt::format("keyring {} does not exist: create one with `blobseal keys init --keyring {}`", path, path));
  return errno_error("opening keyring", path);
}

Status check_file(const struct stat& st, std::string_view path) {
  if (!S_ISREG(st.st_mode))
    return make_error(ErrorCode::kFailedPrecondition, fmt::format("keyring {} is not a regular file", path));
  if ((st.st_mode & 077) != 0)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("keyring {} is accessible by group or others (mode {:04o}) but holds secret keys; "
                                  "refusing to use it: run `chmod 600 {}`",
                                  path, st.st_mode & 07777, path));
  if (static_cast<std::uint64_t>(st.st_size) > kMaxKeyringFileSize)
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("keyring {} is {} bytes, more than a keyring can be ({} bytes)", path, st.st_size,
                                  kMaxKeyringFileSize));
  return {};
}

Result<KeyringFile> read_from(int fd, std::string_view path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(errno_error("reading keyring", path));
  BLOBSEAL_TRY_STATUS(check_file(st, path));
  KeyringFile file;
  file.identity = identity_of(st);
  file.text = SecretBytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < file.text.size()) {
    ssize_t n = ::pread(fd, file.text.data() + done, file.text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno_error("reading keyring", path));
    if (n == 0)
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("keyring {} shrank while it was read (edited in place?); try again", path));
    done += static_cast<std::size_t>(n);
  }
  return file;
}

Status write_all(int fd, ByteSpan data, std::string_view path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno_error("writing", path));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status fsync_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return make_error(errno_error("opening directory", dir));
  if (::fsync(fd.get()) != 0) return make_error(errno_error("syncing directory", dir));
  return {};
}

struct TempFile {
  std::string path;
  UniqueFd fd;
};

// A new 0600 file next to `target`, holding `text`, fsynced. When `owner` is given and this process is root, the
// file gets that owner and group.
Result<TempFile> write_temp_file(const std::string& target, ByteSpan text, const struct stat* owner) {
  std::string name = directory_of(target) + "/." + base_name_of(target) + ".tmp-XXXXXX";
  TempFile temp;
  temp.fd = UniqueFd(::mkostemp(name.data(), O_CLOEXEC));  // mkostemp creates the file 0600
  if (!temp.fd) {
    if (errno == ENOENT)
      return make_error(ErrorCode::kNotFound, fmt::format("directory {} does not exist", directory_of(target)));
    return make_error(errno_error("creating a temporary file in", directory_of(target)));
  }
  temp.path = name;
  TempFileGuard guard(name);
  if (::fchmod(temp.fd.get(), 0600) != 0) return make_error(errno_error("setting the mode of", name));
  if (owner != nullptr && ::geteuid() == 0 && (owner->st_uid != 0 || owner->st_gid != 0)) {
    if (::fchown(temp.fd.get(), owner->st_uid, owner->st_gid) != 0)
      return make_error(errno_error("giving the keyring its previous owner:", name));
  }
  BLOBSEAL_TRY_STATUS(write_all(temp.fd.get(), text, name));
  if (::fsync(temp.fd.get()) != 0) return make_error(errno_error("syncing", name));
  guard.release();
  return temp;
}

std::string resolve(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return path;
  return resolved;
}

}  // namespace

Result<KeyringFile> read_keyring_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return make_error(open_error(path));
  return read_from(fd.get(), path);
}

Result<FileIdentity> stat_keyring_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(open_error(path));
  return identity_of(st);
}

Result<FileIdentity> create_keyring_file(const std::string& path, ByteSpan text) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0)
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("keyring {} already exists; refusing to overwrite it", path));
  auto temp = BLOBSEAL_TRY(write_temp_file(path, text, nullptr));
  TempFileGuard guard(temp.path);
  // link() fails if anything appeared at `path` meanwhile: create-if-absent without a lock.
  if (::link(temp.path.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST)
      return make_error(ErrorCode::kAlreadyExists,
                        fmt::format("keyring {} already exists; refusing to overwrite it", path));
    return make_error(errno_error("creating keyring", path));
  }
  // From here the keyring exists; the temporary name is only a second link to it.
  if (::unlink(temp.path.c_str()) == 0) guard.release();
  BLOBSEAL_TRY_STATUS(fsync_directory(directory_of(path)));
  struct stat st {};
  if (::fstat(temp.fd.get(), &st) != 0) return make_error(errno_error("reading keyring", path));
  return identity_of(st);
}

Result<FileIdentity> update_keyring_file(const std::string& path, const KeyringChange& change) {
  const std::string target = resolve(path);
  UniqueFd locked;
  for (int attempt = 0;; ++attempt) {
    UniqueFd fd(::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return make_error(open_error(path));
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return make_error(errno_error("locking keyring", path));
    }
    struct stat held {}, now {};
    if (::fstat(fd.get(), &held) != 0) return make_error(errno_error("reading keyring", path));
    if (::stat(target.c_str(), &now) != 0) {
      if (errno != ENOENT) return make_error(errno_error("reading keyring", path));
    } else if (held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
      locked = std::move(fd);
      break;
    }
    // Another writer replaced the file while we waited for the lock: lock the new one.
    if (attempt >= 1000)
      return make_error(ErrorCode::kUnavailable, fmt::format("keyring {} keeps changing; try again", path));
  }

  auto current = BLOBSEAL_TRY(read_from(locked.get(), path));
  SecretBytes text = BLOBSEAL_TRY(change(current));
  struct stat owner {};
  if (::fstat(locked.get(), &owner) != 0) return make_error(errno_error("reading keyring", path));

  auto temp = BLOBSEAL_TRY(write_temp_file(target, text.view(), &owner));
  TempFileGuard guard(temp.path);
  if (::rename(temp.path.c_str(), target.c_str()) != 0) return make_error(errno_error("replacing keyring", path));
  guard.release();
  BLOBSEAL_TRY_STATUS(fsync_directory(directory_of(target)));
  struct stat st {};
  if (::fstat(temp.fd.get(), &st) != 0) return make_error(errno_error("reading keyring", path));
  if (temp.fd.close() != 0) return make_error(errno_error("closing", path));
  // `locked` closes on return, releasing the writers' lock only once the new file is in place.
  return identity_of(st);
}

}  // namespace blobseal::keys::local
