// Wycheproof AES-GCM (aes_gcm_test.json). The data-path AesGcm (256-bit keys, 96-bit nonces, 128-bit tags) runs every
// vector of the 256/96/128 groups in both directions; the one-shot aes_gcm_open_once (any key size, any IV length
// OpenSSL accepts) runs every vector of the file.
#include <algorithm>

#include <gtest/gtest.h>

#include "crypto/aes_gcm.h"
#include "vectors.h"

namespace blobseal::crypto {
namespace {

using test::describe;
using test::hex_field;

bool all_zero(std::span<const std::uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

TEST(WycheproofAesGcm, DataPathAesGcmOnEvery256BitKey96BitNonceVector) {
  const auto& file = test::wycheproof("aes_gcm_test.json");
  int valid = 0, invalid = 0;
  for (const auto& group : file.at("testGroups")) {
    if (group.at("keySize") != 256 || group.at("ivSize") != 96 || group.at("tagSize") != 128) continue;
    for (const auto& t : group.at("tests")) {
      SCOPED_TRACE(describe(t));
      Bytes key = hex_field(t, "key"), iv = hex_field(t, "iv"), aad = hex_field(t, "aad"), msg = hex_field(t, "msg"),
            ct = hex_field(t, "ct"), tag = hex_field(t, "tag");
      std::string result = t.at("result");
      ASSERT_NE(result, "acceptable") << "no acceptable cases are expected in these groups";
      auto gcm = AesGcm::create(key);
      ASSERT_TRUE(gcm) << gcm.error().to_string();

      Bytes out(ct.size(), 0xCC);
      auto opened = gcm->open(iv, aad, ct, tag, out);
      if (result == "valid") {
        ++valid;
        ASSERT_TRUE(opened) << opened.error().to_string();
        EXPECT_EQ(out, msg);

        Bytes sealed(msg.size());
        std::array<std::uint8_t, kAesGcmTagSize> computed_tag{};
        ASSERT_TRUE(gcm->seal(iv, aad, msg, sealed, computed_tag));
        EXPECT_EQ(sealed, ct);
        EXPECT_EQ(Bytes(computed_tag.begin(), computed_tag.end()), tag);

        // In place, as the chunk layer uses it: out aliases the input exactly.
        Bytes in_place = ct;
        ASSERT_TRUE(gcm->open(iv, aad, in_place, tag, in_place));
        EXPECT_EQ(in_place, msg);
        in_place = msg;
        ASSERT_TRUE(gcm->seal(iv, aad, in_place, in_place, computed_tag));
        EXPECT_EQ(in_place, ct);
      } else {
        ++invalid;
        ASSERT_FALSE(opened) << "an invalid vector decrypted";
        EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
        EXPECT_TRUE(all_zero(out)) << "unverified plaintext was left in the output buffer";
      }
    }
  }
  // The file has 39 valid and 27 invalid vectors in these groups; a filter that matched nothing would pass silently.
  EXPECT_EQ(valid, 39);
  EXPECT_EQ(invalid, 27);
}

TEST(WycheproofAesGcm, DataPathAesGcmRefusesOtherNonceSizesInsteadOfMisusingThem) {
  const auto& file = test::wycheproof("aes_gcm_test.json");
  int checked = 0;
  for (const auto& group : file.at("testGroups")) {
    if (group.at("keySize") != 256 || group.at("ivSize") == 96) continue;
    for (const auto& t : group.at("tests")) {
      SCOPED_TRACE(describe(t));
      Bytes key = hex_field(t, "key"), iv = hex_field(t, "iv"), aad = hex_field(t, "aad"), ct = hex_field(t, "ct"),
            tag = hex_field(t, "tag");
      auto gcm = AesGcm::create(key);
      ASSERT_TRUE(gcm);
      Bytes out(ct.size());
      auto opened = gcm->open(iv, aad, ct, tag, out);
      ASSERT_FALSE(opened);
      EXPECT_EQ(opened.error().code(), ErrorCode::kInvalidArgument);
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

TEST(WycheproofAesGcm, OneShotOpenOnEveryVector) {
  const auto& file = test::wycheproof("aes_gcm_test.json");
  int valid = 0, invalid = 0, skipped = 0;
  for (const auto& group : file.at("testGroups")) {
    for (const auto& t : group.at("tests")) {
      SCOPED_TRACE(describe(t));
      Bytes key = hex_field(t, "key"), iv = hex_field(t, "iv"), aad = hex_field(t, "aad"), msg = hex_field(t, "msg"),
            ct = hex_field(t, "ct"), tag = hex_field(t, "tag");
      std::string result = t.at("result");
      ASSERT_NE(result, "acceptable");
      if (iv.size() > 128) {
        // OpenSSL 3.0 refuses IVs longer than 128 bytes (tests/vectors/README.md); they must still not decrypt.
        ++skipped;
        EXPECT_FALSE(aes_gcm_open_once(key, iv, aad, ct, tag));
        continue;
      }
      auto opened = aes_gcm_open_once(key, iv, aad, ct, tag);
      if (result == "valid") {
        ++valid;
        ASSERT_TRUE(opened) << opened.error().to_string();
        EXPECT_EQ(*opened, msg);
      } else {
        ++invalid;
        ASSERT_FALSE(opened) << "an invalid vector decrypted";
      }
    }
  }
  EXPECT_EQ(valid + invalid + skipped, file.at("numberOfTests").get<int>());
  EXPECT_EQ(skipped, 3) << "only the three 257-byte-IV vectors are out of OpenSSL's reach";
  EXPECT_EQ(invalid, 87);
}

}  // namespace
}  // namespace blobseal::crypto
