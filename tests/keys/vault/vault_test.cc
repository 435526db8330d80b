// The "vault" key manager against the Transit emulator (transit_emulator.py) — a TEST DOUBLE of HashiCorp Vault /
// OpenBao's Transit engine written for these tests from the documented HTTP API, NOT a real Vault: no Vault or
// OpenBao server can be installed here. The KeyManager conformance suite, then the provider's own behaviour:
// round trip, associated data and tampering (DataLoss), rotation, min_decryption_version (FailedPrecondition),
// tokens and AppRole, namespaces, a server that is down, and 5xx answers that are retried.
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "key_manager_conformance.h"
#include "keys/registry.h"
#include "keys/vault/transit_ciphertext.h"
#include "keys/vault/vault_key_manager.h"
#include "test_support.h"
#include "transit_emulator.h"

namespace blobseal::keys::testing {
namespace {

TransitEmulator* g_emulator = nullptr;
std::string g_unavailable;

class TransitEmulatorEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    emulator_ = TransitEmulator::start(g_unavailable);
    g_emulator = emulator_.get();
    if (g_emulator == nullptr && g_unavailable.empty()) g_unavailable = "the Transit emulator did not start";
  }
  void TearDown() override {
    g_emulator = nullptr;
    emulator_.reset();  // SIGTERM by PID
  }

 private:
  std::unique_ptr<TransitEmulator> emulator_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new TransitEmulatorEnvironment);

std::string fresh_key(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

Bytes aad_of(std::string_view location) {
  Bytes aad = bytes_of("blobseal.dev/dek@v1");
  aad.push_back(0);
  put_bytes(aad, as_bytes(location));
  return aad;
}

bool mentions(const Error& error, std::string_view text) { return error.message().find(text) != std::string::npos; }

std::unique_ptr<VaultKeyManager> open_manager(VaultKeyManagerOptions options) {
  auto manager = VaultKeyManager::open(std::move(options));
  if (!manager) {
    ADD_FAILURE() << manager.error().to_string();
    return nullptr;
  }
  return std::move(*manager);
}

// A manager of `emulator` (the shared one by default) whose default key is a new key.
std::unique_ptr<VaultKeyManager> manager_with_new_key(const std::string& key, TransitEmulator* emulator = nullptr) {
  VaultKeyManagerOptions options = (emulator != nullptr ? emulator : g_emulator)->options(key);
  options.create_default_key = true;
  return open_manager(std::move(options));
}

class TransitHarness : public KeyManagerHarness {
 public:
  TransitHarness() : key_(fresh_key("conformance")), manager_(manager_with_new_key(key_)) {}
  KeyManager& manager() override { return *manager_; }
  std::string default_key_id() override { return key_; }
  bool can_rotate() override { return true; }
  Result<std::uint32_t> rotate_default_key() override { return manager_->rotate(); }
  // The emulator reveals its key material (a real Vault would not), plus the token the manager holds.
  std::vector<std::string> secret_strings() override {
    std::vector<std::string> out;
    for (const auto& material : g_emulator->key_material(key_)) {
      auto bytes = from_base64(material);
      if (bytes)
        for (auto& s : secret_encodings(*bytes)) out.push_back(s);
    }
    out.emplace_back(kRootToken);
    return out;
  }

 private:
  std::string key_;
  std::unique_ptr<VaultKeyManager> manager_;
};

void skip_without_emulator() { GTEST_SKIP() << "no Transit emulator: " << g_unavailable; }

std::unique_ptr<KeyManagerHarness> make_transit_harness() {
  if (g_emulator == nullptr) {
    skip_without_emulator();
    return nullptr;
  }
  return std::make_unique<TransitHarness>();
}

INSTANTIATE_TEST_SUITE_P(Vault, KeyManagerConformance,
                         ::testing::Values(KeyManagerProvider{"TransitEmulator", [] { return make_transit_harness(); }}),
                         provider_name);

class VaultTransit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_emulator == nullptr) GTEST_SKIP() << "no Transit emulator: " << g_unavailable;
  }
};

TEST(TransitCiphertext, VersionOfTheVaultPrefix) {
  EXPECT_EQ(vault::transit_ciphertext_version("vault:v1:abcd"), 1u);
  EXPECT_EQ(vault::transit_ciphertext_version("vault:v42:x"), 42u);
  EXPECT_EQ(vault::transit_ciphertext_version("vault:v4294967295:x"), 4294967295u);
  for (std::string_view bad : {"", "vault:v1:", "vault:v:x", "vault:v0:x", "vault:v01:x", "vault:v1x:y", "vault:1:x",
                               "Vault:v1:x", "vault:v4294967296:x", "vault:v-1:x", "vault:v1"})
    EXPECT_FALSE(vault::transit_ciphertext_version(bad).has_value()) << bad;
}

TEST_F(VaultTransit, RoundTripStoresTransitCiphertextAndAnotherNodeUnwraps) {
  std::string key = fresh_key("roundtrip");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/photo.jpg");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.provider, "vault");
  EXPECT_EQ(data_key->wrapped.key_id, key);
  EXPECT_EQ(data_key->wrapped.version, 1u);
  std::string text(as_string_view(data_key->wrapped.ciphertext));
  EXPECT_THAT(text, ::testing::StartsWith("vault:v1:"));
  EXPECT_EQ(text.size(), 9u + 80u);  // base64 of nonce (12) + encrypted key (32) + tag (16)
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));

  auto other = open_manager(g_emulator->options(key));
  ASSERT_NE(other, nullptr);
  auto again = other->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_TRUE(same_bytes(again->view(), data_key->plaintext.view()));
  EXPECT_TRUE(ok(other->health()));
  EXPECT_TRUE(fails_with(manager->create_key(key), ErrorCode::kAlreadyExists));
}

TEST_F(VaultTransit, AssociatedDataMismatchIsDataLoss) {
  auto manager = manager_with_new_key(fresh_key("aad"));
  ASSERT_NE(manager, nullptr);
  auto data_key = manager->generate_data_key(aad_of("bucket/a"));
  ASSERT_TRUE(ok(data_key));
  auto moved = manager->unwrap(data_key->wrapped, aad_of("bucket/b"));
  ASSERT_TRUE(fails_with(moved, ErrorCode::kDataLoss));
  EXPECT_TRUE(mentions(moved.error(), "does not authenticate")) << moved.error().message();
  EXPECT_TRUE(mentions(moved.error(), "message authentication failed")) << "Vault's own refusal, not a local check";
}

TEST_F(VaultTransit, TamperedCiphertextIsDataLoss) {
  auto manager = manager_with_new_key(fresh_key("tamper"));
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/x");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  // Valid base64 characters swapped in: the server decodes them and the GCM tag fails there.
  for (std::size_t i : {9u, 20u, 40u, 60u, 87u}) {
    WrappedKey tampered = data_key->wrapped;
    tampered.ciphertext[i] = tampered.ciphertext[i] == 'A' ? 'B' : 'A';
    auto refused = manager->unwrap(tampered, aad);
    ASSERT_TRUE(fails_with(refused, ErrorCode::kDataLoss)) << "character " << i;
    EXPECT_TRUE(mentions(refused.error(), "does not authenticate")) << refused.error().message();
  }
  // The version in the prefix is bound too.
  WrappedKey relabelled = data_key->wrapped;
  relabelled.ciphertext[7] = '2';
  EXPECT_TRUE(fails_with(manager->unwrap(relabelled, aad), ErrorCode::kDataLoss));
}

TEST_F(VaultTransit, RotationWrapsOnVersion2AndVersion1StillUnwraps) {
  std::string key = fresh_key("rotate");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  // Another node that has already cached version 1 as current.
  auto other = open_manager(g_emulator->options(key));
  ASSERT_NE(other, nullptr);
  Bytes aad = aad_of("bucket/old");
  auto old_key = other->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));

  auto rotated = manager->rotate();
  ASSERT_TRUE(ok(rotated));
  EXPECT_EQ(*rotated, 2u);
  auto new_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  EXPECT_EQ(new_key->wrapped.version, 2u);
  EXPECT_THAT(std::string(as_string_view(new_key->wrapped.ciphertext)), ::testing::StartsWith("vault:v2:"));
  auto old_unwrapped = manager->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(old_unwrapped));
  EXPECT_TRUE(same_bytes(old_unwrapped->view(), old_key->plaintext.view()));
  // The other node learns of version 2 from the wrapped key itself (its cache said latest = 1).
  auto seen_there = other->unwrap(new_key->wrapped, aad);
  ASSERT_TRUE(ok(seen_there));
  EXPECT_TRUE(same_bytes(seen_there->view(), new_key->plaintext.view()));

  auto needs = manager->needs_rewrap(old_key->wrapped);
  ASSERT_TRUE(ok(needs));
  EXPECT_TRUE(*needs);
  auto rewrapped = manager->rewrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(rewrapped));
  EXPECT_EQ(rewrapped->version, 2u);
  auto same = manager->unwrap(*rewrapped, aad);
  ASSERT_TRUE(ok(same));
  EXPECT_TRUE(same_bytes(same->view(), old_key->plaintext.view()));

  auto keys = manager->describe();
  ASSERT_TRUE(ok(keys));
  bool saw_v1 = false, saw_v2 = false;
  for (const auto& info : *keys)
    for (const auto& v : info.versions)
      if (info.key_id == key) {
        if (v.version == 1) saw_v1 = v.state == KeyVersionState::kActive;
        if (v.version == 2) saw_v2 = v.state == KeyVersionState::kCurrent;
        EXPECT_GT(v.created_unix, 1600000000) << "creation time from the keys map";
      }
  EXPECT_TRUE(saw_v1 && saw_v2) << describe_text(*keys);
}

TEST_F(VaultTransit, RaisedMinDecryptionVersionIsFailedPreconditionNamingKeyAndVersion) {
  std::string key = fresh_key("retire");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  // Another node whose cache will still say min_decryption_version = 1.
  auto other = open_manager(g_emulator->options(key));
  ASSERT_NE(other, nullptr);
  Bytes aad = aad_of("bucket/r");
  auto old_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  ASSERT_TRUE(ok(other->unwrap(old_key->wrapped, aad)));

  EXPECT_TRUE(fails_with(manager->set_min_decryption_version(key, 2), ErrorCode::kInvalidArgument))
      << "above the latest version";
  ASSERT_TRUE(ok(manager->rotate()));
  ASSERT_TRUE(ok(manager->set_min_decryption_version(key, 2)));

  auto refused = manager->unwrap(old_key->wrapped, aad);  // from the refreshed cache, before any decrypt
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(refused.error(), "key \"" + key + "\" version 1")) << refused.error().message();
  auto refused_there = other->unwrap(old_key->wrapped, aad);  // stale cache: Vault's refusal, mapped
  ASSERT_TRUE(fails_with(refused_there, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(refused_there.error(), "key \"" + key + "\" version 1")) << refused_there.error().message();
  EXPECT_TRUE(mentions(refused_there.error(), "min_decryption_version")) << refused_there.error().message();

  auto keys = manager->describe();
  ASSERT_TRUE(ok(keys));
  bool retired = false;
  for (const auto& info : *keys)
    for (const auto& v : info.versions)
      if (info.key_id == key && v.version == 1) retired = v.state == KeyVersionState::kRetired;
  EXPECT_TRUE(retired) << describe_text(*keys);

  // Lowering it again reopens the window.
  ASSERT_TRUE(ok(manager->set_min_decryption_version(key, 1)));
  EXPECT_TRUE(ok(manager->unwrap(old_key->wrapped, aad)));
}

TEST_F(VaultTransit, BadTokenIsPermissionDeniedWithoutTheToken) {
  std::string key = fresh_key("badtoken");
  ASSERT_NE(manager_with_new_key(key), nullptr);
  const std::string token = "hvs.this-token-is-wrong-0123456789abcdefXYZ";
  VaultKeyManagerOptions options = g_emulator->options(key);
  options.token = SecretBytes(as_bytes(token));
  auto manager = open_manager(std::move(options));
  ASSERT_NE(manager, nullptr);
  auto refused = manager->generate_data_key(aad_of("x"));
  ASSERT_TRUE(fails_with(refused, ErrorCode::kPermissionDenied));
  EXPECT_TRUE(mentions(refused.error(), "403")) << refused.error().message();
  EXPECT_FALSE(contains_secret(refused.error().to_string(), {token, kRootToken}));
  auto health = manager->health();
  ASSERT_TRUE(fails_with(health, ErrorCode::kPermissionDenied));
  EXPECT_FALSE(contains_secret(health.error().to_string(), {token}));
}

TEST_F(VaultTransit, TokenFromAFileOrTheEnvironment) {
  std::string key = fresh_key("tokensrc");
  ASSERT_NE(manager_with_new_key(key), nullptr);
  TempDir dir;
  std::string file = dir.file("token");
  write_text(file, std::string(kRootToken) + "\n", 0644);
  VaultKeyManagerOptions options = g_emulator->options(key);
  options.token = SecretBytes();
  options.token_file = file;
  auto loose = VaultKeyManager::open(std::move(options));
  ASSERT_TRUE(fails_with(loose, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(loose.error(), "chmod 600")) << loose.error().message();
  EXPECT_FALSE(contains_secret(loose.error().to_string(), {kRootToken}));

  write_text(file, std::string(kRootToken) + "\n", 0600);
  options = g_emulator->options(key);
  options.token = SecretBytes();
  options.token_file = file;
  auto from_file = open_manager(std::move(options));
  ASSERT_NE(from_file, nullptr);
  EXPECT_TRUE(ok(from_file->generate_data_key(aad_of("x"))));

  const char* saved = std::getenv("VAULT_TOKEN");
  std::string saved_value = saved ? saved : "";
  ::setenv("VAULT_TOKEN", kRootToken, 1);
  options = g_emulator->options(key);
  options.token = SecretBytes();
  auto from_env = open_manager(std::move(options));
  if (saved) ::setenv("VAULT_TOKEN", saved_value.c_str(), 1);
  else ::unsetenv("VAULT_TOKEN");
  ASSERT_NE(from_env, nullptr);
  EXPECT_TRUE(ok(from_env->generate_data_key(aad_of("x"))));
}

VaultKeyManagerOptions approle_options(const TransitEmulator& emulator, const std::string& key) {
  VaultKeyManagerOptions options = emulator.options(key);
  options.token = SecretBytes();
  options.role_id = kRoleId;
  options.secret_id = SecretBytes(as_bytes(kSecretId));
  return options;
}

TEST_F(VaultTransit, AppRoleLogsInAndLogsInAgainAfterTheTokenExpires) {
  std::string key = fresh_key("approle");
  ASSERT_NE(manager_with_new_key(key), nullptr);
  int logins = g_emulator->stats()["logins"].get<int>();
  auto manager = open_manager(approle_options(*g_emulator, key));
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(g_emulator->stats()["logins"].get<int>(), logins) << "open() must not contact the server";
  Bytes aad = aad_of("bucket/a");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(g_emulator->stats()["logins"].get<int>(), logins + 1);

  g_emulator->expire_tokens();  // the next call gets 403, logs in again and succeeds
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
  EXPECT_EQ(g_emulator->stats()["logins"].get<int>(), logins + 2);

  VaultKeyManagerOptions wrong = approle_options(*g_emulator, key);
  const std::string bad_secret = "secret-id-wrong-00000000-1111-2222-3333-444444444444";
  wrong.secret_id = SecretBytes(as_bytes(bad_secret));
  auto refused_manager = open_manager(std::move(wrong));
  ASSERT_NE(refused_manager, nullptr);
  auto refused = refused_manager->generate_data_key(aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kPermissionDenied));
  EXPECT_TRUE(mentions(refused.error(), "AppRole login")) << refused.error().message();
  EXPECT_FALSE(contains_secret(refused.error().to_string(), {bad_secret, kSecretId}));
}

TEST_F(VaultTransit, AppRoleRenewsTheTokenNearTheEndOfItsLease) {
  std::string why;
  auto own = TransitEmulator::start(why, 3);  // tokens for 3 s
  ASSERT_NE(own, nullptr) << why;
  std::string key = fresh_key("renew");
  ASSERT_NE(manager_with_new_key(key, own.get()), nullptr);
  auto manager = open_manager(approle_options(*own, key));
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("x");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // a third of the lease left
  ASSERT_TRUE(ok(manager->unwrap(data_key->wrapped, aad)));
  auto stats = own->stats();
  EXPECT_EQ(stats["logins"].get<int>(), 1);
  EXPECT_EQ(stats["renewals"].get<int>(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // still valid thanks to the renewal
  ASSERT_TRUE(ok(manager->unwrap(data_key->wrapped, aad)));
  EXPECT_EQ(own->stats()["logins"].get<int>(), 1);
}

TEST_F(VaultTransit, NamespaceHeaderIsSentAndSeparatesKeys) {
  std::string key = fresh_key("ns");
  VaultKeyManagerOptions options = g_emulator->options(key);
  options.vault_namespace = "team-a/blobseal";
  options.create_default_key = true;
  auto manager = open_manager(std::move(options));
  ASSERT_NE(manager, nullptr);
  auto data_key = manager->generate_data_key(aad_of("x"));
  ASSERT_TRUE(ok(data_key));
  ASSERT_TRUE(ok(manager->unwrap(data_key->wrapped, aad_of("x"))));
  int seen = 0;
  nlohmann::json stats = g_emulator->stats();
  for (const auto& request : stats["requests"]) {
    std::string path = request["path"].get<std::string>();
    if (path.find("/" + key) == std::string::npos) continue;
    ++seen;
    EXPECT_EQ(request["namespace"].get<std::string>(), "team-a/blobseal") << path;
    EXPECT_TRUE(request["token"].get<bool>()) << path;
  }
  EXPECT_GE(seen, 4);  // read, create, read, encrypt, decrypt
  EXPECT_FALSE(g_emulator->key_material(key, "team-a/blobseal").empty());

  // Without the namespace, the key is not there.
  auto outside = open_manager(g_emulator->options(key));
  ASSERT_NE(outside, nullptr);
  auto unknown = outside->unwrap(data_key->wrapped, aad_of("x"));
  ASSERT_TRUE(fails_with(unknown, ErrorCode::kNotFound));
  EXPECT_TRUE(mentions(unknown.error(), key));
}

TEST_F(VaultTransit, ServerDownIsUnavailableAndHealthFails) {
  std::string why;
  auto own = TransitEmulator::start(why);
  ASSERT_NE(own, nullptr) << why;
  auto manager = manager_with_new_key(fresh_key("down"), own.get());
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/down");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  ASSERT_TRUE(ok(manager->health()));

  own->stop();
  auto started = std::chrono::steady_clock::now();
  auto wrapped = manager->generate_data_key(aad);
  ASSERT_TRUE(fails_with(wrapped, ErrorCode::kUnavailable));
  EXPECT_TRUE(mentions(wrapped.error(), "127.0.0.1:" + std::to_string(own->port()))) << wrapped.error().message();
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kUnavailable)) << "a down server must not look like tampering";
  EXPECT_TRUE(fails_with(manager->health(), ErrorCode::kUnavailable));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(VaultTransit, ServerErrorsAreRetriedThenAreACleanError) {
  auto manager = manager_with_new_key(fresh_key("retry"));
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("x");
  auto data_key = manager->generate_data_key(aad);  // the key's versions are cached now
  ASSERT_TRUE(ok(data_key));
  int served = g_emulator->stats()["failures_served"].get<int>();

  g_emulator->fail_next(503, 2);  // two failures, then an answer: max_attempts 3 is enough
  auto retried = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(retried));
  EXPECT_TRUE(same_bytes(retried->view(), data_key->plaintext.view()));
  EXPECT_EQ(g_emulator->stats()["failures_served"].get<int>(), served + 2);

  g_emulator->fail_next(500, 100);
  auto refused = manager->generate_data_key(aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kUnavailable));
  EXPECT_TRUE(mentions(refused.error(), "HTTP 500")) << refused.error().message();
  EXPECT_TRUE(mentions(refused.error(), "3 attempts")) << refused.error().message();
  auto unwrap_refused = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(fails_with(unwrap_refused, ErrorCode::kUnavailable)) << "a 500 must not look like tampering";
  EXPECT_TRUE(fails_with(manager->health(), ErrorCode::kUnavailable));
  EXPECT_EQ(g_emulator->stats()["failures_served"].get<int>(), served + 2 + 3 + 3 + 1);
  g_emulator->fail_next(500, 0);
  EXPECT_TRUE(ok(manager->health()));
}

TEST_F(VaultTransit, RegistryBuildsTheProviderFromSettings) {
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  std::string key = fresh_key("registry");
  KeyManagerConfig config = {{"address", g_emulator->address()},
                             {"token", kRootToken},
                             {"key", key},
                             {"mount", "transit"},
                             {"create_key", "true"},
                             {"timeout_ms", "10000"},
                             {"max_attempts", "2"}};
  auto manager = registry.create("vault", config);
  ASSERT_TRUE(ok(manager));
  EXPECT_EQ((*manager)->id(), "vault");
  auto data_key = (*manager)->generate_data_key(aad_of("x"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_TRUE(ok((*manager)->unwrap(data_key->wrapped, aad_of("x"))));

  config["colour"] = "blue";
  auto unknown = registry.create("vault", config);
  ASSERT_TRUE(fails_with(unknown, ErrorCode::kInvalidArgument));
  EXPECT_TRUE(mentions(unknown.error(), "colour"));
  config.erase("colour");
  config["role_id"] = kRoleId;
  auto both = registry.create("vault", config);
  ASSERT_TRUE(fails_with(both, ErrorCode::kInvalidArgument));
  EXPECT_FALSE(contains_secret(both.error().to_string(), {kRootToken}));
  config.erase("role_id");
  config.erase("address");
  EXPECT_TRUE(fails_with(registry.create("vault", config), ErrorCode::kInvalidArgument));
}

}  // namespace
}  // namespace blobseal::keys::testing
