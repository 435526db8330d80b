// Access keys the S3 front end accepts, each mapped to a tenant. Loaded from a credentials file (TOML) and/or the
// single --access-key/--secret-key pair. Secrets are SecretBytes: never logged, wiped on destruction.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/secret_bytes.h"

namespace blobseal::s3 {

struct Credential {
  std::string access_key;
  SecretBytes secret_key;
  std::string tenant;
};

class CredentialStore {
 public:
  // Access keys: 3..128 characters [A-Za-z0-9._-]; secrets: 8..128 printable ASCII. AlreadyExists on duplicates.
  Status add(std::string access_key, std::string_view secret_key, std::string tenant);
  const Credential* find(std::string_view access_key) const;
  std::size_t size() const { return credentials_.size(); }

  // Reads a TOML file of the form
  //   [[credential]]
  //   access_key = "…"
  //   secret_key = "…"
  //   tenant = "acme"          # optional, "default"
  // The file must not be readable by group or others (like the keyring).
  Status load_file(const std::string& path);

  // Generates a random access key (20 chars) and secret (40 chars) for tenant "default", writes them to `path`
  // (0600, refusing to overwrite) in the format above, and adds them. Returns the pair for printing once.
  Result<std::pair<std::string, std::string>> generate_file(const std::string& path);

 private:
  std::map<std::string, Credential, std::less<>> credentials_;
};

}  // namespace blobseal::s3
