// The key manager registry and the "local" factory: keyring path, explicit blob_key, BLOB_KEY from the environment.
#include "keys/registry.h"

#include <cstdlib>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keys/local/local_keyring.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

using ::testing::HasSubstr;

// Sets or unsets BLOB_KEY for one test and restores it afterwards.
class ScopedBlobKey {
 public:
  explicit ScopedBlobKey(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("BLOB_KEY")) saved_ = old;
    if (value) ::setenv("BLOB_KEY", value->c_str(), 1);
    else ::unsetenv("BLOB_KEY");
  }
  ~ScopedBlobKey() {
    if (saved_) ::setenv("BLOB_KEY", saved_->c_str(), 1);
    else ::unsetenv("BLOB_KEY");
  }

 private:
  std::optional<std::string> saved_;
};

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() { register_builtin_key_managers(registry_); }
  KeyManagerRegistry registry_;
  TempDir dir_;
};

TEST_F(RegistryTest, LocalIsRegistered) {
  EXPECT_THAT(registry_.names(), ::testing::IsSupersetOf({"local", "pkcs11", "kmip", "awskms", "vault"}));
  auto unknown = registry_.create("no-such-provider", {});
  ASSERT_TRUE(fails_with(unknown, ErrorCode::kNotFound));
  EXPECT_THAT(message_of(unknown), ::testing::StartsWith("unknown key manager \"no-such-provider\" (known: "));
  EXPECT_THAT(message_of(unknown), ::testing::HasSubstr("\"local\""));
  EXPECT_THAT(message_of(unknown), ::testing::HasSubstr("\"pkcs11\""));
}

TEST_F(RegistryTest, PathOpensTheKeyring) {
  std::string path = dir_.file("keyring.json");
  ASSERT_TRUE(ok(LocalKeyring::create(path)));
  ScopedBlobKey env(to_base64(Bytes(32, 9)));  // the keyring wins over the environment
  auto manager = registry_.create("local", {{"path", path}});
  ASSERT_TRUE(ok(manager));
  EXPECT_EQ((*manager)->id(), "local");
  auto data_key = (*manager)->generate_data_key(bytes_of("aad"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "default");
}

TEST_F(RegistryTest, DualReadVersionsSettingOverridesTheFile) {
  std::string path = dir_.file("keyring.json");
  auto keyring = LocalKeyring::create(path);
  ASSERT_TRUE(ok(keyring));
  auto v1 = (*keyring)->generate_data_key(bytes_of("aad"));
  ASSERT_TRUE(ok(v1));
  ASSERT_TRUE(ok((*keyring)->rotate()));
  auto manager = registry_.create("local", {{"path", path}, {"dual_read_versions", "1"}, {"reload_interval_ms", "0"}});
  ASSERT_TRUE(ok(manager));
  auto refused = (*manager)->unwrap(v1->wrapped, bytes_of("aad"));
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(refused), HasSubstr("outside the dual-read window"));
}

TEST_F(RegistryTest, BadSettingsAreInvalidArguments) {
  for (const KeyManagerConfig& config :
       {KeyManagerConfig{{"dual_read_versions", "two"}}, KeyManagerConfig{{"dual_read_versions", "-1"}},
        KeyManagerConfig{{"dual_read_versions", ""}}, KeyManagerConfig{{"reload_interval_ms", "1s"}},
        KeyManagerConfig{{"keyring", "/etc/blobseal/keyring"}},
        KeyManagerConfig{{"path", dir_.file("k")}, {"blob_key", to_base64(Bytes(32, 1))}}}) {
    auto manager = registry_.create("local", config);
    EXPECT_TRUE(fails_with(manager, ErrorCode::kInvalidArgument)) << config.begin()->first;
  }
  auto unknown = registry_.create("local", {{"keyring", "x"}});
  EXPECT_THAT(message_of(unknown), HasSubstr("has no setting \"keyring\""));
}

TEST_F(RegistryTest, BlobKeySettingOrEnvironmentGivesTheSingleKey) {
  ScopedBlobKey unset(std::nullopt);
  auto explicit_key = registry_.create("local", {{"blob_key", to_base64(Bytes(32, 3))}});
  ASSERT_TRUE(ok(explicit_key));
  auto wrapped = (*explicit_key)->generate_data_key(bytes_of("aad"));
  ASSERT_TRUE(ok(wrapped));
  EXPECT_EQ(wrapped->wrapped.key_id, "BLOB_KEY");

  ScopedBlobKey env(to_base64(Bytes(32, 3)));
  auto from_env = registry_.create("local", {});
  ASSERT_TRUE(ok(from_env));
  auto unwrapped = (*from_env)->unwrap(wrapped->wrapped, bytes_of("aad"));
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), wrapped->plaintext.view()));
  // An empty path means "no keyring".
  EXPECT_TRUE(ok(registry_.create("local", {{"path", ""}})));
}

TEST_F(RegistryTest, MalformedBlobKeyInTheEnvironmentIsAClearErrorWithoutTheValue) {
  std::string value = to_base64(Bytes(31, 0x77));
  ScopedBlobKey env(value);
  auto manager = registry_.create("local", {});
  ASSERT_TRUE(fails_with(manager, ErrorCode::kInvalidArgument));
  EXPECT_THAT(message_of(manager), HasSubstr("BLOB_KEY decodes to 31 bytes, not 32"));
  EXPECT_FALSE(contains_secret(message_of(manager), {value}));
}

TEST_F(RegistryTest, NoKeyringAndNoBlobKeySaysHowToConfigureOne) {
  ScopedBlobKey unset(std::nullopt);
  auto manager = registry_.create("local", {});
  ASSERT_TRUE(fails_with(manager, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(manager), HasSubstr("blobseal keys init --keyring FILE"));
  EXPECT_THAT(message_of(manager), HasSubstr("set BLOB_KEY"));
}

TEST_F(RegistryTest, MissingKeyringIsNotFoundEvenWithBlobKeySet) {
  ScopedBlobKey env(to_base64(Bytes(32, 3)));
  auto manager = registry_.create("local", {{"path", dir_.file("missing.json")}});
  ASSERT_TRUE(fails_with(manager, ErrorCode::kNotFound));
  EXPECT_THAT(message_of(manager), HasSubstr("blobseal keys init --keyring"));
}

TEST_F(RegistryTest, AnObjectWrappedByTheKeyringIsUnknownToBlobKey) {
  std::string path = dir_.file("keyring.json");
  auto keyring = registry_.create("local", {{"path", path}});
  ASSERT_FALSE(keyring);
  ASSERT_TRUE(ok(LocalKeyring::create(path)));
  keyring = registry_.create("local", {{"path", path}});
  ASSERT_TRUE(ok(keyring));
  auto data_key = (*keyring)->generate_data_key(bytes_of("aad"));
  ASSERT_TRUE(ok(data_key));
  auto blob = registry_.create("local", {{"blob_key", to_base64(Bytes(32, 3))}});
  ASSERT_TRUE(ok(blob));
  auto unwrapped = (*blob)->unwrap(data_key->wrapped, bytes_of("aad"));
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kNotFound));
  EXPECT_EQ(message_of(unwrapped),
            "unknown key \"default\": the key manager built from BLOB_KEY has only the key \"BLOB_KEY\"");
}

}  // namespace
}  // namespace blobseal::keys::testing
