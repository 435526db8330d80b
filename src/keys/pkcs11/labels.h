// How blobseal names its key objects inside a PKCS#11 token. Every version of a blobseal key is one AES-256 secret
// key object whose CKA_LABEL (and CKA_ID) is "blobseal:<key id>:v<version>", e.g. "blobseal:default:v3". The label is
// the only thing that ties an object to a key and version, so keys made by other tools (pkcs11-tool --keygen
// --key-type AES:32 --label blobseal:default:v1) are picked up as well.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace blobseal::keys::pkcs11 {

inline constexpr std::string_view kLabelPrefix = "blobseal:";
inline constexpr std::size_t kMaxKeyIdLength = 64;

struct ObjectName {
  std::string key_id;
  std::uint32_t version = 0;
};

// InvalidArgument unless `key_id` is 1 to 64 characters from [A-Za-z0-9._-] (the local keyring's rule).
Status validate_key_id(std::string_view key_id);

std::string object_label(std::string_view key_id, std::uint32_t version);

// The key id and version named by a label; nullopt for labels that are not blobseal's (other applications' keys
// share the token) or that are malformed (version 0, leading zeros, a bad key id).
std::optional<ObjectName> parse_object_label(std::string_view label);

// Renders an untrusted name for an error message: quoted, non-printable bytes escaped, long names shortened.
std::string quote_name(std::string_view name);

}  // namespace blobseal::keys::pkcs11
