// The local keyring's contents and its file format. Pure: no I/O (keyring_io.h reads and writes the file).
//
// The file is JSON, mode 0600:
//
//   {
//     "format": "blobseal-keyring/v1",
//     "default_key": "default",
//     "dual_read_versions": 0,
//     "keys": {
//       "default": {
//         "versions": [
//           {"version": 1, "created": 1763800000, "retired": null, "material": "<base64 of 32 bytes>"}
//         ]
//       }
//     }
//   }
//
// - "format" must be exactly "blobseal-keyring/v1"; anything else is refused, never guessed at.
// - "default_key" names the key used when a caller names none; it must exist.
// - "dual_read_versions" (optional, default 0): unwrap accepts only the N newest non-retired versions of a key;
//   0 accepts every non-retired version.
// - key names: 1..64 characters from [A-Za-z0-9._-]. Every key has at least one version.
// - "version" (required): 1..2^32-1, unique within the key. "created"/"retired" (optional): Unix seconds, retired
//   null or absent when the version is not retired. "material" (required unless destroyed): standard base64, with
//   padding, of exactly 32 bytes (the AES-256-GCM key-encryption key).
// - "destroyed" (optional): Unix seconds when `blobseal keys destroy` erased the version's material. A destroyed
//   version keeps its number (never reused) and its dates, has no "material", and must be retired.
// - Unknown fields are refused (a typo such as "dual_read_version" must not silently change behaviour).
//
// The current version of a key is its highest non-retired version: new wraps use it, and it cannot be retired
// (rotate first).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"
#include "keys/key_manager.h"

namespace blobseal::keys::local {

inline constexpr std::string_view kKeyringFormat = "blobseal-keyring/v1";
inline constexpr std::size_t kMaxKeyNameLength = 64;
// A keyring is a few kilobytes; anything near this is not a keyring.
inline constexpr std::size_t kMaxKeyringFileSize = 16 * 1024 * 1024;

struct KeyVersionEntry {
  std::uint32_t version = 0;
  std::int64_t created_unix = 0;
  std::optional<std::int64_t> retired_unix;
  SecretBytes material;  // 32 bytes; empty once destroyed
  std::optional<std::int64_t> destroyed_unix;  // set: the material is gone and the version is retired
};

struct KeyEntry {
  std::vector<KeyVersionEntry> versions;  // ascending by version, at least one

  const KeyVersionEntry* find(std::uint32_t version) const;
  KeyVersionEntry* find(std::uint32_t version);
  // The highest non-retired version, or nullptr when every version is retired (possible only by hand-editing).
  const KeyVersionEntry* current() const;
  // The state of `entry` (one of `versions`) with a dual-read window of `window` newest non-retired versions
  // (0: all of them).
  KeyVersionState state_of(const KeyVersionEntry& entry, unsigned window) const;
};

struct KeyringContents {
  std::string default_key;
  unsigned dual_read_versions = 0;
  std::map<std::string, KeyEntry, std::less<>> keys;

  const KeyEntry* find(std::string_view key_id) const;
  KeyEntry* find(std::string_view key_id);
};

// OK for 1..64 characters from [A-Za-z0-9._-]; InvalidArgument naming the rule otherwise.
Status validate_key_name(std::string_view name);

// Decodes standard base64 (with padding; surrounding whitespace ignored) of exactly 32 bytes straight into secret
// memory, with no intermediate copy. The error message says what is wrong ("is not valid base64", "decodes to 31
// bytes, not 32") without ever quoting the input; callers prefix it with what the value is.
Result<SecretBytes> decode_key_material(std::string_view base64);

// Parses and validates a keyring file's text. `path` only names the file in error messages. Errors are
// FailedPrecondition (the file must be fixed), name the field at fault, and never quote key material.
Result<KeyringContents> parse_keyring(ByteSpan text, std::string_view path);

// The file text for `contents` (which must be valid), in a buffer that is wiped when dropped.
SecretBytes serialize_keyring(const KeyringContents& contents);

// Renders an untrusted name (a key id read from an envelope) for an error message: quoted, non-printable bytes
// escaped, long names shortened.
std::string quote_name(std::string_view name);

}  // namespace blobseal::keys::local
