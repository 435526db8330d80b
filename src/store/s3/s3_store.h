// The upstream S3 store: sealed objects kept in a bucket of any S3-compatible service (AWS S3, Ceph RGW, MinIO…),
// so that any number of stateless blobseal nodes can serve one store. docs/FORMAT.md ("Upstream S3") is the
// normative layout; in short, under the configured prefix:
//
//   k/<key name>   the object's record (object_record.h): key, current body id and ETag, body size, time, header
//                  (the envelope) and store metadata. Its atomic replacement commits every change; its upstream
//                  ETag is the object's generation. Named by key_names.h (order-preserving, filesystem-safe).
//   b/<body id>    bodies, immutable, one per put or copy (random 128-bit ids), uploaded with a single PUT or an
//                  upstream multipart upload before the record that names them is written.
//   probe/…        short-lived objects that detect whether the upstream honours conditional writes.
//
// Atomicity: a put uploads the body under a fresh id, then writes the record; readers see the old record or the new
// one, each naming a complete body. A put that fails before its record is written leaves at most an unreferenced
// body (deleted on the spot when possible, else by remove_orphans()).
//
// Compare-and-swap (if_generation_match, replace_header) is a conditional PUT of the record (If-Match /
// If-None-Match: *) when the upstream honours them — AWS S3 (since 2024) and Ceph RGW do; this is probed at
// creation. When it does not (s3rver, older MinIO), the store reads the record and writes it under an in-process
// lock per key: exact between threads of one process, racy between processes (documented in FORMAT.md).
//
// Reading: open() reads the record once and returns a body pinned to the body id and its ETag; reads are ranged
// GETs checked against what was asked (status, Content-Range, length), streamed with a read-ahead window that
// grows while reads are sequential. A replaced or removed body is deleted once no object opened in this process
// still reads it and `replaced_body_grace` has passed, so that another node's read opened just before the swap still
// finds it; a read that outlives the grace on another node fails cleanly (FailedPrecondition) when its body goes.
// Bodies still waiting when the process exits are left to remove_orphans().
//
// Every method may be called from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/secret_bytes.h"
#include "net/http_client.h"
#include "store/object_store.h"
#include "store/registry.h"

namespace blobseal::store {

struct S3StoreOptions {
  std::string endpoint;                // "http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com"
  std::string bucket;
  std::string prefix;                  // "" or "name/" (must end with '/', at most 200 bytes, [A-Za-z0-9._-/])
  std::string region = "us-east-1";
  std::string access_key;
  SecretBytes secret_key;
  std::string session_token;
  bool path_style = true;              // false: virtual-hosted style (bucket.endpoint-host)
  bool verify_tls = true;
  std::string ca_file;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{60000};
  std::uint64_t part_size = 8u << 20;  // bodies above this go up as multipart uploads of such parts (>= 5 MiB)
  enum class ConditionalWrites { kProbe, kOn, kOff };
  ConditionalWrites conditional_writes = ConditionalWrites::kProbe;
  bool create_bucket = false;          // create the bucket at startup when it does not exist
  net::RetryPolicy retry;
  std::function<void(const net::RetryEvent&)> on_retry;  // each upstream retry, for logs and metrics
  std::size_t max_idle_connections = 32;
  std::size_t list_fetch_concurrency = 16;  // records fetched at once to fill a listing page
  // How long a replaced or removed body outlives its record (deleted on a later write after that): other nodes'
  // reads opened before the swap keep reading it. 0: at once (a single node's own readers are covered by leases).
  std::chrono::seconds replaced_body_grace{60};
};

// Reads the options from a store configuration (the "s3" registry entry). Keys: endpoint, bucket, prefix, region,
// access_key, secret_key, session_token, path_style, verify_tls, ca_file, connect_timeout_ms, read_timeout_ms,
// part_size, conditional_writes (auto|on|off), create_bucket, max_attempts. Credentials missing from the
// configuration come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then from the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE or "default"); the
// region from AWS_REGION / AWS_DEFAULT_REGION. InvalidArgument for an unknown key or a bad value.
Result<S3StoreOptions> s3_store_options(const StoreConfig& config);

class S3Store final : public ObjectStore {
 public:
  // Connects (checks the bucket exists, or creates it when asked) and probes conditional writes.
  static Result<std::unique_ptr<S3Store>> open_bucket(S3StoreOptions options);
  ~S3Store() override;

  // Uploads the body under a new id (single PUT up to part_size, else a multipart upload of part_size parts), runs
  // options.finalize_header / finalize_metadata, then writes the record. Memory: with options.body_size, the body
  // goes from the source to the socket (curl's 256 KiB upload buffer); without it, one part is read into memory,
  // then sent (retryable), at a time. A body whose length differs from options.body_size is InvalidArgument.
  Result<ObjectInfo> put(std::string_view key, ByteSource& body, const PutOptions& options) override;
  Result<std::unique_ptr<StoredObject>> open(std::string_view key) override;
  Result<ObjectInfo> head(std::string_view key) override;
  // Rewrites the record only: the body and the modification time stay, the generation changes.
  Result<ObjectInfo> replace_header(std::string_view key, std::string_view expected_generation, const Bytes& header,
                                    const std::map<std::string, std::string>& metadata) override;
  // Copies the body server-side (CopyObject, or UploadPartCopy parts above 5 GiB) under a new id, then writes the
  // destination's record. options.if_generation_match applies to the destination.
  Result<ObjectInfo> copy(std::string_view source, std::string_view destination, const PutOptions& options) override;
  // Assembles the destination's body server-side: an upstream multipart upload whose parts are UploadPartCopy of the
  // sources' bodies (each pinned to its ETag), then the destination's record. Needs every body but the last to be
  // at least 5 MiB (S3's minimum part), as the parts of a multipart upload are; otherwise it falls back to
  // streaming the bodies through the node (ObjectStore::compose).
  Result<ObjectInfo> compose(std::string_view destination, const std::vector<ComposeSource>& sources,
                             const PutOptions& options) override;
  Status remove(std::string_view key) override;
  // ListObjectsV2 over the records, in key order (local/key_listing.h's semantics), then each listed object's
  // record — from an in-process cache keyed by the record's ETag, else fetched (in parallel).
  Result<ListResult> list(const ListRequest& request) override;

  // Bodies and multipart uploads under b/ that no record names and that are older than `min_age` (an upload in
  // flight is younger): left behind by interrupted puts, or by concurrent writers of one key in other processes.
  // Returns how many were deleted. Reads every body's record: a maintenance task, not a request path.
  Result<std::size_t> remove_orphans(std::chrono::seconds min_age);
  // Replaced bodies waiting for their grace period (S3StoreOptions::replaced_body_grace).
  std::size_t pending_body_deletions();

  // For readiness checks: one HEAD of the bucket, not retried. Unavailable when the upstream does not answer
  // (reason "UpstreamDown" while requests are failing fast: net/http_client.h).
  Status check_upstream();
  // False while requests fail fast because the upstream looks down.
  bool upstream_up() const;

  // Whether record writes are conditional at the upstream (see above).
  bool conditional_writes() const;
  // Upstream requests retried since creation (for the retries metric).
  std::uint64_t retries() const;
  const S3StoreOptions& options() const;

 private:
  struct Impl;
  explicit S3Store(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace blobseal::store
