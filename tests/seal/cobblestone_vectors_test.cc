// All 35 Cobblestone-256 Wycheproof vectors (c2sp_chunked_encryption_aes_256_gcm_test.json), applied the way
// tests/vectors/wycheproof/c2sp_chunked_encryption.md says: through the streaming decryptor (StreamDecryptor), through
// the random-access reader (StreamReader, with length authentication and ranges), and, for valid vectors, through the
// encryptor with the vector's salt injected, which must reproduce the ciphertext byte for byte.
#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "crypto/primitives.h"
#include "test_support.h"

namespace blobseal::seal {
namespace {

using test::CheckingSink;
using test::CobblestoneVector;
using test::cobblestone_index;
using test::cobblestone_vector;
using test::CobblestoneVectorInfo;

std::vector<int> ids(bool (*keep)(const CobblestoneVectorInfo&)) {
  std::vector<int> out;
  for (const auto& v : cobblestone_index())
    if (keep(v)) out.push_back(v.id);
  return out;
}

std::string vector_name(const ::testing::TestParamInfo<int>& info) { return "tc" + std::to_string(info.param); }

// ---- The file itself and the reference prefixes -------------------------------------------------------------------

TEST(CobblestoneVectors, TheFileHoldsThe35Vectors) {
  const auto& all = cobblestone_index();
  ASSERT_EQ(all.size(), 35u);
  for (int id = 1; id <= 35; ++id) EXPECT_NO_THROW(cobblestone_vector(id));
  EXPECT_EQ(std::count_if(all.begin(), all.end(), [](const auto& v) { return v.valid; }), 10);
  for (const auto& info : all) {
    const CobblestoneVector& v = cobblestone_vector(info.id);
    EXPECT_EQ(v.valid, info.valid);
    EXPECT_EQ(v.flags, info.flags);
    EXPECT_EQ(v.aead_key.has_value(), info.has_raw_mode_keys);
  }
}

TEST(CobblestoneVectors, RawModeReferenceMatchesTheAnnouncedLengthsAndHashes) {
  // The reference each decryptor is compared with: raw-mode decryption with the vectors' aeadKey and baseNonce. It
  // must reproduce msgLength/msgSha512 wherever the vector gives them, or the comparisons below would be empty.
  int checked = 0;
  for (const auto& info : cobblestone_index()) {
    const CobblestoneVector& v = cobblestone_vector(info.id);
    SCOPED_TRACE(v.describe());
    if (v.valid || v.has("PartialPlaintext")) {
      ASSERT_TRUE(v.msg_length && v.msg_sha512);
      ASSERT_TRUE(v.aead_key) << "a vector with plaintext has raw-mode keys";
      EXPECT_EQ(v.verified_prefix.size(), *v.msg_length);
      EXPECT_EQ(test::sha512(v.verified_prefix), *v.msg_sha512);
      ++checked;
      if (v.valid) {
        // Every chunk verifies at its own index, and the chunks are the message.
        Bytes joined;
        for (const auto& [offset, bytes] : v.verified_chunks) {
          EXPECT_EQ(offset, joined.size());
          joined.insert(joined.end(), bytes.begin(), bytes.end());
        }
        EXPECT_EQ(joined, v.verified_prefix);
        EXPECT_EQ(v.verified_chunks.size(), *v.msg_length / kChunkSize + 1);
      }
    } else {
      EXPECT_FALSE(v.msg_length);
      EXPECT_TRUE(v.verified_prefix.empty()) << "an invalid vector without PartialPlaintext has no valid first chunk";
    }
  }
  EXPECT_EQ(checked, 10 + 9);
}

// ---- Key derivation and raw mode ----------------------------------------------------------------------------------

class CobblestoneDerivation : public ::testing::TestWithParam<int> {};

TEST_P(CobblestoneDerivation, HkdfExpandGivesTheVectorsKeyNonceAndCommitment) {
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  ASSERT_GE(v.ciphertext.size(), kStreamHeaderSize);
  Bytes info;
  put_bytes(info, as_bytes("c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM"));
  put_u8(info, 0);
  put_bytes(info, ByteSpan(v.ciphertext).first(kSaltSize));
  put_bytes(info, v.context);
  Bytes derived(32 + 12 + 32);
  ASSERT_TRUE(crypto::hkdf_expand_sha512(v.key, info, derived));
  EXPECT_EQ(Bytes(derived.begin(), derived.begin() + 32), *v.aead_key);
  EXPECT_EQ(Bytes(derived.begin() + 32, derived.begin() + 44), *v.base_nonce);
  EXPECT_EQ(Bytes(derived.begin() + 44, derived.end()),
            Bytes(v.ciphertext.begin() + kSaltSize, v.ciphertext.begin() + kStreamHeaderSize));

  // StreamCipher derives the same commitment, and checks it.
  Salt salt{};
  std::copy_n(v.ciphertext.begin(), kSaltSize, salt.begin());
  auto cipher = StreamCipher::derive(v.key, salt, v.context);
  ASSERT_TRUE(cipher);
  EXPECT_TRUE(std::equal(cipher->commitment().begin(), cipher->commitment().end(), derived.begin() + 44));
  EXPECT_TRUE(cipher->check_commitment(ByteSpan(v.ciphertext).subspan(kSaltSize, kCommitmentSize)));
}

TEST_P(CobblestoneDerivation, StreamCipherChunksAreTheRawModeChunks) {
  // Each chunk StreamCipher opens at index k is the raw-mode chunk k; for valid vectors, sealing the plaintext
  // chunk by chunk reproduces the ciphertext after the header (raw-mode encryption is deterministic).
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  Salt salt{};
  std::copy_n(v.ciphertext.begin(), kSaltSize, salt.begin());
  auto cipher = StreamCipher::derive(v.key, salt, v.context);
  ASSERT_TRUE(cipher);
  Bytes opened;
  std::size_t pos = kStreamHeaderSize;
  for (std::uint64_t k = 0; pos < v.ciphertext.size(); ++k) {
    std::size_t n = std::min(kSealedChunkSize, v.ciphertext.size() - pos);
    if (n < kTagSize) break;
    Bytes out(n - kTagSize);
    if (!cipher->open_chunk(k, ByteSpan(v.ciphertext).subspan(pos, n), out)) break;
    opened.insert(opened.end(), out.begin(), out.end());
    pos += n;
  }
  EXPECT_EQ(opened, v.verified_prefix);
  if (!v.valid) return;
  Bytes resealed;
  for (std::uint64_t k = 0; k * kChunkSize <= v.verified_prefix.size(); ++k) {
    std::size_t n = std::min(kChunkSize, v.verified_prefix.size() - k * kChunkSize);
    Bytes out(n + kTagSize);
    ASSERT_TRUE(cipher->seal_chunk(k, ByteSpan(v.verified_prefix).subspan(k * kChunkSize, n), out));
    resealed.insert(resealed.end(), out.begin(), out.end());
  }
  EXPECT_TRUE(resealed == Bytes(v.ciphertext.begin() + kStreamHeaderSize, v.ciphertext.end()));
}

INSTANTIATE_TEST_SUITE_P(WithRawModeKeys, CobblestoneDerivation,
                         ::testing::ValuesIn(ids([](const CobblestoneVectorInfo& v) { return v.has_raw_mode_keys; })),
                         vector_name);

// ---- Streaming decryption -----------------------------------------------------------------------------------------

enum class Feed { kWhole, kHeaderThenRest, kOneByte, kSevenBytes, kRandomPieces, kChunkAligned };

std::vector<std::size_t> piece_sizes(Feed feed, std::size_t total, std::uint64_t seed) {
  std::vector<std::size_t> out;
  std::mt19937_64 rng(seed);
  std::size_t pos = 0;
  auto add = [&](std::size_t n) {
    n = std::min(n, total - pos);
    out.push_back(n);
    pos += n;
  };
  if (feed == Feed::kHeaderThenRest) add(kStreamHeaderSize);
  while (pos < total) {
    switch (feed) {
      case Feed::kWhole:
      case Feed::kHeaderThenRest: add(total); break;
      case Feed::kOneByte: add(1); break;
      case Feed::kSevenBytes: add(7); break;
      case Feed::kRandomPieces: add(rng() % 3 == 0 ? rng() % 40 : rng() % 70000); break;  // empty pieces too
      case Feed::kChunkAligned: add(pos == 0 ? kStreamHeaderSize : kSealedChunkSize); break;
    }
  }
  return out;
}

struct StreamOutcome {
  std::optional<Error> error;   // the first error, from update() or finish()
  std::uint64_t released = 0;
};

StreamOutcome decrypt_streaming(const CobblestoneVector& v, Feed feed, std::size_t batch_chunks, CheckingSink& sink) {
  StreamOutcome outcome;
  auto decryptor = StreamDecryptor::create(v.key, v.context, sink, batch_chunks);
  EXPECT_TRUE(decryptor) << decryptor.error().to_string();
  if (!decryptor) return outcome;
  std::size_t pos = 0;
  for (std::size_t n : piece_sizes(feed, v.ciphertext.size(), static_cast<std::uint64_t>(v.id) * 7919 + batch_chunks)) {
    auto status = decryptor->update(ByteSpan(v.ciphertext).subspan(pos, n));
    pos += n;
    if (!status) {
      outcome.error = status.error();
      break;
    }
  }
  if (!outcome.error) {
    auto status = decryptor->finish();
    if (!status) outcome.error = status.error();
  }
  outcome.released = sink.received();
  if (outcome.error) {
    // It keeps failing, with the same code, and releases nothing more.
    const std::uint8_t more[kSealedChunkSize] = {};
    auto again = decryptor->update(more);
    EXPECT_FALSE(again) << "update() after an error succeeded";
    if (!again) {
      EXPECT_EQ(again.error().code(), outcome.error->code());
    }
    auto finish = decryptor->finish();
    EXPECT_FALSE(finish) << "finish() after an error reported a clean end";
    if (!finish) {
      EXPECT_EQ(finish.error().code(), outcome.error->code());
    }
    EXPECT_EQ(sink.received(), outcome.released) << "bytes released after the error";
  } else {
    EXPECT_EQ(decryptor->plaintext_bytes(), sink.received());
  }
  return outcome;
}

class CobblestoneStreaming : public ::testing::TestWithParam<int> {};

TEST_P(CobblestoneStreaming, StreamDecryptorReleasesOnlyVerifiedChunksAndFailsForGood) {
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  CheckingSink unused(ByteSpan{}, 0);
  if (v.has("InvalidKeySize")) {
    auto decryptor = StreamDecryptor::create(v.key, v.context, unused);
    ASSERT_FALSE(decryptor) << "a " << v.key.size() << "-byte key was accepted";
    EXPECT_EQ(decryptor.error().code(), ErrorCode::kInvalidArgument);
    StringSink out;
    auto encryptor = StreamEncryptor::create(v.key, v.context, out);
    ASSERT_FALSE(encryptor) << "the encryptor accepted a " << v.key.size() << "-byte key";
    EXPECT_EQ(encryptor.error().code(), ErrorCode::kInvalidArgument);
    return;
  }
  ASSERT_EQ(v.key.size(), 32u);
  ByteSpan allowed = v.allowed_plaintext();
  std::vector<Feed> feeds = {Feed::kWhole, Feed::kHeaderThenRest, Feed::kRandomPieces, Feed::kChunkAligned};
  feeds.push_back(v.ciphertext.size() <= 100000 ? Feed::kOneByte : Feed::kSevenBytes);
  for (Feed feed : feeds) {
    for (std::size_t batch : {std::size_t{1}, std::size_t{2}, kDefaultBatchChunks}) {
      SCOPED_TRACE(::testing::Message() << "feed " << static_cast<int>(feed) << ", batch " << batch);
      CheckingSink sink(allowed, 0);
      sink.keep_bytes(v.valid);
      StreamOutcome outcome = decrypt_streaming(v, feed, batch, sink);
      EXPECT_FALSE(sink.violated()) << sink.violation();
      EXPECT_LE(sink.largest_write(), (batch + 1) * kChunkSize) << "more than the decryptor's bounded buffer";
      if (v.valid) {
        ASSERT_FALSE(outcome.error) << outcome.error->to_string();
        EXPECT_EQ(sink.received(), *v.msg_length);
        EXPECT_EQ(test::sha512(sink.bytes()), *v.msg_sha512);
      } else {
        ASSERT_TRUE(outcome.error) << "an invalid vector decrypted cleanly";
        EXPECT_EQ(outcome.error->code(), ErrorCode::kDataLoss) << outcome.error->to_string();
        EXPECT_EQ(sink.received() % kChunkSize, 0u) << "a partial chunk was released";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All35, CobblestoneStreaming, ::testing::Range(1, 36), vector_name);

class CobblestoneHeaderFailure : public ::testing::TestWithParam<int> {};

TEST_P(CobblestoneHeaderFailure, IsCaughtBeforeAnyChunk) {
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  CheckingSink sink(ByteSpan{}, 0);
  auto decryptor = StreamDecryptor::create(v.key, v.context, sink);
  ASSERT_TRUE(decryptor);
  if (v.ciphertext.size() >= kStreamHeaderSize) {
    // The 56 header bytes alone are enough to refuse it.
    auto status = decryptor->update(ByteSpan(v.ciphertext).first(kStreamHeaderSize));
    ASSERT_FALSE(status) << "the header was accepted";
    EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
  } else {
    ASSERT_TRUE(decryptor->update(v.ciphertext));
    auto status = decryptor->finish();
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
  }
  EXPECT_EQ(sink.received(), 0u);
}

INSTANTIATE_TEST_SUITE_P(HeaderFailureFlag, CobblestoneHeaderFailure,
                         ::testing::ValuesIn(ids([](const CobblestoneVectorInfo& v) {
                           return v.has("HeaderFailure") && !v.has("InvalidKeySize");
                         })),
                         vector_name);

// ---- Random-access decryption -------------------------------------------------------------------------------------

class CobblestoneRandomAccess : public ::testing::TestWithParam<int> {};

TEST_P(CobblestoneRandomAccess, StreamReaderWholeMessageLengthAndRanges) {
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  if (v.has("InvalidKeySize")) {
    SpanSource source(v.ciphertext);
    auto reader = StreamReader::open(source, 0, v.ciphertext.size(), v.key, v.context);
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().code(), ErrorCode::kInvalidArgument);
    return;
  }
  ByteSpan allowed = v.allowed_plaintext();
  // The stream alone, and the stream embedded at an offset in a larger blob (as a part inside a multipart body).
  Bytes embedded = test::random_bytes_seeded(1000, 1);
  embedded.insert(embedded.end(), v.ciphertext.begin(), v.ciphertext.end());
  Bytes trailer = test::random_bytes_seeded(777, 2);
  embedded.insert(embedded.end(), trailer.begin(), trailer.end());
  struct Placement {
    ByteSpan blob;
    std::uint64_t offset;
  };
  for (Placement where : {Placement{v.ciphertext, 0}, Placement{embedded, 1000}}) {
    for (std::size_t batch : {std::size_t{1}, std::size_t{3}, kDefaultBatchChunks}) {
      SCOPED_TRACE(::testing::Message() << "offset " << where.offset << ", batch " << batch);
      SpanSource source(where.blob);
      auto reader = StreamReader::open(source, where.offset, v.ciphertext.size(), v.key, v.context, batch);
      if (!reader) {
        // Refusing an invalid vector at open (bad header, impossible length) is always right.
        EXPECT_FALSE(v.valid) << reader.error().to_string();
        EXPECT_EQ(reader.error().code(), ErrorCode::kDataLoss);
        continue;
      }
      EXPECT_FALSE(v.has("HeaderFailure")) << "the header was accepted";

      // Length authentication by decrypting the final chunk: it succeeds exactly when the final chunk verifies at
      // its index (which the ValidFinalChunk flag announces).
      auto length = reader->authenticate_length();
      std::uint64_t final_offset = reader->plaintext_size() / kChunkSize * kChunkSize;
      bool final_verifies = !v.verified_chunks.empty() && v.verified_chunks.back().first == final_offset;
      EXPECT_EQ(final_verifies, v.valid || v.has("ValidFinalChunk"));
      EXPECT_EQ(length.has_value(), final_verifies);
      if (v.valid) {
        EXPECT_TRUE(length) << length.error().to_string();
        EXPECT_EQ(reader->plaintext_size(), *v.msg_length);
      } else if (!v.has("ValidFinalChunk")) {
        ASSERT_FALSE(length) << "the final chunk of an invalid vector authenticated";
        EXPECT_EQ(length.error().code(), ErrorCode::kDataLoss);
      }

      // The whole message.
      CheckingSink sink(allowed, 0);
      sink.keep_bytes(v.valid);
      auto whole = reader->read(0, reader->plaintext_size(), sink);
      EXPECT_FALSE(sink.violated()) << sink.violation();
      EXPECT_LE(sink.largest_write(), batch * kChunkSize);
      if (v.valid) {
        ASSERT_TRUE(whole) << whole.error().to_string();
        EXPECT_EQ(test::sha512(sink.bytes()), *v.msg_sha512);
      } else {
        EXPECT_FALSE(whole && length) << "reading the whole message and authenticating its length both succeeded";
        if (!whole) {
          EXPECT_EQ(whole.error().code(), ErrorCode::kDataLoss);
        } else {
          EXPECT_LE(reader->plaintext_size(), allowed.size()) << "a successful read covered invalid chunks";
        }
      }

      // Ranges: a range read may succeed only over chunks that verify at their index (for a ValidFinalChunk vector,
      // the final chunk), and never releases anything else.
      CheckingSink::Segments verified;
      for (const auto& [offset, bytes] : v.verified_chunks) verified.emplace_back(offset, bytes);
      std::mt19937_64 rng(static_cast<std::uint64_t>(v.id) * 31 + batch);
      std::uint64_t size = reader->plaintext_size();
      for (int i = 0; i < 60; ++i) {
        std::uint64_t pos = size == 0 ? 0 : rng() % (size + 1);
        if (i % 4 == 0) pos = (rng() % (size / kChunkSize + 1)) * kChunkSize;  // chunk-aligned starts
        pos = std::min(pos, size);
        std::uint64_t count = rng() % (size - pos + 1);
        if (i % 5 == 0) count = std::min<std::uint64_t>(size - pos, rng() % 40);
        CheckingSink range_sink(verified, pos);
        auto status = reader->read(pos, count, range_sink);
        EXPECT_FALSE(range_sink.violated()) << pos << "+" << count << ": " << range_sink.violation();
        if (status) {
          EXPECT_EQ(range_sink.received(), count) << pos << "+" << count;
        } else {
          EXPECT_FALSE(v.valid) << pos << "+" << count << ": " << status.error().to_string();
          EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
        }
      }
      // Past the end is OutOfRange and releases nothing.
      CheckingSink past(allowed, size);
      auto beyond = reader->read(size, 1, past);
      ASSERT_FALSE(beyond);
      EXPECT_EQ(beyond.error().code(), ErrorCode::kOutOfRange);
      EXPECT_EQ(past.received(), 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All35, CobblestoneRandomAccess, ::testing::Range(1, 36), vector_name);

// ---- Encryption with the vectors' salts ---------------------------------------------------------------------------

class CobblestoneEncryption : public ::testing::TestWithParam<int> {};

TEST_P(CobblestoneEncryption, EncryptorWithTheVectorsSaltReproducesTheCiphertext) {
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  const Bytes& message = v.verified_prefix;  // checked against msgSha512 above
  ASSERT_EQ(message.size(), *v.msg_length);
  Salt salt{};
  std::copy_n(v.ciphertext.begin(), kSaltSize, salt.begin());
  std::vector<Feed> feeds = {Feed::kWhole, Feed::kRandomPieces, Feed::kChunkAligned};
  feeds.push_back(message.size() <= 100000 ? Feed::kOneByte : Feed::kSevenBytes);
  for (Feed feed : feeds) {
    for (std::size_t batch : {std::size_t{1}, std::size_t{2}, kDefaultBatchChunks}) {
      SCOPED_TRACE(::testing::Message() << "feed " << static_cast<int>(feed) << ", batch " << batch);
      StringSink sink;
      auto encryptor = StreamEncryptor::create(v.key, v.context, sink, salt, batch);
      ASSERT_TRUE(encryptor) << encryptor.error().to_string();
      EXPECT_EQ(encryptor->salt(), salt);
      std::size_t pos = 0;
      for (std::size_t n : piece_sizes(feed, message.size(), batch)) {
        ASSERT_TRUE(encryptor->write(ByteSpan(message).subspan(pos, n)));
        pos += n;
      }
      ASSERT_TRUE(encryptor->finish());
      EXPECT_EQ(encryptor->plaintext_bytes(), message.size());
      EXPECT_TRUE(std::equal(encryptor->commitment().begin(), encryptor->commitment().end(),
                             v.ciphertext.begin() + kSaltSize));
      ASSERT_EQ(sink.out.size(), v.ciphertext.size());
      EXPECT_TRUE(std::equal(sink.out.begin(), sink.out.end(), v.ciphertext.begin(),
                             [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }))
          << "the ciphertext differs";
    }
  }
}

TEST_P(CobblestoneEncryption, ARandomSaltRoundTrips) {
  const CobblestoneVector& v = cobblestone_vector(GetParam());
  SCOPED_TRACE(v.describe());
  StringSink sealed;
  auto encryptor = StreamEncryptor::create(v.key, v.context, sealed);
  ASSERT_TRUE(encryptor);
  ASSERT_TRUE(encryptor->write(v.verified_prefix));
  ASSERT_TRUE(encryptor->finish());
  ASSERT_EQ(sealed.out.size(), v.ciphertext.size());
  EXPECT_FALSE(std::equal(sealed.out.begin(), sealed.out.begin() + kSaltSize, v.ciphertext.begin(),
                          [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }))
      << "the salt was not fresh";
  CheckingSink sink(v.verified_prefix, 0);
  auto decryptor = StreamDecryptor::create(v.key, v.context, sink);
  ASSERT_TRUE(decryptor);
  ASSERT_TRUE(decryptor->update(as_bytes(sealed.out)));
  ASSERT_TRUE(decryptor->finish());
  EXPECT_FALSE(sink.violated());
  EXPECT_EQ(sink.received(), v.verified_prefix.size());
}

INSTANTIATE_TEST_SUITE_P(Valid, CobblestoneEncryption,
                         ::testing::ValuesIn(ids([](const CobblestoneVectorInfo& v) { return v.valid; })), vector_name);

}  // namespace
}  // namespace blobseal::seal
