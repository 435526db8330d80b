// The TTLV codec against the encoding examples of the OASIS KMIP Specification 1.2 (section 9.1.2; the same bytes
// PyKMIP's own encoder produces), round trips, and every malformed length, type, padding and truncation refused
// with a precise error.
#include "keys/kmip/ttlv.h"

#include <gtest/gtest.h>

#include <string>

#include "core/bytes.h"

namespace blobseal::keys::kmip {
namespace {

constexpr std::uint32_t kTag = 0x420020;  // the tag the specification's examples use

Bytes hex(std::string_view text) {
  std::string compact;
  for (char c : text)
    if (c != ' ' && c != '|') compact.push_back(c);
  auto bytes = from_hex(compact);
  EXPECT_TRUE(bytes.has_value()) << text;
  return bytes.value_or(Bytes{});
}

struct SpecExample {
  const char* name;
  TtlvItem item;
  const char* encoding;
};

std::vector<SpecExample> spec_examples() {
  return {
      {"Integer 8", TtlvItem::integer32(kTag, 8), "420020 | 02 | 00000004 | 00000008 00000000"},
      {"Long Integer 123456789000000000", TtlvItem::long_integer(kTag, 123456789000000000),
       "420020 | 03 | 00000008 | 01B69B4BA5749200"},
      {"Enumeration 255", TtlvItem::enumeration(kTag, 255), "420020 | 05 | 00000004 | 000000FF 00000000"},
      {"Boolean True", TtlvItem::boolean(kTag, true), "420020 | 06 | 00000008 | 0000000000000001"},
      {"Text String Hello World", TtlvItem::text(kTag, "Hello World"),
       "420020 | 07 | 0000000B | 48656C6C6F20576F726C64 0000000000"},
      {"Byte String 01 02 03", TtlvItem::byte_string(kTag, Bytes{1, 2, 3}),
       "420020 | 08 | 00000003 | 010203 0000000000"},
      {"Date-Time 2008-03-14 11:56:40 GMT", TtlvItem::date_time(kTag, 0x47DA67F8),
       "420020 | 09 | 00000008 | 0000000047DA67F8"},
      {"Interval 10 days", TtlvItem::interval(kTag, 864000), "420020 | 0A | 00000004 | 000D2F00 00000000"},
      {"Structure of Enumeration 254 and Integer 255",
       TtlvItem::structure(kTag, {TtlvItem::enumeration(0x420004, 254), TtlvItem::integer32(0x420005, 255)}),
       "420020 | 01 | 00000020 | 420004 | 05 | 00000004 | 000000FE 00000000 | 420005 | 02 | 00000004 | 000000FF "
       "00000000"},
  };
}

bool same_item(const TtlvItem& a, const TtlvItem& b) {
  if (a.tag != b.tag || a.type != b.type || a.integer != b.integer || a.bytes != b.bytes ||
      a.items.size() != b.items.size())
    return false;
  for (std::size_t i = 0; i < a.items.size(); ++i)
    if (!same_item(a.items[i], b.items[i])) return false;
  return true;
}

// The error of decoding `input`, which must fail with `code`.
std::string refusal(ByteSpan input, ErrorCode code = ErrorCode::kInvalidArgument, const TtlvLimits& limits = {}) {
  auto decoded = decode_ttlv(input, limits);
  EXPECT_FALSE(decoded.has_value()) << "accepted " << to_hex(input);
  if (decoded) return {};
  EXPECT_EQ(decoded.error().code(), code) << decoded.error().to_string();
  return decoded.error().message();
}

#define EXPECT_MENTIONS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(KmipTtlv, EncodesTheSpecificationExamples) {
  for (const auto& example : spec_examples()) {
    auto encoded = encode_ttlv(example.item);
    ASSERT_TRUE(encoded.has_value()) << example.name;
    EXPECT_EQ(to_hex(*encoded), to_hex(hex(example.encoding))) << example.name;
    auto size = ttlv_encoded_size(example.item);
    ASSERT_TRUE(size.has_value());
    EXPECT_EQ(*size, encoded->size()) << example.name;
  }
}

TEST(KmipTtlv, DecodesTheSpecificationExamples) {
  for (const auto& example : spec_examples()) {
    auto decoded = decode_ttlv(hex(example.encoding));
    ASSERT_TRUE(decoded.has_value()) << example.name << ": " << decoded.error().to_string();
    EXPECT_TRUE(same_item(*decoded, example.item)) << example.name << "\n" << describe_ttlv(*decoded);
  }
}

TEST(KmipTtlv, NegativeAndExtremeValuesRoundTrip) {
  TtlvItem item = TtlvItem::structure(
      0x420078,
      {TtlvItem::integer32(0x420001, -1), TtlvItem::integer32(0x420002, INT32_MIN),
       TtlvItem::long_integer(0x420003, INT64_MIN), TtlvItem::long_integer(0x420004, -2),
       TtlvItem::enumeration(0x420005, 0xFFFFFFFFu), TtlvItem::boolean(0x420006, false),
       TtlvItem::date_time(0x420007, -86400), TtlvItem::interval(0x420008, 0xFFFFFFFFu),
       TtlvItem::text(0x420009, ""), TtlvItem::byte_string(0x42000A, Bytes(8, 0xAB)),
       TtlvItem::byte_string(0x42000B, Bytes(9, 0xCD)), TtlvItem::structure(0x42000C),
       TtlvItem::structure(0x42000D, {TtlvItem::structure(0x42000E, {TtlvItem::text(0x42000F, "deep")})})});
  TtlvItem big;
  big.tag = 0x420010;
  big.type = TtlvType::kBigInteger;
  big.bytes = Bytes(16, 0xFF);
  item.items.push_back(big);
  auto encoded = encode_ttlv(item);
  ASSERT_TRUE(encoded.has_value()) << encoded.error().to_string();
  EXPECT_EQ(encoded->size() % 8, 0u);
  auto decoded = decode_ttlv(*encoded);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
  EXPECT_TRUE(same_item(*decoded, item)) << describe_ttlv(*decoded);
  auto again = encode_ttlv(*decoded);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *encoded);
}

TEST(KmipTtlv, EveryTruncationOfAMessageIsRefused) {
  auto encoded = encode_ttlv(spec_examples().back().item);
  ASSERT_TRUE(encoded.has_value());
  for (std::size_t n = 0; n < encoded->size(); ++n) {
    std::string message = refusal(ByteSpan(encoded->data(), n));
    EXPECT_TRUE(message.find("truncated") != std::string::npos) << n << " bytes: " << message;
  }
}

TEST(KmipTtlv, EmptyAndShortHeadersAreTruncated) {
  EXPECT_MENTIONS(refusal({}), "truncated item header (0 of 8 bytes)");
  Bytes seven = hex("420020 02 000000");
  EXPECT_MENTIONS(refusal(seven), "truncated item header (7 of 8 bytes)");
}

TEST(KmipTtlv, UnknownTypesAreRefused) {
  EXPECT_MENTIONS(refusal(hex("420020 00 00000000")), "unknown item type 0x00");
  EXPECT_MENTIONS(refusal(hex("420020 0B 00000000")), "unknown item type 0x0B");
  EXPECT_MENTIONS(refusal(hex("420020 FF 00000000")), "unknown item type 0xFF");
}

TEST(KmipTtlv, FixedSizeTypesWithAnotherLengthAreRefused) {
  EXPECT_MENTIONS(refusal(hex("420020 02 00000005 0000000800000000")), "Length 5 for Integer (must be 4)");
  EXPECT_MENTIONS(refusal(hex("420020 02 00000008 0000000000000008")), "Length 8 for Integer (must be 4)");
  EXPECT_MENTIONS(refusal(hex("420020 03 00000004 0000000100000000")), "Length 4 for Long Integer (must be 8)");
  EXPECT_MENTIONS(refusal(hex("420020 05 00000008 00000000000000FF")), "Length 8 for Enumeration (must be 4)");
  EXPECT_MENTIONS(refusal(hex("420020 06 00000001 0100000000000000")), "Length 1 for Boolean (must be 8)");
  EXPECT_MENTIONS(refusal(hex("420020 09 00000000")), "Length 0 for Date-Time (must be 8)");
  EXPECT_MENTIONS(refusal(hex("420020 0A 00000008 000D2F0000000000")), "Length 8 for Interval (must be 4)");
}

TEST(KmipTtlv, BooleanOtherThanZeroOrOneIsRefused) {
  EXPECT_MENTIONS(refusal(hex("420020 06 00000008 0000000000000002")), "Boolean other than 0 or 1");
  EXPECT_MENTIONS(refusal(hex("420020 06 00000008 0100000000000000")), "Boolean other than 0 or 1");
}

TEST(KmipTtlv, BigIntegerLengthMustBeAPositiveMultipleOfEight) {
  EXPECT_MENTIONS(refusal(hex("420020 04 00000000")), "Length 0 for a Big Integer");
  EXPECT_MENTIONS(refusal(hex("420020 04 00000005 0102030405000000")), "Length 5 for a Big Integer");
  EXPECT_TRUE(decode_ttlv(hex("420020 04 00000008 0102030405060708")).has_value());
}

TEST(KmipTtlv, NonZeroPaddingIsRefused) {
  EXPECT_MENTIONS(refusal(hex("420020 02 00000004 00000008 00000001")), "non-zero padding");
  EXPECT_MENTIONS(refusal(hex("420020 07 0000000B 48656C6C6F20576F726C64 0000000001")), "non-zero padding");
  EXPECT_MENTIONS(refusal(hex("420020 08 00000003 010203 8000000000")), "non-zero padding");
  EXPECT_MENTIONS(refusal(hex("420020 05 00000004 000000FF FF000000")), "non-zero padding");
}

TEST(KmipTtlv, MissingPaddingIsTruncation) {
  // "Hello World" with its 11 bytes but without the 5 bytes that pad it to 16.
  EXPECT_MENTIONS(refusal(hex("420020 07 0000000B 48656C6C6F20576F726C64")),
                  "truncated: Length 11 needs 16 bytes, 11 left");
}

TEST(KmipTtlv, LengthsBeyondTheInputAreRefusedWithoutAllocating) {
  EXPECT_MENTIONS(refusal(hex("420020 08 FFFFFFFF 0000000000000000")),
                  "truncated: Length 4294967295 needs 4294967296 bytes, 8 left");
  EXPECT_MENTIONS(refusal(hex("420020 07 7FFFFFF9 4141414141414141")), "truncated");
  EXPECT_MENTIONS(refusal(hex("420020 01 FFFFFFF8")), "truncated: Length 4294967288 needs");
}

TEST(KmipTtlv, TrailingBytesAreRefused) {
  EXPECT_MENTIONS(refusal(hex("420020 02 00000004 00000008 00000000 00")), "1 trailing bytes after the message");
  EXPECT_MENTIONS(refusal(hex("420020 02 00000004 00000008 00000000 420020 02 00000004 00000008 00000000")),
                  "16 trailing bytes");
}

TEST(KmipTtlv, StructureLengthsMustMatchTheirItemsExactly) {
  // Length not a multiple of 8.
  EXPECT_MENTIONS(refusal(hex("420020 01 0000000C 420004 02 00000004 00000001 00000000")),
                  "Length 12 for a Structure (must be a multiple of 8)");
  // The child claims more than the structure holds (the structure says 8 bytes: only the child's header).
  EXPECT_MENTIONS(refusal(hex("420020 01 00000008 420004 02 00000004 00000001 00000000")),
                  "truncated: Length 4 needs 8 bytes, 0 left");
  // The structure holds a child and half of another.
  EXPECT_MENTIONS(refusal(hex("420020 01 00000018 420004 02 00000004 00000001 00000000 420005 02")),
                  "truncated: Length 24 needs 24 bytes, 20 left");
  // The structure says 16 bytes but the child is followed by 8 bytes outside it.
  EXPECT_MENTIONS(refusal(hex("420020 01 00000010 420004 02 00000004 00000001 00000000 0000000000000000")),
                  "8 trailing bytes");
}

TEST(KmipTtlv, ErrorsNameTheOffsetAndTag) {
  // The bad item is the second child, at byte 24, with tag 420005.
  std::string message =
      refusal(hex("420020 01 00000020 420004 02 00000004 00000001 00000000 420005 02 00000005 00000001 00000000"));
  EXPECT_MENTIONS(message, "at byte 24 (tag 420005)");
}

TEST(KmipTtlv, DepthIsBounded) {
  TtlvLimits limits;
  limits.max_depth = 4;
  TtlvItem item = TtlvItem::integer32(0x420001, 1);
  for (int i = 0; i < 3; ++i) item = TtlvItem::structure(0x420002, {item});
  auto ok = encode_ttlv(item);  // 3 structures + the integer: depth 4
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(decode_ttlv(*ok, limits).has_value());
  item = TtlvItem::structure(0x420002, {item});
  auto deep = encode_ttlv(item);
  ASSERT_TRUE(deep.has_value());
  EXPECT_MENTIONS(refusal(*deep, ErrorCode::kResourceExhausted, limits), "nested deeper than 4");

  // The default limit holds against a long chain of structure headers (no recursion blow-up).
  Bytes chain;
  for (int i = 0; i < 1000; ++i) {
    put_bytes(chain, hex("420002 01"));
    put_u32(chain, static_cast<std::uint32_t>((999 - i) * 8));
  }
  EXPECT_MENTIONS(refusal(chain, ErrorCode::kResourceExhausted), "nested deeper than 16");
}

TEST(KmipTtlv, ItemCountAndTotalSizeAreBounded) {
  TtlvLimits limits;
  limits.max_items = 10;
  TtlvItem many = TtlvItem::structure(0x420001);
  for (int i = 0; i < 10; ++i) many.items.push_back(TtlvItem::integer32(0x420002, i));
  auto encoded = encode_ttlv(many);
  ASSERT_TRUE(encoded.has_value());
  EXPECT_MENTIONS(refusal(*encoded, ErrorCode::kResourceExhausted, limits), "more than 10 items");

  limits = {};
  limits.max_total_size = 64;
  auto large = encode_ttlv(TtlvItem::byte_string(0x420001, Bytes(64, 1)));
  ASSERT_TRUE(large.has_value());
  EXPECT_MENTIONS(refusal(*large, ErrorCode::kResourceExhausted, limits), "exceeds the limit of 64 bytes");
}

TEST(KmipTtlv, MessageSizeFromAHeader) {
  auto size = ttlv_message_size(hex("42007B 01 00000010"));
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(*size, 24u);
  auto not_structure = ttlv_message_size(hex("42007B 02 00000004"));
  ASSERT_FALSE(not_structure.has_value());
  EXPECT_MENTIONS(not_structure.error().message(), "a message must be a Structure");
  auto odd = ttlv_message_size(hex("42007B 01 00000011"));
  ASSERT_FALSE(odd.has_value());
  EXPECT_MENTIONS(odd.error().message(), "Length 17 for a Structure");
  auto huge = ttlv_message_size(hex("42007B 01 FFFFFFF8"));
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code(), ErrorCode::kResourceExhausted);
  auto short_header = ttlv_message_size(hex("42007B 01 0000"));
  ASSERT_FALSE(short_header.has_value());
  EXPECT_MENTIONS(short_header.error().message(), "truncated item header (6 of 8 bytes)");
}

TEST(KmipTtlv, EncoderRefusesValuesItsTypeCannotHold) {
  auto refused = [](TtlvItem item, std::string_view part) {
    auto encoded = encode_ttlv(item);
    ASSERT_FALSE(encoded.has_value()) << describe_ttlv(item);
    EXPECT_EQ(encoded.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_MENTIONS(encoded.error().message(), part);
  };
  refused(TtlvItem::integer32(0x1000000, 1), "does not fit 24 bits");
  TtlvItem item = TtlvItem::integer32(kTag, 0);
  item.integer = INT64_C(1) << 40;
  refused(item, "Integer outside 32 signed bits");
  item = TtlvItem::enumeration(kTag, 0);
  item.integer = -1;
  refused(item, "outside 32 unsigned bits");
  item = TtlvItem::boolean(kTag, true);
  item.integer = 2;
  refused(item, "Boolean other than 0 or 1");
  item.type = static_cast<TtlvType>(0x0C);
  refused(item, "unknown type");
  item = TtlvItem::byte_string(kTag, Bytes(3, 0));
  item.type = TtlvType::kBigInteger;
  refused(item, "Big Integer length");
  // A bad item deep inside a structure fails the whole encoding.
  refused(TtlvItem::structure(kTag, {TtlvItem::structure(kTag, {TtlvItem::integer32(0x2000000, 1)})}),
          "does not fit 24 bits");
}

TEST(KmipTtlv, WipeZeroesEveryByteValue) {
  TtlvItem item = TtlvItem::structure(
      kTag, {TtlvItem::byte_string(0x4200C2, Bytes(32, 0x5A)),
             TtlvItem::structure(kTag, {TtlvItem::text(0x420055, "secret-ish")})});
  item.wipe();
  for (auto b : item.items[0].bytes) EXPECT_EQ(b, 0);
  for (auto b : item.items[1].items[0].bytes) EXPECT_EQ(b, 0);
}

TEST(KmipTtlv, DescribeNeverShowsByteStrings) {
  TtlvItem item = TtlvItem::structure(kTag, {TtlvItem::byte_string(0x4200C2, Bytes{0xDE, 0xAD, 0xBE, 0xEF}),
                                             TtlvItem::text(0x420055, "name")});
  std::string text = describe_ttlv(item);
  EXPECT_EQ(text.find("DEAD"), std::string::npos) << text;
  EXPECT_EQ(text.find("dead"), std::string::npos) << text;
  EXPECT_MENTIONS(text, "(4 bytes)");
  EXPECT_MENTIONS(text, "\"name\"");
}

}  // namespace
}  // namespace blobseal::keys::kmip
