// HTTP byte ranges without the unit (RFC 9110 §14.1.2): the syntax, and how a range resolves against a size,
// including the examples of RFC 9110 §14.1.2 for a 10,000-byte representation.
#include <gtest/gtest.h>

#include "core/byte_range.h"

namespace blobseal {
namespace {

ResolvedRange must_resolve(std::string_view spec, std::uint64_t size) {
  auto range = parse_byte_range(spec);
  EXPECT_TRUE(range) << spec << ": " << range.error().to_string();
  if (!range) return {};
  auto resolved = resolve(*range, size);
  EXPECT_TRUE(resolved) << spec << " of " << size << ": " << resolved.error().to_string();
  return resolved ? *resolved : ResolvedRange{~0ULL, ~0ULL};
}

ErrorCode resolve_error(std::string_view spec, std::uint64_t size) {
  auto range = parse_byte_range(spec);
  EXPECT_TRUE(range) << spec;
  auto resolved = resolve(*range, size);
  EXPECT_FALSE(resolved) << spec << " of " << size << " resolved to " << resolved->offset << "+" << resolved->length;
  return resolved ? ErrorCode::kInternal : resolved.error().code();
}

#define EXPECT_RANGE(spec, size, off, len)         \
  do {                                              \
    auto r_ = must_resolve(spec, size);             \
    EXPECT_EQ(r_.offset, off) << (spec);            \
    EXPECT_EQ(r_.length, len) << (spec);            \
  } while (0)

TEST(ByteRange, ParsesTheThreeForms) {
  auto closed = parse_byte_range("0-499");
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->first, 0u);
  EXPECT_EQ(closed->last, 499u);

  auto open = parse_byte_range("9500-");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->first, 9500u);
  EXPECT_FALSE(open->last);

  auto suffix = parse_byte_range("-500");
  ASSERT_TRUE(suffix);
  EXPECT_FALSE(suffix->first);
  EXPECT_FALSE(suffix->last);
  EXPECT_EQ(suffix->suffix, 500u);
}

TEST(ByteRange, Rfc9110ExamplesOnA10000ByteRepresentation) {
  EXPECT_RANGE("0-499", 10000, 0u, 500u);       // the first 500 bytes
  EXPECT_RANGE("500-999", 10000, 500u, 500u);   // the second 500 bytes
  EXPECT_RANGE("-500", 10000, 9500u, 500u);     // the final 500 bytes
  EXPECT_RANGE("9500-", 10000, 9500u, 500u);    // the final 500 bytes
  EXPECT_RANGE("0-0", 10000, 0u, 1u);           // the first byte
  EXPECT_RANGE("-1", 10000, 9999u, 1u);         // the last byte
  EXPECT_RANGE("9999-9999", 10000, 9999u, 1u);  // the last byte
}

TEST(ByteRange, ClampsALastPositionOrSuffixPastTheEnd) {
  EXPECT_RANGE("0-99999999", 10000, 0u, 10000u);
  EXPECT_RANGE("9990-20000", 10000, 9990u, 10u);
  EXPECT_RANGE("-20000", 10000, 0u, 10000u);
  EXPECT_RANGE("0-", 1, 0u, 1u);
  EXPECT_RANGE("-1", 1, 0u, 1u);
  EXPECT_RANGE("0-9999999999999999999", 5, 0u, 5u);
}

TEST(ByteRange, UnsatisfiableRangesAreOutOfRange) {
  EXPECT_EQ(resolve_error("10000-", 10000), ErrorCode::kOutOfRange);
  EXPECT_EQ(resolve_error("10000-10005", 10000), ErrorCode::kOutOfRange);
  EXPECT_EQ(resolve_error("-0", 10000), ErrorCode::kOutOfRange);
  // Nothing is satisfiable on an empty representation, a suffix included.
  EXPECT_EQ(resolve_error("0-", 0), ErrorCode::kOutOfRange);
  EXPECT_EQ(resolve_error("0-0", 0), ErrorCode::kOutOfRange);
  EXPECT_EQ(resolve_error("-5", 0), ErrorCode::kOutOfRange);
}

TEST(ByteRange, MalformedSpecsAreInvalidArguments) {
  for (std::string_view bad : {"", "-", "--5", "5", "5-4", "1-2-3", "a-b", "1-b", "a-1", " 1-2", "1-2 ", "1 -2", "+1-2",
                               "1-+2", "-+5", "--", "0x10-", "1.5-2", "12345678901234567890-", "-12345678901234567890",
                               "bytes=0-1"}) {
    auto range = parse_byte_range(bad);
    ASSERT_FALSE(range) << "\"" << bad << "\" parsed";
    EXPECT_EQ(range.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(ByteRange, AcceptsTheLargest19DigitPositions) {
  auto r = parse_byte_range("9223372036854775807-9999999999999999999");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 9223372036854775807ULL);
  EXPECT_EQ(r->last, 9999999999999999999ULL);
  EXPECT_RANGE("-9999999999999999999", 7, 0u, 7u);
}

}  // namespace
}  // namespace blobseal
