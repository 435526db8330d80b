#include "core/file_stream.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace blobseal {

FileSource::FileSource(int fd, bool owned, std::uint64_t size) : fd_(fd), owned_(owned), size_(size) {}

FileSource::~FileSource() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<FileSource>> FileSource::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno_error("open", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = errno_error("stat", path);
    ::close(fd);
    return make_error(std::move(e));
  }
  return std::make_unique<FileSource>(fd, true, static_cast<std::uint64_t>(st.st_size));
}

Result<std::size_t> FileSource::read(std::span<std::uint8_t> out) {
  for (;;) {
    ssize_t n = ::read(fd_, out.data(), out.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return make_error(errno_error("read", "file"));
  }
}

Result<std::size_t> FileSource::read_at(std::uint64_t offset, std::span<std::uint8_t> out) {
  for (;;) {
    ssize_t n = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return make_error(errno_error("pread", "file"));
  }
}

Result<std::size_t> FdSource::read(std::span<std::uint8_t> out) {
  for (;;) {
    ssize_t n = ::read(fd_, out.data(), out.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return make_error(errno_error("read", "input"));
  }
}

Status FdSink::write(std::span<const std::uint8_t> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errno_error("write", "output"));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace blobseal
