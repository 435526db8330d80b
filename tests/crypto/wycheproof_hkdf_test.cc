// Wycheproof HKDF-SHA-512 (hkdf_sha512_test.json) against hkdf_sha512, and the expand-only limits Cobblestone uses.
#include <gtest/gtest.h>

#include "crypto/primitives.h"
#include "vectors.h"

namespace blobseal::crypto {
namespace {

using test::describe;
using test::hex_field;

TEST(WycheproofHkdfSha512, EveryVector) {
  const auto& file = test::wycheproof("hkdf_sha512_test.json");
  int valid = 0, invalid = 0;
  for (const auto& group : file.at("testGroups")) {
    for (const auto& t : group.at("tests")) {
      SCOPED_TRACE(describe(t));
      Bytes ikm = hex_field(t, "ikm"), salt = hex_field(t, "salt"), info = hex_field(t, "info");
      std::size_t size = t.at("size");
      std::string result = t.at("result");
      Bytes out(size, 0);
      auto status = hkdf_sha512(ikm, salt, info, out);
      if (result == "valid") {
        ++valid;
        ASSERT_TRUE(status) << status.error().to_string();
        EXPECT_EQ(out, hex_field(t, "okm"));
      } else {
        ++invalid;
        ASSERT_EQ(result, "invalid");
        EXPECT_FALSE(status) << "derived " << size << " bytes, more than 255 * 64";
      }
    }
  }
  EXPECT_EQ(valid + invalid, file.at("numberOfTests").get<int>());
  EXPECT_EQ(invalid, 3);
}

TEST(HkdfSha512, AnEmptySaltIsTheSameAsSixtyFourZeroBytes) {
  // RFC 5869 §2.2: "if not provided, [salt] is set to a string of HashLen zeros". Also guards the OpenSSL 3.0 quirk
  // of an empty salt given as a NULL pointer.
  const Bytes ikm(22, 0x0b);
  const Bytes info = {0xf0, 0xf1, 0xf2};
  Bytes empty_salt(42), zero_salt(42);
  ASSERT_TRUE(hkdf_sha512(ikm, {}, info, empty_salt));
  ASSERT_TRUE(hkdf_sha512(ikm, Bytes(64, 0), info, zero_salt));
  EXPECT_EQ(empty_salt, zero_salt);
  Bytes other_salt(42);
  ASSERT_TRUE(hkdf_sha512(ikm, Bytes(64, 1), info, other_salt));
  EXPECT_NE(other_salt, zero_salt);
}

TEST(HkdfExpandSha512, OutputsUpTo255BlocksAndNoMore) {
  const Bytes prk(32, 0x42);
  const Bytes info = {'c', 't', 'x'};
  Bytes max(255 * 64);
  ASSERT_TRUE(hkdf_expand_sha512(prk, info, max));
  Bytes too_long(255 * 64 + 1);
  EXPECT_FALSE(hkdf_expand_sha512(prk, info, too_long));
}

TEST(HkdfExpandSha512, ShorterOutputsArePrefixesAndInputsMatter) {
  const Bytes prk(32, 0x42);
  const Bytes info = {'c', 't', 'x'};
  Bytes long_out(200), short_out(76);
  ASSERT_TRUE(hkdf_expand_sha512(prk, info, long_out));
  ASSERT_TRUE(hkdf_expand_sha512(prk, info, short_out));
  EXPECT_TRUE(std::equal(short_out.begin(), short_out.end(), long_out.begin()));

  Bytes other_info(76), other_prk(76), empty_info(76);
  ASSERT_TRUE(hkdf_expand_sha512(prk, Bytes{'c', 't', 'y'}, other_info));
  ASSERT_TRUE(hkdf_expand_sha512(Bytes(32, 0x43), info, other_prk));
  ASSERT_TRUE(hkdf_expand_sha512(prk, {}, empty_info));
  EXPECT_NE(other_info, short_out);
  EXPECT_NE(other_prk, short_out);
  EXPECT_NE(empty_info, short_out);
}

}  // namespace
}  // namespace blobseal::crypto
