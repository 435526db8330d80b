// The KeyManager conformance suite for the "awskms" provider, against the KMS emulator (a test double of AWS KMS
// that verifies SigV4 signatures; not AWS KMS), one emulator per test. Rotation here is a new generation of the same
// KMS key (AwsKmsKeyManager::set_keys); rotation to another KMS key is in awskms_key_manager_test.cc.
#include "key_manager_conformance.h"
#include "kms_emulator.h"

namespace blobseal::keys::testing {
namespace {

class KmsEmulatorHarness : public KeyManagerHarness {
 public:
  explicit KmsEmulatorHarness(std::unique_ptr<KmsEmulator> emulator) : emulator_(std::move(emulator)) {
    auto manager = AwsKmsKeyManager::open(emulator_->options());
    if (manager)
      manager_ = std::move(*manager);
    else
      ADD_FAILURE() << manager.error().to_string();
  }
  KeyManager& manager() override { return *manager_; }
  std::string default_key_id() override { return kms_key_arn(kKmsKeyA); }
  bool can_rotate() override { return true; }
  Result<std::uint32_t> rotate_default_key() override {
    AwsKmsKeys keys = manager_->keys();
    ++keys.generation;
    BLOBSEAL_TRY_STATUS(manager_->set_keys(keys));
    return keys.generation;
  }
  // The KMS keys never leave the emulator; the secrets blobseal holds are the credentials.
  std::vector<std::string> secret_strings() override { return {kKmsSecretKey, kKmsTemporarySecretKey}; }

 private:
  std::unique_ptr<KmsEmulator> emulator_;  // outlives the manager
  std::unique_ptr<AwsKmsKeyManager> manager_;
};

void skip_without_emulator(const std::string& why) { GTEST_SKIP() << "no KMS emulator: " << why; }

std::unique_ptr<KeyManagerHarness> make_emulator_harness() {
  std::string why;
  auto emulator = KmsEmulator::start(why);
  if (emulator == nullptr) {
    if (!why.empty()) skip_without_emulator(why);
    return nullptr;
  }
  return std::make_unique<KmsEmulatorHarness>(std::move(emulator));
}

INSTANTIATE_TEST_SUITE_P(AwsKms, KeyManagerConformance,
                         ::testing::Values(KeyManagerProvider{"KmsEmulator", [] { return make_emulator_harness(); }}),
                         provider_name);

}  // namespace
}  // namespace blobseal::keys::testing
