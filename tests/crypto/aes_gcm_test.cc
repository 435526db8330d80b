// The reusable AES-256-GCM context: argument checks, known answers, in-place use, many nonces on one context, and
// that a failed open never leaves plaintext behind.
#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "crypto/aes_gcm.h"
#include "vectors.h"

namespace blobseal::crypto {
namespace {

using Tag = std::array<std::uint8_t, kAesGcmTagSize>;

Bytes random_bytes_seeded(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

bool all_zero(std::span<const std::uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

TEST(AesGcm, CreateNeedsA32ByteKey) {
  for (std::size_t n : {0u, 1u, 16u, 24u, 31u, 33u, 64u}) {
    auto gcm = AesGcm::create(Bytes(n, 7));
    ASSERT_FALSE(gcm) << n;
    EXPECT_EQ(gcm.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(AesGcm::create(Bytes(32, 7)));
}

TEST(AesGcm, NistGcmSpecTestCases13And14) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and 14 (256-bit zero key, zero IV).
  auto gcm = AesGcm::create(Bytes(32, 0));
  ASSERT_TRUE(gcm);
  const Bytes iv(12, 0);
  Tag tag{};
  Bytes empty;
  ASSERT_TRUE(gcm->seal(iv, {}, empty, empty, tag));
  EXPECT_EQ(to_hex(tag), "530f8afbc74536b9a963b4f1c4cb738b");
  Bytes block(16, 0), ct(16);
  ASSERT_TRUE(gcm->seal(iv, {}, block, ct, tag));
  EXPECT_EQ(to_hex(ct), "cea7403d4d606b6e074ec5d3baf39d18");
  EXPECT_EQ(to_hex(tag), "d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(AesGcm, RoundTripsEverySizeAroundBlockAndChunkBoundaries) {
  auto gcm = AesGcm::create(random_bytes_seeded(32, 1));
  ASSERT_TRUE(gcm);
  Bytes aad = random_bytes_seeded(13, 2);
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 255u, 1000u, 16383u, 16384u}) {
    Bytes nonce = random_bytes_seeded(12, static_cast<std::uint32_t>(n) + 3);
    Bytes msg = random_bytes_seeded(n, static_cast<std::uint32_t>(n));
    Bytes ct(n);
    Tag tag{};
    ASSERT_TRUE(gcm->seal(nonce, aad, msg, ct, tag));
    if (n > 0) {
      EXPECT_NE(ct, msg);
    }
    Bytes back(n);
    ASSERT_TRUE(gcm->open(nonce, aad, ct, tag, back)) << n;
    EXPECT_EQ(back, msg);
  }
}

TEST(AesGcm, OneContextServesManyNoncesLikeFreshContexts) {
  Bytes key = random_bytes_seeded(32, 4);
  auto shared = AesGcm::create(key);
  ASSERT_TRUE(shared);
  for (std::uint32_t i = 0; i < 50; ++i) {
    Bytes nonce = random_bytes_seeded(12, 100 + i);
    Bytes msg = random_bytes_seeded(i * 37, 200 + i);
    Bytes aad = i % 3 == 0 ? Bytes{} : random_bytes_seeded(i, 300 + i);
    Bytes ct1(msg.size()), ct2(msg.size());
    Tag t1{}, t2{};
    ASSERT_TRUE(shared->seal(nonce, aad, msg, ct1, t1));
    auto fresh = AesGcm::create(key);
    ASSERT_TRUE(fresh);
    ASSERT_TRUE(fresh->seal(nonce, aad, msg, ct2, t2));
    EXPECT_EQ(ct1, ct2);
    EXPECT_EQ(t1, t2);
    // Interleaved opens on the shared context do not disturb the next seal.
    Bytes back(msg.size());
    ASSERT_TRUE(shared->open(nonce, aad, ct1, t1, back));
    EXPECT_EQ(back, msg);
    // The one-shot path agrees.
    auto once = aes_gcm_open_once(key, nonce, aad, ct1, t1);
    ASSERT_TRUE(once);
    EXPECT_EQ(*once, msg);
  }
}

TEST(AesGcm, SealsAndOpensInPlace) {
  auto gcm = AesGcm::create(random_bytes_seeded(32, 5));
  ASSERT_TRUE(gcm);
  Bytes nonce(12, 9);
  Bytes msg = random_bytes_seeded(5000, 6);
  Bytes buf = msg;
  Tag tag{};
  ASSERT_TRUE(gcm->seal(nonce, {}, buf, buf, tag));
  EXPECT_NE(buf, msg);
  ASSERT_TRUE(gcm->open(nonce, {}, buf, tag, buf));
  EXPECT_EQ(buf, msg);
}

TEST(AesGcm, AnyChangeFailsAsDataLossAndZeroesTheOutput) {
  auto gcm = AesGcm::create(random_bytes_seeded(32, 7));
  ASSERT_TRUE(gcm);
  Bytes nonce = random_bytes_seeded(12, 8), aad = random_bytes_seeded(20, 9), msg = random_bytes_seeded(333, 10);
  Bytes ct(msg.size());
  Tag tag{};
  ASSERT_TRUE(gcm->seal(nonce, aad, msg, ct, tag));

  auto expect_refused = [&](Bytes n, Bytes a, Bytes c, Tag t, const char* what) {
    Bytes out(c.size(), 0xCC);
    auto status = gcm->open(n, a, c, t, out);
    ASSERT_FALSE(status) << what;
    EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss) << what;
    EXPECT_TRUE(all_zero(out)) << what << ": unverified plaintext left in the buffer";
  };
  for (std::size_t i : {0ul, 100ul, ct.size() - 1}) {
    Bytes c = ct;
    c[i] ^= 0x01;
    expect_refused(nonce, aad, c, tag, "ciphertext bit");
  }
  for (std::size_t i = 0; i < tag.size(); ++i) {
    Tag t = tag;
    t[i] ^= 0x80;
    expect_refused(nonce, aad, ct, t, "tag bit");
  }
  Bytes a = aad;
  a[5] ^= 1;
  expect_refused(nonce, a, ct, tag, "aad bit");
  expect_refused(nonce, {}, ct, tag, "aad dropped");
  Bytes n = nonce;
  n[11] ^= 1;
  expect_refused(n, aad, ct, tag, "nonce bit");
  auto other = AesGcm::create(random_bytes_seeded(32, 11));
  Bytes out(ct.size());
  EXPECT_FALSE(other->open(nonce, aad, ct, tag, out)) << "another key";

  // In place, a failure wipes the caller's buffer too.
  Bytes in_place = ct;
  in_place[3] ^= 4;
  ASSERT_FALSE(gcm->open(nonce, aad, in_place, tag, in_place));
  EXPECT_TRUE(all_zero(in_place));
}

TEST(AesGcm, BadSizesAreInvalidArguments) {
  auto gcm = AesGcm::create(Bytes(32, 1));
  ASSERT_TRUE(gcm);
  Bytes msg(10), out(10), small(9);
  Tag tag{};
  for (std::size_t nonce_size : {0u, 8u, 11u, 13u, 16u}) {
    auto s = gcm->seal(Bytes(nonce_size), {}, msg, out, tag);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    auto o = gcm->open(Bytes(nonce_size), {}, msg, tag, out);
    ASSERT_FALSE(o);
    EXPECT_EQ(o.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(test::code_of(gcm->seal(Bytes(12), {}, msg, small, tag)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(test::code_of(gcm->open(Bytes(12), {}, msg, tag, small)), ErrorCode::kInvalidArgument);
  EXPECT_EQ(test::code_of(gcm->open(Bytes(12), {}, msg, Bytes(15), out)), ErrorCode::kInvalidArgument);
}

TEST(AesGcm, StaysUsableAfterAMove) {
  Bytes key = random_bytes_seeded(32, 12);
  auto a = AesGcm::create(key);
  ASSERT_TRUE(a);
  AesGcm moved = std::move(*a);
  Bytes nonce(12, 3), msg = random_bytes_seeded(40, 13), ct(40), back(40);
  Tag tag{};
  ASSERT_TRUE(moved.seal(nonce, {}, msg, ct, tag));
  auto b = AesGcm::create(Bytes(32, 0));
  ASSERT_TRUE(b);
  *b = std::move(moved);
  ASSERT_TRUE(b->open(nonce, {}, ct, tag, back));
  EXPECT_EQ(back, msg);
}

TEST(AesGcmOpenOnce, RejectsUnsupportedKeysAndEmptyIvs) {
  Bytes ct(4), tag(16);
  for (std::size_t n : {0u, 8u, 20u, 33u}) {
    auto r = aes_gcm_open_once(Bytes(n), Bytes(12), {}, ct, tag);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  auto r = aes_gcm_open_once(Bytes(32), {}, {}, ct, tag);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace blobseal::crypto
