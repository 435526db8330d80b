// `blobseal serve`: the S3 server on the local store and keyring (stage 2's embedded default).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace blobseal::cli {

struct ServeOptions {
  std::string listen = "127.0.0.1:9000";
  std::string data = "./data";             // store, keyring, credentials and audit log live here by default
  std::string keyring;                     // default <data>/keyring.json (created on first start)
  std::string store;                       // default <data>/store
  std::string credentials;                 // TOML file of access keys; default <data>/credentials.toml
  std::string access_key;                  // a single access key (tenant "default") instead of the file
  std::string secret_key;
  std::string region = "us-east-1";
  std::vector<std::string> virtual_host_suffixes;
  std::string tls_certificate;
  std::string tls_private_key;
  std::string audit_log;                   // default <data>/audit.log; "-" for stdout, "off" to disable
  std::string access_log = "-";            // "-" for stderr, "off" to disable, or a file
  unsigned threads = 0;                    // I/O threads; 0 = one per core
  unsigned workers = 0;                    // request worker threads; 0 = a default from the core count
  std::size_t max_connections = 4096;
  std::size_t max_header_bytes = 16 * 1024;
  unsigned header_timeout_seconds = 10;
  unsigned idle_timeout_seconds = 60;
  unsigned body_timeout_seconds = 60;
  std::uint64_t max_object_bytes = 5ull << 30;
  unsigned shutdown_grace_seconds = 30;
  unsigned dual_read_versions = 0;
  bool quiet = false;
};

int run_serve(const ServeOptions& options);

}  // namespace blobseal::cli
