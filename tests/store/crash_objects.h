// The objects of the crash test: what store_crash_writer writes and crash_test.cc checks after each SIGKILL.
//
// Object kN holds version V of size S: the header is "crash-v1 N V S R" (R counts header replacements) and the
// body is self-describing, so a body can be checked alone and against its header:
//   S >= 36: "BSCRASH1" | u32 N | u64 V | u64 S | pattern bytes of (N, V) | u64 FNV-1a of all preceding bytes
//   S <  36: the first S pattern bytes of (N, V)
// A torn write, a body paired with another version's header, or a truncated file all fail verify_crash_body.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"

namespace blobseal::store::testing {

inline constexpr int kCrashKeyCount = 20;
inline constexpr std::uint64_t kMaxCrashBodySize = 3 << 20;

std::string crash_key(int index);
// The index of a key named by crash_key, or nullopt.
std::optional<int> crash_key_index(std::string_view key);

struct CrashVersion {
  int key_index = 0;
  std::uint64_t version = 0;
  std::uint64_t size = 0;
  std::uint32_t rewraps = 0;

  bool operator==(const CrashVersion&) const = default;
};

Bytes encode_crash_header(const CrashVersion& version);
std::optional<CrashVersion> parse_crash_header(ByteSpan header);

// Mostly small bodies, some empty or tiny, some up to 3 MiB.
std::uint64_t choose_crash_body_size(std::mt19937_64& rng);

// Generates the body of a version as it is read.
class CrashBodySource final : public ByteSource {
 public:
  explicit CrashBodySource(const CrashVersion& version);
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  std::uint8_t byte_at(std::uint64_t position);
  CrashVersion version_;
  std::uint64_t position_ = 0;
  std::uint64_t checksum_;
  std::uint8_t prefix_[28];
};

// DataLoss, with a description, unless `body` is exactly the body of `version`; the body's own fields and
// checksum are checked first, then every byte.
Status verify_crash_body(const CrashVersion& version, RandomAccessSource& body);

}  // namespace blobseal::store::testing
