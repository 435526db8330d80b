// A KMIP client over mutually authenticated TLS (OpenSSL, behind the pimpl): sends one request, reads one response.
//
// Connections: TLS 1.2 or newer, the server's certificate verified against `ca_file` and matched against
// `server_name` (or the host, when that is empty; an IP address is matched against the certificate's IP
// subjectAltNames), the client authenticated by `certificate_file` and `private_key_file`. Idle connections are
// kept in a small pool and reused after a check that the server has not closed them.
//
// Failures: connecting, the handshake and every read and write are bounded by the timeouts. A call whose
// connection fails is retried on a fresh connection up to `retries` more times (with a short backoff) when the
// operation is idempotent or the request had not been completely written; otherwise, or when the retries are used
// up, it fails with Unavailable naming the server and what went wrong. A TLS handshake the server refuses (an
// untrusted or missing client certificate) is PermissionDenied and is not retried. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "keys/kmip/messages.h"
#include "keys/kmip/ttlv.h"

namespace blobseal::keys::kmip {

struct KmipClientOptions {
  std::string host;
  std::uint16_t port = 5696;
  std::string server_name;  // name or IP to verify in the server's certificate; `host` when empty
  std::string ca_file;
  std::string certificate_file;
  std::string private_key_file;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds io_timeout{10000};
  unsigned retries = 2;
  std::size_t max_idle_connections = 4;
  TtlvLimits limits;
};

class KmipClient {
 public:
  // Loads the CA, certificate and key (InvalidArgument naming the file that does not load); does not connect.
  static Result<std::unique_ptr<KmipClient>> create(const KmipClientOptions& options);
  ~KmipClient();
  KmipClient(const KmipClient&) = delete;
  KmipClient& operator=(const KmipClient&) = delete;

  // Sends `operation` with `payload` and returns the response payload (see response_payload() for how failures
  // map to errors). The request and response bytes are wiped after use; the caller wipes `payload` and the result
  // when they hold secrets.
  Result<TtlvItem> call(ProtocolVersion version, Operation operation, const TtlvItem& payload);

  // "host:port", for messages.
  const std::string& endpoint() const;

 private:
  class Impl;
  explicit KmipClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::keys::kmip
