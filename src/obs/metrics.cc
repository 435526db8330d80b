#include "obs/metrics.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace blobseal::obs {

namespace {

// Sorted, so a lookup is a binary search over string_views (checked at compile time below).
constexpr auto kKnownOperations = std::to_array<std::string_view>({
    "AbortMultipartUpload",
    "CompleteMultipartUpload",
    "CopyObject",
    "CreateBucket",
    "CreateMultipartUpload",
    "DeleteBucket",
    "DeleteBucketCors",
    "DeleteBucketPolicy",
    "DeleteBucketTagging",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjects",
    "GetBucketAcl",
    "GetBucketCors",
    "GetBucketEncryption",
    "GetBucketLifecycleConfiguration",
    "GetBucketLocation",
    "GetBucketPolicy",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectTagging",
    "HeadBucket",
    "HeadObject",
    "ListBuckets",
    "ListMultipartUploads",
    "ListObjectVersions",
    "ListObjects",
    "ListObjectsV2",
    "ListParts",
    "PostObject",
    "PutBucketCors",
    "PutBucketPolicy",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutObject",
    "PutObjectTagging",
    "Unknown",  // a request the front end could not attribute to an operation (malformed, unroutable)
    "UploadPart",
    "UploadPartCopy",
});
static_assert(std::ranges::is_sorted(kKnownOperations));

constexpr std::string_view kOtherOperation = "Other";

constexpr std::array<std::string_view, 5> kStatusClasses = {"1xx", "2xx", "3xx", "4xx", "5xx"};

std::size_t status_class_index(int http_status) {
  if (http_status < 100 || http_status > 599) return 4;
  return static_cast<std::size_t>(http_status / 100 - 1);
}

// Request latency: from a cached HEAD (about a millisecond) to a large object over a slow link.
const prometheus::Histogram::BucketBoundaries& request_duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};
  return buckets;
}

// Whole downloads run from a small file on loopback to many gigabytes on a slow client.
const prometheus::Histogram::BucketBoundaries& download_duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
  return buckets;
}

bool is_operation_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::ranges::all_of(name, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

template <typename T>
T& add_or_get(std::atomic<T*>& slot, auto&& create) {
  T* metric = slot.load(std::memory_order_acquire);
  if (metric == nullptr) {
    // Family::Add returns the existing metric for labels it already has, so two threads racing here store the same
    // pointer.
    metric = &create();
    slot.store(metric, std::memory_order_release);
  }
  return *metric;
}

}  // namespace

std::span<const std::string_view> known_s3_operations() { return kKnownOperations; }

std::string_view http_status_class(int http_status) { return kStatusClasses[status_class_index(http_status)]; }

std::string_view to_string(DownloadOutcome outcome) {
  switch (outcome) {
    case DownloadOutcome::kSuccess: return "success";
    case DownloadOutcome::kError: return "error";
    case DownloadOutcome::kAborted: return "aborted";
  }
  return "error";
}

std::string_view to_string(IntegrityCheck where) {
  switch (where) {
    case IntegrityCheck::kGet: return "get";
    case IntegrityCheck::kCopy: return "copy";
    case IntegrityCheck::kVerify: return "verify";
  }
  return "get";
}

std::string_view to_string(AuditDropReason reason) {
  switch (reason) {
    case AuditDropReason::kQueueFull: return "queue_full";
    case AuditDropReason::kWriteError: return "write_error";
    case AuditDropReason::kClosed: return "closed";
  }
  return "queue_full";
}

namespace detail {

struct DownloadSeries {
  std::array<prometheus::Counter*, 3> outcomes{};  // indexed by DownloadOutcome
  prometheus::Counter* bytes = nullptr;
  prometheus::Histogram* duration = nullptr;
  prometheus::Gauge* in_progress = nullptr;
};

}  // namespace detail

namespace {

// The series of one operation label value, created on first use.
struct OperationSeries {
  explicit OperationSeries(std::string n) : name(std::move(n)) {}
  std::string name;
  std::array<std::atomic<prometheus::Counter*>, kStatusClasses.size()> requests{};
  std::atomic<prometheus::Histogram*> duration{nullptr};
  std::atomic<prometheus::Counter*> bytes_in{nullptr};
  std::atomic<prometheus::Counter*> bytes_out{nullptr};
};

}  // namespace

class Metrics::Impl {
 public:
  explicit Impl(std::string_view version)
      : requests_(prometheus::BuildCounter()
                      .Name("s3_requests_total")
                      .Help("S3 API requests by operation and HTTP status class")
                      .Register(registry_)),
        request_duration_(prometheus::BuildHistogram()
                              .Name("s3_request_duration_seconds")
                              .Help("S3 API request duration, from the first request byte to the end of the response")
                              .Register(registry_)),
        bytes_in_(prometheus::BuildCounter()
                      .Name("s3_request_bytes_in_total")
                      .Help("S3 API request body bytes received")
                      .Register(registry_)),
        bytes_out_(prometheus::BuildCounter()
                       .Name("s3_response_bytes_out_total")
                       .Help("S3 API response body bytes sent")
                       .Register(registry_)),
        integrity_failures_(prometheus::BuildCounter()
                                .Name("integrity_failures_total")
                                .Help("Chunks, commitments or manifests that failed verification")
                                .Register(registry_)),
        audit_dropped_(prometheus::BuildCounter()
                           .Name("audit_events_dropped_total")
                           .Help("Audit events lost instead of written, by reason")
                           .Register(registry_)),
        upstream_retries_(prometheus::BuildCounter()
                              .Name("upstream_retries_total")
                              .Help("Upstream S3 requests retried, by the failure that caused the retry")
                              .Register(registry_)) {
    for (const char* cause : {"transport", "500", "502", "503", "504", "other"})
      upstream_retry_by_cause_.emplace_back(&upstream_retries_.Add({{"cause", cause}}));

    for (auto name : kKnownOperations) known_.push_back(std::make_unique<OperationSeries>(std::string(name)));
    other_ = std::make_unique<OperationSeries>(std::string(kOtherOperation));

    auto& downloads = prometheus::BuildCounter()
                          .Name("file_downloads_total")
                          .Help("Finished file downloads by outcome (success, error, aborted)")
                          .Register(registry_);
    for (auto outcome : {DownloadOutcome::kSuccess, DownloadOutcome::kError, DownloadOutcome::kAborted})
      download_.outcomes[static_cast<std::size_t>(outcome)] =
          &downloads.Add({{"status", std::string(to_string(outcome))}});
    download_.bytes = &prometheus::BuildCounter()
                           .Name("file_download_bytes_total")
                           .Help("File download body bytes sent to clients")
                           .Register(registry_)
                           .Add({});
    download_.duration = &prometheus::BuildHistogram()
                              .Name("file_download_duration_seconds")
                              .Help("File download duration, every outcome")
                              .Register(registry_)
                              .Add({}, download_duration_buckets());
    download_.in_progress = &prometheus::BuildGauge()
                                 .Name("file_download_in_progress")
                                 .Help("File downloads currently streaming")
                                 .Register(registry_)
                                 .Add({});

    for (auto where : {IntegrityCheck::kGet, IntegrityCheck::kCopy, IntegrityCheck::kVerify})
      integrity_[static_cast<std::size_t>(where)] = &integrity_failures_.Add({{"where", std::string(to_string(where))}});
    for (auto reason : {AuditDropReason::kQueueFull, AuditDropReason::kWriteError, AuditDropReason::kClosed})
      audit_dropped_by_reason_[static_cast<std::size_t>(reason)] =
          &audit_dropped_.Add({{"reason", std::string(to_string(reason))}});

    aes_hardware_ = &prometheus::BuildGauge()
                         .Name("aes_hardware_acceleration")
                         .Help("1 when the CPU has AES instructions that the cipher uses, 0 otherwise")
                         .Register(registry_)
                         .Add({});
    audit_queue_depth_ = &prometheus::BuildGauge()
                              .Name("audit_queue_depth")
                              .Help("Audit events waiting to be written")
                              .Register(registry_)
                              .Add({});
    prometheus::BuildGauge()
        .Name("build_info")
        .Help("Always 1; the version label names the running build")
        .Register(registry_)
        .Add({{"version", std::string(version)}})
        .Set(1);
  }

  OperationSeries& operation(std::string_view name) {
    auto it = std::ranges::lower_bound(kKnownOperations, name);
    if (it != kKnownOperations.end() && *it == name) return *known_[static_cast<std::size_t>(it - kKnownOperations.begin())];
    if (!is_operation_name(name)) return *other_;
    std::lock_guard lock(extra_mutex_);
    auto found = extra_.find(name);
    if (found != extra_.end()) return *found->second;
    if (extra_.size() >= kMaxExtraOperations || name == kOtherOperation) return *other_;
    auto [inserted, _] = extra_.emplace(std::string(name), std::make_unique<OperationSeries>(std::string(name)));
    return *inserted->second;
  }

  void record_s3_request(std::string_view operation_name, int http_status, double seconds, std::uint64_t bytes_in,
                         std::uint64_t bytes_out) {
    OperationSeries& op = operation(operation_name);
    std::size_t status = status_class_index(http_status);
    add_or_get(op.requests[status], [&]() -> prometheus::Counter& {
      return requests_.Add({{"operation", op.name}, {"status", std::string(kStatusClasses[status])}});
    }).Increment();
    add_or_get(op.duration, [&]() -> prometheus::Histogram& {
      return request_duration_.Add({{"operation", op.name}}, request_duration_buckets());
    }).Observe(seconds);
    // Both byte series appear with the operation's first request, even at 0, so rate() sees their first bytes.
    auto& in = add_or_get(op.bytes_in, [&]() -> prometheus::Counter& { return bytes_in_.Add({{"operation", op.name}}); });
    auto& out =
        add_or_get(op.bytes_out, [&]() -> prometheus::Counter& { return bytes_out_.Add({{"operation", op.name}}); });
    if (bytes_in > 0) in.Increment(static_cast<double>(bytes_in));
    if (bytes_out > 0) out.Increment(static_cast<double>(bytes_out));
  }

  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Counter>& bytes_in_;
  prometheus::Family<prometheus::Counter>& bytes_out_;
  prometheus::Family<prometheus::Counter>& integrity_failures_;
  prometheus::Family<prometheus::Counter>& audit_dropped_;
  prometheus::Family<prometheus::Counter>& upstream_retries_;
  std::vector<prometheus::Counter*> upstream_retry_by_cause_;  // transport, 500, 502, 503, 504, other
  std::once_flag upstream_up_once_;  // the gauge exists only in gateway mode
  prometheus::Gauge* upstream_up_ = nullptr;

  std::vector<std::unique_ptr<OperationSeries>> known_;  // parallel to kKnownOperations; never changes
  std::unique_ptr<OperationSeries> other_;
  std::mutex extra_mutex_;
  std::map<std::string, std::unique_ptr<OperationSeries>, std::less<>> extra_;

  detail::DownloadSeries download_;
  std::array<prometheus::Counter*, 3> integrity_{};
  std::array<prometheus::Counter*, 3> audit_dropped_by_reason_{};
  prometheus::Gauge* aes_hardware_ = nullptr;
  prometheus::Gauge* audit_queue_depth_ = nullptr;
};

Metrics::Metrics(std::string_view version) : impl_(std::make_unique<Impl>(version)) {}
Metrics::~Metrics() = default;

void Metrics::record_s3_request(std::string_view operation, int http_status, std::chrono::duration<double> duration,
                                std::uint64_t bytes_in, std::uint64_t bytes_out) {
  impl_->record_s3_request(operation, http_status, std::max(0.0, duration.count()), bytes_in, bytes_out);
}

DownloadTracker Metrics::start_download() { return DownloadTracker(&impl_->download_); }

void Metrics::record_integrity_failure(IntegrityCheck where) {
  impl_->integrity_[static_cast<std::size_t>(where)]->Increment();
}

void Metrics::record_upstream_retry(int status) {
  std::size_t index = 5;
  switch (status) {
    case 0: index = 0; break;
    case 500: index = 1; break;
    case 502: index = 2; break;
    case 503: index = 3; break;
    case 504: index = 4; break;
    default: break;
  }
  impl_->upstream_retry_by_cause_[index]->Increment();
}

void Metrics::set_upstream_up(bool up) {
  std::call_once(impl_->upstream_up_once_, [&] {
    impl_->upstream_up_ = &prometheus::BuildGauge()
                               .Name("upstream_up")
                               .Help("Gateway mode: 1 while the upstream store answers, 0 while requests fail fast")
                               .Register(impl_->registry_)
                               .Add({});
  });
  impl_->upstream_up_->Set(up ? 1 : 0);
}

void Metrics::set_aes_hardware_acceleration(bool available) { impl_->aes_hardware_->Set(available ? 1 : 0); }

void Metrics::record_audit_events_dropped(AuditDropReason reason, std::uint64_t count) {
  if (count > 0) impl_->audit_dropped_by_reason_[static_cast<std::size_t>(reason)]->Increment(static_cast<double>(count));
}

void Metrics::set_audit_queue_depth(std::size_t depth) { impl_->audit_queue_depth_->Set(static_cast<double>(depth)); }

std::string Metrics::render() const { return prometheus::TextSerializer().Serialize(impl_->registry_.Collect()); }

prometheus::Registry& Metrics::registry() { return impl_->registry_; }

// DownloadTracker

DownloadTracker::DownloadTracker(detail::DownloadSeries* series)
    : series_(series), start_(std::chrono::steady_clock::now()) {
  series_->in_progress->Increment();
}

DownloadTracker::DownloadTracker(DownloadTracker&& other) noexcept
    : series_(std::exchange(other.series_, nullptr)),
      start_(other.start_),
      unflushed_bytes_(std::exchange(other.unflushed_bytes_, 0)) {}

DownloadTracker& DownloadTracker::operator=(DownloadTracker&& other) noexcept {
  if (this != &other) {
    finish(DownloadOutcome::kAborted);
    series_ = std::exchange(other.series_, nullptr);
    start_ = other.start_;
    unflushed_bytes_ = std::exchange(other.unflushed_bytes_, 0);
  }
  return *this;
}

DownloadTracker::~DownloadTracker() { finish(DownloadOutcome::kAborted); }

void DownloadTracker::add_bytes(std::uint64_t n) {
  if (series_ == nullptr) return;
  unflushed_bytes_ += n;
  if (unflushed_bytes_ >= kBytesFlushStep) {
    series_->bytes->Increment(static_cast<double>(unflushed_bytes_));
    unflushed_bytes_ = 0;
  }
}

void DownloadTracker::finish(DownloadOutcome outcome) {
  if (series_ == nullptr) return;
  detail::DownloadSeries* series = std::exchange(series_, nullptr);
  if (unflushed_bytes_ > 0) series->bytes->Increment(static_cast<double>(unflushed_bytes_));
  unflushed_bytes_ = 0;
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  series->duration->Observe(elapsed.count());
  series->outcomes[static_cast<std::size_t>(outcome)]->Increment();
  series->in_progress->Decrement();
}

}  // namespace blobseal::obs
