// The KMS emulator for the "awskms" tests: a test double of the AWS KMS JSON API (kms_emulator.py, standard library
// plus python3-cryptography), NOT AWS KMS. It verifies the SigV4 signature of every request against the shared
// secrets below and enforces the encryption context. Each KmsEmulator runs one emulator process on 127.0.0.1 (the
// emulator binds a free port itself and reports it through a file), stopped by its PID (SIGTERM, then SIGKILL) when
// the object goes away; PR_SET_PDEATHSIG stops it too if the test process dies first.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "keys/awskms/awskms_key_manager.h"
#include "test_support.h"

namespace blobseal::keys::testing {

inline constexpr const char* kKmsEmulatorScript = BLOBSEAL_KMS_EMULATOR;
// The python3 first on PATH here may be another interpreter without Debian's packages.
inline constexpr const char* kKmsSystemPython = "/usr/bin/python3";

// What the emulator knows (fixed; the tests never print the secrets).
inline constexpr const char* kKmsRegion = "eu-west-3";
inline constexpr const char* kKmsAccessKey = "AKIAEMULATOR00000001";
inline constexpr const char* kKmsSecretKey = "emulatorSecretKey/0123456789abcdefghijKLMN";
// Temporary credentials: this access key is accepted only with this session token.
inline constexpr const char* kKmsTemporaryAccessKey = "ASIAEMULATOR00000002";
inline constexpr const char* kKmsTemporarySecretKey = "temporarySecretKey/9876543210zyxwvutsrqPONM";
inline constexpr const char* kKmsSessionToken = "FwoGZXIvYXdzEmulatorSessionToken0123456789";
// Three keys (by ARN in the tests), the first with the alias "alias/blobseal".
inline constexpr const char* kKmsKeyA = "11111111-aaaa-4aaa-8aaa-111111111111";
inline constexpr const char* kKmsKeyB = "22222222-bbbb-4bbb-8bbb-222222222222";
inline constexpr const char* kKmsKeyC = "33333333-cccc-4ccc-8ccc-333333333333";

std::string kms_key_arn(const char* key_id);

class KmsEmulator {
 public:
  // Empty when python3 or python3-cryptography is missing (the reason in `why`); otherwise a running emulator, or a
  // test failure with its log.
  static std::unique_ptr<KmsEmulator> start(std::string& why);
  ~KmsEmulator();
  KmsEmulator(const KmsEmulator&) = delete;
  KmsEmulator& operator=(const KmsEmulator&) = delete;

  // SIGTERM by PID and wait (SIGKILL after 5 s). Idempotent.
  void stop();

  std::string endpoint() const;
  // Options for a manager of key A (by ARN) with the long-term credentials and fast retries.
  AwsKmsKeyManagerOptions options() const;

  // Test controls (unsigned requests to /emulator/...): the next `count` KMS requests fail with `status` and
  // error type `type`; a key's KeyState; the request statistics as JSON text.
  void fail_next(int count, int status, const std::string& type);
  void clear_faults();
  void set_key_state(const std::string& key, const std::string& state);
  std::string stats();
  std::string log_tail() const;

 private:
  KmsEmulator() = default;
  std::string control(const std::string& method, const std::string& path, const std::string& body);

  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace blobseal::keys::testing
