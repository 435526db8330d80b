#include "keys/registry.h"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "keys/awskms/awskms_key_manager.h"
#include "keys/kmip/kmip_key_manager.h"
#include "keys/local/local_keyring.h"
#include "keys/pkcs11/pkcs11_key_manager.h"
#include "keys/vault/vault_key_manager.h"

namespace blobseal::keys {

namespace {

Result<std::uint64_t> parse_count(const std::string& name, const std::string& value) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n > 0xffffffffu)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("key manager \"local\": {} must be a non-negative integer, not \"{}\"", name, value));
  return n;
}

template <typename T>
Result<std::unique_ptr<KeyManager>> as_key_manager(Result<std::unique_ptr<T>> manager) {
  if (!manager) return make_error(manager.error());
  return std::unique_ptr<KeyManager>(std::move(*manager));
}

// "local": {"path": FILE} opens a keyring; without a path, the key comes from "blob_key" or else the BLOB_KEY
// environment variable. "dual_read_versions" overrides the keyring's window; "reload_interval_ms" sets how often the
// file is checked for changes.
Result<std::unique_ptr<KeyManager>> create_local(const KeyManagerConfig& config) {
  LocalKeyringOptions options;
  std::string path;
  const std::string* blob_key = nullptr;
  for (const auto& [name, value] : config) {
    if (name == "path") {
      path = value;
    } else if (name == "blob_key") {
      blob_key = &value;
    } else if (name == "dual_read_versions") {
      options.dual_read_versions = static_cast<unsigned>(BLOBSEAL_TRY(parse_count(name, value)));
    } else if (name == "reload_interval_ms") {
      options.reload_interval = std::chrono::milliseconds(BLOBSEAL_TRY(parse_count(name, value)));
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("key manager \"local\" has no setting \"{}\" (settings: path, blob_key, "
                                    "dual_read_versions, reload_interval_ms)",
                                    name));
    }
  }
  if (!path.empty()) {
    if (blob_key != nullptr)
      return make_error(ErrorCode::kInvalidArgument,
                        "key manager \"local\": give a keyring path or a blob_key, not both");
    return as_key_manager(LocalKeyring::open(path, options));
  }
  if (blob_key != nullptr) return as_key_manager(LocalKeyring::from_blob_key(*blob_key));
  if (const char* env = std::getenv("BLOB_KEY"); env != nullptr)
    return as_key_manager(LocalKeyring::from_blob_key(env));
  return make_error(ErrorCode::kFailedPrecondition,
                    "no key configured: create a keyring with `blobseal keys init --keyring FILE` and pass "
                    "--keyring FILE (or set BLOBSEAL_KEYRING), or set BLOB_KEY to the base64 of 32 random bytes "
                    "(`openssl rand -base64 32`)");
}

}  // namespace

void KeyManagerRegistry::add(std::string name, KeyManagerFactory factory) {
  factories_[std::move(name)] = std::move(factory);
}

Result<std::unique_ptr<KeyManager>> KeyManagerRegistry::create(const std::string& name,
                                                              const KeyManagerConfig& config) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += fmt::format("{}\"{}\"", known.empty() ? "" : ", ", n);
    return make_error(ErrorCode::kNotFound,
                      fmt::format("unknown key manager \"{}\" (known: {})", name, known.empty() ? "none" : known));
  }
  return it->second(config);
}

std::vector<std::string> KeyManagerRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, factory] : factories_) out.push_back(name);
  return out;
}

Result<KeyManagerConfig> parse_key_manager_settings(const std::vector<std::string>& settings) {
  KeyManagerConfig config;
  for (std::size_t i = 0; i < settings.size(); ++i) {
    const std::string& setting = settings[i];
    auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error(ErrorCode::kInvalidArgument, fmt::format("--kms-setting number {} is not NAME=VALUE", i + 1));
    config[setting.substr(0, eq)] = setting.substr(eq + 1);
  }
  return config;
}

void register_builtin_key_managers(KeyManagerRegistry& registry) {
  registry.add("local", create_local);
  registry.add("awskms", create_awskms_key_manager);
  registry.add("kmip", create_kmip_key_manager);
  registry.add("pkcs11", create_pkcs11_key_manager);
  registry.add("vault", create_vault_key_manager);
}

}  // namespace blobseal::keys
