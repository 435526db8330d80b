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
};

}  // namespace blobseal::keys
