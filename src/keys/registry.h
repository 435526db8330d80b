// Builds the configured key manager by provider name. Providers are registered explicitly by
// register_builtin_key_managers(), because static self-registration drops out of static libraries.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "keys/key_manager.h"

namespace blobseal::keys {

// Provider settings as flat string pairs ("path" → "/etc/blobseal/keyring", "dual_read_versions" → "2").
using KeyManagerConfig = std::map<std::string, std::string>;
using KeyManagerFactory = std::function<Result<std::unique_ptr<KeyManager>>(const KeyManagerConfig&)>;

class KeyManagerRegistry {
 public:
  void add(std::string name, KeyManagerFactory factory);
  Result<std::unique_ptr<KeyManager>> create(const std::string& name, const KeyManagerConfig& config) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, KeyManagerFactory> factories_;
};

// Parses `--kms-setting NAME=VALUE` arguments into a config. InvalidArgument naming the setting's position, never
// its text (a mistyped setting may be a PIN or a token).
Result<KeyManagerConfig> parse_key_manager_settings(const std::vector<std::string>& settings);

// Registers "local" (keyring file, or BLOB_KEY when no file is configured).
void register_builtin_key_managers(KeyManagerRegistry& registry);

}  // namespace blobseal::keys
