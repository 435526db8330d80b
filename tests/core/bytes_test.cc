// Hex, base64 (RFC 4648 vectors and the strictness the keyring's BLOB_KEY relies on), big-endian integers and the
// bounds-checked ByteReader that every parser of untrusted bytes uses.
#include <random>

#include <gtest/gtest.h>

#include "core/bytes.h"

namespace blobseal {
namespace {

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(Hex, EncodesEveryByteValueInLowerCaseAndDecodesItBack) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  std::string hex = to_hex(all);
  ASSERT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 8), "fcfdfeff");
  EXPECT_EQ(hex.find_first_of("ABCDEF"), std::string::npos);
  auto back = from_hex(hex);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
}

TEST(Hex, AcceptsUpperAndMixedCase) {
  EXPECT_EQ(from_hex("DEADbeef"), (Bytes{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(from_hex("0aF0"), (Bytes{0x0a, 0xf0}));
}

TEST(Hex, EmptyIsEmpty) {
  EXPECT_EQ(to_hex({}), "");
  auto empty = from_hex("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Hex, RejectsOddLengthAndNonHexCharacters) {
  for (std::string_view bad : std::initializer_list<std::string_view>{"0", "abc", "0g", "g0", "zz", " 00", "00 ", "0x00", "-1", "1\n", std::string_view("\0\0", 2)})
    EXPECT_FALSE(from_hex(bad)) << "\"" << bad << "\"";
}

TEST(Base64, MatchesTheRfc4648TestVectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(to_base64(as_bytes(plain)), encoded);
    auto decoded = from_base64(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, bytes_of(plain));
  }
}

TEST(Base64, UsesTheStandardAlphabetWithPlusAndSlash) {
  EXPECT_EQ(to_base64(Bytes{0xfb, 0xff}), "+/8=");
  EXPECT_EQ(to_base64(Bytes{0xff, 0xff, 0xff}), "////");
  EXPECT_EQ(to_base64(Bytes{0x00, 0x00, 0x00}), "AAAA");
  EXPECT_EQ(from_base64("+/8="), (Bytes{0xfb, 0xff}));
  // The URL-safe alphabet is a different encoding.
  EXPECT_FALSE(from_base64("-_8="));
}

TEST(Base64, RoundTripsRandomBytesOfEveryLengthUpTo100) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n <= 100; ++n) {
    Bytes data(n);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    std::string text = to_base64(data);
    EXPECT_EQ(text.size(), (n + 2) / 3 * 4);
    auto back = from_base64(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, data);
  }
}

TEST(Base64, IgnoresSurroundingWhitespaceOnly) {
  EXPECT_EQ(from_base64("  Zm9v\n"), bytes_of("foo"));
  EXPECT_EQ(from_base64("\r\n\tZm9vYg==\r\n"), bytes_of("foob"));
  EXPECT_FALSE(from_base64("Zm 9v"));
  EXPECT_FALSE(from_base64("Zm9v\nYmFy"));
}

TEST(Base64, RejectsBadPaddingLengthAndCharacters) {
  for (std::string_view bad : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm9v=", "Zg=a", "Zm9v!A==", "Zm9v\x80\x80==",
                               "Zm=v", "Zm9vY===", "A"})
    EXPECT_FALSE(from_base64(bad)) << "\"" << bad << "\"";
}

TEST(BigEndian, PutWritesMostSignificantByteFirst) {
  Bytes out;
  put_u8(out, 0x01);
  put_u16(out, 0x0203);
  put_u32(out, 0x04050607);
  put_u64(out, 0x08090a0b0c0d0e0fULL);
  put_bytes(out, Bytes{0xaa, 0xbb});
  put_bytes(out, {});
  EXPECT_EQ(out, (Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xaa, 0xbb}));
}

TEST(BigEndian, LoadAndStoreAreInverseAtTheExtremes) {
  for (std::uint64_t v : {0ULL, 1ULL, 0x80ULL, 0xffULL, 0x0102030405060708ULL, 0x8000000000000000ULL, ~0ULL}) {
    std::uint8_t buf[8];
    store_u64(buf, v);
    EXPECT_EQ(load_u64(buf), v);
    Bytes via_put;
    put_u64(via_put, v);
    EXPECT_EQ(Bytes(buf, buf + 8), via_put);
    std::uint32_t v32 = static_cast<std::uint32_t>(v >> 13);
    store_u32(buf, v32);
    EXPECT_EQ(load_u32(buf), v32);
    std::uint16_t v16 = static_cast<std::uint16_t>(v >> 7);
    Bytes b16;
    put_u16(b16, v16);
    EXPECT_EQ(load_u16(b16.data()), v16);
  }
  const std::uint8_t be[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33};
  EXPECT_EQ(load_u16(be), 0xdeadu);
  EXPECT_EQ(load_u32(be), 0xdeadbeefu);
  EXPECT_EQ(load_u64(be), 0xdeadbeef00112233ULL);
}

TEST(ByteReader, ReadsFieldsInOrder) {
  Bytes data;
  put_u8(data, 7);
  put_u16(data, 0x1234);
  put_u32(data, 0xcafebabe);
  put_u64(data, 42);
  put_bytes(data, as_bytes("tail"));
  ByteReader r(data);
  EXPECT_EQ(r.u8(), 7);
  EXPECT_EQ(r.u16(), 0x1234);
  EXPECT_EQ(r.u32(), 0xcafebabeu);
  EXPECT_EQ(r.u64(), 42u);
  EXPECT_EQ(r.position(), 15u);
  EXPECT_EQ(r.remaining(), 4u);
  auto tail = r.bytes(4);
  ASSERT_TRUE(tail);
  EXPECT_EQ(as_string_view(*tail), "tail");
  EXPECT_EQ(tail->data(), data.data() + 15) << "bytes() is a view into the input, not a copy";
  EXPECT_EQ(r.remaining(), 0u);
  auto none = r.bytes(0);
  ASSERT_TRUE(none) << "reading zero bytes at the end is fine";
  EXPECT_TRUE(r.ok());
}

TEST(ByteReader, NeverReadsPastTheEndAndStaysFailed) {
  const Bytes data{1, 2, 3};
  ByteReader r(data);
  EXPECT_FALSE(r.u32());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  // Even a read that would fit now fails: the parser checks ok() once at the end.
  EXPECT_FALSE(r.u8());
  EXPECT_FALSE(r.bytes(0));

  ByteReader huge(data);
  EXPECT_FALSE(huge.bytes(SIZE_MAX)) << "no overflow in the bounds check";
  EXPECT_FALSE(huge.ok());

  ByteReader exact(data);
  EXPECT_TRUE(exact.u16());
  EXPECT_FALSE(exact.u16());
  EXPECT_FALSE(exact.ok());

  ByteReader empty(ByteSpan{});
  EXPECT_FALSE(empty.u8());
  EXPECT_FALSE(empty.u64());
}

TEST(StringViews, AsBytesAndBackShareTheSameMemory) {
  std::string s = "blobseal";
  ByteSpan b = as_bytes(s);
  EXPECT_EQ(b.size(), s.size());
  EXPECT_EQ(static_cast<const void*>(b.data()), static_cast<const void*>(s.data()));
  EXPECT_EQ(as_string_view(b), "blobseal");
}

}  // namespace
}  // namespace blobseal
