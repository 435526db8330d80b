// The key manager interface: wraps and unwraps per-object data keys under key-encryption keys that it holds (a
// keyring file, an HSM, a KMS). Implementations live in keys/<provider>/ and are built by name through
// KeyManagerRegistry (keys/registry.h); the engine never names a concrete class.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"

namespace blobseal::keys {

inline constexpr std::size_t kDataKeySize = 32;

// A wrapped data key and the key version that wrapped it.
struct WrappedKey {
  std::string provider;  // KeyManager::id() of the manager that wrapped it
  std::string key_id;
  std::uint32_t version = 0;
  Bytes ciphertext;
};

struct DataKey {
  SecretBytes plaintext;  // 32 bytes, zeroized when dropped
  WrappedKey wrapped;
};

enum class KeyVersionState {
  kCurrent,   // used for new wraps; readable
  kActive,    // readable, inside the dual-read window
  kExpired,   // still in the keyring but outside the dual-read window: unwrap refuses it
  kRetired,   // retired by the operator: unwrap refuses it
  kDestroyed, // its key material was destroyed: nothing wrapped under it can ever be unwrapped again
};

struct KeyVersionInfo {
  std::uint32_t version = 0;
  KeyVersionState state = KeyVersionState::kActive;
  std::int64_t created_unix = 0;
  std::optional<std::int64_t> retired_unix;
};

struct KeyInfo {
  std::string key_id;
  bool is_default = false;
  std::vector<KeyVersionInfo> versions;  // ascending
};

std::string_view to_string(KeyVersionState state);

// Changing keys (the `blobseal keys` commands), offered by the key managers that can: the local keyring, PKCS#11 and
// KMIP. Running servers see a change within their provider's refresh interval. An empty key_id means the default key.
class KeyAdministration {
 public:
  virtual ~KeyAdministration() = default;
  // Adds a version with fresh material to `key_id`; it becomes current for new wraps. Returns its number.
  virtual Result<std::uint32_t> rotate(std::string_view key_id = {}) = 0;
  // Data keys wrapped under a retired version stop unwrapping. FailedPrecondition for the current version (rotate
  // first); a no-op for a retired one.
  virtual Status retire(std::string_view key_id, std::uint32_t version) = 0;
  // Destroys a retired version's material for good: data keys wrapped under it can never be unwrapped again.
  // FailedPrecondition unless the version is retired; NotFound for an unknown or already destroyed one.
  virtual Status destroy(std::string_view key_id, std::uint32_t version) = 0;
};

class KeyManager {
 public:
  virtual ~KeyManager() = default;

  // Stable identifier of this manager, recorded in every envelope ("local", "pkcs11"...).
  virtual std::string id() const = 0;

  // Generates a fresh random 32-byte data key and wraps it under the current version of `key_id` (the default key
  // when empty), binding `associated_data` (the object's location and id). NotFound for an unknown key.
  virtual Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) = 0;

  // Wraps an existing data key under the current version of `key_id` (rewrap, copy to a new location).
  virtual Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                  std::string_view key_id = {}) = 0;

  // Unwraps a data key. FailedPrecondition, naming key and version, when the version is retired or outside the
  // dual-read window; NotFound for an unknown key or version; DataLoss when the wrapped bytes or the associated
  // data do not authenticate (tampering, or an object moved to another location).
  virtual Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) = 0;

  // True when `wrapped` is not under the current version of its key (rewrap candidates).
  virtual Result<bool> needs_rewrap(const WrappedKey& wrapped) = 0;

  virtual Result<std::vector<KeyInfo>> describe() = 0;

  // OK when the manager can wrap and unwrap right now.
  virtual Status health() = 0;

  // The manager's key administration, or nullptr when its keys are managed in the provider itself (Vault, AWS KMS).
  virtual KeyAdministration* administration() { return nullptr; }
};

}  // namespace blobseal::keys
