// The S3 front end: turns S3 REST requests into engine calls and back, with AWS S3's documented behaviour as the
// reference. Authentication (SigV4: header, presigned query, aws-chunked uploads) happens here, before anything
// reaches the engine; every request is measured (obs::Metrics) and audited (obs::AuditSink).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "http/handler.h"
#include "obs/audit.h"
#include "obs/metrics.h"
#include "s3/credentials.h"

namespace blobseal::s3 {

struct S3Options {
  std::string region = "us-east-1";
  // Host suffixes for virtual-hosted-style requests ("s3.example.com" → "bucket.s3.example.com").
  std::vector<std::string> virtual_host_suffixes;
  std::chrono::seconds max_clock_skew{15 * 60};
  std::uint64_t max_object_size = 5ull << 30;  // S3's single-PUT limit
  std::function<std::chrono::system_clock::time_point()> clock = [] { return std::chrono::system_clock::now(); };
  // GET/HEAD of objects of at most http::kInlineBodyLimit bytes are answered on the connection's I/O thread
  // (Handler::respond_inline). Only for a local store and a local key manager: nothing there waits on a network.
  bool inline_small_reads = false;
};

class S3Handler final : public http::Handler {
 public:
  S3Handler(S3Options options, const CredentialStore& credentials, engine::Engine& engine, obs::Metrics& metrics,
            obs::AuditSink& audit);
  ~S3Handler() override;
  void handle(http::Request& request, http::ResponseWriter& response) override;
  bool respond_inline(http::Request& request, http::ResponseWriter& response) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::s3
