// Wycheproof HMAC-SHA256 (hmac_sha256_test.json) against hmac_sha256, with the truncated tags the file also uses,
// and the RFC 4231 known answers.
#include <gtest/gtest.h>

#include "crypto/primitives.h"
#include "vectors.h"

namespace blobseal::crypto {
namespace {

using test::describe;
using test::hex_field;

TEST(WycheproofHmacSha256, EveryVector) {
  const auto& file = test::wycheproof("hmac_sha256_test.json");
  int valid = 0, invalid = 0;
  for (const auto& group : file.at("testGroups")) {
    std::size_t tag_bytes = group.at("tagSize").get<std::size_t>() / 8;
    ASSERT_LE(tag_bytes, 32u);
    for (const auto& t : group.at("tests")) {
      SCOPED_TRACE(describe(t));
      Bytes key = hex_field(t, "key"), msg = hex_field(t, "msg"), tag = hex_field(t, "tag");
      auto mac = hmac_sha256(key, msg);
      bool matches = constant_time_equal(std::span(mac).first(tag_bytes), tag);
      if (t.at("result") == "valid") {
        ++valid;
        EXPECT_TRUE(matches) << "computed " << to_hex(std::span(mac).first(tag_bytes));
      } else {
        ++invalid;
        EXPECT_FALSE(matches) << "a modified tag verified";
      }
    }
  }
  EXPECT_EQ(valid + invalid, file.at("numberOfTests").get<int>());
  EXPECT_EQ(invalid, 108);
}

TEST(HmacSha256, Rfc4231KnownAnswers) {
  EXPECT_EQ(to_hex(hmac_sha256(Bytes(20, 0x0b), as_bytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size is hashed first.
  EXPECT_EQ(to_hex(hmac_sha256(Bytes(131, 0xaa), as_bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Empty key and message (the empty-span pointer quirk).
  EXPECT_EQ(to_hex(hmac_sha256({}, {})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace blobseal::crypto
