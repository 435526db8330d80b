// Shared by the fuzz targets and tools/make_seed_corpus.cc: the fixed keys the targets decrypt with (so a seed
// sealed by the generator gets past the key commitment and the tags), a reader that splits a fuzzer input into
// parameters, and a check that aborts (libFuzzer records the input as a crash) when a property fails.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/secret_bytes.h"

namespace blobseal::fuzz {

// The data key every sealed input is sealed under: 0x00 0x01 ... 0x1f.
inline SecretBytes fixed_dek() {
  std::array<std::uint8_t, 32> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  return SecretBytes(key);
}

// The object id of the body-only streams (the context is stream_context(kFixedObjectId, 0)).
inline constexpr std::array<std::uint8_t, 16> kFixedObjectId = {'f', 'u', 'z', 'z', '-', 'o', 'b', 'j',
                                                                 'e', 'c', 't', '-', 'i', 'd', '-', '1'};

// Consumes parameters from the front of a fuzzer input; past the end every getter returns 0, so any input is a
// complete parameter set.
class InputReader {
 public:
  explicit InputReader(ByteSpan data) : data_(data) {}
  std::uint8_t u8() { return pos_ < data_.size() ? data_[pos_++] : 0; }
  // Big-endian; each byte read in its own statement (operand evaluation order is unspecified).
  std::uint16_t u16() {
    std::uint16_t high = u8();
    return static_cast<std::uint16_t>(high << 8 | u8());
  }
  std::uint32_t u32() {
    std::uint32_t high = u16();
    return high << 16 | u16();
  }
  std::uint64_t u64() {
    std::uint64_t high = u32();
    return high << 32 | u32();
  }
  ByteSpan bytes(std::size_t n) {
    n = std::min(n, data_.size() - pos_);
    ByteSpan out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  ByteSpan rest() { return bytes(data_.size() - pos_); }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
};

// A small deterministic generator for split points and ranges (xorshift64*).
class SplitMix {
 public:
  explicit SplitMix(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform-ish in [0, bound]; 0 when bound is 0.
  std::uint64_t upto(std::uint64_t bound) { return bound == 0 ? 0 : next() % (bound + 1); }

 private:
  std::uint64_t state_;
};

// A sink that fails after `limit` bytes when asked to (to exercise the error paths of a sink that gives up).
class CollectingSink final : public ByteSink {
 public:
  explicit CollectingSink(std::uint64_t fail_after = UINT64_MAX) : fail_after_(fail_after) {}
  Status write(std::span<const std::uint8_t> data) override {
    if (out.size() + data.size() > fail_after_) return make_error(ErrorCode::kCancelled, "sink closed");
    out.insert(out.end(), data.data(), data.data() + data.size());  // pointers: one memmove, not a byte loop
    return {};
  }
  Bytes out;

 private:
  std::uint64_t fail_after_;
};

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: property failed: %s %s\n", file, line, condition, detail.c_str());
  std::abort();
}

// True when `a` is a prefix of `b` or `b` of `a`.
inline bool prefix_compatible(ByteSpan a, ByteSpan b) {
  std::size_t n = std::min(a.size(), b.size());
  return std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin());
}

}  // namespace blobseal::fuzz

#define FUZZ_CHECK(condition, detail)                                                      \
  do {                                                                                     \
    if (!(condition)) ::blobseal::fuzz::check_failed(#condition, __FILE__, __LINE__, (detail)); \
  } while (0)
