// Helpers shared by the key manager tests: temporary directories, file modes, and checks that secret material
// never shows up in text (done without ever printing the secret).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "core/error.h"
#include "keys/key_manager.h"

namespace blobseal::keys::testing {

// Debian's python3, which has python3-pykmip and python3-cryptography: the python3 first on PATH here is another
// interpreter without Debian's packages. Shared by the harnesses (PyKMIP server, Transit emulator), so that one file
// can include several of them.
inline constexpr const char* kSystemPython = "/usr/bin/python3";

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when dropped.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Names of the entries in the directory, sorted.
  std::vector<std::string> entries() const;

 private:
  std::string path_;
};

std::string read_text(const std::string& path);
// Writes `text` to a new file with exactly `mode` (umask ignored), replacing what was there.
void write_text(const std::string& path, std::string_view text, mode_t mode = 0600);
// Permission bits (07777) of `path`; -1 when it cannot be stat'ed.
int file_mode(const std::string& path);

// The ways a 32-byte key could leak into text: standard base64 with padding, lower- and upper-case hex.
std::vector<std::string> secret_encodings(ByteSpan material);
// secret_encodings() of every version's material in the keyring file at `path`.
std::vector<std::string> keyring_secret_strings(const std::string& path);
// True when `text` contains any 16-character window of any of `secrets` (a partial leak counts). Never prints.
bool contains_secret(std::string_view text, const std::vector<std::string>& secrets);

// describe() output rendered as text (what `blobseal keys list` would show, and more).
std::string describe_text(const std::vector<KeyInfo>& keys);

Bytes bytes_of(std::string_view text);
bool same_bytes(ByteSpan a, ByteSpan b);

// Success, printing the error otherwise.
template <typename T>
::testing::AssertionResult ok(const Result<T>& result) {
  if (result) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.error().to_string();
}

// Failure with `code`; prints what happened otherwise. Error messages are safe to print (no secrets, by contract).
template <typename T>
::testing::AssertionResult fails_with(const Result<T>& result, ErrorCode code) {
  if (result) return ::testing::AssertionFailure() << "succeeded, expected " << to_string(code);
  if (result.error().code() != code)
    return ::testing::AssertionFailure() << "failed with " << result.error().to_string() << ", expected "
                                         << to_string(code);
  return ::testing::AssertionSuccess();
}

template <typename T>
std::string message_of(const Result<T>& result) {
  return result ? std::string("<no error>") : result.error().message();
}

}  // namespace blobseal::keys::testing
