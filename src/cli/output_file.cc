#include "cli/output_file.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file_stream.h"

namespace blobseal::cli {

namespace {
// FileSource is both a ByteSource and a RandomAccessSource; share one fd between the two views.
class SharedFileSource final : public ByteSource {
 public:
  explicit SharedFileSource(FileSource& file) : file_(file) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override { return file_.read(out); }

 private:
  FileSource& file_;
};

class OwningRandomAccess final : public RandomAccessSource {
 public:
  explicit OwningRandomAccess(std::unique_ptr<FileSource> file) : file_(std::move(file)) {}
  std::uint64_t size() const override { return file_->size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    return file_->read_at(offset, out);
  }
  FileSource& file() { return *file_; }

 private:
  std::unique_ptr<FileSource> file_;
};
}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::open(const std::optional<std::string>& path) {
  std::unique_ptr<OutputFile> out(new OutputFile());
  out->path_ = path;
  if (!path || *path == "-") {
    out->path_.reset();
    out->sink_ = std::make_unique<FdSink>(STDOUT_FILENO);
    return out;
  }
  std::string dir = ".";
  if (auto slash = path->rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path->substr(0, slash);
  std::string name = path->substr(path->rfind('/') == std::string::npos ? 0 : path->rfind('/') + 1);
  out->temp_path_ = dir + "/." + name + ".blobseal-XXXXXX";
  out->fd_ = ::mkstemp(out->temp_path_.data());
  if (out->fd_ < 0) return make_error(errno_error("create", *path));
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(out->fd_, 0666 & ~mask);
  out->sink_ = std::make_unique<FdSink>(out->fd_);
  return out;
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (path_ && !committed_) ::unlink(temp_path_.c_str());
}

Status OutputFile::commit() {
  if (!path_) return {};
  if (::fsync(fd_) != 0) return make_error(errno_error("fsync", *path_));
  if (::close(fd_) != 0) {
    fd_ = -1;
    return make_error(errno_error("close", *path_));
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_->c_str()) != 0) return make_error(errno_error("rename", *path_));
  committed_ = true;
  return {};
}

Result<InputFile> open_input(const std::optional<std::string>& path) {
  InputFile input;
  if (!path || *path == "-") {
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
      auto file = std::make_unique<FileSource>(STDIN_FILENO, false, static_cast<std::uint64_t>(st.st_size));
      input.size = file->size();
      auto random = std::make_unique<OwningRandomAccess>(std::move(file));
      input.source = std::make_unique<SharedFileSource>(random->file());
      input.random_access = std::move(random);
      return input;
    }
    input.source = std::make_unique<FdSource>(STDIN_FILENO);
    return input;
  }
  auto file = BLOBSEAL_TRY(FileSource::open(*path));
  struct stat st {};
  if (::fstat(file->fd(), &st) == 0 && S_ISREG(st.st_mode)) {
    input.size = file->size();
    auto random = std::make_unique<OwningRandomAccess>(std::move(file));
    input.source = std::make_unique<SharedFileSource>(random->file());
    input.random_access = std::move(random);
  } else {
    int fd = ::dup(file->fd());
    input.source = std::make_unique<FdSource>(fd);  // a FIFO or device: sequential only (fd leaks until exit)
  }
  return input;
}

}  // namespace blobseal::cli
