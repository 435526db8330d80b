// SoftHSM2 for the PKCS#11 tests: a fresh token in a temporary directory (softhsm2-util --init-token with
// SOFTHSM2_CONF pointing at a test-local configuration, as ../shared/RECIPES.md describes), and direct PKCS#11 access
// to it, so the tests can check what the token holds without going through the provider under test.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "keys/pkcs11/pkcs11_key_manager.h"
#include "test_support.h"

namespace blobseal::keys::testing {

inline constexpr std::string_view kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr std::string_view kTokenLabel = "blobseal-test";
inline constexpr std::string_view kUserPin = "4816-user-pin";
inline constexpr std::string_view kSoPin = "9173-so-pin";

// False only when the module file is absent (scripts/test installs softhsm2, so CI always has it).
bool softhsm_installed();

// A freshly initialized token, labelled kTokenLabel, user PIN kUserPin, in its own directory, removed when dropped.
// Sets SOFTHSM2_CONF for this process (restored when dropped). The module reads it in C_Initialize, so every
// manager of an earlier token must be gone before a new token is made.
class SoftHsmToken {
 public:
  SoftHsmToken();
  ~SoftHsmToken();
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  // Whether softhsm2-util succeeded; its exit status otherwise (output is discarded: it would show the PINs).
  bool ready() const { return ready_; }
  const std::string& directory() const { return dir_.path(); }

  Pkcs11Options options(std::string_view pin = kUserPin) const;
  KeyManagerConfig config() const;  // for the registry, PIN as "pin"

 private:
  TempDir dir_;
  std::optional<std::string> saved_conf_;
  bool ready_ = false;
};

// Direct PKCS#11 calls on the test token (a logged-in session of its own), for checks and for test-only keys.
// Return values are CK_RV codes (0 is CKR_OK). Create it after the manager under test, so that the manager's
// C_Initialize is the one that counts; it never calls C_Finalize unless its own C_Initialize succeeded.
class RawToken {
 public:
  RawToken();
  ~RawToken();
  RawToken(const RawToken&) = delete;
  RawToken& operator=(const RawToken&) = delete;

  bool ready() const { return session_ != 0; }
  const std::string& error() const { return error_; }

  // Handles of the objects whose CKA_LABEL is `label`.
  std::vector<unsigned long> find(std::string_view label);
  // CK_RV of reading a secret attribute (CKA_VALUE) of the object; the value itself is never kept or printed.
  unsigned long read_value_rv(unsigned long object);
  // A CK_BBOOL attribute (CKA_SENSITIVE, CKA_EXTRACTABLE, ...); nullopt when it cannot be read.
  std::optional<bool> flag(unsigned long object, unsigned long attribute);
  // The value of an extractable test key.
  std::optional<SecretBytes> value(unsigned long object);

  // Generates an AES-256 key that is NOT sensitive and IS extractable, for the cross-checks only, labelled `label`,
  // usable for encrypt/decrypt and wrap. 0 on failure.
  unsigned long generate_extractable_aes_key(std::string_view label);
  // Generates an extractable generic secret of `size` bytes (a key to wrap). 0 on failure.
  unsigned long generate_extractable_secret(std::string_view label, unsigned long size);
  // C_WrapKey with CKM_AES_KEY_WRAP_PAD (RFC 5649).
  std::optional<Bytes> wrap_key_pad(unsigned long wrapping_key, unsigned long key);
  // C_CloseAllSessions on the token's slot: every session of this process on it ends and the login with them, as
  // when a token is pulled out.
  unsigned long close_all_sessions();

 private:
  struct Api;
  Api* api_ = nullptr;
  bool initialized_here_ = false;
  unsigned long slot_ = 0;
  unsigned long session_ = 0;
  std::string error_;
};

}  // namespace blobseal::keys::testing
