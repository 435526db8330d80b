// The Transit emulator (transit_emulator.py), a TEST DOUBLE of HashiCorp Vault / OpenBao's Transit engine written
// for these tests from the documented HTTP API: no Vault or OpenBao server can be installed here, so the "vault"
// key manager is verified against this emulator only. This class starts it on 127.0.0.1 at a free port (the
// emulator binds port 0 and writes the port to a file), drives its test controls (/_emulator/...), and stops it by
// PID (SIGTERM, then SIGKILL) when it goes away; the child also gets SIGTERM if the test process dies first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "keys/vault/vault_key_manager.h"
#include "net/http_client.h"
#include "test_support.h"

namespace blobseal::keys::testing {

inline constexpr const char* kRootToken = "hvs.emulator-root-token-0123456789abcdef";
inline constexpr const char* kRoleId = "role-7f0e2b1c";
inline constexpr const char* kSecretId = "secret-id-5be1c0de-9a7d-4c55-8f31-2d6a0b9e7c44";

class TransitEmulator {
 public:
  // Empty when /usr/bin/python3 or its `cryptography` module is missing (the reason in `why`); otherwise a running
  // emulator, or a test failure with its output.
  static std::unique_ptr<TransitEmulator> start(std::string& why, int token_ttl_seconds = 3600);
  ~TransitEmulator();
  TransitEmulator(const TransitEmulator&) = delete;
  TransitEmulator& operator=(const TransitEmulator&) = delete;

  // SIGTERM and wait (SIGKILL after 5 s). Idempotent.
  void stop();

  std::uint16_t port() const { return port_; }
  std::string address() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Options for a manager of this emulator with the root token and the key `key`.
  VaultKeyManagerOptions options(const std::string& key = "default") const;

  // Test controls.
  void fail_next(int status, int count);
  void expire_tokens();
  void set_token_ttl(int seconds);
  nlohmann::json stats();
  // Base64 of every version of a key (for the no-leak checks).
  std::vector<std::string> key_material(const std::string& key, const std::string& vault_namespace = "");
  std::string output() const;

 private:
  TransitEmulator() = default;
  nlohmann::json control(const std::string& method, const std::string& target, const std::string& body = "");

  TempDir dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace blobseal::keys::testing
