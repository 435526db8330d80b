// The "awskms" key manager against the KMS emulator (kms_emulator.py: a test double of the AWS KMS JSON API that
// verifies every request's SigV4 signature and enforces the encryption context; NOT AWS KMS, which is not reachable
// here). One emulator per test, started on 127.0.0.1 and stopped by PID.
#include <cstdlib>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "keys/awskms/awskms_key_manager.h"
#include "keys/registry.h"
#include "kms_emulator.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

using ::testing::HasSubstr;

Bytes aad_of(std::string_view location) {
  Bytes aad = bytes_of("blobseal.dev/dek@v1");
  aad.push_back(0);
  put_bytes(aad, as_bytes(location));
  return aad;
}

// Sets (or unsets, for nullopt) environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::optional<std::string>>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name);
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      if (value) ::setenv(name, value->c_str(), 1);
      else ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::vector<std::string> credential_secrets() {
  return {kKmsSecretKey, kKmsTemporarySecretKey, "wrongSecretKey/0123456789abcdefghijKLMN", kKmsSessionToken};
}

class AwsKmsEmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    emulator_ = KmsEmulator::start(why);
    if (emulator_ == nullptr) {
      if (!why.empty()) GTEST_SKIP() << "no KMS emulator: " << why;
      FAIL() << "the KMS emulator did not start";
    }
  }

  std::unique_ptr<AwsKmsKeyManager> open(AwsKmsKeyManagerOptions options) {
    auto manager = AwsKmsKeyManager::open(std::move(options));
    if (!manager) {
      ADD_FAILURE() << manager.error().to_string();
      return nullptr;
    }
    return std::move(*manager);
  }
  std::unique_ptr<AwsKmsKeyManager> open() { return open(emulator_->options()); }

  nlohmann::json stats() { return nlohmann::json::parse(emulator_->stats()); }
  int calls(const nlohmann::json& stats, const std::string& operation) {
    return stats["by_target"].value("TrentService." + operation, 0);
  }

  std::unique_ptr<KmsEmulator> emulator_;
};

TEST_F(AwsKmsEmulatorTest, RoundTripThroughGenerateDataKeyEncryptAndDecrypt) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->id(), "awskms");
  Bytes aad = aad_of("bucket/photo.jpg");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->plaintext.size(), kDataKeySize);
  EXPECT_EQ(data_key->wrapped.provider, "awskms");
  EXPECT_EQ(data_key->wrapped.key_id, kms_key_arn(kKmsKeyA));
  EXPECT_EQ(data_key->wrapped.version, 1u);
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));

  auto wrapped = manager->wrap(data_key->plaintext, aad);
  ASSERT_TRUE(ok(wrapped));
  auto again = manager->unwrap(*wrapped, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_TRUE(same_bytes(again->view(), data_key->plaintext.view()));
  EXPECT_TRUE(ok(manager->health()));

  auto s = stats();
  EXPECT_EQ(calls(s, "GenerateDataKey"), 1);
  EXPECT_EQ(calls(s, "Encrypt"), 1);
  EXPECT_EQ(calls(s, "Decrypt"), 2);
  EXPECT_EQ(calls(s, "DescribeKey"), 1);
  EXPECT_EQ(s["rejected_signatures"], 0);

  // Another node configured with the alias reads what this one wrote only through the key it names: the alias is
  // its own key id.
  AwsKmsKeyManagerOptions by_alias = emulator_->options();
  by_alias.keys.key_id = "alias/blobseal";
  auto other = open(std::move(by_alias));
  ASSERT_NE(other, nullptr);
  auto aliased = other->generate_data_key(aad);
  ASSERT_TRUE(ok(aliased));
  EXPECT_EQ(aliased->wrapped.key_id, "alias/blobseal");
  auto aliased_back = other->unwrap(aliased->wrapped, aad);
  ASSERT_TRUE(ok(aliased_back));
  EXPECT_TRUE(same_bytes(aliased_back->view(), aliased->plaintext.view()));
}

TEST_F(AwsKmsEmulatorTest, WrongAssociatedDataIsDataLoss) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  auto data_key = manager->generate_data_key(aad_of("bucket/a"));
  ASSERT_TRUE(ok(data_key));
  auto moved = manager->unwrap(data_key->wrapped, aad_of("bucket/b"));
  ASSERT_TRUE(fails_with(moved, ErrorCode::kDataLoss));
  EXPECT_EQ(moved.error().reason(), "InvalidCiphertextException");
  EXPECT_THAT(moved.error().message(), HasSubstr("moved to another location"));
  // Relabelled with another generation: the encryption context differs too.
  AwsKmsKeys keys = manager->keys();
  keys.generation = 2;
  ASSERT_TRUE(ok(manager->set_keys(keys)));
  WrappedKey relabelled = data_key->wrapped;
  relabelled.version = 2;
  EXPECT_TRUE(fails_with(manager->unwrap(relabelled, aad_of("bucket/a")), ErrorCode::kDataLoss));
  EXPECT_TRUE(ok(manager->unwrap(data_key->wrapped, aad_of("bucket/a"))));
}

TEST_F(AwsKmsEmulatorTest, TamperedCiphertextIsDataLoss) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/a");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  for (std::size_t at : {std::size_t{0}, std::size_t{10}, data_key->wrapped.ciphertext.size() / 2,
                         data_key->wrapped.ciphertext.size() - 1}) {
    WrappedKey tampered = data_key->wrapped;
    tampered.ciphertext[at] ^= 0x40;
    EXPECT_TRUE(fails_with(manager->unwrap(tampered, aad), ErrorCode::kDataLoss)) << "byte " << at;
  }
  // Relabelled with another (readable) key: KMS refuses the KeyId (IncorrectKeyException).
  AwsKmsKeys keys = manager->keys();
  keys.readable_keys = {kms_key_arn(kKmsKeyB)};
  ASSERT_TRUE(ok(manager->set_keys(keys)));
  WrappedKey relabelled = data_key->wrapped;
  relabelled.key_id = kms_key_arn(kKmsKeyB);
  auto refused = manager->unwrap(relabelled, aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kDataLoss));
  EXPECT_EQ(refused.error().reason(), "IncorrectKeyException");
}

TEST_F(AwsKmsEmulatorTest, WrongSecretKeyIsRefusedByTheSignatureCheckWithoutLeakingTheSecret) {
  AwsKmsKeyManagerOptions options = emulator_->options();
  options.secret_key = SecretBytes(as_bytes(std::string_view("wrongSecretKey/0123456789abcdefghijKLMN")));
  auto manager = open(std::move(options));
  ASSERT_NE(manager, nullptr);
  auto data_key = manager->generate_data_key(aad_of("a"));
  ASSERT_TRUE(fails_with(data_key, ErrorCode::kPermissionDenied));
  EXPECT_EQ(data_key.error().reason(), "InvalidSignatureException");
  auto health = manager->health();
  ASSERT_TRUE(fails_with(health, ErrorCode::kPermissionDenied));
  std::vector<std::string> texts = {data_key.error().to_string(), health.error().to_string()};
  EXPECT_GE(stats()["rejected_signatures"].get<int>(), 2);

  // An access key the emulator does not know.
  AwsKmsKeyManagerOptions stranger = emulator_->options();
  stranger.access_key = "AKIANOBODY0000000000";
  auto unknown = open(std::move(stranger));
  ASSERT_NE(unknown, nullptr);
  auto refused = unknown->generate_data_key(aad_of("a"));
  ASSERT_TRUE(fails_with(refused, ErrorCode::kPermissionDenied));
  EXPECT_EQ(refused.error().reason(), "UnrecognizedClientException");
  texts.push_back(refused.error().to_string());
  for (const auto& text : texts) EXPECT_FALSE(contains_secret(text, credential_secrets())) << "a secret leaked";
}

TEST_F(AwsKmsEmulatorTest, SessionTokenIsSentAndSigned) {
  AwsKmsKeyManagerOptions options = emulator_->options();
  options.access_key = kKmsTemporaryAccessKey;
  options.secret_key = SecretBytes(as_bytes(std::string_view(kKmsTemporarySecretKey)));
  options.session_token = kKmsSessionToken;
  auto manager = open(std::move(options));
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("a");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  ASSERT_TRUE(ok(manager->unwrap(data_key->wrapped, aad)));
  auto tokens = stats()["session_tokens"];
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens.back(), kKmsSessionToken);

  // The same temporary credentials without the token, or with another one, are refused.
  for (std::string token : {std::string(), std::string("FwoGZXIvYXdzAnotherToken")}) {
    AwsKmsKeyManagerOptions bad = emulator_->options();
    bad.access_key = kKmsTemporaryAccessKey;
    bad.secret_key = SecretBytes(as_bytes(std::string_view(kKmsTemporarySecretKey)));
    bad.session_token = token;
    auto refused_manager = open(std::move(bad));
    ASSERT_NE(refused_manager, nullptr);
    auto refused = refused_manager->unwrap(data_key->wrapped, aad);
    ASSERT_TRUE(fails_with(refused, ErrorCode::kPermissionDenied)) << "token \"" << token << "\"";
    EXPECT_FALSE(contains_secret(refused.error().to_string(), credential_secrets()));
  }
}

TEST_F(AwsKmsEmulatorTest, ThrottlingIsRetriedThenUnavailable) {
  auto manager = open();  // 3 attempts per call
  ASSERT_NE(manager, nullptr);
  emulator_->fail_next(2, 400, "ThrottlingException");
  auto data_key = manager->generate_data_key(aad_of("a"));
  ASSERT_TRUE(ok(data_key));
  auto s = stats();
  EXPECT_EQ(s["faults_served"], 2);
  EXPECT_EQ(calls(s, "GenerateDataKey"), 3);

  emulator_->fail_next(10, 400, "ThrottlingException");
  auto throttled = manager->unwrap(data_key->wrapped, aad_of("a"));
  ASSERT_TRUE(fails_with(throttled, ErrorCode::kUnavailable));
  EXPECT_THAT(throttled.error().message(), HasSubstr("ThrottlingException"));
  EXPECT_EQ(stats()["faults_served"], 5);  // 3 attempts, no more
  emulator_->clear_faults();
  EXPECT_TRUE(ok(manager->unwrap(data_key->wrapped, aad_of("a"))));
}

TEST_F(AwsKmsEmulatorTest, ServerErrorsAreRetriedThenUnavailable) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  emulator_->fail_next(2, 503, "ServiceUnavailable");
  auto data_key = manager->generate_data_key(aad_of("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(calls(stats(), "GenerateDataKey"), 3);

  emulator_->fail_next(10, 500, "KMSInternalException");
  auto failed = manager->wrap(data_key->plaintext, aad_of("a"));
  ASSERT_TRUE(fails_with(failed, ErrorCode::kUnavailable));
  EXPECT_THAT(failed.error().message(), HasSubstr("HTTP 500"));
  EXPECT_EQ(stats()["faults_served"], 5);
  emulator_->clear_faults();
  EXPECT_TRUE(ok(manager->wrap(data_key->plaintext, aad_of("a"))));
}

TEST_F(AwsKmsEmulatorTest, ServerDownIsUnavailableAndHealthFails) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("a");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  ASSERT_TRUE(ok(manager->health()));
  emulator_->stop();  // by PID; nobody listens on the port any more
  EXPECT_TRUE(fails_with(manager->generate_data_key(aad), ErrorCode::kUnavailable));
  EXPECT_TRUE(fails_with(manager->unwrap(data_key->wrapped, aad), ErrorCode::kUnavailable));
  auto health = manager->health();
  ASSERT_TRUE(fails_with(health, ErrorCode::kUnavailable));
  EXPECT_THAT(health.error().message(), HasSubstr("health"));
}

TEST_F(AwsKmsEmulatorTest, RotationToANewKeyKeepsListedOldKeysReadable) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("old/object");
  auto old_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  const std::string a = kms_key_arn(kKmsKeyA), b = kms_key_arn(kKmsKeyB);

  // Key B becomes current without a restart; A stays readable.
  ASSERT_TRUE(ok(manager->set_keys(AwsKmsKeys{b, 1, {a}})));
  auto new_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  EXPECT_EQ(new_key->wrapped.key_id, b);
  auto old_needs = manager->needs_rewrap(old_key->wrapped);
  auto new_needs = manager->needs_rewrap(new_key->wrapped);
  ASSERT_TRUE(ok(old_needs));
  ASSERT_TRUE(ok(new_needs));
  EXPECT_TRUE(*old_needs);
  EXPECT_FALSE(*new_needs);
  auto old_back = manager->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(old_back));
  EXPECT_TRUE(same_bytes(old_back->view(), old_key->plaintext.view()));
  // New wraps go under the current key only.
  auto under_old = manager->wrap(old_key->plaintext, aad, a);
  ASSERT_TRUE(fails_with(under_old, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(under_old.error().message(), HasSubstr(a));
  auto keys = manager->describe();
  ASSERT_TRUE(ok(keys));
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].key_id, b);
  EXPECT_TRUE((*keys)[0].is_default);
  EXPECT_EQ((*keys)[0].versions.back().state, KeyVersionState::kCurrent);
  EXPECT_EQ((*keys)[1].key_id, a);
  EXPECT_EQ((*keys)[1].versions.back().state, KeyVersionState::kActive);

  // A is no longer listed: refused, naming it; B still reads.
  ASSERT_TRUE(ok(manager->set_keys(AwsKmsKeys{b, 1, {}})));
  auto refused = manager->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(refused.error().message(), HasSubstr(a));
  EXPECT_THAT(refused.error().message(), HasSubstr("readable_keys"));
  auto still = manager->needs_rewrap(old_key->wrapped);
  ASSERT_TRUE(ok(still));
  EXPECT_TRUE(*still);
  EXPECT_TRUE(ok(manager->unwrap(new_key->wrapped, aad)));
  // A key KMS does not have is NotFound, not FailedPrecondition.
  WrappedKey missing = old_key->wrapped;
  missing.key_id = kms_key_arn("44444444-dddd-4ddd-8ddd-444444444444");
  EXPECT_TRUE(fails_with(manager->unwrap(missing, aad), ErrorCode::kNotFound));

  EXPECT_TRUE(fails_with(manager->set_keys(AwsKmsKeys{"", 1, {}}), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(fails_with(manager->set_keys(AwsKmsKeys{b, 0, {}}), ErrorCode::kInvalidArgument));
}

TEST_F(AwsKmsEmulatorTest, ReEncryptMovesAWrappedKeyToTheNewKey) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/moved");
  auto old_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  const std::string a = kms_key_arn(kKmsKeyA), b = kms_key_arn(kKmsKeyB);
  ASSERT_TRUE(ok(manager->set_keys(AwsKmsKeys{b, 1, {a}})));

  auto moved = manager->reencrypt(old_key->wrapped, aad);
  ASSERT_TRUE(ok(moved));
  EXPECT_EQ(moved->key_id, b);
  EXPECT_EQ(moved->version, 1u);
  EXPECT_FALSE(same_bytes(moved->ciphertext, old_key->wrapped.ciphertext));
  auto needs = manager->needs_rewrap(*moved);
  ASSERT_TRUE(ok(needs));
  EXPECT_FALSE(*needs);
  EXPECT_EQ(calls(stats(), "ReEncrypt"), 1);
  EXPECT_EQ(calls(stats(), "Decrypt"), 0);  // the data key never left KMS

  // Readable with A gone; bound to the same location.
  ASSERT_TRUE(ok(manager->set_keys(AwsKmsKeys{b, 1, {}})));
  auto back = manager->unwrap(*moved, aad);
  ASSERT_TRUE(ok(back));
  EXPECT_TRUE(same_bytes(back->view(), old_key->plaintext.view()));
  EXPECT_TRUE(fails_with(manager->unwrap(*moved, aad_of("bucket/elsewhere")), ErrorCode::kDataLoss));
  // The source must still be readable for a ReEncrypt.
  EXPECT_TRUE(fails_with(manager->reencrypt(old_key->wrapped, aad), ErrorCode::kFailedPrecondition));
  // A wrong location is DataLoss in ReEncrypt too.
  EXPECT_TRUE(fails_with(manager->reencrypt(*moved, aad_of("bucket/elsewhere")), ErrorCode::kDataLoss));

  // A new generation of the same key: ReEncrypt to the same key moves the data key to generation 2.
  ASSERT_TRUE(ok(manager->set_keys(AwsKmsKeys{b, 2, {}})));
  auto rewrapped = manager->reencrypt(*moved, aad);
  ASSERT_TRUE(ok(rewrapped));
  EXPECT_EQ(rewrapped->version, 2u);
  auto again = manager->unwrap(*rewrapped, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_TRUE(same_bytes(again->view(), old_key->plaintext.view()));
}

TEST_F(AwsKmsEmulatorTest, DisabledKeyIsFailedPrecondition) {
  auto manager = open();
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("a");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  emulator_->set_key_state(kKmsKeyA, "Disabled");
  EXPECT_TRUE(fails_with(manager->generate_data_key(aad), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(fails_with(manager->unwrap(data_key->wrapped, aad), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(fails_with(manager->health(), ErrorCode::kFailedPrecondition));
  emulator_->set_key_state(kKmsKeyA, "PendingDeletion");
  auto pending = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(fails_with(pending, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(pending.error().reason(), "KMSInvalidStateException");
  emulator_->set_key_state(kKmsKeyA, "Enabled");
  EXPECT_TRUE(ok(manager->unwrap(data_key->wrapped, aad)));
  EXPECT_TRUE(ok(manager->health()));
}

TEST_F(AwsKmsEmulatorTest, RegistryTakesCredentialsFromTheEnvironment) {
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  KeyManagerConfig config = {{"endpoint", emulator_->endpoint()},
                             {"key_id", kms_key_arn(kKmsKeyA)},
                             {"max_attempts", "2"},
                             {"backoff_base_ms", "5"}};
  ScopedEnv env({{"AWS_ACCESS_KEY_ID", kKmsTemporaryAccessKey},
                 {"AWS_SECRET_ACCESS_KEY", kKmsTemporarySecretKey},
                 {"AWS_SESSION_TOKEN", kKmsSessionToken},
                 {"AWS_REGION", std::nullopt},
                 {"AWS_DEFAULT_REGION", kKmsRegion},
                 {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"}});
  auto manager = registry.create("awskms", config);
  ASSERT_TRUE(ok(manager));
  EXPECT_EQ((*manager)->id(), "awskms");
  Bytes aad = aad_of("a");
  auto data_key = (*manager)->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_TRUE(ok((*manager)->unwrap(data_key->wrapped, aad)));
  EXPECT_EQ(stats()["session_tokens"].back(), kKmsSessionToken);

  // A wrong region in the environment: the signature's scope is refused.
  {
    ScopedEnv region({{"AWS_REGION", "us-east-1"}});
    auto elsewhere = registry.create("awskms", config);
    ASSERT_TRUE(ok(elsewhere));
    EXPECT_TRUE(fails_with((*elsewhere)->generate_data_key(aad), ErrorCode::kPermissionDenied));
  }
  KeyManagerConfig bad = config;
  bad["no_such_setting"] = "1";
  EXPECT_TRUE(fails_with(registry.create("awskms", bad), ErrorCode::kInvalidArgument));
  bad = config;
  bad.erase("key_id");
  EXPECT_TRUE(fails_with(registry.create("awskms", bad), ErrorCode::kInvalidArgument));
  bad = config;
  bad["generation"] = "0";
  EXPECT_TRUE(fails_with(registry.create("awskms", bad), ErrorCode::kInvalidArgument));
}

TEST_F(AwsKmsEmulatorTest, RegistryTakesCredentialsFromTheSharedFile) {
  TempDir dir;
  std::string file = dir.file("credentials");
  write_text(file,
             std::string("[default]\naws_access_key_id = AKIANOBODY0000000000\naws_secret_access_key = x\n\n"
                         "[blobseal]\naws_access_key_id = ") +
                 kKmsAccessKey + "\naws_secret_access_key = " + kKmsSecretKey + "\n",
             0600);
  ScopedEnv env({{"AWS_ACCESS_KEY_ID", std::nullopt},
                 {"AWS_SECRET_ACCESS_KEY", std::nullopt},
                 {"AWS_SESSION_TOKEN", std::nullopt},
                 {"AWS_SHARED_CREDENTIALS_FILE", file},
                 {"AWS_PROFILE", "blobseal"},
                 {"AWS_REGION", kKmsRegion}});
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  KeyManagerConfig config = {{"endpoint", emulator_->endpoint()},
                             {"key_id", kms_key_arn(kKmsKeyB)},
                             {"generation", "3"},
                             {"readable_keys", kms_key_arn(kKmsKeyA) + ", " + kms_key_arn(kKmsKeyC)}};
  auto manager = registry.create("awskms", config);
  ASSERT_TRUE(ok(manager));
  auto data_key = (*manager)->generate_data_key(aad_of("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, kms_key_arn(kKmsKeyB));
  EXPECT_EQ(data_key->wrapped.version, 3u);
  auto keys = (*manager)->describe();
  ASSERT_TRUE(ok(keys));
  EXPECT_EQ(keys->size(), 3u);

  // The default profile holds credentials the emulator does not know.
  config["profile"] = "default";
  auto stranger = registry.create("awskms", config);
  ASSERT_TRUE(ok(stranger));
  EXPECT_TRUE(fails_with((*stranger)->health(), ErrorCode::kPermissionDenied));
}

}  // namespace
}  // namespace blobseal::keys::testing
