// The "vault" key manager: key-encryption keys held by the Transit secrets engine of HashiCorp Vault or OpenBao,
// reached over HTTP(S) with the project's HTTP client (net/http_client.h: keep-alive pool, timeouts, bounded
// retries). The keys never leave the server: blobseal generates each data key locally and asks Transit to encrypt
// it (POST /v1/<mount>/encrypt/<key>) and decrypt it (POST /v1/<mount>/decrypt/<key>).
//
// Wrapping: WrappedKey::ciphertext is Transit's ciphertext string as returned ("vault:v<N>:<base64>"), and
// WrappedKey::version is its N. The associated data is bound with Transit's `associated_data` field (AEAD key types
// only: aes256-gcm96, aes128-gcm96, chacha20-poly1305, xchacha20-poly1305), as
//   "blobseal.dev/vault-wrap@v1" || 0x00 || the caller's associated data,
// so a moved object, a flipped byte or a relabelled version fails the GCM tag in the server: DataLoss.
//
// Versions: a key's versions, latest_version and min_decryption_version come from GET /v1/<mount>/keys/<key>,
// cached for `refresh_interval` and read again at once for a version the cache does not know. The current version
// is latest_version; versions below min_decryption_version are retired (Transit's dual-read window): unwrap refuses
// them with FailedPrecondition naming key and version, from the cache before any call and from Vault's own refusal
// ("disallowed by policy (too old)") when the cache is stale.
//
// Authentication: a token (X-Vault-Token; from the options, a token file, or VAULT_TOKEN), or AppRole (login at
// auth/<approle mount>/login with role_id and secret_id; the token is renewed, or the manager logs in again, when
// a third of its lease is left, and after a 403). X-Vault-Namespace when a namespace is set. Tokens, secret_id and
// data keys appear in no error message; they are held in SecretBytes and the buffers that carried them are wiped.
//
// Errors: a server that cannot be reached, that is sealed or answers 5xx/429 (after the client's bounded retries)
// is Unavailable; 403 is PermissionDenied; an unknown key or version is NotFound. Every method is safe to call from
// many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/secret_bytes.h"
#include "keys/key_manager.h"
#include "keys/registry.h"

namespace blobseal::keys {

inline constexpr std::string_view kVaultProviderId = "vault";

struct VaultKeyManagerOptions {
  // scheme://host[:port] of the Vault or OpenBao server: "https://vault.example.net:8200".
  std::string address;
  std::string mount = "transit";     // where the Transit engine is mounted
  std::string default_key = "default";
  std::string vault_namespace;        // sent as X-Vault-Namespace when not empty (Vault Enterprise, OpenBao)

  // Token authentication: `token`, else the first line of `token_file` (refused unless mode 0600 or stricter),
  // else the VAULT_TOKEN environment variable, unless AppRole is configured.
  SecretBytes token;
  std::string token_file;
  // AppRole authentication, when role_id is set: the secret_id from `secret_id` or `secret_id_file` (0600).
  std::string approle_mount = "approle";
  std::string role_id;
  SecretBytes secret_id;
  std::string secret_id_file;

  std::string ca_file;  // PEM bundle to trust instead of the system's (https)
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{10000};  // idle timeout of one exchange
  int max_attempts = 3;                      // per request, the first included (retries on 5xx, 429, transport)
  std::chrono::milliseconds retry_base_delay{100};
  std::chrono::milliseconds refresh_interval{30000};  // how long a key's version list is cached
  // Create the default key (aes256-gcm96) at open() when Vault has none.
  bool create_default_key = false;
};

class VaultKeyManager final : public KeyManager {
 public:
  // Validates the options and reads the token or secret_id files. Contacts the server only when
  // `create_default_key` is set, so a server that is down at start-up shows in health() and in failing calls.
  static Result<std::unique_ptr<VaultKeyManager>> open(VaultKeyManagerOptions options);
  ~VaultKeyManager() override;
  VaultKeyManager(const VaultKeyManager&) = delete;
  VaultKeyManager& operator=(const VaultKeyManager&) = delete;

  // KeyManager. An empty key_id means the default key.
  std::string id() const override;
  Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) override;
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override;
  Result<std::vector<KeyInfo>> describe() override;
  // GET /v1/sys/health (one attempt: unsealed and active or standby), then a fresh read of the default key with
  // the manager's token: OK when both answer and the key can encrypt.
  Status health() override;

  // Management. An empty key_id means the default key.

  // Creates an aes256-gcm96 key. AlreadyExists when Vault has it.
  Status create_key(std::string_view key_id = {});
  // POST keys/<key>/rotate: a new version becomes current (for the other nodes within refresh_interval); returns it.
  Result<std::uint32_t> rotate(std::string_view key_id = {});
  // Sets min_decryption_version: versions below it stop unwrapping, on every node (Vault refuses them). InvalidArgument
  // above the latest version.
  Status set_min_decryption_version(std::string_view key_id, std::uint32_t version);
  // Rewraps under the current version: decrypt then encrypt, inside this process (the data key is wiped at once).
  // Transit's own rewrap endpoint is not used: it takes no associated_data, so it cannot open these wraps.
  Result<WrappedKey> rewrap(const WrappedKey& wrapped, ByteSpan associated_data);

 private:
  class Impl;
  explicit VaultKeyManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The registry's factory for "vault". Settings: address (required), mount ("transit"), key ("default"), namespace,
// token, token_file, approle_mount ("approle"), role_id, secret_id, secret_id_file, ca_file, verify_tls ("true"),
// create_key ("false"), connect_timeout_ms (5000), timeout_ms (10000), max_attempts (3), refresh_interval_ms (30000).
Result<std::unique_ptr<KeyManager>> create_vault_key_manager(const KeyManagerConfig& config);

}  // namespace blobseal::keys
