// File-descriptor backed byte streams (POSIX). Reads use pread so one open file can serve many readers.
#pragma once

#include <memory>
#include <string>

#include "core/byte_stream.h"

namespace blobseal {

class FileSource final : public ByteSource, public RandomAccessSource {
 public:
  // Takes ownership of fd when `owned`.
  FileSource(int fd, bool owned, std::uint64_t size);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  static Result<std::unique_ptr<FileSource>> open(const std::string& path);

  Result<std::size_t> read(std::span<std::uint8_t> out) override;
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override;
  int fd() const { return fd_; }

 private:
  int fd_;
  bool owned_;
  std::uint64_t size_;
};

// Sequential reads from a pipe or terminal (stdin), where pread is not possible.
class FdSource final : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  int fd_;
};

class FdSink final : public ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  Status write(std::span<const std::uint8_t> data) override;

 private:
  int fd_;
};

}  // namespace blobseal
