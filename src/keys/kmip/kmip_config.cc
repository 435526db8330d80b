// The "kmip" entry of the key manager registry: settings as flat strings → KmipKeyManagerOptions.
#include <charconv>

#include <fmt/format.h>

#include "keys/kmip/kmip_key_manager.h"
#include "keys/provider_settings.h"

namespace blobseal::keys {

namespace {

constexpr ProviderSettings kSettings("kmip");

tl::unexpected<Error> bad_setting(std::string_view what) { return kSettings.invalid(what); }
Result<std::uint64_t> parse_number(const std::string& name, const std::string& value, std::uint64_t max) {
  return kSettings.number(name, value, 0, max);
}
Result<bool> parse_bool(const std::string& name, const std::string& value) { return kSettings.flag(name, value); }

}  // namespace

Result<std::unique_ptr<KeyManager>> create_kmip_key_manager(const KeyManagerConfig& config) {
  KmipKeyManagerOptions options;
  bool protocol_set = false;
  for (const auto& [name, value] : config) {
    if (name == "host") {
      options.client.host = value;
    } else if (name == "port") {
      options.client.port = static_cast<std::uint16_t>(BLOBSEAL_TRY(parse_number(name, value, 65535)));
    } else if (name == "server_name") {
      options.client.server_name = value;
    } else if (name == "ca_file") {
      options.client.ca_file = value;
    } else if (name == "cert_file") {
      options.client.certificate_file = value;
    } else if (name == "key_file") {
      options.client.private_key_file = value;
    } else if (name == "key") {
      options.default_key = value;
    } else if (name == "cipher") {
      if (value == "aes-gcm") {
        options.cipher = kmip::CipherMode::kAesGcm;
      } else if (value == "aes-cbc") {
        options.cipher = kmip::CipherMode::kAesCbcPkcs5;
      } else {
        return bad_setting(fmt::format("cipher must be aes-gcm or aes-cbc, not \"{}\"", value));
      }
    } else if (name == "protocol_version") {
      if (value != "1.2" && value != "1.3" && value != "1.4")
        return bad_setting(fmt::format("protocol_version must be 1.2, 1.3 or 1.4, not \"{}\"", value));
      options.protocol = {1, value[2] - '0'};
      protocol_set = true;
    } else if (name == "create_key") {
      options.create_default_key = BLOBSEAL_TRY(parse_bool(name, value));
    } else if (name == "connect_timeout_ms") {
      options.client.connect_timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 3600000)));
    } else if (name == "timeout_ms") {
      options.client.io_timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 3600000)));
    } else if (name == "retries") {
      options.client.retries = static_cast<unsigned>(BLOBSEAL_TRY(parse_number(name, value, 10)));
    } else if (name == "dual_read_versions") {
      options.dual_read_versions = static_cast<unsigned>(BLOBSEAL_TRY(parse_number(name, value, 0xffffffffu)));
    } else if (name == "refresh_interval_ms") {
      options.refresh_interval = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 86400000)));
    } else {
      return bad_setting(fmt::format(
          "no setting \"{}\" (settings: host, port, server_name, ca_file, cert_file, key_file, key, cipher, "
          "protocol_version, create_key, connect_timeout_ms, timeout_ms, retries, dual_read_versions, "
          "refresh_interval_ms)",
          name));
    }
  }
  if (!protocol_set && options.cipher == kmip::CipherMode::kAesCbcPkcs5) options.protocol = {1, 2};
  auto manager = KmipKeyManager::open(options);
  if (!manager) return make_error(manager.error());
  return std::unique_ptr<KeyManager>(std::move(*manager));
}

}  // namespace blobseal::keys
