// The "pkcs11" key manager against a real SoftHSM2 token: wrapping, integrity, rotation, retirement, destruction, the
// token's own refusals (non-extractable keys, retired versions), lost sessions, configuration and PIN handling, and a
// byte-for-byte cross-check of the token's AES-GCM and AES key wrap (RFC 5649) against OpenSSL.
#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/aes_gcm.h"
#include "keys/pkcs11/labels.h"
#include "keys/pkcs11/pkcs11_key_manager.h"
#include "keys/registry.h"
#include "softhsm.h"

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace blobseal::keys::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Bytes aad_for(std::string_view object) { return bytes_of(std::string("blobseal-test/") + std::string(object)); }

class Pkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!softhsm_installed()) GTEST_SKIP() << kSoftHsmModule << " is not installed (apt-get install softhsm2)";
    token_ = std::make_unique<SoftHsmToken>();
    ASSERT_TRUE(token_->ready()) << "softhsm2-util --init-token failed";
  }

  void TearDown() override {
    // Every manager closes before the token directory goes (and the module is finalized for the next test's token).
    raw_.reset();
    managers_.clear();
    manager_.reset();
    token_.reset();
  }

  Pkcs11KeyManager& open(Pkcs11Options options) {
    auto manager = Pkcs11KeyManager::open(std::move(options));
    EXPECT_TRUE(ok(manager));
    if (!manager) std::abort();
    managers_.push_back(std::move(*manager));
    return *managers_.back();
  }
  Pkcs11KeyManager& manager() {
    if (!manager_) {
      auto opened = Pkcs11KeyManager::open(token_->options());
      EXPECT_TRUE(ok(opened));
      if (!opened) std::abort();
      manager_ = std::move(*opened);
    }
    return *manager_;
  }
  // Direct access to the token; opened after the manager.
  RawToken& raw() {
    manager();
    if (!raw_) raw_ = std::make_unique<RawToken>();
    EXPECT_TRUE(raw_->ready()) << raw_->error();
    return *raw_;
  }

  std::unique_ptr<SoftHsmToken> token_;
  std::unique_ptr<Pkcs11KeyManager> manager_;
  std::vector<std::unique_ptr<Pkcs11KeyManager>> managers_;
  std::unique_ptr<RawToken> raw_;  // last: dropped first
};

TEST_F(Pkcs11Test, RoundTrip) {
  Bytes aad = aad_for("photos/a.jpg");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(manager().id(), "pkcs11");
  EXPECT_EQ(data_key->wrapped.provider, "pkcs11");
  EXPECT_EQ(data_key->wrapped.key_id, "default");
  EXPECT_EQ(data_key->wrapped.version, 1u);
  EXPECT_EQ(data_key->wrapped.ciphertext.size(), 12u + 32u + 16u) << "IV || encrypted data key || tag";
  auto unwrapped = manager().unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
  EXPECT_TRUE(ok(manager().health()));
}

TEST_F(Pkcs11Test, AssociatedDataMismatchIsDataLoss) {
  auto data_key = manager().generate_data_key(aad_for("photos/a.jpg"));
  ASSERT_TRUE(ok(data_key));
  auto moved = manager().unwrap(data_key->wrapped, aad_for("photos/b.jpg"));
  ASSERT_TRUE(fails_with(moved, ErrorCode::kDataLoss));
  EXPECT_THAT(moved.error().message(), HasSubstr("does not authenticate"));
  // The session that saw the failure is not reused in a bad state: the next unwrap works.
  EXPECT_TRUE(ok(manager().unwrap(data_key->wrapped, aad_for("photos/a.jpg"))));
}

TEST_F(Pkcs11Test, TamperedCiphertextIsDataLoss) {
  Bytes aad = aad_for("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  for (std::size_t i : {0, 11, 12, 30, 43, 44, 59}) {  // IV, encrypted key, tag
    WrappedKey tampered = data_key->wrapped;
    tampered.ciphertext[i] ^= 0x40;
    EXPECT_TRUE(fails_with(manager().unwrap(tampered, aad), ErrorCode::kDataLoss)) << "byte " << i;
  }
  EXPECT_TRUE(ok(manager().unwrap(data_key->wrapped, aad)));
}

TEST_F(Pkcs11Test, RotationMakesNewWrapsUseVersion2AndVersion1StillUnwraps) {
  Bytes aad = aad_for("x");
  auto old_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  auto rotated = manager().rotate();
  ASSERT_TRUE(ok(rotated));
  EXPECT_EQ(*rotated, 2u);
  auto new_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  EXPECT_EQ(new_key->wrapped.version, 2u);
  auto old_unwrapped = manager().unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(old_unwrapped));
  EXPECT_TRUE(same_bytes(old_unwrapped->view(), old_key->plaintext.view()));
  EXPECT_TRUE(*manager().needs_rewrap(old_key->wrapped));
  EXPECT_FALSE(*manager().needs_rewrap(new_key->wrapped));

  // One token object per version, named by its label.
  EXPECT_EQ(raw().find("blobseal:default:v1").size(), 1u);
  EXPECT_EQ(raw().find("blobseal:default:v2").size(), 1u);

  auto keys = manager().describe();
  ASSERT_TRUE(ok(keys));
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE((*keys)[0].is_default);
  ASSERT_EQ((*keys)[0].versions.size(), 2u);
  EXPECT_EQ((*keys)[0].versions[0].state, KeyVersionState::kActive);
  EXPECT_EQ((*keys)[0].versions[1].state, KeyVersionState::kCurrent);
  EXPECT_GT((*keys)[0].versions[1].created_unix, 0);
}

TEST_F(Pkcs11Test, RetiredVersionIsFailedPreconditionNamingKeyAndVersion) {
  Bytes aad = aad_for("x");
  auto old_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  auto current = manager().retire("default", 1);
  ASSERT_TRUE(fails_with(current, ErrorCode::kFailedPrecondition)) << "the current version was retired";
  EXPECT_THAT(current.error().message(), HasSubstr("rotate first"));

  ASSERT_TRUE(ok(manager().rotate()));
  ASSERT_TRUE(ok(manager().retire("default", 1)));
  EXPECT_TRUE(ok(manager().retire("default", 1))) << "retiring twice is a no-op";
  auto refused = manager().unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(refused.error().message(), HasSubstr("key \"default\" version 1 is retired"));

  // The token itself refuses the retired object: CKA_ENCRYPT and CKA_DECRYPT are off.
  auto objects = raw().find("blobseal:default:v1");
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(raw().flag(objects[0], CKA_DECRYPT), std::optional<bool>(false));
  EXPECT_EQ(raw().flag(objects[0], CKA_ENCRYPT), std::optional<bool>(false));

  auto keys = manager().describe();
  ASSERT_TRUE(ok(keys));
  EXPECT_EQ((*keys)[0].versions[0].state, KeyVersionState::kRetired);
  EXPECT_TRUE((*keys)[0].versions[0].retired_unix.has_value());

  ASSERT_TRUE(ok(manager().unretire("default", 1)));
  auto again = manager().unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_TRUE(same_bytes(again->view(), old_key->plaintext.view()));
}

TEST_F(Pkcs11Test, DestroyedVersionIsNotFound) {
  Bytes aad = aad_for("x");
  auto old_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  ASSERT_TRUE(ok(manager().rotate()));
  auto early = manager().destroy("default", 1);
  ASSERT_TRUE(fails_with(early, ErrorCode::kFailedPrecondition)) << "destroyed a version that is not retired";
  EXPECT_THAT(early.error().message(), HasSubstr("retire it first"));

  ASSERT_TRUE(ok(manager().retire("default", 1)));
  ASSERT_TRUE(ok(manager().destroy("default", 1)));
  EXPECT_TRUE(raw().find("blobseal:default:v1").empty()) << "the token object is still there";
  auto unwrapped = manager().unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kNotFound));
  EXPECT_THAT(unwrapped.error().message(), HasSubstr("key \"default\" has no version 1"));
  EXPECT_TRUE(fails_with(manager().destroy("default", 1), ErrorCode::kNotFound));

  // Rotation after a destroyed version still counts up.
  auto next = manager().rotate();
  ASSERT_TRUE(ok(next));
  EXPECT_EQ(*next, 3u);
}

TEST_F(Pkcs11Test, KeysAreNotExtractable) {
  ASSERT_TRUE(ok(manager().rotate()));
  for (std::string label : {"blobseal:default:v1", "blobseal:default:v2"}) {
    auto objects = raw().find(label);
    ASSERT_EQ(objects.size(), 1u) << label;
    EXPECT_EQ(raw().read_value_rv(objects[0]), CKR_ATTRIBUTE_SENSITIVE) << label << ": CKA_VALUE was not refused";
    EXPECT_EQ(raw().flag(objects[0], CKA_SENSITIVE), std::optional<bool>(true)) << label;
    EXPECT_EQ(raw().flag(objects[0], CKA_EXTRACTABLE), std::optional<bool>(false)) << label;
    EXPECT_EQ(raw().flag(objects[0], CKA_TOKEN), std::optional<bool>(true)) << label;
    EXPECT_EQ(raw().flag(objects[0], CKA_WRAP), std::optional<bool>(false)) << label;
  }
}

TEST_F(Pkcs11Test, WrongPinIsPermissionDeniedWithoutThePin) {
  constexpr std::string_view kWrongPin = "5555-wrong-pin";
  auto opened = Pkcs11KeyManager::open(token_->options(kWrongPin));
  ASSERT_TRUE(fails_with(opened, ErrorCode::kPermissionDenied));
  std::string text = opened.error().to_string();
  EXPECT_THAT(text, HasSubstr("PIN is incorrect"));
  EXPECT_THAT(text, HasSubstr(std::string(kTokenLabel)));
  EXPECT_THAT(text, Not(HasSubstr(std::string(kWrongPin))));
  EXPECT_THAT(text, Not(HasSubstr(std::string(kUserPin))));

  // Through the registry, with the PIN in a file and in the environment.
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  std::string pin_file = token_->directory() + "/pin";
  write_text(pin_file, std::string(kWrongPin) + "\n", 0600);
  KeyManagerConfig config = token_->config();
  config.erase("pin");
  config["pin_file"] = pin_file;
  auto from_file = registry.create("pkcs11", config);
  ASSERT_TRUE(fails_with(from_file, ErrorCode::kPermissionDenied));
  EXPECT_THAT(from_file.error().to_string(), Not(HasSubstr(std::string(kWrongPin))));
  ::setenv("BLOBSEAL_TEST_PKCS11_PIN", std::string(kWrongPin).c_str(), 1);
  config.erase("pin_file");
  config["pin_env"] = "BLOBSEAL_TEST_PKCS11_PIN";
  auto from_env = registry.create("pkcs11", config);
  ::unsetenv("BLOBSEAL_TEST_PKCS11_PIN");
  ASSERT_TRUE(fails_with(from_env, ErrorCode::kPermissionDenied));
  EXPECT_THAT(from_env.error().to_string(), Not(HasSubstr(std::string(kWrongPin))));
}

TEST_F(Pkcs11Test, RegistryBuildsThePkcs11Provider) {
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  std::string pin_file = token_->directory() + "/pin";
  write_text(pin_file, std::string(kUserPin) + "\n", 0600);
  KeyManagerConfig config = token_->config();
  config.erase("pin");
  config["pin_file"] = pin_file;
  auto built = registry.create("pkcs11", config);
  ASSERT_TRUE(ok(built));
  EXPECT_EQ((*built)->id(), "pkcs11");
  EXPECT_TRUE(ok((*built)->health()));
  built->reset();

  ::setenv("BLOBSEAL_PKCS11_PIN", std::string(kUserPin).c_str(), 1);
  config.erase("pin_file");
  auto from_default_env = registry.create("pkcs11", config);
  ::unsetenv("BLOBSEAL_PKCS11_PIN");
  ASSERT_TRUE(ok(from_default_env));
  EXPECT_TRUE(ok((*from_default_env)->generate_data_key(aad_for("x"))));
  from_default_env->reset();

  auto no_pin = registry.create("pkcs11", config);
  ASSERT_TRUE(fails_with(no_pin, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(no_pin.error().message(), HasSubstr("BLOBSEAL_PKCS11_PIN"));

  write_text(pin_file, std::string(kUserPin) + "\n", 0644);
  config["pin_file"] = pin_file;
  auto readable = registry.create("pkcs11", config);
  ASSERT_TRUE(fails_with(readable, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(readable.error().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(readable.error().to_string(), Not(HasSubstr(std::string(kUserPin))));

  config["pin_file"] = pin_file;
  config["colour"] = "blue";
  EXPECT_TRUE(fails_with(registry.create("pkcs11", config), ErrorCode::kInvalidArgument));
}

TEST_F(Pkcs11Test, MissingModuleIsAClearError) {
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  KeyManagerConfig config = token_->config();
  config.erase("module");
  auto no_module = registry.create("pkcs11", config);
  ASSERT_TRUE(fails_with(no_module, ErrorCode::kInvalidArgument));
  EXPECT_THAT(no_module.error().message(), HasSubstr("\"module\" is required"));

  config["module"] = token_->directory() + "/no-such-module.so";
  auto missing = registry.create("pkcs11", config);
  ASSERT_TRUE(fails_with(missing, ErrorCode::kNotFound));
  EXPECT_THAT(missing.error().message(), HasSubstr(config["module"]));
  EXPECT_THAT(missing.error().message(), HasSubstr("does not exist"));

  // A file that is not a PKCS#11 module.
  config["module"] = token_->directory() + "/softhsm2.conf";
  auto not_a_module = registry.create("pkcs11", config);
  ASSERT_TRUE(fails_with(not_a_module, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(not_a_module.error().message(), HasSubstr("cannot load PKCS#11 module"));

  Pkcs11Options options = token_->options();
  options.token_label = "no-such-token";
  auto no_token = Pkcs11KeyManager::open(std::move(options));
  ASSERT_TRUE(fails_with(no_token, ErrorCode::kNotFound));
  EXPECT_THAT(no_token.error().message(), HasSubstr("no PKCS#11 token \"no-such-token\""));
  EXPECT_THAT(no_token.error().message(), HasSubstr(std::string(kTokenLabel))) << "the tokens present are listed";
}

TEST_F(Pkcs11Test, ErrorsNeverContainThePin) {
  Bytes aad = aad_for("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  std::vector<std::string> texts;
  auto collect = [&](const auto& result) {
    if (!result) texts.push_back(result.error().to_string());
  };
  WrappedKey tampered = data_key->wrapped;
  tampered.ciphertext[20] ^= 1;
  collect(manager().unwrap(tampered, aad));
  WrappedKey unknown = data_key->wrapped;
  unknown.version = 9;
  collect(manager().unwrap(unknown, aad));
  unknown.key_id = "missing";
  collect(manager().unwrap(unknown, aad));
  collect(manager().retire("default", 1));
  collect(manager().destroy("default", 1));
  collect(manager().create_key("default"));
  collect(manager().create_key("bad:name"));
  ASSERT_EQ(raw().close_all_sessions(), CKR_OK);
  collect(manager().generate_data_key(aad));
  EXPECT_EQ(texts.size(), 8u);
  for (const auto& text : texts) EXPECT_THAT(text, Not(HasSubstr(std::string(kUserPin))));
}

TEST_F(Pkcs11Test, LostSessionsAreUnavailableThenRecover) {
  Pkcs11Options options = token_->options();
  options.refresh_interval = std::chrono::hours(1);
  Pkcs11KeyManager& slow = open(std::move(options));
  Bytes aad = aad_for("x");
  auto data_key = slow.generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  // Every session of this process on the token ends, and the login with them, as when the token is pulled out.
  RawToken raw_token;
  ASSERT_TRUE(raw_token.ready()) << raw_token.error();
  ASSERT_EQ(raw_token.close_all_sessions(), CKR_OK);

  auto lost = slow.unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(fails_with(lost, ErrorCode::kUnavailable));
  EXPECT_THAT(lost.error().message(), HasSubstr("is not available"));
  // The next call logs in again (the object handles are read afresh) and works.
  auto unwrapped = slow.unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
  EXPECT_TRUE(ok(slow.health()));
}

TEST_F(Pkcs11Test, ChangesByAnotherInstanceAreSeen) {
  // Two managers on one token stand for two processes. The reader caches the key list for an hour.
  Pkcs11KeyManager& admin = manager();
  Pkcs11Options options = token_->options();
  options.refresh_interval = std::chrono::hours(1);
  Pkcs11KeyManager& reader = open(std::move(options));
  Bytes aad = aad_for("x");
  auto v1 = reader.generate_data_key(aad);
  ASSERT_TRUE(ok(v1));

  ASSERT_TRUE(ok(admin.rotate()));
  auto v2 = admin.generate_data_key(aad);
  ASSERT_TRUE(ok(v2));
  EXPECT_EQ(v2->wrapped.version, 2u);
  // A version it has not seen makes the reader look again.
  EXPECT_TRUE(ok(reader.unwrap(v2->wrapped, aad)));
  EXPECT_TRUE(ok(reader.needs_rewrap(v2->wrapped)));

  // Retired elsewhere: the token refuses the object even though the reader's list is older.
  ASSERT_TRUE(ok(admin.retire("default", 1)));
  auto refused = reader.unwrap(v1->wrapped, aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(refused.error().message(), HasSubstr("key \"default\" version 1 is retired"));

  // Destroyed elsewhere: NotFound.
  ASSERT_TRUE(ok(admin.destroy("default", 1)));
  EXPECT_TRUE(fails_with(reader.unwrap(v1->wrapped, aad), ErrorCode::kNotFound));
}

TEST_F(Pkcs11Test, CreateKeyAndNamedKeys) {
  ASSERT_TRUE(ok(manager().create_key("tenant-a")));
  auto again = manager().create_key("tenant-a");
  EXPECT_TRUE(fails_with(again, ErrorCode::kAlreadyExists));
  EXPECT_TRUE(fails_with(manager().create_key("bad:name"), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(fails_with(manager().create_key(""), ErrorCode::kInvalidArgument));
  Bytes aad = aad_for("x");
  auto data_key = manager().generate_data_key(aad, "tenant-a");
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "tenant-a");
  EXPECT_EQ(data_key->wrapped.version, 1u);
  WrappedKey other = data_key->wrapped;
  other.key_id = "default";
  EXPECT_TRUE(fails_with(manager().unwrap(other, aad), ErrorCode::kDataLoss)) << "unwrapped under another key";
  auto keys = manager().describe();
  ASSERT_TRUE(ok(keys));
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].key_id, "default");
  EXPECT_EQ((*keys)[1].key_id, "tenant-a");
  EXPECT_FALSE((*keys)[1].is_default);
}

TEST_F(Pkcs11Test, WithoutCreateDefaultKeyAMissingKeyIsNotFound) {
  Pkcs11Options options = token_->options();
  options.create_default_key = false;
  Pkcs11KeyManager& bare = open(std::move(options));
  auto wrapped = bare.generate_data_key(aad_for("x"));
  ASSERT_TRUE(fails_with(wrapped, ErrorCode::kNotFound));
  EXPECT_THAT(wrapped.error().message(), HasSubstr("has no blobseal keys"));
  EXPECT_FALSE(ok(bare.health()));
  ASSERT_TRUE(ok(bare.create_key("default")));
  EXPECT_TRUE(ok(bare.health()));
}

// A key version made by another process with another tool (OpenSC's pkcs11-tool) under the label scheme is picked up
// without a restart: the manager reads the token's key list again when a wrap names a key it has not seen.
TEST_F(Pkcs11Test, KeysMadeByPkcs11ToolInAnotherProcessAreUsed) {
  Pkcs11Options options = token_->options();
  options.create_default_key = false;
  options.refresh_interval = std::chrono::hours(1);
  Pkcs11KeyManager& bare = open(std::move(options));
  EXPECT_TRUE(fails_with(bare.generate_data_key(aad_for("x")), ErrorCode::kNotFound));

  std::string command = fmt::format(
      "pkcs11-tool --module {} --login --pin '{}' --token-label '{}' --keygen "
      "--key-type AES:32 --label blobseal:default:v1 --sensitive >/dev/null 2>&1",
      kSoftHsmModule, kUserPin, kTokenLabel);
  ASSERT_EQ(std::system(command.c_str()), 0) << "pkcs11-tool --keygen failed (is opensc installed?)";

  Bytes aad = aad_for("x");
  auto data_key = bare.generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.version, 1u);
  auto unwrapped = bare.unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
}

TEST_F(Pkcs11Test, ConcurrentWrapsWhileRotating) {
  constexpr int kThreads = 4;
  Pkcs11KeyManager& shared = manager();
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load() || i < 20; ++i) {
        Bytes aad = aad_for("object-" + std::to_string(t) + "-" + std::to_string(i));
        auto data_key = shared.generate_data_key(aad);
        auto unwrapped =
            data_key ? shared.unwrap(data_key->wrapped, aad) : Result<SecretBytes>(tl::unexpect, data_key.error());
        if (!unwrapped || !same_bytes(unwrapped->view(), data_key->plaintext.view())) ++failures;
        if (i > 200) break;
      }
    });
  }
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(ok(shared.rotate()));
  stop = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// The provider's wrap, done by the token under a test key that is extractable (for this test only), matches
// OpenSSL's AES-256-GCM byte for byte, and OpenSSL opens it.
TEST_F(Pkcs11Test, TokenGcmWrapMatchesOpenSsl) {
  unsigned long key = raw().generate_extractable_aes_key("blobseal:crosscheck:v1");
  ASSERT_NE(key, 0u);
  auto material = raw().value(key);
  ASSERT_TRUE(material.has_value());
  ASSERT_EQ(material->size(), 32u);

  SecretBytes data_key(32);
  for (std::size_t i = 0; i < data_key.size(); ++i) data_key.data()[i] = static_cast<std::uint8_t>(0xa0 + i);
  Bytes aad = aad_for("cross/check");
  auto wrapped = manager().wrap(data_key, aad, "crosscheck");
  ASSERT_TRUE(ok(wrapped));
  ASSERT_EQ(wrapped->ciphertext.size(), 60u);
  const std::uint8_t* iv = wrapped->ciphertext.data();

  auto gcm = crypto::AesGcm::create(material->view());
  ASSERT_TRUE(ok(gcm));
  Bytes expected(32);
  std::array<std::uint8_t, 16> tag{};
  ASSERT_TRUE(ok(gcm->seal(std::span(iv, 12), aad, data_key.view(), expected, tag)));
  expected.insert(expected.end(), tag.begin(), tag.end());
  EXPECT_TRUE(same_bytes(std::span(wrapped->ciphertext).subspan(12), expected))
      << "the token's AES-GCM differs from OpenSSL's";

  SecretBytes opened(32);
  ASSERT_TRUE(ok(gcm->open(std::span(iv, 12), aad, std::span(wrapped->ciphertext).subspan(12, 32),
                           std::span(wrapped->ciphertext).subspan(44, 16), opened.mutable_view())));
  EXPECT_TRUE(same_bytes(opened.view(), data_key.view()));

  // And the other way: what OpenSSL sealed, the token opens.
  WrappedKey sealed_by_openssl = *wrapped;
  auto unwrapped = manager().unwrap(sealed_by_openssl, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key.view()));
}

// RFC 5649 (id-aes256-wrap-pad) by OpenSSL.
Bytes openssl_wrap_pad(ByteSpan kek, ByteSpan key) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  Bytes out(key.size() + 16);
  int len = 0, tail = 0;
  bool done = EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap_pad(), nullptr, kek.data(), nullptr) == 1 &&
              EVP_EncryptUpdate(ctx, out.data(), &len, key.data(), static_cast<int>(key.size())) == 1 &&
              EVP_EncryptFinal_ex(ctx, out.data() + len, &tail) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!done) return {};
  out.resize(static_cast<std::size_t>(len + tail));
  return out;
}

// CKM_AES_KEY_WRAP_PAD in the token equals OpenSSL's id-aes256-wrap-pad (RFC 5649) byte for byte, for keys whose
// length is a multiple of 8 (the 32-byte data keys blobseal wraps among them).
TEST_F(Pkcs11Test, TokenKeyWrapPadMatchesOpenSsl) {
  unsigned long kek = raw().generate_extractable_aes_key("crosscheck-kek");
  ASSERT_NE(kek, 0u);
  auto kek_value = raw().value(kek);
  ASSERT_TRUE(kek_value.has_value());
  for (unsigned long size : {16ul, 24ul, 32ul, 64ul}) {
    unsigned long secret = raw().generate_extractable_secret("crosscheck-secret", size);
    ASSERT_NE(secret, 0u);
    auto secret_value = raw().value(secret);
    ASSERT_TRUE(secret_value.has_value());
    ASSERT_EQ(secret_value->size(), size);
    auto by_token = raw().wrap_key_pad(kek, secret);
    ASSERT_TRUE(by_token.has_value()) << "C_WrapKey(CKM_AES_KEY_WRAP_PAD) failed";
    Bytes by_openssl = openssl_wrap_pad(kek_value->view(), secret_value->view());
    ASSERT_EQ(by_openssl.size(), size + 8);
    EXPECT_TRUE(same_bytes(*by_token, by_openssl)) << size << "-byte key: the token's RFC 5649 wrap differs";
  }
}

// A key whose length is not a multiple of 8: SoftHSM2 2.6.1 zero-pads the key before wrapping, so its RFC 5649
// length indicator says 24 for a 20-byte key and the output is OpenSSL's wrap of the zero-padded key, not of the key.
// This pins that quirk (a fixed SoftHSM2 would produce OpenSSL's exact output, which is accepted too); blobseal's
// provider uses AES-GCM and 32-byte data keys, which it does not affect.
TEST_F(Pkcs11Test, TokenKeyWrapPadOfAnUnalignedKey) {
  unsigned long kek = raw().generate_extractable_aes_key("crosscheck-kek");
  ASSERT_NE(kek, 0u);
  auto kek_value = raw().value(kek);
  ASSERT_TRUE(kek_value.has_value());
  unsigned long secret = raw().generate_extractable_secret("crosscheck-secret", 20);
  ASSERT_NE(secret, 0u);
  auto secret_value = raw().value(secret);
  ASSERT_TRUE(secret_value.has_value());
  auto by_token = raw().wrap_key_pad(kek, secret);
  ASSERT_TRUE(by_token.has_value()) << "C_WrapKey(CKM_AES_KEY_WRAP_PAD) failed";
  Bytes exact = openssl_wrap_pad(kek_value->view(), secret_value->view());
  Bytes padded_key(secret_value->view().begin(), secret_value->view().end());
  padded_key.resize(24, 0);
  Bytes of_padded = openssl_wrap_pad(kek_value->view(), padded_key);
  EXPECT_TRUE(same_bytes(*by_token, exact) || same_bytes(*by_token, of_padded))
      << "the token's wrap is neither RFC 5649 of the key nor of the zero-padded key";
}

TEST(Pkcs11LabelsTest, LabelsRoundTripAndForeignLabelsAreIgnored) {
  using pkcs11::object_label;
  using pkcs11::parse_object_label;
  EXPECT_EQ(object_label("default", 3), "blobseal:default:v3");
  auto parsed = parse_object_label("blobseal:tenant.a-1:v42");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->key_id, "tenant.a-1");
  EXPECT_EQ(parsed->version, 42u);
  for (std::string_view foreign :
       {"kek", "blobseal:", "blobseal:default", "blobseal:default:v", "blobseal:default:v0", "blobseal:default:v01",
        "blobseal::v1", "blobseal:a:b:v1", "blobseal:default:v1x", "blobseal:default:v4294967296", "other:default:v1"})
    EXPECT_FALSE(parse_object_label(foreign).has_value()) << foreign;
  EXPECT_TRUE(ok(pkcs11::validate_key_id("a")));
  EXPECT_FALSE(ok(pkcs11::validate_key_id(std::string(65, 'a'))));
}

}  // namespace
}  // namespace blobseal::keys::testing
