// The KeyManager conformance suite for the "local" provider: a keyring file, and BLOB_KEY.
#include "key_manager_conformance.h"
#include "crypto/primitives.h"
#include "keys/local/local_keyring.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

class KeyringFileHarness : public KeyManagerHarness {
 public:
  KeyringFileHarness() {
    auto keyring = LocalKeyring::create(dir_.file("keyring.json"));
    if (keyring) keyring_ = std::move(*keyring);
    else ADD_FAILURE() << keyring.error().to_string();
  }
  KeyManager& manager() override { return *keyring_; }
  std::string default_key_id() override { return "default"; }
  bool can_rotate() override { return true; }
  Result<std::uint32_t> rotate_default_key() override { return keyring_->rotate(); }
  std::vector<std::string> secret_strings() override { return keyring_secret_strings(keyring_->path()); }

 private:
  TempDir dir_;
  std::unique_ptr<LocalKeyring> keyring_;
};

class BlobKeyHarness : public KeyManagerHarness {
 public:
  BlobKeyHarness() : material_(crypto::random_secret(32)) {
    std::string encoded = to_base64(material_.view());
    auto keyring = LocalKeyring::from_blob_key(encoded);
    secure_zero(encoded.data(), encoded.size());
    if (keyring) keyring_ = std::move(*keyring);
    else ADD_FAILURE() << keyring.error().to_string();
  }
  KeyManager& manager() override { return *keyring_; }
  std::string default_key_id() override { return "BLOB_KEY"; }
  bool can_rotate() override { return false; }
  Result<std::uint32_t> rotate_default_key() override { return keyring_->rotate(); }
  std::vector<std::string> secret_strings() override { return secret_encodings(material_.view()); }

 private:
  SecretBytes material_;
  std::unique_ptr<LocalKeyring> keyring_;
};

INSTANTIATE_TEST_SUITE_P(
    Local, KeyManagerConformance,
    ::testing::Values(KeyManagerProvider{"KeyringFile", [] { return std::make_unique<KeyringFileHarness>(); }},
                      KeyManagerProvider{"BlobKey", [] { return std::make_unique<BlobKeyHarness>(); }}),
    provider_name);

}  // namespace
}  // namespace blobseal::keys::testing
