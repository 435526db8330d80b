// The chunk layer beyond the vectors: size arithmetic at every boundary, argument checks, the encryptor's and
// decryptor's state machines, bounded buffers, and round trips of every awkward size through both decryptors.
#include <random>
#include <set>

#include <cstring>

#include <gtest/gtest.h>

#include "test_support.h"

namespace blobseal::seal {
namespace {

using test::CheckingSink;
using test::random_bytes_seeded;

const Bytes kContext = {'c', 't', 'x'};

Bytes key32(std::uint64_t seed) { return random_bytes_seeded(32, seed); }

Bytes seal(ByteSpan key, ByteSpan context, ByteSpan plaintext, std::size_t batch = kDefaultBatchChunks) {
  StringSink sink;
  auto encryptor = StreamEncryptor::create(key, context, sink, std::nullopt, batch);
  EXPECT_TRUE(encryptor);
  EXPECT_TRUE(encryptor->write(plaintext));
  EXPECT_TRUE(encryptor->finish());
  return Bytes(sink.out.begin(), sink.out.end());
}

// ---- Size arithmetic ------------------------------------------------------------------------------------------------

TEST(CobblestoneSizes, CiphertextSizeFollowsTheFormula) {
  EXPECT_EQ(ciphertext_size(0), 72u);  // header + an empty final chunk
  EXPECT_EQ(ciphertext_size(1), 73u);
  EXPECT_EQ(ciphertext_size(16383), 56u + 16383 + 16);
  EXPECT_EQ(ciphertext_size(16384), 56u + 16400 + 16) << "a full chunk is followed by an empty final chunk";
  EXPECT_EQ(ciphertext_size(16385), 56u + 16400 + 1 + 16);
  EXPECT_EQ(ciphertext_size(3 * 16384), 56u + 3 * 16400 + 16);
  EXPECT_EQ(ciphertext_size(1ULL << 40), 56u + (1ULL << 26) * 16400 + 16);
  for (std::uint64_t k : {0u, 1u, 2u, 255u, 256u, 100000u}) EXPECT_EQ(chunk_offset(k), 56u + k * 16400);
}

TEST(CobblestoneSizes, PlaintextSizeInvertsCiphertextSize) {
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> sizes = {0, 1, 15, 16, 17, 16383, 16384, 16385, 32767, 32768, 32769, 1ULL << 30};
  for (int i = 0; i < 1000; ++i) sizes.push_back(rng() % (1ULL << 40));
  for (std::uint64_t n : sizes) EXPECT_EQ(plaintext_size(ciphertext_size(n)), n) << n;
}

TEST(CobblestoneSizes, LengthsNoPlaintextEncryptsToAreRefused) {
  for (std::uint64_t n = 0; n < 72; ++n) EXPECT_FALSE(plaintext_size(n)) << n << ": shorter than header + tag";
  for (std::uint64_t k : {1u, 2u, 3u, 1000u}) {
    // The body ends exactly after a full chunk: the final short chunk was cut off.
    EXPECT_FALSE(plaintext_size(56 + k * 16400)) << k;
    // A final chunk of 1..15 bytes cannot even hold a tag.
    for (std::uint64_t rest = 1; rest < 16; ++rest) EXPECT_FALSE(plaintext_size(56 + k * 16400 + rest)) << k << "+" << rest;
    EXPECT_EQ(plaintext_size(56 + k * 16400 + 16), k * 16384);
  }
  // 2^38 chunks is the most a stream may have; the final chunk counts.
  EXPECT_EQ(plaintext_size(56 + (kMaxChunks - 1) * 16400 + 16), (kMaxChunks - 1) * 16384);
  EXPECT_FALSE(plaintext_size(56 + kMaxChunks * 16400 + 16));
  EXPECT_FALSE(plaintext_size(~0ULL));
}

// ---- StreamCipher ---------------------------------------------------------------------------------------------------

TEST(StreamCipher, NeedsA32ByteKey) {
  for (std::size_t n : {0u, 16u, 31u, 33u, 64u}) {
    auto cipher = StreamCipher::derive(Bytes(n, 1), Salt{}, kContext);
    ASSERT_FALSE(cipher);
    EXPECT_EQ(cipher.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(StreamCipher, CommitmentDependsOnKeySaltAndContext) {
  Salt salt{};
  salt[0] = 1;
  Salt other_salt = salt;
  other_salt[23] ^= 1;
  auto base = StreamCipher::derive(key32(1), salt, kContext);
  ASSERT_TRUE(base);
  std::set<Commitment> seen{base->commitment()};
  seen.insert(StreamCipher::derive(key32(2), salt, kContext)->commitment());
  seen.insert(StreamCipher::derive(key32(1), other_salt, kContext)->commitment());
  seen.insert(StreamCipher::derive(key32(1), salt, Bytes{'c', 't', 'y'})->commitment());
  seen.insert(StreamCipher::derive(key32(1), salt, Bytes{})->commitment());
  seen.insert(StreamCipher::derive(key32(1), salt, Bytes{'c', 't', 'x', 0})->commitment());
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(StreamCipher::derive(key32(1), salt, kContext)->commitment(), base->commitment()) << "deterministic";
}

TEST(StreamCipher, CheckCommitmentIsExactAndDataLoss) {
  auto cipher = StreamCipher::derive(key32(3), Salt{}, kContext);
  ASSERT_TRUE(cipher);
  Commitment c = cipher->commitment();
  EXPECT_TRUE(cipher->check_commitment(c));
  for (std::size_t i = 0; i < c.size(); ++i) {
    Commitment bad = c;
    bad[i] ^= 0x10;
    auto status = cipher->check_commitment(bad);
    ASSERT_FALSE(status) << i;
    EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
  }
  EXPECT_FALSE(cipher->check_commitment(std::span(c).first(31))) << "a shorter commitment";
  EXPECT_FALSE(cipher->check_commitment({}));
}

TEST(StreamCipher, ChunksAreBoundToTheirIndex) {
  auto cipher = StreamCipher::derive(key32(4), Salt{}, kContext);
  ASSERT_TRUE(cipher);
  Bytes plain = random_bytes_seeded(1000, 5);
  Bytes sealed(plain.size() + kTagSize);
  ASSERT_TRUE(cipher->seal_chunk(7, plain, sealed));
  Bytes out(plain.size(), 0xCC);
  for (std::uint64_t index : {0ull, 6ull, 8ull, 7ull + 256, 7ull | (1ull << 32)}) {
    auto status = cipher->open_chunk(index, sealed, out);
    ASSERT_FALSE(status) << index;
    EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(out, Bytes(out.size(), 0)) << "the output is wiped after a failure";
  }
  ASSERT_TRUE(cipher->open_chunk(7, sealed, out));
  EXPECT_EQ(out, plain);
}

TEST(StreamCipher, ChunkSizeAndIndexLimits) {
  auto cipher = StreamCipher::derive(key32(6), Salt{}, kContext);
  ASSERT_TRUE(cipher);
  Bytes big(kChunkSize + 1), out(kChunkSize + 1 + kTagSize);
  EXPECT_EQ(test::code_of(cipher->seal_chunk(0, big, out)), ErrorCode::kInvalidArgument);
  Bytes one(1), wrong_out(1 + kTagSize + 1);
  EXPECT_EQ(test::code_of(cipher->seal_chunk(0, one, wrong_out)), ErrorCode::kInvalidArgument);
  Bytes sealed(1 + kTagSize);
  EXPECT_EQ(test::code_of(cipher->seal_chunk(kMaxChunks, one, sealed)), ErrorCode::kResourceExhausted);
  ASSERT_TRUE(cipher->seal_chunk(kMaxChunks - 1, one, sealed)) << "the last index a stream may use";
  Bytes plain(1);
  EXPECT_TRUE(cipher->open_chunk(kMaxChunks - 1, sealed, plain));
  EXPECT_EQ(test::code_of(cipher->open_chunk(kMaxChunks, sealed, plain)), ErrorCode::kDataLoss);
  Bytes short_sealed(kTagSize - 1), nothing;
  EXPECT_EQ(test::code_of(cipher->open_chunk(0, short_sealed, nothing)), ErrorCode::kDataLoss);
  Bytes long_sealed(kSealedChunkSize + 1), long_out(kChunkSize + 1);
  EXPECT_EQ(test::code_of(cipher->open_chunk(0, long_sealed, long_out)), ErrorCode::kDataLoss);
}

// ---- StreamEncryptor ------------------------------------------------------------------------------------------------

TEST(StreamEncryptor, EachStreamGetsAFreshSalt) {
  std::set<Salt> salts;
  for (int i = 0; i < 20; ++i) {
    StringSink sink;
    auto encryptor = StreamEncryptor::create(key32(7), kContext, sink);
    ASSERT_TRUE(encryptor);
    salts.insert(encryptor->salt());
  }
  EXPECT_EQ(salts.size(), 20u);
  // So the same plaintext under the same key and context never seals to the same bytes.
  EXPECT_NE(seal(key32(7), kContext, as_bytes("same")), seal(key32(7), kContext, as_bytes("same")));
}

TEST(StreamEncryptor, FinishOnceThenNothing) {
  StringSink sink;
  auto encryptor = StreamEncryptor::create(key32(8), kContext, sink);
  ASSERT_TRUE(encryptor);
  ASSERT_TRUE(encryptor->write(as_bytes("hello")));
  ASSERT_TRUE(encryptor->finish());
  std::size_t sealed = sink.out.size();
  EXPECT_EQ(sealed, ciphertext_size(5));
  auto again = encryptor->finish();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  auto more = encryptor->write(as_bytes("more"));
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(sink.out.size(), sealed) << "nothing written after finish";
}

TEST(StreamEncryptor, WritesWholeChunksInBoundedBatches) {
  for (std::size_t batch : {std::size_t{1}, std::size_t{3}, kDefaultBatchChunks}) {
    struct Recorder final : ByteSink {
      std::vector<std::size_t> writes;
      Status write(std::span<const std::uint8_t> data) override {
        writes.push_back(data.size());
        return {};
      }
    } sink;
    Bytes plain = random_bytes_seeded(40 * kChunkSize + 123, 9);
    auto encryptor = StreamEncryptor::create(key32(9), kContext, sink, std::nullopt, batch);
    ASSERT_TRUE(encryptor);
    std::mt19937 rng(static_cast<unsigned>(batch));
    std::size_t pos = 0;
    while (pos < plain.size()) {
      std::size_t n = std::min<std::size_t>(rng() % 50000, plain.size() - pos);
      ASSERT_TRUE(encryptor->write(ByteSpan(plain).subspan(pos, n)));
      pos += n;
    }
    ASSERT_TRUE(encryptor->finish());
    ASSERT_FALSE(sink.writes.empty());
    EXPECT_EQ(sink.writes.front(), kStreamHeaderSize) << "the header goes first";
    std::size_t total = 0;
    for (std::size_t i = 1; i < sink.writes.size(); ++i) {
      EXPECT_LE(sink.writes[i], batch * kSealedChunkSize) << "more than one batch buffered";
      if (i + 1 < sink.writes.size()) {
        EXPECT_EQ(sink.writes[i] % kSealedChunkSize, 0u) << "a partial chunk was flushed";
      }
      total += sink.writes[i];
    }
    EXPECT_EQ(total + kStreamHeaderSize, ciphertext_size(plain.size()));
  }
}

TEST(StreamEncryptor, RefusesABadKeyAndReportsTheSinksError) {
  StringSink sink;
  EXPECT_EQ(test::code_of(StreamEncryptor::create(Bytes(16), kContext, sink)), ErrorCode::kInvalidArgument);
  struct FailingSink final : ByteSink {
    Status write(std::span<const std::uint8_t>) override { return make_error(ErrorCode::kUnavailable, "disk full"); }
  } failing;
  auto encryptor = StreamEncryptor::create(key32(10), kContext, failing);
  ASSERT_TRUE(encryptor);
  ASSERT_TRUE(encryptor->write(as_bytes("small")));  // buffered
  auto status = encryptor->finish();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
}

// ---- Decryptors -----------------------------------------------------------------------------------------------------

TEST(StreamDecryptor, RefusesUpdatesAfterFinish) {
  Bytes key = key32(11);
  Bytes sealed = seal(key, kContext, as_bytes("abc"));
  StringSink sink;
  auto decryptor = StreamDecryptor::create(key, kContext, sink);
  ASSERT_TRUE(decryptor);
  ASSERT_TRUE(decryptor->update(sealed));
  ASSERT_TRUE(decryptor->finish());
  EXPECT_EQ(sink.out, "abc");
  EXPECT_EQ(decryptor->salt(), (Salt{sealed[0], sealed[1], sealed[2], sealed[3], sealed[4], sealed[5], sealed[6],
                                     sealed[7], sealed[8], sealed[9], sealed[10], sealed[11], sealed[12], sealed[13],
                                     sealed[14], sealed[15], sealed[16], sealed[17], sealed[18], sealed[19],
                                     sealed[20], sealed[21], sealed[22], sealed[23]}));
  EXPECT_TRUE(std::equal(decryptor->commitment().begin(), decryptor->commitment().end(), sealed.begin() + kSaltSize));
  EXPECT_EQ(test::code_of(decryptor->update(sealed)), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(decryptor->finish());
  EXPECT_EQ(sink.out, "abc");
}

TEST(StreamDecryptor, ASinkErrorStopsTheStreamForGood) {
  Bytes key = key32(12);
  Bytes plain = random_bytes_seeded(5 * kChunkSize, 13);
  Bytes sealed = seal(key, kContext, plain);
  struct FailingSink final : ByteSink {
    Status write(std::span<const std::uint8_t>) override { return make_error(ErrorCode::kCancelled, "client left"); }
  } failing;
  auto decryptor = StreamDecryptor::create(key, kContext, failing, 1);
  ASSERT_TRUE(decryptor);
  auto status = decryptor->update(sealed);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(test::code_of(decryptor->finish()), ErrorCode::kCancelled);
}

TEST(StreamReader, NeedsAValidLengthAndHeaderAtOpen) {
  Bytes key = key32(14);
  Bytes sealed = seal(key, kContext, random_bytes_seeded(20000, 15));
  SpanSource source(sealed);
  EXPECT_EQ(test::code_of(StreamReader::open(source, 0, 56 + kSealedChunkSize + 15, key, kContext)),
            ErrorCode::kDataLoss)
      << "a length that leaves 15 bytes for the final chunk";
  EXPECT_EQ(test::code_of(StreamReader::open(source, 0, 56 + kSealedChunkSize, key, kContext)), ErrorCode::kDataLoss)
      << "a length that ends on a full chunk";
  EXPECT_EQ(test::code_of(StreamReader::open(source, 0, 71, key, kContext)), ErrorCode::kDataLoss);
  EXPECT_EQ(test::code_of(StreamReader::open(source, 0, sealed.size(), key, Bytes{'x'})), ErrorCode::kDataLoss)
      << "another context fails the commitment";
  EXPECT_EQ(test::code_of(StreamReader::open(source, 0, sealed.size(), key32(99), kContext)), ErrorCode::kDataLoss);
  EXPECT_EQ(test::code_of(StreamReader::open(source, 0, sealed.size(), Bytes(31), kContext)),
            ErrorCode::kInvalidArgument);
  // A source shorter than the stream it is said to hold: the header is cut, or the chunks are.
  SpanSource cut_header(ByteSpan(sealed).first(40));
  EXPECT_EQ(test::code_of(StreamReader::open(cut_header, 0, sealed.size(), key, kContext)), ErrorCode::kDataLoss);
  SpanSource cut_body(ByteSpan(sealed).first(sealed.size() - 100));
  auto reader = StreamReader::open(cut_body, 0, sealed.size(), key, kContext);
  ASSERT_TRUE(reader) << "the header is intact";
  StringSink sink;
  EXPECT_EQ(test::code_of(reader->read(0, reader->plaintext_size(), sink)), ErrorCode::kDataLoss);
  EXPECT_EQ(test::code_of(reader->authenticate_length()), ErrorCode::kDataLoss);
  EXPECT_LE(sink.out.size(), kChunkSize);
}

TEST(StreamReader, ReadIntoFillsTheBufferAndChecksBounds) {
  Bytes key = key32(16);
  Bytes plain = random_bytes_seeded(50000, 17);
  Bytes sealed = seal(key, kContext, plain);
  SpanSource source(sealed);
  auto reader = StreamReader::open(source, 0, sealed.size(), key, kContext);
  ASSERT_TRUE(reader);
  Bytes out(20000);
  ASSERT_TRUE(reader->read_into(16000, out));
  EXPECT_TRUE(std::equal(out.begin(), out.end(), plain.begin() + 16000));
  Bytes too_far(2);
  EXPECT_EQ(test::code_of(reader->read_into(49999, too_far)), ErrorCode::kOutOfRange);
  Bytes none;
  EXPECT_TRUE(reader->read_into(50000, none));
  EXPECT_EQ(test::code_of(reader->read(50001, 0, *std::make_unique<StringSink>())), ErrorCode::kOutOfRange);
  EXPECT_EQ(test::code_of(reader->read(1, ~0ULL, *std::make_unique<StringSink>())), ErrorCode::kOutOfRange)
      << "no overflow in the bounds check";
}

// Round trips of the sizes around chunk boundaries, fed and batched in several ways, through both decryptors.
class CobblestoneRoundTrip : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(CobblestoneRoundTrip, ThroughBothDecryptors) {
  std::uint64_t size = GetParam();
  Bytes key = key32(size + 1);
  Bytes plain = random_bytes_seeded(size, size);
  for (std::size_t batch : {std::size_t{1}, std::size_t{2}, kDefaultBatchChunks}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    Bytes sealed = seal(key, kContext, plain, batch);
    ASSERT_EQ(sealed.size(), ciphertext_size(size));

    std::mt19937_64 rng(size * 3 + batch);
    for (int pattern = 0; pattern < 3; ++pattern) {
      CheckingSink sink(plain, 0);
      auto decryptor = StreamDecryptor::create(key, kContext, sink, batch);
      ASSERT_TRUE(decryptor);
      std::size_t pos = 0;
      while (pos < sealed.size()) {
        std::size_t n = pattern == 0 ? sealed.size() : pattern == 1 ? 1 + rng() % 20000 : 1 + rng() % 100;
        n = std::min(n, sealed.size() - pos);
        ASSERT_TRUE(decryptor->update(ByteSpan(sealed).subspan(pos, n)));
        pos += n;
      }
      ASSERT_TRUE(decryptor->finish());
      EXPECT_FALSE(sink.violated()) << sink.violation();
      EXPECT_EQ(sink.received(), size);
    }

    SpanSource source(sealed);
    auto reader = StreamReader::open(source, 0, sealed.size(), key, kContext, batch);
    ASSERT_TRUE(reader);
    EXPECT_EQ(reader->plaintext_size(), size);
    EXPECT_TRUE(reader->authenticate_length());
    CheckingSink whole(plain, 0);
    ASSERT_TRUE(reader->read(0, size, whole));
    EXPECT_FALSE(whole.violated()) << whole.violation();
    EXPECT_EQ(whole.received(), size);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, CobblestoneRoundTrip,
                         ::testing::Values(0, 1, 15, 16, 17, 16383, 16384, 16385, 32767, 32768, 32769, 49152,
                                           16384 * 33 - 1, 16384 * 33, 16384 * 33 + 1, 16384 * 64 + 5));

// Opening object after object reuses the same batch buffers instead of returning them to the kernel each time.
TEST(ChunkBufferTest, ReleasedBuffersAreReusedBySizeWithinABound) {
  std::uint8_t* first = nullptr;
  {
    ChunkBuffer a(33 * kSealedChunkSize);
    first = a.data();
    std::memset(a.data(), 0x5a, a.size());
  }
  ChunkBuffer other_size(32 * kSealedChunkSize);
  EXPECT_NE(other_size.data(), first) << "a buffer is reused only for the same size";
  ChunkBuffer again(33 * kSealedChunkSize);
  EXPECT_EQ(again.data(), first) << "the released buffer of that size was not reused";
  ChunkBuffer fresh(33 * kSealedChunkSize);
  EXPECT_NE(fresh.data(), first) << "a cached buffer was handed out twice";

  ChunkBuffer moved(std::move(again));
  EXPECT_EQ(moved.data(), first);
  EXPECT_TRUE(again.empty());  // NOLINT(bugprone-use-after-move): a moved-from buffer is empty
  EXPECT_EQ(again.data(), nullptr);

  // Larger than the cache keeps (2 MiB): allocated and freed every time, never held.
  for (int i = 0; i < 3; ++i) {
    ChunkBuffer big((std::size_t{2} << 20) + 1);
    EXPECT_NE(big.data(), nullptr);
  }
  // Many releases keep at most four buffers: the fifth distinct size evicts one, nothing leaks (ASan checks).
  for (std::size_t n = 1; n <= 8; ++n) ChunkBuffer(n * 1000);
}

}  // namespace
}  // namespace blobseal::seal
