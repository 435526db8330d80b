// The KeyManager conformance suite: one set of tests every key manager must pass (like Arrow's
// GenericFileSystemTest). A provider instantiates it with a harness factory:
//
//   INSTANTIATE_TEST_SUITE_P(Pkcs11, KeyManagerConformance,
//                            ::testing::Values(KeyManagerProvider{"SoftHsm", [] { return make_softhsm_harness(); }}),
//                            provider_name);
//
// Capabilities a provider may lack (rotation through the test, revealing material for the no-leak check) are
// declared by the harness; tests that need them skip.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "keys/key_manager.h"

namespace blobseal::keys::testing {

// One key manager under test plus what the suite needs beyond the KeyManager interface.
class KeyManagerHarness {
 public:
  virtual ~KeyManagerHarness() = default;

  virtual KeyManager& manager() = 0;
  // The key id that wraps use when the caller names none.
  virtual std::string default_key_id() = 0;
  // Whether rotate_default_key() works for this provider.
  virtual bool can_rotate() = 0;
  // Makes a new version of the default key current; returns its number.
  virtual Result<std::uint32_t> rotate_default_key() = 0;
  // Encodings (secret_encodings()) of all key material the manager holds, for the no-leak checks; empty when the
  // material never leaves the provider (an HSM), which skips those checks.
  virtual std::vector<std::string> secret_strings() = 0;
};

struct KeyManagerProvider {
  std::string name;
  std::function<std::unique_ptr<KeyManagerHarness>()> make;
};

// gtest prints parameters in failure messages: print the name only.
inline void PrintTo(const KeyManagerProvider& provider, std::ostream* os) { *os << provider.name; }
inline std::string provider_name(const ::testing::TestParamInfo<KeyManagerProvider>& info) { return info.param.name; }

class KeyManagerConformance : public ::testing::TestWithParam<KeyManagerProvider> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make();
    if (IsSkipped()) return;  // the factory called GTEST_SKIP (the provider's software is not installed)
    ASSERT_NE(harness_, nullptr);
  }
  KeyManager& manager() { return harness_->manager(); }
  KeyManagerHarness& harness() { return *harness_; }

 private:
  std::unique_ptr<KeyManagerHarness> harness_;
};

}  // namespace blobseal::keys::testing
