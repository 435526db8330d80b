// The in-memory byte streams and the read_full helpers that the codec relies on to never mistake a short read for
// the end of a blob.
#include <cstring>

#include <gtest/gtest.h>

#include "core/byte_stream.h"
#include "core/bytes.h"

namespace blobseal {
namespace {

// Hands out at most `step` bytes per call, and can fail after `fail_at` bytes.
class TricklingSource final : public ByteSource, public RandomAccessSource {
 public:
  TricklingSource(ByteSpan data, std::size_t step, std::size_t fail_at = SIZE_MAX)
      : data_(data), step_(step), fail_at_(fail_at) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    auto n = read_at(pos_, out);
    if (n) pos_ += *n;
    return n;
  }
  std::uint64_t size() const override { return data_.size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    ++calls;
    if (offset >= fail_at_) return make_error(ErrorCode::kUnavailable, "disk went away");
    if (offset >= data_.size()) return std::size_t{0};
    std::size_t n = std::min({out.size(), step_, static_cast<std::size_t>(data_.size() - offset)});
    std::memcpy(out.data(), data_.data() + offset, n);
    return n;
  }
  int calls = 0;

 private:
  ByteSpan data_;
  std::size_t step_;
  std::size_t fail_at_;
  std::size_t pos_ = 0;
};

const std::string kText = "the quick brown fox jumps over the lazy dog";

TEST(SpanSource, ReadsSequentiallyThenReportsTheEndWithZero) {
  SpanSource source(as_bytes(kText));
  std::uint8_t buf[10];
  std::string got;
  for (;;) {
    auto n = source.read(buf);
    ASSERT_TRUE(n);
    if (*n == 0) break;
    got.append(reinterpret_cast<char*>(buf), *n);
  }
  EXPECT_EQ(got, kText);
  EXPECT_EQ(source.read(buf).value(), 0u) << "the end stays the end";
}

TEST(SpanSource, ReadsAtAnyOffsetAndShortOnlyAtTheEnd) {
  SpanSource source(as_bytes(kText));
  EXPECT_EQ(source.size(), kText.size());
  std::uint8_t buf[5];
  ASSERT_EQ(source.read_at(4, buf).value(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 5), "quick");
  EXPECT_EQ(source.read_at(kText.size() - 3, buf).value(), 3u);
  EXPECT_EQ(source.read_at(kText.size(), buf).value(), 0u);
  EXPECT_EQ(source.read_at(~0ULL, buf).value(), 0u) << "no overflow on a huge offset";
}

TEST(ReadFull, CollectsShortReadsUntilTheBufferIsFull) {
  TricklingSource source(as_bytes(kText), 3);
  std::string buf(20, '\0');
  auto n = read_full(source, std::span(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 20u);
  EXPECT_EQ(buf, kText.substr(0, 20));
  EXPECT_GE(source.calls, 7);
}

TEST(ReadFull, StopsAtTheEndAndSaysHowMuchItGot) {
  TricklingSource source(as_bytes(kText), 4);
  std::string buf(100, '\0');
  auto n = read_full(source, std::span(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, kText.size());
  EXPECT_EQ(buf.substr(0, *n), kText);
}

TEST(ReadFullAt, CollectsShortPositionalReads) {
  TricklingSource source(as_bytes(kText), 2);
  std::string buf(9, '\0');
  auto n = read_full_at(source, 10, std::span(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 9u);
  EXPECT_EQ(buf, kText.substr(10, 9));
  auto tail = read_full_at(source, kText.size() - 4, std::span(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()));
  ASSERT_TRUE(tail);
  EXPECT_EQ(*tail, 4u);
}

TEST(ReadFull, PropagatesTheSourcesError) {
  TricklingSource source(as_bytes(kText), 4, 8);
  std::uint8_t buf[20];
  auto n = read_full(source, buf);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ErrorCode::kUnavailable);
  auto at = read_full_at(source, 0, buf);
  ASSERT_FALSE(at);
  EXPECT_EQ(at.error().code(), ErrorCode::kUnavailable);
}

TEST(StringSink, AppendsEveryWrite) {
  StringSink sink;
  ASSERT_TRUE(sink.write(as_bytes("ab")));
  ASSERT_TRUE(sink.write({}));
  ASSERT_TRUE(sink.write(as_bytes(std::string_view("c\0d", 3))));
  EXPECT_EQ(sink.out, std::string("abc\0d", 5));
}

}  // namespace
}  // namespace blobseal
