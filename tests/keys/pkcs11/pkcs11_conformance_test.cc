// The KeyManager conformance suite for the "pkcs11" provider, against a fresh SoftHSM2 token per test.
#include "key_manager_conformance.h"
#include "softhsm.h"

namespace blobseal::keys::testing {
namespace {

class SoftHsmHarness : public KeyManagerHarness {
 public:
  SoftHsmHarness() {
    if (!token_.ready()) {
      ADD_FAILURE() << "softhsm2-util --init-token failed";
      return;
    }
    auto manager = Pkcs11KeyManager::open(token_.options());
    if (manager)
      manager_ = std::move(*manager);
    else
      ADD_FAILURE() << manager.error().to_string();
  }
  KeyManager& manager() override { return *manager_; }
  std::string default_key_id() override { return "default"; }
  bool can_rotate() override { return true; }
  Result<std::uint32_t> rotate_default_key() override { return manager_->rotate(); }
  // The key material never leaves the token.
  std::vector<std::string> secret_strings() override { return {}; }
  bool ok() const { return manager_ != nullptr; }

 private:
  SoftHsmToken token_;  // before the manager: the manager must close before the token directory goes
  std::unique_ptr<Pkcs11KeyManager> manager_;
};

void skip_without_softhsm() { GTEST_SKIP() << kSoftHsmModule << " is not installed (apt-get install softhsm2)"; }

std::unique_ptr<KeyManagerHarness> make_softhsm_harness() {
  // Skipping is for machines without SoftHSM2 only; scripts/test installs it.
  if (!softhsm_installed()) {
    skip_without_softhsm();
    return nullptr;
  }
  auto harness = std::make_unique<SoftHsmHarness>();
  return harness->ok() ? std::move(harness) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Pkcs11, KeyManagerConformance,
                         ::testing::Values(KeyManagerProvider{"SoftHsm", make_softhsm_harness}), provider_name);

}  // namespace
}  // namespace blobseal::keys::testing
