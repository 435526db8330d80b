#include "crash_objects.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "test_sources.h"

namespace blobseal::store::testing {

namespace {

constexpr char kMagic[8] = {'B', 'S', 'C', 'R', 'A', 'S', 'H', '1'};
constexpr std::uint64_t kFramedMinimum = 36;  // 28-byte prefix + 8-byte checksum
constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

std::uint64_t pattern_seed(const CrashVersion& v) { return v.version * 64 + static_cast<std::uint64_t>(v.key_index); }

}  // namespace

std::string crash_key(int index) { return fmt::format("k{}", index); }

std::optional<int> crash_key_index(std::string_view key) {
  for (int i = 0; i < kCrashKeyCount; ++i)
    if (key == crash_key(i)) return i;
  return std::nullopt;
}

Bytes encode_crash_header(const CrashVersion& v) {
  std::string text = fmt::format("crash-v1 {} {} {} {}", v.key_index, v.version, v.size, v.rewraps);
  return Bytes(text.begin(), text.end());
}

std::optional<CrashVersion> parse_crash_header(ByteSpan header) {
  std::string text(as_string_view(header));
  CrashVersion v;
  unsigned long long version = 0, size = 0;
  unsigned rewraps = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "crash-v1 %d %llu %llu %u%n", &v.key_index, &version, &size, &rewraps, &consumed) != 4 ||
      static_cast<std::size_t>(consumed) != text.size())
    return std::nullopt;
  v.version = version;
  v.size = size;
  v.rewraps = rewraps;
  return v;
}

std::uint64_t choose_crash_body_size(std::mt19937_64& rng) {
  std::uint64_t r = rng() % 100;
  if (r < 5) return 0;
  if (r < 10) return 1 + rng() % (kFramedMinimum - 1);
  if (r < 80) return rng() % (64 << 10);
  if (r < 95) return rng() % (1 << 20);
  return rng() % (kMaxCrashBodySize + 1);
}

CrashBodySource::CrashBodySource(const CrashVersion& version) : version_(version), checksum_(kFnvOffset) {
  std::memcpy(prefix_, kMagic, 8);
  Bytes fields;
  put_u32(fields, static_cast<std::uint32_t>(version.key_index));
  put_u64(fields, version.version);
  put_u64(fields, version.size);
  std::memcpy(prefix_ + 8, fields.data(), 20);
}

std::uint8_t CrashBodySource::byte_at(std::uint64_t position) {
  const std::uint64_t size = version_.size;
  if (size < kFramedMinimum) return pattern_byte(pattern_seed(version_), position);
  std::uint8_t b;
  if (position < 28) b = prefix_[position];
  else if (position < size - 8) b = pattern_byte(pattern_seed(version_), position);
  else return static_cast<std::uint8_t>(checksum_ >> (8 * (7 - (position - (size - 8)))));
  checksum_ = (checksum_ ^ b) * kFnvPrime;
  return b;
}

Result<std::size_t> CrashBodySource::read(std::span<std::uint8_t> out) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), version_.size - position_));
  for (std::size_t i = 0; i < n; ++i) out[i] = byte_at(position_++);
  return n;
}

Status verify_crash_body(const CrashVersion& v, RandomAccessSource& body) {
  auto fail = [&](std::string what) {
    return make_error(ErrorCode::kDataLoss, fmt::format("{} v{}: {}", crash_key(v.key_index), v.version, what));
  };
  if (body.size() != v.size) return fail(fmt::format("body is {} bytes, header says {}", body.size(), v.size));
  constexpr std::size_t kChunk = 1 << 20;
  auto actual = std::make_unique<std::uint8_t[]>(kChunk);
  if (v.size >= kFramedMinimum) {
    // The body's own description and checksum, before comparing with what the header says it should be.
    std::uint8_t prefix[28];
    if (BLOBSEAL_TRY(read_full_at(body, 0, prefix)) != 28) return fail("short read");
    if (std::memcmp(prefix, kMagic, 8) != 0) return fail("no magic");
    if (load_u32(prefix + 8) != static_cast<std::uint32_t>(v.key_index) || load_u64(prefix + 12) != v.version ||
        load_u64(prefix + 20) != v.size)
      return fail(fmt::format("body describes key {} version {} size {}", load_u32(prefix + 8), load_u64(prefix + 12),
                              load_u64(prefix + 20)));
    std::uint64_t checksum = kFnvOffset;
    for (std::uint64_t at = 0; at < v.size - 8; at += kChunk) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, v.size - 8 - at));
      if (BLOBSEAL_TRY(read_full_at(body, at, std::span(actual.get(), n))) != n) return fail("short read");
      for (std::size_t i = 0; i < n; ++i) checksum = (checksum ^ actual[i]) * kFnvPrime;
    }
    std::uint8_t stored[8];
    if (BLOBSEAL_TRY(read_full_at(body, v.size - 8, stored)) != 8) return fail("short read");
    if (load_u64(stored) != checksum) return fail("checksum mismatch");
  }
  CrashBodySource expected(v);
  auto wanted = std::make_unique<std::uint8_t[]>(kChunk);
  for (std::uint64_t at = 0; at < v.size; at += kChunk) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, v.size - at));
    if (BLOBSEAL_TRY(read_full_at(body, at, std::span(actual.get(), n))) != n) return fail("short read");
    if (BLOBSEAL_TRY(read_full(expected, std::span(wanted.get(), n))) != n) return fail("generator ended early");
    if (std::memcmp(actual.get(), wanted.get(), n) != 0) return fail(fmt::format("content differs in [{}, {})", at, at + n));
  }
  return {};
}

}  // namespace blobseal::store::testing
