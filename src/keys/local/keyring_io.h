// Reading and writing the keyring file (POSIX): permission checks, atomic replacement, and serialized writers.
//
// - A keyring readable or writable by group or others is refused (FailedPrecondition, telling the user to run
//   `chmod 600 FILE`), when read and when replaced.
// - Writes never modify the file in place: a temporary file (created 0600) in the same directory is written and
//   fsynced, renamed over the keyring (or linked, for create), and the directory is fsynced. A crash leaves the old
//   keyring or the new one, never a mix, and never a file with wider permissions. Readers take no lock.
// - Writers serialize on flock() of the keyring file itself, re-checking after the lock that the path still names
//   the locked inode (a writer that waited on a file since replaced retries on the new one), so no concurrent
//   read-modify-write loses an update, across threads or processes.
// - A keyring reached through a symbolic link is replaced at the link's target; the link stays. When root rewrites
//   a keyring owned by another user, the new file keeps the old owner and group (so the server can still read it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>

#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"

namespace blobseal::keys::local {

// What identifies one version of the file: any write (atomic rename: new inode), chmod or in-place edit changes it.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;

  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

struct KeyringFile {
  SecretBytes text;  // the file's bytes, wiped when dropped
  FileIdentity identity;
};

// Reads the keyring at `path`. NotFound (with how to create one) when it does not exist; FailedPrecondition when it
// is not a regular file or is accessible by group or others; ResourceExhausted when implausibly large.
Result<KeyringFile> read_keyring_file(const std::string& path);

// The identity of what `path` names now (stat, following links), for cheap change detection.
Result<FileIdentity> stat_keyring_file(const std::string& path);

// Creates `path` holding `text`, mode 0600, atomically; AlreadyExists when anything is at `path`.
Result<FileIdentity> create_keyring_file(const std::string& path, ByteSpan text);

// Read-modify-write under the writers' lock: calls `change` with the current file and atomically replaces the file
// with the text it returns (nothing is written when it returns an error). Returns the new file's identity.
using KeyringChange = std::function<Result<SecretBytes>(const KeyringFile& current)>;
Result<FileIdentity> update_keyring_file(const std::string& path, const KeyringChange& change);

}  // namespace blobseal::keys::local
