#include "test_sources.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace blobseal::store::testing {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::uint8_t pattern_byte(std::uint64_t seed, std::uint64_t position) {
  std::uint64_t word = splitmix64(seed * 0x100000001B3ull ^ (position / 8));
  return static_cast<std::uint8_t>(word >> (8 * (position % 8)));
}

std::string pattern_string(std::uint64_t seed, std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>(pattern_byte(seed, i));
  return out;
}

Result<std::size_t> StringSource::read(std::span<std::uint8_t> out) {
  if (position_ >= fail_after_) return make_error(ErrorCode::kUnavailable, "the client went away");
  std::size_t n = std::min({out.size(), data_.size() - position_, fail_after_ - position_, max_read_});
  if (n > 0) std::memcpy(out.data(), data_.data() + position_, n);
  position_ += n;
  return n;
}

Result<std::size_t> PatternSource::read(std::span<std::uint8_t> out) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - position_));
  for (std::size_t i = 0; i < n; ++i) out[i] = pattern_byte(seed_, position_ + i);
  position_ += n;
  return n;
}

std::string read_body(StoredObject& object) {
  std::string out(object.body().size(), '\0');
  auto n = read_full_at(object.body(), 0, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
  if (!n) return "<read failed: " + n.error().to_string() + ">";
  out.resize(*n);
  return out;
}

TemporaryDirectory::TemporaryDirectory(std::string_view label) {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("blobseal-" + std::string(label) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace blobseal::store::testing
