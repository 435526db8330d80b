// The "local" key manager: named, versioned key-encryption keys in a keyring file (mode 0600), or a single key from
// the BLOB_KEY environment variable when there is no keyring.
//
// Wrapping: AES-256-GCM under the 32-byte material of the key's current version,
//   ciphertext = nonce (12, random) || encrypted data key (32) || tag (16)
// with the caller's associated data as the GCM AAD. Random nonces bound a key version to about 2^32 wraps (NIST SP
// 800-38D); rotate long before that.
//
// A long-running process follows the file: before an operation, at most once per `reload_interval`, it stats the
// keyring and re-reads it when its inode, size, mtime or ctime changed (rotations by the CLI are atomic renames, so
// they always show). An unwrap that names a key or version it does not know checks at once, ignoring the interval.
// If a changed file cannot be loaded (bad JSON, widened permissions), the last good keyring stays in use and
// health() reports the problem until the file is fixed. Every method is safe to call from many threads.
//
// The file format is described in keys/local/keyring_file.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keys/key_manager.h"

namespace blobseal::keys {

inline constexpr std::string_view kLocalProviderId = "local";
// The key id (version 1) of the key given by BLOB_KEY.
inline constexpr std::string_view kBlobKeyId = "BLOB_KEY";

struct LocalKeyringOptions {
  // Overrides the keyring's "dual_read_versions" for this process: unwrap accepts only the N newest non-retired
  // versions of a key (0: every non-retired version).
  std::optional<unsigned> dual_read_versions;
  // The key create() puts in a new keyring (version 1), which becomes the default key.
  std::string initial_key = "default";
  // How often, at most, operations check the file for changes made by another process.
  std::chrono::milliseconds reload_interval{1000};
};

class LocalKeyring final : public KeyManager, public KeyAdministration {
 public:
  // Creates a keyring file (0600) with one key, `options.initial_key`, at version 1 with fresh random material.
  // AlreadyExists when `path` exists: a keyring is never overwritten.
  static Result<std::unique_ptr<LocalKeyring>> create(const std::string& path, const LocalKeyringOptions& options = {});

  // Opens an existing keyring. NotFound (saying how to create one) when missing; FailedPrecondition when it is
  // accessible by group or others (telling the user to `chmod 600 FILE`) or is not a valid keyring.
  static Result<std::unique_ptr<LocalKeyring>> open(const std::string& path, const LocalKeyringOptions& options = {});

  // A keyring held only in memory with one key, "BLOB_KEY" version 1, from `base64` (standard base64 of exactly
  // 32 bytes). InvalidArgument, never quoting the value, when it is malformed. The management methods below
  // refuse to work on it (there is no file to change).
  static Result<std::unique_ptr<LocalKeyring>> from_blob_key(std::string_view base64);

  ~LocalKeyring() override;
  LocalKeyring(const LocalKeyring&) = delete;
  LocalKeyring& operator=(const LocalKeyring&) = delete;

  // KeyManager. An empty key_id means the default key.
  std::string id() const override;
  Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) override;
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override;
  Result<std::vector<KeyInfo>> describe() override;
  // OK when the keyring file is readable and valid as it is now, and the default key has a current version that
  // wraps and unwraps.
  Status health() override;
  KeyAdministration* administration() override { return this; }

  // Management (the `blobseal keys` commands). Each is one locked, atomic read-modify-write of the file, seen at
  // once by this instance and within `reload_interval` by other processes. An empty key_id means the default key.

  // Adds a version with fresh random material to `key_id`; it becomes current. Returns its number.
  Result<std::uint32_t> rotate(std::string_view key_id = {}) override;
  // Adds a key with version 1. AlreadyExists if the name is taken; InvalidArgument for a bad name
  // (1..64 characters from [A-Za-z0-9._-]).
  Status add_key(std::string_view key_id);
  // Retires a version: data keys wrapped under it stop unwrapping. FailedPrecondition for the current version
  // (rotate first); retiring a retired version is a no-op.
  Status retire(std::string_view key_id, std::uint32_t version) override;
  // Erases a retired version's material from the keyring (the version keeps its number and dates, marked
  // "destroyed"): data keys wrapped under it are lost for good, and unwrap says so (NotFound). FailedPrecondition
  // unless the version is retired; NotFound when already destroyed. The file is replaced by an atomic rename, so the
  // old material may survive in free blocks of the file system: destroy is logical, not a secure erase.
  Status destroy(std::string_view key_id, std::uint32_t version) override;
  // Makes a retired version readable again; a no-op when it is not retired. FailedPrecondition when destroyed.
  Status unretire(std::string_view key_id, std::uint32_t version);
  // Sets the keyring's dual-read window (see LocalKeyringOptions::dual_read_versions, which overrides it).
  Status set_dual_read_versions(unsigned versions);
  // Makes `key_id` the key used when none is named.
  Status set_default_key(std::string_view key_id);

  // Re-reads the keyring file now, whether or not it changed.
  Status reload();

  // The keyring file; empty for a BLOB_KEY keyring.
  const std::string& path() const;

 private:
  class Impl;
  explicit LocalKeyring(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::keys
