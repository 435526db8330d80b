// The "kmip" key manager against a real PyKMIP server (python3-pykmip from Debian) over mutual TLS on 127.0.0.1:
// the KeyManager conformance suite, then the KMIP-specific behaviour (rotation, retirement by Revoke, Destroy, the
// CBC fallback, refused client certificates, a server that is down). One server for the whole run, started by a
// gtest Environment and stopped by PID at the end; the server-down test starts and stops one of its own.
#include <sys/types.h>

#include <atomic>
#include <cstdlib>

#include <gtest/gtest.h>

#include "key_manager_conformance.h"
#include "keys/kmip/kmip_key_manager.h"
#include "keys/registry.h"
#include "pykmip_server.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

PyKmipServer* g_server = nullptr;
std::string g_unavailable;  // why there is no server

class PyKmipEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    server_ = PyKmipServer::start(g_unavailable);
    g_server = server_.get();
    if (g_server == nullptr && g_unavailable.empty()) g_unavailable = "the PyKMIP server did not start (see above)";
  }
  void TearDown() override {
    g_server = nullptr;
    server_.reset();  // SIGTERM by PID, waits for the exit
  }

 private:
  std::unique_ptr<PyKmipServer> server_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new PyKmipEnvironment);

// A fresh key name per use, so tests never see each other's versions on the shared server.
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

// A manager of `server` (the shared one by default) whose default key is a new key with version 1.
std::unique_ptr<KmipKeyManager> manager_with_new_key(const std::string& key,
                                                     kmip::CipherMode cipher = kmip::CipherMode::kAesGcm,
                                                     const PyKmipServer* server = nullptr) {
  KmipKeyManagerOptions options = (server != nullptr ? server : g_server)->options();
  options.default_key = key;
  options.cipher = cipher;
  if (cipher == kmip::CipherMode::kAesCbcPkcs5) options.protocol = {1, 2};
  options.create_default_key = true;
  auto manager = KmipKeyManager::open(options);
  if (!manager) {
    ADD_FAILURE() << manager.error().to_string();
    return nullptr;
  }
  return std::move(*manager);
}

class PyKmipHarness : public KeyManagerHarness {
 public:
  PyKmipHarness() : key_(fresh_key("conformance")), manager_(manager_with_new_key(key_)) {}
  KeyManager& manager() override { return *manager_; }
  std::string default_key_id() override { return key_; }
  bool can_rotate() override { return true; }
  Result<std::uint32_t> rotate_default_key() override { return manager_->rotate(); }
  std::vector<std::string> secret_strings() override { return {}; }  // the keys never leave the server

 private:
  std::string key_;
  std::unique_ptr<KmipKeyManager> manager_;
};

void skip_without_server() { GTEST_SKIP() << "no PyKMIP server: " << g_unavailable; }

std::unique_ptr<KeyManagerHarness> make_pykmip_harness() {
  if (g_server == nullptr) {
    skip_without_server();
    return nullptr;
  }
  return std::make_unique<PyKmipHarness>();
}

INSTANTIATE_TEST_SUITE_P(Kmip, KeyManagerConformance,
                         ::testing::Values(KeyManagerProvider{"PyKmip", [] { return make_pykmip_harness(); }}),
                         provider_name);

class KmipPyKmip : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_server == nullptr) GTEST_SKIP() << "no PyKMIP server: " << g_unavailable;
  }
};

TEST_F(KmipPyKmip, CreatesAKeyThenWrapsAndUnwraps) {
  std::string key = fresh_key("roundtrip");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/photo.jpg");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.provider, "kmip");
  EXPECT_EQ(data_key->wrapped.key_id, key);
  EXPECT_EQ(data_key->wrapped.version, 1u);
  EXPECT_EQ(data_key->wrapped.ciphertext.size(), 61u);  // format, IV, encrypted key, GCM tag
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));

  // Another node (another manager of the same server) unwraps it too.
  KmipKeyManagerOptions options = g_server->options();
  options.default_key = key;
  auto other = KmipKeyManager::open(options);
  ASSERT_TRUE(ok(other));
  auto again = (*other)->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_TRUE(same_bytes(again->view(), data_key->plaintext.view()));
  EXPECT_TRUE(ok((*other)->health()));

  // The key exists now: creating it again is refused.
  EXPECT_TRUE(fails_with(manager->create_key(key), ErrorCode::kAlreadyExists));
}

TEST_F(KmipPyKmip, AssociatedDataMismatchIsDataLoss) {
  auto manager = manager_with_new_key(fresh_key("aad"));
  ASSERT_NE(manager, nullptr);
  auto data_key = manager->generate_data_key(aad_of("bucket/a"));
  ASSERT_TRUE(ok(data_key));
  auto moved = manager->unwrap(data_key->wrapped, aad_of("bucket/b"));
  ASSERT_TRUE(fails_with(moved, ErrorCode::kDataLoss));
  EXPECT_TRUE(mentions(moved.error(), "does not authenticate")) << moved.error().message();
}

TEST_F(KmipPyKmip, TamperedCiphertextIsDataLoss) {
  auto manager = manager_with_new_key(fresh_key("tamper"));
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/x");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  // The format byte, the IV, the encrypted key and the tag.
  for (std::size_t i : {0u, 1u, 12u, 13u, 30u, 44u, 45u, 60u}) {
    WrappedKey tampered = data_key->wrapped;
    tampered.ciphertext[i] ^= 0x01;
    EXPECT_TRUE(fails_with(manager->unwrap(tampered, aad), ErrorCode::kDataLoss)) << "byte " << i;
  }
  WrappedKey cut = data_key->wrapped;
  cut.ciphertext.pop_back();
  EXPECT_TRUE(fails_with(manager->unwrap(cut, aad), ErrorCode::kDataLoss));
}

TEST_F(KmipPyKmip, RotationMakesVersion2CurrentAndVersion1StillUnwraps) {
  std::string key = fresh_key("rotate");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/old");
  auto old_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  auto rotated = manager->rotate();
  ASSERT_TRUE(ok(rotated));
  EXPECT_EQ(*rotated, 2u);
  auto new_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  EXPECT_EQ(new_key->wrapped.version, 2u);
  auto old_unwrapped = manager->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(old_unwrapped));
  EXPECT_TRUE(same_bytes(old_unwrapped->view(), old_key->plaintext.view()));
  auto needs = manager->needs_rewrap(old_key->wrapped);
  ASSERT_TRUE(ok(needs));
  EXPECT_TRUE(*needs);

  auto keys = manager->describe();
  ASSERT_TRUE(ok(keys));
  std::string text = describe_text(*keys);
  EXPECT_NE(text.find(key), std::string::npos) << text;

  // The dual-read window: with 1 version readable, version 1 is refused, naming key and version.
  KmipKeyManagerOptions options = g_server->options();
  options.default_key = key;
  options.dual_read_versions = 1;
  auto narrow = KmipKeyManager::open(options);
  ASSERT_TRUE(ok(narrow));
  auto outside = (*narrow)->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(fails_with(outside, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(outside.error(), key) && mentions(outside.error(), "version 1"))
      << outside.error().message();
  EXPECT_TRUE(ok((*narrow)->unwrap(new_key->wrapped, aad)));
}

TEST_F(KmipPyKmip, RetiredVersionIsRefusedNamingKeyAndVersion) {
  std::string key = fresh_key("retire");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/r");
  auto old_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));

  // Another node that has already seen version 1 (its cache says Active).
  KmipKeyManagerOptions options = g_server->options();
  options.default_key = key;
  auto other = KmipKeyManager::open(options);
  ASSERT_TRUE(ok(other));
  ASSERT_TRUE(ok((*other)->unwrap(old_key->wrapped, aad)));

  EXPECT_TRUE(fails_with(manager->retire(key, 1), ErrorCode::kFailedPrecondition)) << "retired the current version";
  ASSERT_TRUE(ok(manager->rotate()));
  ASSERT_TRUE(ok(manager->retire(key, 1)));
  ASSERT_TRUE(ok(manager->retire(key, 1))) << "retiring twice is a no-op";

  auto refused = manager->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(refused.error(), "key \"" + key + "\" version 1")) << refused.error().message();
  // The other node learns it from the server (Decrypt refused on a Deactivated key).
  auto refused_there = (*other)->unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(fails_with(refused_there, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(refused_there.error(), "key \"" + key + "\" version 1")) << refused_there.error().message();

  auto keys = manager->describe();
  ASSERT_TRUE(ok(keys));
  bool saw = false;
  for (const auto& info : *keys)
    for (const auto& v : info.versions)
      if (info.key_id == key && v.version == 1) {
        saw = true;
        EXPECT_EQ(v.state, KeyVersionState::kRetired);
      }
  EXPECT_TRUE(saw);
}

TEST_F(KmipPyKmip, DestroyTakesOnlyARetiredVersion) {
  std::string key = fresh_key("destroy");
  auto manager = manager_with_new_key(key);
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/d");
  auto old_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  EXPECT_TRUE(fails_with(manager->destroy(key, 1), ErrorCode::kFailedPrecondition)) << "destroyed the current version";
  ASSERT_TRUE(ok(manager->rotate()));
  auto new_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  EXPECT_TRUE(fails_with(manager->destroy(key, 1), ErrorCode::kFailedPrecondition))
      << "destroyed a version that is still active (not retired)";
  ASSERT_TRUE(ok(manager->retire(key, 1)));  // Revoke
  ASSERT_TRUE(ok(manager->destroy(key, 1)));  // then Destroy

  auto gone = manager->unwrap(old_key->wrapped, aad);
  ASSERT_FALSE(gone.has_value());
  EXPECT_TRUE(gone.error().code() == ErrorCode::kNotFound || gone.error().code() == ErrorCode::kFailedPrecondition)
      << gone.error().to_string();
  EXPECT_TRUE(mentions(gone.error(), key) && mentions(gone.error(), "version 1")) << gone.error().message();
  EXPECT_TRUE(fails_with(manager->destroy(key, 1), ErrorCode::kNotFound));
  // Version 2 is untouched, and a fresh node still finds the key through its remaining version.
  EXPECT_TRUE(ok(manager->unwrap(new_key->wrapped, aad)));
  KmipKeyManagerOptions options = g_server->options();
  options.default_key = key;
  auto other = KmipKeyManager::open(options);
  ASSERT_TRUE(ok(other));
  EXPECT_TRUE(ok((*other)->unwrap(new_key->wrapped, aad)));
  EXPECT_TRUE(ok((*other)->health()));
}

TEST_F(KmipPyKmip, CbcFallbackRoundTripsAndBindsTheAssociatedData) {
  auto manager = manager_with_new_key(fresh_key("cbc"), kmip::CipherMode::kAesCbcPkcs5);
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/c");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.ciphertext.size(), 97u);  // format, IV, CBC of (hash || key) with a padding block
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
  EXPECT_TRUE(fails_with(manager->unwrap(data_key->wrapped, aad_of("bucket/other")), ErrorCode::kDataLoss));
  // The IV and the first blocks carry the binding: changing them is detected.
  for (std::size_t i : {1u, 8u, 17u, 40u}) {
    WrappedKey tampered = data_key->wrapped;
    tampered.ciphertext[i] ^= 0x01;
    EXPECT_TRUE(fails_with(manager->unwrap(tampered, aad), ErrorCode::kDataLoss)) << "byte " << i;
  }
}

TEST_F(KmipPyKmip, RegistryBuildsTheProviderFromSettings) {
  KeyManagerRegistry registry;
  register_builtin_key_managers(registry);
  KmipKeyManagerOptions options = g_server->options();
  std::string key = fresh_key("registry");
  KeyManagerConfig config = {{"host", "127.0.0.1"},
                             {"port", std::to_string(g_server->port())},
                             {"ca_file", options.client.ca_file},
                             {"cert_file", options.client.certificate_file},
                             {"key_file", options.client.private_key_file},
                             {"server_name", "localhost"},
                             {"key", key},
                             {"create_key", "true"},
                             {"timeout_ms", "10000"},
                             {"retries", "1"}};
  auto manager = registry.create("kmip", config);
  ASSERT_TRUE(ok(manager));
  EXPECT_EQ((*manager)->id(), "kmip");
  auto data_key = (*manager)->generate_data_key(aad_of("x"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_TRUE(ok((*manager)->unwrap(data_key->wrapped, aad_of("x"))));

  config["cipher"] = "aes-gcm";
  config["protocol_version"] = "1.2";
  EXPECT_TRUE(fails_with(registry.create("kmip", config), ErrorCode::kInvalidArgument)) << "GCM needs KMIP 1.4";
  config.erase("protocol_version");
  config["colour"] = "blue";
  auto unknown = registry.create("kmip", config);
  ASSERT_TRUE(fails_with(unknown, ErrorCode::kInvalidArgument));
  EXPECT_TRUE(mentions(unknown.error(), "colour"));
  config.erase("colour");
  config["ca_file"] = "/nonexistent/ca.crt";
  auto no_ca = registry.create("kmip", config);
  ASSERT_TRUE(fails_with(no_ca, ErrorCode::kInvalidArgument));
  EXPECT_TRUE(mentions(no_ca.error(), "/nonexistent/ca.crt"));
}

TEST_F(KmipPyKmip, WrongClientCertificateIsRefused) {
  for (const auto& [certificate, private_key] :
       {std::pair{g_server->rogue_certificate(), g_server->rogue_key()},
        std::pair{g_server->no_client_auth_certificate(), g_server->no_client_auth_key()}}) {
    KmipKeyManagerOptions options = g_server->options();
    options.client.certificate_file = certificate;
    options.client.private_key_file = private_key;
    auto manager = KmipKeyManager::open(options);
    ASSERT_TRUE(ok(manager));
    auto refused = (*manager)->generate_data_key(aad_of("x"));
    ASSERT_FALSE(refused.has_value()) << certificate;
    EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied) << refused.error().to_string();
    EXPECT_TRUE(mentions(refused.error(), certificate)) << refused.error().message();
    EXPECT_FALSE(ok((*manager)->health()));
  }
}

TEST_F(KmipPyKmip, ServerCertificateForAnotherNameIsRefused) {
  KmipKeyManagerOptions options = g_server->options();
  options.client.server_name = "kmip.example.net";
  auto manager = KmipKeyManager::open(options);
  ASSERT_TRUE(ok(manager));
  auto refused = (*manager)->health();
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(refused.error(), "does not verify")) << refused.error().message();
}

TEST_F(KmipPyKmip, NoServerAtThePortIsUnavailable) {
  KmipKeyManagerOptions options = g_server->options();
  options.client.port = free_local_port();
  options.client.retries = 1;
  auto manager = KmipKeyManager::open(options);
  ASSERT_TRUE(ok(manager));
  auto started = std::chrono::steady_clock::now();
  auto refused = (*manager)->generate_data_key(aad_of("x"));
  ASSERT_TRUE(fails_with(refused, ErrorCode::kUnavailable));
  EXPECT_TRUE(mentions(refused.error(), "127.0.0.1:" + std::to_string(options.client.port)))
      << refused.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_TRUE(fails_with((*manager)->health(), ErrorCode::kUnavailable));
}

// A server of its own, stopped in the middle of the test (the shared one serves the other tests, in any order).
TEST_F(KmipPyKmip, AStoppedServerGivesCleanErrorsAndHealthFails) {
  std::string why;
  auto own = PyKmipServer::start(why);
  ASSERT_NE(own, nullptr) << why;
  auto manager = manager_with_new_key(fresh_key("down"), kmip::CipherMode::kAesGcm, own.get());
  ASSERT_NE(manager, nullptr);
  Bytes aad = aad_of("bucket/down");
  auto data_key = manager->generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  ASSERT_TRUE(ok(manager->health()));

  own->stop();
  auto wrapped = manager->generate_data_key(aad);
  ASSERT_TRUE(fails_with(wrapped, ErrorCode::kUnavailable));
  EXPECT_TRUE(mentions(wrapped.error(), "127.0.0.1:" + std::to_string(own->port()))) << wrapped.error().message();
  auto unwrapped = manager->unwrap(data_key->wrapped, aad);
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kUnavailable)) << "a down server must not look like tampering";
  EXPECT_TRUE(fails_with(manager->health(), ErrorCode::kUnavailable));
}

}  // namespace
}  // namespace blobseal::keys::testing
