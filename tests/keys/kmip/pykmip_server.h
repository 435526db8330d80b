// A real PyKMIP server (Debian's python3-pykmip) for the tests: fresh CA, server and client certificates in a
// temporary directory, the server on 127.0.0.1 at a free port, stopped by its PID (SIGTERM, then SIGKILL to its
// process group) when the object goes away. The child also gets SIGTERM if the test process dies first (PR_SET_PDEATHSIG), so a crashed
// test leaves no server behind. Recipe: ../shared/RECIPES.md, "KMIP: PyKMIP server".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "keys/kmip/kmip_key_manager.h"
#include "test_support.h"

namespace blobseal::keys::testing {

inline constexpr const char* kPyKmipServer = "/usr/bin/pykmip-server";

class PyKmipServer {
 public:
  // Empty when PyKMIP or openssl is not installed (the reason in `why`); otherwise a running server, or a test
  // failure with the server's log.
  static std::unique_ptr<PyKmipServer> start(std::string& why);
  ~PyKmipServer();
  PyKmipServer(const PyKmipServer&) = delete;
  PyKmipServer& operator=(const PyKmipServer&) = delete;

  // Sends SIGTERM and waits for the server to exit (SIGKILL after 5 s), then kills what is left in its process
  // group (PyKMIP's policy monitor runs as a child process). Idempotent.
  void stop();
  bool running() const { return pid_ > 0; }

  std::uint16_t port() const { return port_; }
  // Options for a manager of this server with the good client certificate.
  KmipKeyManagerOptions options() const;
  // Client certificates the server must refuse: one from another CA, one from the right CA without clientAuth.
  std::string rogue_certificate() const { return dir_.file("rogue-client.crt"); }
  std::string rogue_key() const { return dir_.file("rogue-client.key"); }
  std::string no_client_auth_certificate() const { return dir_.file("noauth-client.crt"); }
  std::string no_client_auth_key() const { return dir_.file("noauth-client.key"); }
  std::string log_tail() const;

 private:
  PyKmipServer() = default;

  TempDir dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// A port on 127.0.0.1 nobody listens on (bound and released).
std::uint16_t free_local_port();

}  // namespace blobseal::keys::testing
