// Regression (fuzz_envelope): a recorded length no Cobblestone stream can hold (2^38 chunks, the last one short:
// at most 2^52 - 1 bytes) was accepted, and expected_body_size() could wrap around 2^64 for it.
#include <gtest/gtest.h>

#include "seal/envelope.h"

namespace blobseal::seal {
namespace {

constexpr std::uint64_t kLongestStream = kMaxChunks * kChunkSize - 1;

Envelope envelope(Layout layout, std::uint64_t size) {
  Envelope e;
  e.layout = layout;
  e.plaintext_size = size;
  e.key = {"local", "k", 1, Bytes(60, 1)};
  return e;
}

TEST(EnvelopeLimits, RefusesLengthsNoStreamCanHold) {
  SecretBytes dek(32);
  for (std::uint64_t size : {kLongestStream + 1, std::uint64_t{0x746c730000000064}, ~std::uint64_t{0}}) {
    auto encoded = encode_envelope(envelope(Layout::kSingleStream, size), {}, dek);
    ASSERT_FALSE(encoded) << size;
    EXPECT_EQ(encoded.error().code(), ErrorCode::kInvalidArgument);
  }
  auto longest = encode_envelope(envelope(Layout::kSingleStream, kLongestStream), {}, dek);
  ASSERT_TRUE(longest) << longest.error().to_string();
  auto parsed = parse_envelope(*longest);
  ASSERT_TRUE(parsed);
  auto contents = open_envelope(parsed->envelope, dek);
  ASSERT_TRUE(contents);
  EXPECT_EQ(expected_body_size(parsed->envelope, *contents), ciphertext_size(kLongestStream));
  EXPECT_EQ(plaintext_size(ciphertext_size(kLongestStream)), kLongestStream);
}

TEST(EnvelopeLimits, RefusesPartsNoStreamCanHoldAndBodiesThatWrap) {
  SecretBytes dek(32);
  auto code = [&](std::vector<std::uint64_t> sizes) -> std::optional<ErrorCode> {
    EnvelopeContents c;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      c.parts.push_back({static_cast<std::uint32_t>(i + 1), sizes[i], {}, {}});
      total += sizes[i];
    }
    auto encoded = encode_envelope(envelope(Layout::kMultipart, total), c, dek);
    if (encoded) return std::nullopt;
    return encoded.error().code();
  };
  EXPECT_EQ(code({kLongestStream + 1}), ErrorCode::kInvalidArgument) << "2^52 bytes need 2^38 + 1 chunks";
  EXPECT_FALSE(code({kLongestStream}));
  // 4,095 parts of 2^52 - 1 bytes: the plaintext total fits in 64 bits, the body size does not.
  std::vector<std::uint64_t> wrap(4095, kLongestStream);
  EXPECT_EQ(code(wrap), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace blobseal::seal
