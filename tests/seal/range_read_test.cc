// Randomized range reads (seeded) through SealedReader and StreamReader, checked byte for byte against the
// plaintext: single streams of every awkward size (empty, N x 16 KiB for N = 0..3, 16383, 16385...), with and without
// a recorded length, and multipart objects with parts of different sizes, empty parts included, with ranges crossing
// part boundaries. A counting source checks that a range read fetches only the chunks it covers (and the headers of
// the streams it opens), and the sink checks that memory stays bounded by the batch size.
#include <random>

#include <gtest/gtest.h>

#include "test_support.h"

namespace blobseal::seal {
namespace {

using test::CheckingSink;
using test::code_of;
using test::random_bytes_seeded;
using test::SealedObject;
using test::Sealer;

const Location kLocation{"acme", "videos", "clip.mp4"};

// A RandomAccessSource that records every read_at.
class RecordingSource final : public RandomAccessSource {
 public:
  explicit RecordingSource(ByteSpan data) : inner_(data) {}
  std::uint64_t size() const override { return inner_.size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    reads.emplace_back(offset, out.size());
    return inner_.read_at(offset, out);
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reads;

 private:
  SpanSource inner_;
};

struct StreamLayout {
  std::vector<std::uint64_t> sizes;       // plaintext per stream
  std::vector<std::uint64_t> starts;      // plaintext offset per stream
  std::vector<std::uint64_t> offsets;     // body offset per stream
};

StreamLayout layout_of(const SealedObject& o) {
  StreamLayout l{o.stream_sizes, {}, o.stream_offsets};
  std::uint64_t start = 0;
  for (auto s : o.stream_sizes) {
    l.starts.push_back(start);
    start += s;
  }
  return l;
}

// The body bytes a read of plaintext [pos, pos + count) may fetch: for each stream it overlaps, that stream's header
// and the chunks covering the overlap.
std::vector<std::pair<std::uint64_t, std::uint64_t>> allowed_fetches(const StreamLayout& l, std::uint64_t pos,
                                                                     std::uint64_t count) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (std::size_t s = 0; s < l.sizes.size(); ++s) {
    std::uint64_t begin = std::max(pos, l.starts[s]), end = std::min(pos + count, l.starts[s] + l.sizes[s]);
    if (begin >= end) continue;
    std::uint64_t first = (begin - l.starts[s]) / kChunkSize, last = (end - 1 - l.starts[s]) / kChunkSize;
    out.emplace_back(l.offsets[s], l.offsets[s] + kStreamHeaderSize);
    std::uint64_t last_size = last < l.sizes[s] / kChunkSize ? kSealedChunkSize : l.sizes[s] % kChunkSize + kTagSize;
    out.emplace_back(l.offsets[s] + chunk_offset(first), l.offsets[s] + chunk_offset(last) + last_size);
  }
  return out;
}

// Ranges biased towards the interesting places: chunk and part boundaries, the ends, single bytes, whole parts.
std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges_for(const StreamLayout& l, std::uint64_t size, int random,
                                                                std::uint64_t seed) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out = {{0, size}, {0, 0}, {size, 0}};
  auto add = [&](std::uint64_t pos, std::uint64_t count) {
    if (pos <= size) out.emplace_back(pos, std::min(count, size - pos));
  };
  for (std::size_t s = 0; s < l.sizes.size(); ++s) {
    std::uint64_t b = l.starts[s];
    add(b, l.sizes[s]);                       // exactly one part
    add(b - std::min<std::uint64_t>(b, 1), 2);  // across the boundary by one byte each side
    add(b - std::min<std::uint64_t>(b, 100), 200);
    add(b - std::min<std::uint64_t>(b, kChunkSize), 2 * kChunkSize);
    for (std::uint64_t k = 1; k * kChunkSize < l.sizes[s]; ++k) {
      add(b + k * kChunkSize - 1, 2);
      add(b + k * kChunkSize, kChunkSize);
    }
  }
  add(size - std::min<std::uint64_t>(size, 1), 1);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < random; ++i) {
    std::uint64_t pos = rng() % (size + 1);
    std::uint64_t count;
    switch (rng() % 4) {
      case 0: count = rng() % 64; break;                          // small
      case 1: count = rng() % (3 * kChunkSize); break;            // a few chunks
      default: count = rng() % (size - pos + 1); break;           // anything to the end
    }
    add(pos, count);
  }
  return out;
}

void check_reads(SealedReader& reader, RecordingSource& source, const SealedObject& o, std::size_t batch,
                 int random_ranges, std::uint64_t seed) {
  StreamLayout l = layout_of(o);
  std::uint64_t size = o.plaintext.size();
  ASSERT_EQ(reader.size(), size);
  int checked = 0;
  for (auto [pos, count] : ranges_for(l, size, random_ranges, seed)) {
    SCOPED_TRACE(::testing::Message() << "range " << pos << "+" << count << " of " << size);
    source.reads.clear();
    CheckingSink sink(o.plaintext, pos);
    auto status = reader.read(pos, count, sink);
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_FALSE(sink.violated()) << sink.violation();
    EXPECT_EQ(sink.received(), count);
    EXPECT_LE(sink.largest_write(), batch * kChunkSize) << "more plaintext at once than one batch";
    auto allowed = allowed_fetches(l, pos, count);
    for (auto [offset, length] : source.reads) {
      bool inside = false;
      for (auto [b, e] : allowed) inside |= offset >= b && offset + length <= e;
      EXPECT_TRUE(inside) << "fetched body [" << offset << ", " << offset + length << ") outside what the range needs";
      EXPECT_LE(length, batch * kSealedChunkSize) << "a fetch larger than one batch";
    }
    ++checked;
  }
  EXPECT_GE(checked, random_ranges);
  for (auto [pos, count] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {size, 1}, {size + 1, 0}, {0, size + 1}, {1, ~0ULL}, {~0ULL, 1}}) {
    CheckingSink sink(o.plaintext, 0);
    EXPECT_EQ(code_of(reader.read(pos, count, sink)), ErrorCode::kOutOfRange) << pos << "+" << count;
    EXPECT_EQ(sink.received(), 0u);
  }
  EXPECT_TRUE(reader.verify_all());
}

// ---- Single streams -----------------------------------------------------------------------------------------------

class SingleStreamRanges : public ::testing::TestWithParam<std::uint64_t> {
 protected:
  Sealer sealer_;
};

TEST_P(SingleStreamRanges, SealedReaderAndStreamReaderReturnExactlyThePlaintext) {
  std::uint64_t size = GetParam();
  Bytes plaintext = random_bytes_seeded(size, size + 100);
  for (bool recorded : {true, false}) {
    SealedObject o = sealer_.seal_single(kLocation, plaintext, recorded);
    ASSERT_EQ(o.body.size(), ciphertext_size(size));
    for (std::size_t batch : {std::size_t{1}, std::size_t{2}, kDefaultBatchChunks}) {
      SCOPED_TRACE(::testing::Message() << (recorded ? "recorded" : "unrecorded") << " length, batch " << batch);
      auto parsed = parse_envelope(o.envelope);
      ASSERT_TRUE(parsed);
      auto contents = open_envelope(parsed->envelope, o.dek);
      ASSERT_TRUE(contents);
      RecordingSource source(o.body);
      auto reader = SealedReader::open(parsed->envelope, *contents, o.dek, source, batch);
      ASSERT_TRUE(reader) << reader.error().to_string();
      if (!recorded) {
        // The length came from the body, proven by decrypting the final chunk (and only that) at open.
        ASSERT_FALSE(source.reads.empty());
        EXPECT_EQ(source.reads.back().first, chunk_offset(size / kChunkSize));
      } else {
        EXPECT_TRUE(source.reads.empty()) << "opening with a recorded length reads nothing yet";
      }
      check_reads(*reader, source, o, batch, 200, size * 7 + batch);

      // The same ranges through the stream reader alone.
      SpanSource body(o.body);
      Bytes context = stream_context(o.object_id, 0);
      auto stream = StreamReader::open(body, 0, o.body.size(), o.dek.view(), context, batch);
      ASSERT_TRUE(stream);
      EXPECT_EQ(stream->plaintext_size(), size);
      EXPECT_TRUE(stream->authenticate_length());
      for (auto [pos, count] : ranges_for(layout_of(o), size, 100, size + batch)) {
        CheckingSink sink(o.plaintext, pos);
        ASSERT_TRUE(stream->read(pos, count, sink)) << pos << "+" << count;
        EXPECT_FALSE(sink.violated()) << sink.violation();
        EXPECT_EQ(sink.received(), count);
        Bytes into(std::min<std::uint64_t>(count, 5000));
        ASSERT_TRUE(stream->read_into(pos, into));
        EXPECT_TRUE(std::equal(into.begin(), into.end(), o.plaintext.begin() + static_cast<std::ptrdiff_t>(pos)));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, SingleStreamRanges,
                         ::testing::Values(0, 1, 100, 16383, 16384, 16385, 2 * 16384, 3 * 16384, 3 * 16384 + 1,
                                           33 * 16384 + 7, 300001),
                         [](const auto& info) { return "size" + std::to_string(info.param); });

TEST(SingleStreamRanges, AnEmptyObjectHasNothingToRead) {
  Sealer sealer;
  SealedObject o = sealer.seal_single(kLocation, {});
  EXPECT_EQ(o.body.size(), 72u);
  auto opened = sealer.open(kLocation, o.envelope, o.body);
  ASSERT_TRUE(opened);
  SealedReader& reader = *(*opened)->reader;
  EXPECT_EQ(reader.size(), 0u);
  StringSink sink;
  EXPECT_TRUE(reader.read(0, 0, sink));
  EXPECT_EQ(code_of(reader.read(0, 1, sink)), ErrorCode::kOutOfRange);
  EXPECT_EQ(code_of(reader.read(1, 0, sink)), ErrorCode::kOutOfRange);
  EXPECT_TRUE(sink.out.empty());
  EXPECT_TRUE(reader.verify_all());
}

// ---- Multipart ------------------------------------------------------------------------------------------------------

struct MultipartShape {
  const char* name;
  std::vector<std::uint64_t> sizes;
  std::vector<std::uint32_t> numbers;  // empty: 1..n
};

class MultipartRanges : public ::testing::TestWithParam<MultipartShape> {
 protected:
  Sealer sealer_;
};

TEST_P(MultipartRanges, RangesAcrossPartsReturnExactlyThePlaintext) {
  const MultipartShape& shape = GetParam();
  std::uint64_t total = 0;
  for (auto s : shape.sizes) total += s;
  SealedObject o = sealer_.seal_multipart(kLocation, random_bytes_seeded(total, total + 5), shape.sizes, shape.numbers);
  for (std::size_t batch : {std::size_t{1}, std::size_t{2}, kDefaultBatchChunks}) {
    SCOPED_TRACE(::testing::Message() << shape.name << ", batch " << batch);
    auto parsed = parse_envelope(o.envelope);
    ASSERT_TRUE(parsed);
    auto contents = open_envelope(parsed->envelope, o.dek);
    ASSERT_TRUE(contents);
    ASSERT_EQ(contents->parts.size(), shape.sizes.size());
    RecordingSource source(o.body);
    auto reader = SealedReader::open(parsed->envelope, *contents, o.dek, source, batch);
    ASSERT_TRUE(reader) << reader.error().to_string();
    check_reads(*reader, source, o, batch, 200, total * 3 + batch);

    // Each part through its own StreamReader, bound to its part number.
    for (std::size_t s = 0; s < shape.sizes.size(); ++s) {
      std::uint32_t number = contents->parts[s].part_number;
      std::uint64_t length = ciphertext_size(shape.sizes[s]);
      SpanSource body(o.body);
      auto stream = StreamReader::open(body, o.stream_offsets[s], length, o.dek.view(),
                                       stream_context(o.object_id, number), batch);
      ASSERT_TRUE(stream) << "part " << number;
      EXPECT_EQ(stream->plaintext_size(), shape.sizes[s]);
      EXPECT_TRUE(stream->authenticate_length());
      EXPECT_EQ(stream->salt(), contents->parts[s].salt);
      EXPECT_EQ(stream->commitment(), contents->parts[s].commitment);
      std::uint64_t start = 0;
      for (std::size_t i = 0; i < s; ++i) start += shape.sizes[i];
      ByteSpan part_plaintext = ByteSpan(o.plaintext).subspan(start, shape.sizes[s]);
      std::mt19937_64 rng(s + batch);
      for (int i = 0; i < 30; ++i) {
        std::uint64_t pos = rng() % (shape.sizes[s] + 1), count = rng() % (shape.sizes[s] - pos + 1);
        CheckingSink sink(part_plaintext, pos);
        ASSERT_TRUE(stream->read(pos, count, sink));
        EXPECT_FALSE(sink.violated()) << sink.violation();
        EXPECT_EQ(sink.received(), count);
      }
      // Under another part number the same bytes do not open.
      auto renumbered = StreamReader::open(body, o.stream_offsets[s], length, o.dek.view(),
                                           stream_context(o.object_id, number + 1), batch);
      EXPECT_EQ(code_of(renumbered), ErrorCode::kDataLoss);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MultipartRanges,
    ::testing::Values(MultipartShape{"mixed", {3 * 16384 + 100, 0, 16384, 1, 40000}, {}},
                      MultipartShape{"sparse_numbers", {70000, 2 * 16384, 12345}, {2, 7, 10000}},
                      MultipartShape{"empty_first", {0, 5}, {}},
                      MultipartShape{"empty_last", {20000, 0}, {}},
                      MultipartShape{"one_full_chunk", {16384}, {}},
                      MultipartShape{"only_empty", {0}, {}},
                      MultipartShape{"three_empty", {0, 0, 0}, {}},
                      MultipartShape{"single_bytes", {1, 1, 1, 1, 1}, {}},
                      MultipartShape{"chunk_multiples", {16384, 32768, 16383, 16385}, {}}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace blobseal::seal
