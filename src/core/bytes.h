// Byte strings and the fixed-width big-endian encodings the sealed format uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace blobseal {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;
using MutableByteSpan = std::span<std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
inline std::string_view as_string_view(ByteSpan b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string to_hex(ByteSpan bytes);
// Lower- or upper-case hex; nullopt on odd length or a non-hex character.
std::optional<Bytes> from_hex(std::string_view hex);

std::string to_base64(ByteSpan bytes);
// Standard alphabet with padding; surrounding whitespace is ignored; nullopt on anything else.
std::optional<Bytes> from_base64(std::string_view text);

// Appends big-endian integers to a byte vector.
void put_u8(Bytes& out, std::uint8_t v);
void put_u16(Bytes& out, std::uint16_t v);
void put_u32(Bytes& out, std::uint32_t v);
void put_u64(Bytes& out, std::uint64_t v);
void put_bytes(Bytes& out, ByteSpan v);

std::uint16_t load_u16(const std::uint8_t* p);
std::uint32_t load_u32(const std::uint8_t* p);
std::uint64_t load_u64(const std::uint8_t* p);
void store_u32(std::uint8_t* p, std::uint32_t v);
void store_u64(std::uint8_t* p, std::uint64_t v);

// Reads big-endian fields from untrusted bytes. Every getter fails (returns false / nullopt) instead of reading
// past the end, and the reader stays failed; parsers check ok() once at the end.
class ByteReader {
 public:
  explicit ByteReader(ByteSpan data) : data_(data) {}

  std::optional<std::uint8_t> u8();
  std::optional<std::uint16_t> u16();
  std::optional<std::uint32_t> u32();
  std::optional<std::uint64_t> u64();
  // The next n bytes, as a view into the input.
  std::optional<ByteSpan> bytes(std::size_t n);

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  bool ok() const { return !failed_; }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace blobseal
