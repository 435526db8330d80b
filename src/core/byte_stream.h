// The small byte-stream interfaces that the codec, the stores and the engine talk through. Nothing above a
// front end or a store sees a socket or a file descriptor; they see these.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/error.h"

namespace blobseal {

// A sequential source of bytes (a request body, stdin, a file).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to out.size() bytes. Returns the number read; 0 means the end of the stream (and only then).
  virtual Result<std::size_t> read(std::span<std::uint8_t> out) = 0;
};

// A sequential sink of bytes (a response body, stdout, a file being written).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Writes all of `data` or fails.
  virtual Status write(std::span<const std::uint8_t> data) = 0;
};

// Positional reads over a fixed-size blob (a stored object body, a sealed file).
class RandomAccessSource {
 public:
  virtual ~RandomAccessSource() = default;
  virtual std::uint64_t size() const = 0;
  // Reads up to out.size() bytes at `offset`; returns fewer only at the end of the blob.
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) = 0;
  // The bytes [offset, offset + n) in place, when the source is memory that stays valid and unchanged while the
  // caller uses them (fewer only at the end of the blob); nullopt for sources that must copy (files, sockets). Lets
  // a reader decrypt straight from memory instead of copying the ciphertext first.
  virtual std::optional<std::span<const std::uint8_t>> view(std::uint64_t /*offset*/, std::size_t /*n*/) {
    return std::nullopt;
  }
};

// Reads exactly out.size() bytes unless the stream ends first; returns how many were read.
Result<std::size_t> read_full(ByteSource& source, std::span<std::uint8_t> out);
Result<std::size_t> read_full_at(RandomAccessSource& source, std::uint64_t offset, std::span<std::uint8_t> out);

// In-memory implementations, for tests and for small blobs (sealed headers).
class SpanSource final : public ByteSource, public RandomAccessSource {
 public:
  explicit SpanSource(std::span<const std::uint8_t> data) : data_(data) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;
  std::uint64_t size() const override { return data_.size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override;
  std::optional<std::span<const std::uint8_t>> view(std::uint64_t offset, std::size_t n) override {
    if (offset >= data_.size()) return data_.subspan(data_.size());
    return data_.subspan(static_cast<std::size_t>(offset), std::min<std::uint64_t>(n, data_.size() - offset));
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

class StringSink final : public ByteSink {
 public:
  Status write(std::span<const std::uint8_t> data) override {
    out.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  std::string out;
};

}  // namespace blobseal
