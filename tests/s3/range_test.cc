#include "s3/range.h"

#include <cstdint>
#include <optional>
#include <utility>

#include <gtest/gtest.h>

namespace blobseal::s3 {
namespace {

using Span = std::pair<std::uint64_t, std::uint64_t>;

// The resolved {offset, length}; fails the test when the header was unsatisfiable or ignored.
Span range(std::string_view header, std::uint64_t size) {
  auto r = resolve_range_header(header, size);
  EXPECT_TRUE(r.has_value()) << header << ": " << (r ? "" : r.error().to_string());
  if (!r) return {~0ull, ~0ull};
  EXPECT_TRUE(r->has_value()) << header << " was ignored";
  return r->value_or(Span{~0ull, ~0ull});
}

bool ignored(std::string_view header, std::uint64_t size) {
  auto r = resolve_range_header(header, size);
  return r.has_value() && !r->has_value();
}

bool unsatisfiable(std::string_view header, std::uint64_t size) {
  auto r = resolve_range_header(header, size);
  if (r) return false;
  EXPECT_EQ(r.error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(r.error().reason(), "InvalidRange");
  return true;
}

TEST(RangeHeader, FirstLast) {
  EXPECT_EQ(range("bytes=0-0", 10), (Span{0, 1}));
  EXPECT_EQ(range("bytes=0-9", 10), (Span{0, 10}));
  EXPECT_EQ(range("bytes=2-5", 10), (Span{2, 4}));
  EXPECT_EQ(range("bytes=9-9", 10), (Span{9, 1}));
}

TEST(RangeHeader, LastBeyondTheEndClamps) {
  EXPECT_EQ(range("bytes=5-10", 10), (Span{5, 5}));
  EXPECT_EQ(range("bytes=0-1000000", 10), (Span{0, 10}));
  EXPECT_EQ(range("bytes=3-18446744073709551615", 10), (Span{3, 7}));
  // Positions longer than 64 bits saturate rather than make the header invalid.
  EXPECT_EQ(range("bytes=3-999999999999999999999999999999", 10), (Span{3, 7}));
}

TEST(RangeHeader, OpenEnded) {
  EXPECT_EQ(range("bytes=0-", 10), (Span{0, 10}));
  EXPECT_EQ(range("bytes=7-", 10), (Span{7, 3}));
  EXPECT_EQ(range("bytes=9-", 10), (Span{9, 1}));
}

TEST(RangeHeader, Suffix) {
  EXPECT_EQ(range("bytes=-1", 10), (Span{9, 1}));
  EXPECT_EQ(range("bytes=-3", 10), (Span{7, 3}));
  EXPECT_EQ(range("bytes=-10", 10), (Span{0, 10}));
  EXPECT_EQ(range("bytes=-11", 10), (Span{0, 10}));  // more than the object: the whole object
  EXPECT_EQ(range("bytes=-99999999999999999999999", 10), (Span{0, 10}));
}

TEST(RangeHeader, Unsatisfiable) {
  EXPECT_TRUE(unsatisfiable("bytes=10-", 10));
  EXPECT_TRUE(unsatisfiable("bytes=10-20", 10));
  EXPECT_TRUE(unsatisfiable("bytes=11-11", 10));
  EXPECT_TRUE(unsatisfiable("bytes=-0", 10));
  EXPECT_TRUE(unsatisfiable("bytes=99999999999999999999999-", 10));
}

TEST(RangeHeader, EveryRangeOnAnEmptyObjectIsUnsatisfiable) {
  EXPECT_TRUE(unsatisfiable("bytes=0-", 0));
  EXPECT_TRUE(unsatisfiable("bytes=0-0", 0));
  EXPECT_TRUE(unsatisfiable("bytes=-1", 0));
  EXPECT_TRUE(unsatisfiable("bytes=-0", 0));
  EXPECT_TRUE(ignored("bytes=abc", 0));  // still ignored when not a range at all
}

TEST(RangeHeader, InvalidSyntaxIsIgnored) {
  for (std::string_view header :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=1-a", "bytes=5-2", "bytes=1--2", "bytes=--1",
        "bytes=+1-2", "bytes=1-+2", "bytes=0x1-2", "bytes=1 -2", "bytes=1- 2", "items=0-1", "byte=0-1", "bytesx=0-1",
        "=0-1", "0-1", "bytes=1.5-2", "bytes=-1-2"}) {
    EXPECT_TRUE(ignored(header, 10)) << '"' << header << '"';
  }
}

TEST(RangeHeader, SeveralRangesAreIgnored) {
  EXPECT_TRUE(ignored("bytes=0-1,2-3", 10));
  EXPECT_TRUE(ignored("bytes=0-1, 5-", 10));
  EXPECT_TRUE(ignored("bytes=0-1,", 10));
  // Even when one of them would be unsatisfiable: S3 serves the whole object.
  EXPECT_TRUE(ignored("bytes=20-30,0-1", 10));
}

TEST(RangeHeader, UnitCaseAndWhitespace) {
  EXPECT_EQ(range("Bytes=1-2", 10), (Span{1, 2}));
  EXPECT_EQ(range("BYTES=1-2", 10), (Span{1, 2}));
  EXPECT_EQ(range("  bytes=1-2  ", 10), (Span{1, 2}));
  EXPECT_EQ(range("bytes = 1-2", 10), (Span{1, 2}));
}

TEST(RangeHeader, LargeObjects) {
  const std::uint64_t size = 5ull << 40;
  EXPECT_EQ(range("bytes=0-", size), (Span{0, size}));
  EXPECT_EQ(range("bytes=-1", size), (Span{size - 1, 1}));
  EXPECT_EQ(range("bytes=4398046511104-4398046511105", size), (Span{4398046511104ull, 2}));
  const std::uint64_t max = ~0ull;
  EXPECT_EQ(range("bytes=0-", max), (Span{0, max}));
  EXPECT_EQ(range("bytes=18446744073709551614-", max), (Span{max - 1, 1}));
}

TEST(IfRange, StrongEntityTag) {
  EXPECT_TRUE(if_range_matches("\"abc\"", "abc", 0));
  EXPECT_TRUE(if_range_matches(" \"abc\" ", "abc", 0));
  EXPECT_FALSE(if_range_matches("\"abd\"", "abc", 0));
  EXPECT_FALSE(if_range_matches("W/\"abc\"", "abc", 0));  // weak never matches
  EXPECT_FALSE(if_range_matches("abc", "abc", 0));        // not an entity tag, not a date
  EXPECT_FALSE(if_range_matches("\"\"", "", 0));
}

TEST(IfRange, DateMustMatchExactly) {
  const std::int64_t modified = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_TRUE(if_range_matches("Sun, 06 Nov 1994 08:49:37 GMT", "abc", modified));
  EXPECT_FALSE(if_range_matches("Sun, 06 Nov 1994 08:49:38 GMT", "abc", modified));
  EXPECT_FALSE(if_range_matches("Sun, 06 Nov 1994 08:49:36 GMT", "abc", modified));
  EXPECT_FALSE(if_range_matches("not a date", "abc", modified));
}

}  // namespace
}  // namespace blobseal::s3
