// `blobseal serve`: the S3 server on the local store and keyring (stage 2's embedded default), or in gateway mode
// on an upstream S3 bucket (--upstream).
#pragma once

#include <cstdint>
#include <string_view>
#include <string>
#include <vector>

#include "cli/upstream_url.h"
#include "core/error.h"

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
  // The key manager: "local" (the keyring file above) or an external one, "pkcs11", "kmip", "vault" or "awskms",
  // configured by NAME=VALUE settings (docs/KMS.md lists each provider's). Small reads are answered on the I/O
  // threads only with "local".
  std::string kms = "local";
  std::vector<std::string> kms_settings;
  // The cache of unwrapped data keys (keys/caching_key_manager.h), off while kms_cache_entries is 0.
  std::size_t kms_cache_entries = 0;
  unsigned kms_cache_ttl_seconds = 300;
  std::uint64_t kms_cache_max_uses = 1000;
  bool quiet = false;

  // Gateway mode: sealed objects in an upstream S3 bucket instead of the local store. The data directory then
  // keeps only the keyring, the credentials and the audit log.
  std::string upstream;                    // http(s)://HOST[:PORT]/BUCKET[/PREFIX/]
  // One upstream bucket per blobseal bucket, named by this template ("sealed-{bucket}"), created on first use; the
  // URL's bucket then keeps only the bucket registry. Empty: every bucket under the URL's bucket and prefix.
  std::string upstream_bucket_template;
  std::string upstream_region;             // default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
  std::string upstream_access_key;         // static credentials; default AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
  std::string upstream_secret_key;         // then the shared credentials file (AWS_PROFILE)
  bool upstream_virtual_hosted = false;    // BUCKET.HOST addressing instead of HOST/BUCKET
  std::string upstream_ca_file;            // CA bundle for an https upstream
  bool upstream_insecure = false;          // do not verify the upstream's TLS certificate (tests only)
  bool upstream_create_bucket = false;
  std::uint64_t upstream_part_size = 8ull << 20;
  unsigned upstream_max_attempts = 4;      // tries per idempotent upstream request
  std::string upstream_conditional_writes = "auto";  // auto | on | off
  unsigned upstream_connect_timeout_ms = 5000;
  unsigned upstream_read_timeout_ms = 60000;
  unsigned orphan_sweep_minutes = 60;      // remove unreferenced bodies older than a day this often; 0: never
};


int run_serve(const ServeOptions& options);

}  // namespace blobseal::cli
