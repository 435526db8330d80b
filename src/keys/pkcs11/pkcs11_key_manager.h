// The "pkcs11" key manager: key-encryption keys that live in a PKCS#11 token (an HSM, a cloud HSM, SoftHSM2) and
// never leave it. blobseal hands the token each data key to encrypt and each wrapped data key to decrypt.
//
// Keys in the token: every version of a blobseal key is one AES-256 secret key object, created with CKA_TOKEN,
// CKA_PRIVATE, CKA_SENSITIVE = TRUE, CKA_EXTRACTABLE = FALSE (so its value can never be read out), CKA_ENCRYPT and
// CKA_DECRYPT = TRUE and no other usage, and labelled "blobseal:<key id>:v<version>" (keys/pkcs11/labels.h). The
// token is the only record of the state:
//   - a version whose CKA_DECRYPT is FALSE is retired; retire() clears CKA_ENCRYPT and CKA_DECRYPT, so the token
//     itself refuses to use it;
//   - the current version of a key is its newest version that may both encrypt and decrypt; every other version that
//     may decrypt is active (readable);
//   - CKA_ID holds the times for describe(): "created=<unix>", plus ";retired=<unix>" while retired.
// Objects with a blobseal label that are not 32-byte AES keys are ignored; two objects with one label make that
// version unusable (FailedPrecondition) until one is destroyed.
//
// Wrapping: CKM_AES_GCM inside the token with a random 12-byte IV (from OpenSSL's generator, crypto::random_bytes)
// and the caller's associated data as the AAD, 128-bit tag:
//   ciphertext = IV (12) || encrypted data key (32) || tag (16)
// the same layout as the local keyring. Data keys come from OpenSSL's generator (crypto::random_secret), not
// C_GenerateRandom: the data key is in this process's memory either way, and it saves a call to the token.
// A tag that does not verify is DataLoss (SoftHSM2 reports it as CKR_GENERAL_ERROR; it counts as DataLoss only
// when the session is still healthy afterwards).
//
// Sessions: one logged-in session is held open for the life of the manager (the PKCS#11 login belongs to the whole
// process and ends with its last session); work runs on pooled read-write sessions, one per concurrent caller.
// When the token reports a lost session or login (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED,
// CKR_USER_NOT_LOGGED_IN, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_DEVICE_ERROR), the call fails with
// Unavailable and the next call opens new sessions and logs in again. Managers in one process that use the same
// token share its login.
//
// The key list is read from the token at most once per `refresh_interval` (and at once when a wrapped key names a
// version this instance has not seen, or an object handle turns out stale), so rotations by another process show.
// Every method is safe to call from many threads. The PIN is kept in memory (zeroized on destruction) to log in
// again after a lost session, and appears in no message.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keys/key_manager.h"
#include "keys/registry.h"

namespace blobseal::keys {

inline constexpr std::string_view kPkcs11ProviderId = "pkcs11";

struct Pkcs11Options {
  // The PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so.
  std::string module_path;
  // The token, by label (slot numbers change when tokens are added) or by slot id; exactly one of them.
  std::string token_label;
  std::optional<unsigned long> slot_id;
  // The user PIN.
  SecretBytes pin;
  // The key used when a call names none.
  std::string default_key = "default";
  // Creates version 1 of the default key when the token has none.
  bool create_default_key = false;
  std::chrono::milliseconds refresh_interval{1000};
  // Sessions kept open between calls; more are opened while more callers are busy.
  std::size_t max_idle_sessions = 8;
};

class Pkcs11KeyManager final : public KeyManager, public KeyAdministration {
 public:
  // Loads the module, finds the token and logs in. InvalidArgument for incomplete options; NotFound for a missing
  // module file or token; PermissionDenied for a wrong or locked PIN; FailedPrecondition for a module that does not
  // load or initialize. Messages name the module and token, never the PIN.
  static Result<std::unique_ptr<Pkcs11KeyManager>> open(Pkcs11Options options);

  ~Pkcs11KeyManager() override;
  Pkcs11KeyManager(const Pkcs11KeyManager&) = delete;
  Pkcs11KeyManager& operator=(const Pkcs11KeyManager&) = delete;

  // KeyManager. An empty key_id means the default key. unwrap: FailedPrecondition naming key and version for a
  // retired version, NotFound for a destroyed or unknown one, DataLoss when the tag does not verify, Unavailable when
  // the token is gone.
  std::string id() const override;
  Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) override;
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override;
  Result<std::vector<KeyInfo>> describe() override;
  // OK when the session is logged in (C_GetSessionInfo) and a wrap and unwrap under the default key succeed.
  Status health() override;
  KeyAdministration* administration() override { return this; }

  // Management. Each generates, changes or destroys token objects at once; other processes see the change within
  // their refresh interval. Concurrent management of one key from two processes is not coordinated (two rotations
  // can make two objects with one label: see above).

  // Generates version 1 of a new key in the token. AlreadyExists if the token has any version of it; InvalidArgument
  // for a bad name (1..64 characters from [A-Za-z0-9._-]).
  Status create_key(std::string_view key_id);
  // Generates the next version of `key_id` (after the newest, retired or not), which becomes current. Returns it.
  Result<std::uint32_t> rotate(std::string_view key_id = {}) override;
  // Retires a version: the token stops encrypting and decrypting with it. FailedPrecondition for the current version
  // (rotate first); a no-op for a retired one.
  Status retire(std::string_view key_id, std::uint32_t version) override;
  // Makes a retired version usable again (current, if it is the newest).
  Status unretire(std::string_view key_id, std::uint32_t version);
  // Destroys a retired version's token object (C_DestroyObject): data keys wrapped under it are lost for good.
  // FailedPrecondition unless the version is retired.
  Status destroy(std::string_view key_id, std::uint32_t version) override;

  const std::string& token_label() const;

 private:
  Status set_version_usable(std::string_view key_id, std::uint32_t version, bool usable);
  class Impl;
  explicit Pkcs11KeyManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The registry's factory for "pkcs11". Settings:
//   module (required)            path of the PKCS#11 module
//   token_label | slot           the token (exactly one)
//   pin_file | pin_env | pin     the user PIN: a file (no group or other access; one line), the name of an
//                                environment variable, or the value; without any, BLOBSEAL_PKCS11_PIN
//   default_key                  default "default"
//   create_default_key           "true" creates version 1 of the default key when missing (default "false")
//   refresh_interval_ms          default 1000
//   max_idle_sessions            default 8
Result<std::unique_ptr<KeyManager>> create_pkcs11_key_manager(const KeyManagerConfig& config);

}  // namespace blobseal::keys
