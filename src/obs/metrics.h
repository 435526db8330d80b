// The server's Prometheus metrics: one Metrics object per process owns the registry, and every caller records through
// typed methods, so no caller builds a label map and no label can take an unbounded value (no bucket, key, principal
// or client address is ever a label). render() produces the text exposition format that `/metrics` serves.
//
// Series exposed (all names are part of the operators' contract; dashboards use them):
//   s3_requests_total{operation,status}              counter   status = "1xx" | "2xx" | "3xx" | "4xx" | "5xx"
//   s3_request_duration_seconds{operation}           histogram 1 ms … 60 s
//   s3_request_bytes_in_total{operation}             counter   request body bytes read
//   s3_response_bytes_out_total{operation}           counter   response body bytes written
//   file_downloads_total{status}                     counter   status = "success" | "error" | "aborted"
//   file_download_bytes_total                        counter
//   file_download_duration_seconds                   histogram 10 ms … 1 h
//   file_download_in_progress                        gauge
//   integrity_failures_total{where}                  counter   where = "get" | "copy" | "verify"
//   aes_hardware_acceleration                        gauge     1 when the CPU has AES instructions, else 0
//   build_info{version}                              gauge     always 1
//   audit_events_dropped_total{reason}               counter   reason = "queue_full" | "write_error" | "closed"
//   audit_queue_depth                                gauge     events held by the audit file sink
//
// Every method is thread-safe. Labelled series with a fixed set of values (downloads, integrity, audit drops) exist
// from construction at 0, so increase() and alerts see their first event; the per-operation S3 series appear on an
// operation's first request.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace blobseal::obs {

// The S3 operation names the front end is expected to use (AWS's names: "GetObject", "ListObjectsV2", …); their
// series are prepared at construction so recording them takes no lock after the first request.
std::span<const std::string_view> known_s3_operations();

// "1xx" … "5xx". Anything outside 100–599 is a server bug and is counted as "5xx".
std::string_view http_status_class(int http_status);

// What a download came to; the `status` label of file_downloads_total.
enum class DownloadOutcome {
  kSuccess,  // every byte of the response was handed to the client
  kError,    // the server failed it: a store or key error, or a chunk that did not verify
  kAborted,  // the client went away or the server shut down first; also a tracker dropped without finish()
};
std::string_view to_string(DownloadOutcome outcome);

// Where a chunk, commitment or manifest failed verification; the `where` label of integrity_failures_total.
enum class IntegrityCheck {
  kGet,     // serving an object (GetObject, a range, the files API)
  kCopy,    // reading a source object for CopyObject / UploadPartCopy
  kVerify,  // an explicit verification or scrub (blobseal verify)
};
std::string_view to_string(IntegrityCheck where);

// Why the audit sink lost an event; the `reason` label of audit_events_dropped_total.
enum class AuditDropReason {
  kQueueFull,   // the sink's bounded queue was full: the request is never blocked to wait for the audit writer
  kWriteError,  // the file write failed (disk full, I/O error)
  kClosed,      // recorded after the sink was closed
};
std::string_view to_string(AuditDropReason reason);

namespace detail {
struct DownloadSeries;
}

// Measures one download, from the first response byte to the end. Construct it through Metrics::start_download();
// it raises file_download_in_progress for its lifetime. Used by one thread at a time; movable, not copyable. The
// Metrics that made it must outlive it.
class DownloadTracker {
 public:
  // An inactive tracker that records nothing (for code paths that have no Metrics).
  DownloadTracker() = default;
  DownloadTracker(DownloadTracker&& other) noexcept;
  DownloadTracker& operator=(DownloadTracker&& other) noexcept;
  DownloadTracker(const DownloadTracker&) = delete;
  DownloadTracker& operator=(const DownloadTracker&) = delete;
  // Without a finish(), the download counts as aborted.
  ~DownloadTracker();

  // Adds body bytes sent to the client. They reach file_download_bytes_total in steps of at most kBytesFlushStep
  // (so a long download shows a steady rate without a shared atomic update per chunk) and in full at finish().
  void add_bytes(std::uint64_t n);

  // Ends the download: counts it under `outcome`, observes its duration (for every outcome), and lowers
  // file_download_in_progress. Later calls, and calls on an inactive tracker, do nothing.
  void finish(DownloadOutcome outcome);

  bool active() const { return series_ != nullptr; }

  static constexpr std::uint64_t kBytesFlushStep = 1 << 20;

 private:
  friend class Metrics;
  explicit DownloadTracker(detail::DownloadSeries* series);

  detail::DownloadSeries* series_ = nullptr;  // null when inactive or finished
  std::chrono::steady_clock::time_point start_{};
  std::uint64_t unflushed_bytes_ = 0;
};

class Metrics {
 public:
  // `version` becomes build_info{version}.
  explicit Metrics(std::string_view version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One completed S3 request. `operation` is an AWS operation name; a name outside known_s3_operations() is
  // accepted if it is 1–64 ASCII letters and digits, up to kMaxExtraOperations distinct extra names; anything else
  // is counted as "Other", so a front-end bug cannot explode the label set. The duration is from the request's
  // first byte to the end of its response; the byte counts are body bytes (headers excluded).
  void record_s3_request(std::string_view operation, int http_status, std::chrono::duration<double> duration,
                         std::uint64_t bytes_in, std::uint64_t bytes_out);

  DownloadTracker start_download();

  void record_integrity_failure(IntegrityCheck where);

  // Gateway mode: one retried upstream request (status 0: a transport failure; 500, 502, 503, 504 as answered;
  // anything else is counted as "other"), and whether the upstream answers (the fail-fast state).
  void record_upstream_retry(int status);
  void set_upstream_up(bool up);

  // Set once at startup from the CPU check; 0 until then.
  void set_aes_hardware_acceleration(bool available);

  // For the audit sink.
  void record_audit_events_dropped(AuditDropReason reason, std::uint64_t count = 1);
  void set_audit_queue_depth(std::size_t depth);

  // The whole registry in the Prometheus text exposition format (version 0.0.4).
  std::string render() const;

  // The registry itself, for a module that owns metrics of its own (prometheus-cpp's builders register into it and
  // render() includes them). Prefer a typed method here for anything the S3 path records.
  prometheus::Registry& registry();

  // The Content-Type of render()'s output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
  static constexpr std::size_t kMaxExtraOperations = 64;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::obs
