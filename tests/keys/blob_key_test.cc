// BLOB_KEY: a single key from the environment, with no keyring file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/primitives.h"
#include "keys/local/local_keyring.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(BlobKeyTest, IsProviderLocalKeyBlobKeyVersionOne) {
  SecretBytes material = crypto::random_secret(32);
  std::string encoded = to_base64(material.view());
  auto keyring = LocalKeyring::from_blob_key(encoded);
  ASSERT_TRUE(ok(keyring));
  EXPECT_EQ((*keyring)->id(), "local");
  auto data_key = (*keyring)->generate_data_key(bytes_of("aad"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.provider, "local");
  EXPECT_EQ(data_key->wrapped.key_id, "BLOB_KEY");
  EXPECT_EQ(data_key->wrapped.version, 1u);

  auto keys = (*keyring)->describe();
  ASSERT_TRUE(ok(keys));
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].key_id, "BLOB_KEY");
  EXPECT_TRUE((*keys)[0].is_default);
  ASSERT_EQ((*keys)[0].versions.size(), 1u);
  EXPECT_EQ((*keys)[0].versions[0].version, 1u);
  EXPECT_EQ((*keys)[0].versions[0].state, KeyVersionState::kCurrent);

  // The same BLOB_KEY in another process opens what this one wrapped (a trailing newline from a file is fine).
  auto other = LocalKeyring::from_blob_key(encoded + "\n");
  ASSERT_TRUE(ok(other));
  auto unwrapped = (*other)->unwrap(data_key->wrapped, bytes_of("aad"));
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));

  // Another BLOB_KEY does not.
  auto stranger = LocalKeyring::from_blob_key(to_base64(crypto::random_secret(32).view()));
  ASSERT_TRUE(ok(stranger));
  EXPECT_TRUE(fails_with((*stranger)->unwrap(data_key->wrapped, bytes_of("aad")), ErrorCode::kDataLoss));
  secure_zero(encoded.data(), encoded.size());
}

struct MalformedBlobKey {
  std::string name;
  std::string value;
  std::string message;
};

void PrintTo(const MalformedBlobKey& c, std::ostream* os) { *os << c.name; }

class MalformedBlobKeyTest : public ::testing::TestWithParam<MalformedBlobKey> {};

TEST_P(MalformedBlobKeyTest, IsRefusedWithoutEchoingTheValue) {
  auto keyring = LocalKeyring::from_blob_key(GetParam().value);
  ASSERT_TRUE(fails_with(keyring, ErrorCode::kInvalidArgument));
  EXPECT_THAT(keyring.error().message(), StartsWith(GetParam().message));
  std::string trimmed = GetParam().value;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
  if (trimmed.size() >= 8) {
    EXPECT_FALSE(contains_secret(keyring.error().to_string(), {trimmed})) << "value echoed";
  }
  for (std::size_t i = 0; i + 8 <= trimmed.size(); i += 8)
    EXPECT_EQ(keyring.error().message().find(trimmed.substr(i, 8)), std::string::npos) << "part of the value echoed";
}

INSTANTIATE_TEST_SUITE_P(
    Values, MalformedBlobKeyTest,
    ::testing::Values(
        MalformedBlobKey{"NotBase64", "this is not base64 but a passphrase!", "BLOB_KEY is not valid base64"},
        MalformedBlobKey{"Bytes31", to_base64(Bytes(31, 0x61)), "BLOB_KEY decodes to 31 bytes, not 32"},
        MalformedBlobKey{"Bytes33", to_base64(Bytes(33, 0x62)), "BLOB_KEY decodes to 33 bytes, not 32"},
        MalformedBlobKey{"Hex", std::string(64, 'a'), "BLOB_KEY decodes to 48 bytes, not 32"},
        MalformedBlobKey{"Unpadded", to_base64(Bytes(32, 0x63)).substr(0, 43), "BLOB_KEY is not valid base64"},
        MalformedBlobKey{"Empty", "", "BLOB_KEY is empty"},
        MalformedBlobKey{"Blank", " \n", "BLOB_KEY is empty"}),
    [](const ::testing::TestParamInfo<MalformedBlobKey>& info) { return info.param.name; });

}  // namespace
}  // namespace blobseal::keys::testing
