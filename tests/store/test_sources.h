// Byte sources and small helpers shared by the store tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"
#include "store/object_store.h"

namespace blobseal::store::testing {

// Deterministic pseudo-random bytes (splitmix64 over the position), so a large body can be produced and checked
// without holding it: byte i of stream `seed` is pattern_byte(seed, i).
std::uint8_t pattern_byte(std::uint64_t seed, std::uint64_t position);
std::string pattern_string(std::uint64_t seed, std::size_t size);

// Serves a string, optionally failing with Unavailable once `fail_after` bytes have been read, and at most
// `max_read` bytes per call (short reads, as a socket gives).
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string data, std::size_t fail_after = SIZE_MAX, std::size_t max_read = SIZE_MAX)
      : data_(std::move(data)), fail_after_(fail_after), max_read_(max_read) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;
  bool at_end() const { return position_ == data_.size(); }

 private:
  std::string data_;
  std::size_t fail_after_;
  std::size_t max_read_;
  std::size_t position_ = 0;
};

// `size` bytes of pattern `seed`, generated as they are read.
class PatternSource final : public ByteSource {
 public:
  PatternSource(std::uint64_t seed, std::uint64_t size) : seed_(seed), size_(size) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  std::uint64_t seed_;
  std::uint64_t size_;
  std::uint64_t position_ = 0;
};

inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// The whole body of an open object, read through read_at.
std::string read_body(StoredObject& object);

// A directory under the system's temporary directory, removed with everything in it when destroyed.
class TemporaryDirectory {
 public:
  explicit TemporaryDirectory(std::string_view label);
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace blobseal::store::testing
