// TTLV, the binary encoding of KMIP 1.x messages (OASIS KMIP Specification 1.2, section 9.1 "TTLV Encoding"):
// every item is Tag (3 bytes), Type (1 byte), Length (4 bytes, big-endian) and a Value padded with zeros to a
// multiple of 8 bytes. Structures hold a sequence of items whose encodings fill exactly their Length.
//
// Pure functions over spans: no I/O, no OpenSSL. The decoder never trusts a length field: every length is checked
// against the bytes that are actually there, against its type's fixed size, and against the limits below, before
// anything is read or allocated, and padding bytes must be zero (the specification requires it, and a lenient
// parser would accept two encodings of one message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"

namespace blobseal::keys::kmip {

// Item types (KMIP 1.2 section 9.1.1.2).
enum class TtlvType : std::uint8_t {
  kStructure = 0x01,
  kInteger = 0x02,      // signed 32-bit, Length 4
  kLongInteger = 0x03,  // signed 64-bit, Length 8
  kBigInteger = 0x04,   // two's complement, Length a multiple of 8
  kEnumeration = 0x05,  // unsigned 32-bit, Length 4
  kBoolean = 0x06,      // 64-bit 0 or 1, Length 8
  kTextString = 0x07,   // UTF-8, unpadded Length
  kByteString = 0x08,   // unpadded Length
  kDateTime = 0x09,     // signed 64-bit POSIX seconds, Length 8
  kInterval = 0x0A,     // unsigned 32-bit seconds, Length 4
};

std::string_view to_string(TtlvType type);

inline constexpr std::size_t kTtlvHeaderSize = 8;

// Bounds on what decode_ttlv accepts. A KMIP response for blobseal is a few hundred bytes; the defaults leave room
// for servers that add attributes, while keeping a hostile peer from making the client allocate or recurse much.
struct TtlvLimits {
  std::size_t max_total_size = 1 << 20;  // whole encoding, bytes
  std::size_t max_depth = 16;            // structure nesting (the outermost item is depth 1)
  std::size_t max_items = 4096;          // items in the whole tree
};

// One decoded or to-be-encoded item. Integers of every width (Integer, Long Integer, Enumeration, Boolean,
// Date-Time, Interval) share `integer`; text, byte and big integer values share `bytes`; a structure's items are in
// `items`, in order.
struct TtlvItem {
  std::uint32_t tag = 0;  // 24 bits: KMIP tags are 0x42XXXX
  TtlvType type = TtlvType::kStructure;
  std::int64_t integer = 0;
  Bytes bytes;
  std::vector<TtlvItem> items;

  static TtlvItem structure(std::uint32_t tag, std::vector<TtlvItem> items = {});
  static TtlvItem integer32(std::uint32_t tag, std::int32_t value);
  static TtlvItem long_integer(std::uint32_t tag, std::int64_t value);
  static TtlvItem enumeration(std::uint32_t tag, std::uint32_t value);
  static TtlvItem boolean(std::uint32_t tag, bool value);
  static TtlvItem text(std::uint32_t tag, std::string_view value);
  static TtlvItem byte_string(std::uint32_t tag, ByteSpan value);
  static TtlvItem date_time(std::uint32_t tag, std::int64_t unix_seconds);
  static TtlvItem interval(std::uint32_t tag, std::uint32_t seconds);

  // The first direct child with `tag`, or null.
  const TtlvItem* find(std::uint32_t tag) const;
  std::string_view text_value() const { return as_string_view(bytes); }

  // Overwrites every byte value in the tree with zeros (data keys travel in Encrypt requests and Decrypt
  // responses; callers wipe those messages when done).
  void wipe();
};

// The encoded size of `item`, or ResourceExhausted when it would not fit a 32-bit Length.
Result<std::size_t> ttlv_encoded_size(const TtlvItem& item);

// Encodes `item`. InvalidArgument for a tag outside 24 bits, an unknown type, an Enumeration or Interval outside
// 32 unsigned bits, an Integer outside 32 signed bits, a Boolean other than 0/1, or a Big Integer whose length is
// not a positive multiple of 8. The output is allocated once at its final size (no stray copies of secrets).
Result<Bytes> encode_ttlv(const TtlvItem& item);

// Decodes exactly one item that fills `input` completely. Every failure is InvalidArgument with a message naming
// the offset, the tag and what was wrong ("truncated", "Length 5 for an Integer (must be 4)", "non-zero padding",
// "trailing bytes"...); ResourceExhausted when a limit is exceeded.
Result<TtlvItem> decode_ttlv(ByteSpan input, const TtlvLimits& limits = {});

// For framing a stream: given the first kTtlvHeaderSize bytes of a message, the total size of the message (header
// included). InvalidArgument unless the header is that of a Structure; ResourceExhausted above
// `limits.max_total_size`.
Result<std::size_t> ttlv_message_size(ByteSpan header, const TtlvLimits& limits = {});

// A readable rendering for tests and diagnostics: tags in hex, values shown except byte strings, which show only
// their length (they may be keys).
std::string describe_ttlv(const TtlvItem& item);

}  // namespace blobseal::keys::kmip
