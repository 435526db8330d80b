// The "vault" entry of the key manager registry: settings as flat strings → VaultKeyManagerOptions.
#include <charconv>

#include <fmt/format.h>

#include "keys/provider_settings.h"
#include "keys/vault/vault_key_manager.h"

namespace blobseal::keys {

namespace {

constexpr ProviderSettings kSettings("vault");

tl::unexpected<Error> bad_setting(std::string_view what) { return kSettings.invalid(what); }
Result<std::uint64_t> parse_number(const std::string& name, const std::string& value, std::uint64_t max) {
  return kSettings.number(name, value, 0, max);
}
Result<bool> parse_bool(const std::string& name, const std::string& value) { return kSettings.flag(name, value); }

}  // namespace

Result<std::unique_ptr<KeyManager>> create_vault_key_manager(const KeyManagerConfig& config) {
  VaultKeyManagerOptions options;
  for (const auto& [name, value] : config) {
    if (name == "address") {
      options.address = value;
    } else if (name == "mount") {
      options.mount = value;
    } else if (name == "key") {
      options.default_key = value;
    } else if (name == "namespace") {
      options.vault_namespace = value;
    } else if (name == "token") {
      options.token = SecretBytes(as_bytes(value));  // never echoed in a message
    } else if (name == "token_file") {
      options.token_file = value;
    } else if (name == "approle_mount") {
      options.approle_mount = value;
    } else if (name == "role_id") {
      options.role_id = value;
    } else if (name == "secret_id") {
      options.secret_id = SecretBytes(as_bytes(value));
    } else if (name == "secret_id_file") {
      options.secret_id_file = value;
    } else if (name == "ca_file") {
      options.ca_file = value;
    } else if (name == "verify_tls") {
      options.verify_tls = BLOBSEAL_TRY(parse_bool(name, value));
    } else if (name == "create_key") {
      options.create_default_key = BLOBSEAL_TRY(parse_bool(name, value));
    } else if (name == "connect_timeout_ms") {
      options.connect_timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 3600000)));
    } else if (name == "timeout_ms") {
      options.timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 3600000)));
    } else if (name == "max_attempts") {
      options.max_attempts = static_cast<int>(BLOBSEAL_TRY(parse_number(name, value, 10)));
    } else if (name == "refresh_interval_ms") {
      options.refresh_interval = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 86400000)));
    } else {
      return bad_setting(fmt::format(
          "no setting \"{}\" (settings: address, mount, key, namespace, token, token_file, approle_mount, role_id, "
          "secret_id, secret_id_file, ca_file, verify_tls, create_key, connect_timeout_ms, timeout_ms, max_attempts, "
          "refresh_interval_ms)",
          name));
    }
  }
  auto manager = VaultKeyManager::open(std::move(options));
  if (!manager) return make_error(manager.error());
  return std::unique_ptr<KeyManager>(std::move(*manager));
}

}  // namespace blobseal::keys
