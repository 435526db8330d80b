// The "kmip" key manager: key-encryption keys held by a KMIP 1.x server (Thales, Fortanix, Cosmian, Vault
// Enterprise, PyKMIP...), reached over mutually authenticated TLS. The keys never leave the server: data keys are
// wrapped and unwrapped by the server's Encrypt and Decrypt operations.
//
// Keys and versions: version N of key K is one AES-256 Symmetric Key object on the server with the Name
// "blobseal:K:vN", the Object Group "blobseal:K" and Cryptographic Usage Mask Encrypt|Decrypt. The manager finds a
// key's versions with Locate (by Object Group) and Get Attributes (Name, State), caches them for
// `refresh_interval`, and looks again at once when asked for a version it does not know. The current version is
// the highest one in the Active state; versions in any other state are retired (Deactivated or Compromised after
// a Revoke, Destroyed, or Pre-Active after a rotation that failed half-way) and unwrap refuses them.
//
// Wrapping (WrappedKey::ciphertext), for the default cipher "aes-gcm" (needs KMIP 1.4 on the server):
//   0x01 || IV (12) || encrypted data key (32) || GCM tag (16)
// where the server encrypts with AES-256-GCM under the version's key, with associated data
//   "blobseal.dev/kmip-wrap@v1" || 0x00 || u32 length || key id || u32 version || the caller's associated data.
// For "aes-cbc" (servers without authenticated encryption; KMIP 1.2):
//   0x02 || IV (16) || AES-256-CBC-PKCS5 of (SHA-256 of that associated data || data key) (80)
// The hash in front binds the associated data (a block-aligned prefix cannot be changed through the IV without
// garbling the next block), but CBC does not authenticate the data key itself: a modified last block can yield a
// different data key without an error here. blobseal relies on the sealed header's key commitment to reject such
// a key before any plaintext is released (docs/KMS.md); use "aes-gcm" wherever the server offers it.
//
// Errors: a server that cannot be reached is Unavailable (after the client's bounded retries); a Decrypt that the
// server refuses with Cryptographic Failure or General Failure (how PyKMIP reports a GCM tag mismatch) is DataLoss.
// Every method is safe to call from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keys/key_manager.h"
#include "keys/kmip/kmip_client.h"
#include "keys/kmip/messages.h"
#include "keys/registry.h"

namespace blobseal::keys {

inline constexpr std::string_view kKmipProviderId = "kmip";

struct KmipKeyManagerOptions {
  kmip::KmipClientOptions client;
  // The key used when the caller names none.
  std::string default_key = "default";
  kmip::CipherMode cipher = kmip::CipherMode::kAesGcm;
  // The protocol version put in every request; AES-GCM with associated data needs 1.4 or later.
  kmip::ProtocolVersion protocol{1, 4};
  // Create version 1 of the default key at open() when the server has none.
  bool create_default_key = false;
  // Unwrap accepts only the N newest non-retired versions of a key (0: every non-retired version).
  unsigned dual_read_versions = 0;
  std::chrono::milliseconds refresh_interval{30000};
};

class KmipKeyManager final : public KeyManager, public KeyAdministration {
 public:
  // Validates the options and loads the TLS material. Contacts the server only when `create_default_key` is set,
  // so a server that is down at start-up shows in health() and in failing calls, not here.
  static Result<std::unique_ptr<KmipKeyManager>> open(const KmipKeyManagerOptions& options);
  ~KmipKeyManager() override;
  KmipKeyManager(const KmipKeyManager&) = delete;
  KmipKeyManager& operator=(const KmipKeyManager&) = delete;

  // KeyManager. An empty key_id means the default key.
  std::string id() const override;
  Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) override;
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override;
  Result<std::vector<KeyInfo>> describe() override;
  // One Get Attributes of the default key's current version: OK when the server answers and that version is
  // Active.
  Status health() override;
  KeyAdministration* administration() override { return this; }

  // Management. An empty key_id means the default key.

  // Creates and activates version 1 of a new key. AlreadyExists when the server has versions of it; InvalidArgument
  // for a bad name (1..64 characters from [A-Za-z0-9._-]).
  Result<std::uint32_t> create_key(std::string_view key_id = {});
  // Creates and activates the next version of `key_id`, which becomes current; returns its number.
  Result<std::uint32_t> rotate(std::string_view key_id = {}) override;
  // Revokes a version on the server (reason Cessation of Operation): it stops unwrapping, for this and every other
  // blobseal node. FailedPrecondition for the current version (rotate first); a retired version is left as it is.
  Status retire(std::string_view key_id, std::uint32_t version) override;
  // Destroys a retired (revoked) version's key on the server. Data keys wrapped under it are lost for good: rewrap
  // first. FailedPrecondition unless the version is retired; NotFound once destroyed.
  Status destroy(std::string_view key_id, std::uint32_t version) override;

 private:
  class Impl;
  explicit KmipKeyManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The registry's factory for "kmip". Settings: host, port (5696), ca_file, cert_file, key_file, server_name,
// key ("default"), cipher ("aes-gcm" | "aes-cbc"), protocol_version ("1.4"; "1.2" with aes-cbc), create_key
// ("false"), connect_timeout_ms (5000), timeout_ms (10000), retries (2), dual_read_versions (0),
// refresh_interval_ms (30000).
Result<std::unique_ptr<KeyManager>> create_kmip_key_manager(const KeyManagerConfig& config);

}  // namespace blobseal::keys
