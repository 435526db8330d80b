// Metrics: the exposition carries every series the operators' dashboards use, with the right types and help, label
// sets that stay bounded whatever the callers pass, the documented histogram buckets, and text that promtool accepts.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "obs/metrics.h"
#include "test_support.h"

namespace blobseal::obs::testing {
namespace {

using namespace std::chrono_literals;

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// One of everything, so every family has samples.
void record_a_bit_of_everything(Metrics& metrics) {
  metrics.record_s3_request("PutObject", 200, 12ms, 1000, 0);
  metrics.record_s3_request("GetObject", 206, 3ms, 0, 4096);
  metrics.record_s3_request("GetObject", 404, 1ms, 0, 250);
  metrics.record_s3_request("ListObjectsV2", 500, 2s, 0, 300);
  metrics.record_s3_request("HeadObject", 304, 500us, 0, 0);
  metrics.record_s3_request("SomeFutureOperation", 501, 1ms, 0, 0);
  metrics.record_s3_request("not an operation/with a key", 400, 1ms, 0, 0);
  auto ok = metrics.start_download();
  ok.add_bytes(4096);
  ok.finish(DownloadOutcome::kSuccess);
  auto failed = metrics.start_download();
  failed.finish(DownloadOutcome::kError);
  { auto dropped = metrics.start_download(); }
  auto open = metrics.start_download();
  metrics.record_integrity_failure(IntegrityCheck::kGet);
  metrics.set_aes_hardware_acceleration(true);
  metrics.record_audit_events_dropped(AuditDropReason::kQueueFull, 3);
  metrics.set_audit_queue_depth(17);
  open.finish(DownloadOutcome::kSuccess);
}

TEST(Metrics, RendersEveryRequiredFamilyWithItsTypeAndHelp) {
  Metrics metrics("1.2.3");
  record_a_bit_of_everything(metrics);
  std::string text = metrics.render();

  const std::map<std::string, std::string> expected = {
      {"s3_requests_total", "counter"},
      {"s3_request_duration_seconds", "histogram"},
      {"s3_request_bytes_in_total", "counter"},
      {"s3_response_bytes_out_total", "counter"},
      {"file_downloads_total", "counter"},
      {"file_download_bytes_total", "counter"},
      {"file_download_duration_seconds", "histogram"},
      {"file_download_in_progress", "gauge"},
      {"integrity_failures_total", "counter"},
      {"aes_hardware_acceleration", "gauge"},
      {"build_info", "gauge"},
      {"audit_events_dropped_total", "counter"},
      {"audit_queue_depth", "gauge"},
      {"upstream_retries_total", "counter"},
  };
  auto types = parse_types(text);
  auto helps = as_set(help_names(text));
  for (const auto& [name, type] : expected) {
    ASSERT_TRUE(types.contains(name)) << name << " missing from\n" << text;
    EXPECT_EQ(types[name], type) << name;
    EXPECT_TRUE(helps.contains(name)) << name << " has no HELP";
  }
  EXPECT_EQ(types.size(), expected.size()) << "a family nobody documented:\n" << text;

  auto samples = parse_samples(text);
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="2xx"})"], 1);
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="4xx"})"], 1);
  EXPECT_EQ(samples[R"(s3_request_bytes_in_total{operation="PutObject"})"], 1000);
  EXPECT_EQ(samples[R"(s3_response_bytes_out_total{operation="GetObject"})"], 4096 + 250);
  EXPECT_EQ(samples[R"(file_downloads_total{status="success"})"], 2);
  EXPECT_EQ(samples[R"(file_downloads_total{status="error"})"], 1);
  EXPECT_EQ(samples[R"(file_downloads_total{status="aborted"})"], 1);
  EXPECT_EQ(samples["file_download_bytes_total"], 4096);
  EXPECT_EQ(samples["file_download_in_progress"], 0);
  EXPECT_EQ(samples["file_download_duration_seconds_count"], 4);
  EXPECT_EQ(samples[R"(integrity_failures_total{where="get"})"], 1);
  EXPECT_EQ(samples["aes_hardware_acceleration"], 1);
  EXPECT_EQ(samples[R"(build_info{version="1.2.3"})"], 1);
  EXPECT_EQ(samples[R"(audit_events_dropped_total{reason="queue_full"})"], 3);
  EXPECT_EQ(samples["audit_queue_depth"], 17);
}

TEST(Metrics, UpstreamRetriesByCauseAndTheUpGaugeOnlyInGatewayMode) {
  Metrics metrics("0.0.0-test");
  std::string before = metrics.render();
  EXPECT_EQ(before.find("upstream_up"), std::string::npos) << "a local-store server has no upstream to report";
  for (int status : {0, 0, 500, 502, 503, 503, 503, 504, 429}) metrics.record_upstream_retry(status);
  metrics.set_upstream_up(false);
  auto samples = parse_samples(metrics.render());
  EXPECT_EQ(samples[R"(upstream_retries_total{cause="transport"})"], 2);
  EXPECT_EQ(samples[R"(upstream_retries_total{cause="500"})"], 1);
  EXPECT_EQ(samples[R"(upstream_retries_total{cause="502"})"], 1);
  EXPECT_EQ(samples[R"(upstream_retries_total{cause="503"})"], 3);
  EXPECT_EQ(samples[R"(upstream_retries_total{cause="504"})"], 1);
  EXPECT_EQ(samples[R"(upstream_retries_total{cause="other"})"], 1);
  EXPECT_EQ(samples["upstream_up"], 0);
  metrics.set_upstream_up(true);
  EXPECT_EQ(parse_samples(metrics.render())["upstream_up"], 1);
}

TEST(Metrics, FixedLabelSeriesExistAtZeroFromTheStart) {
  Metrics metrics("0.0.0-test");
  auto samples = parse_samples(metrics.render());
  for (auto status : {"success", "error", "aborted"})
    EXPECT_EQ(samples.at(fmt::format(R"(file_downloads_total{{status="{}"}})", status)), 0) << status;
  for (auto where : {"get", "copy", "verify"})
    EXPECT_EQ(samples.at(fmt::format(R"(integrity_failures_total{{where="{}"}})", where)), 0) << where;
  for (auto reason : {"queue_full", "write_error", "closed"})
    EXPECT_EQ(samples.at(fmt::format(R"(audit_events_dropped_total{{reason="{}"}})", reason)), 0) << reason;
  EXPECT_EQ(samples.at("file_download_bytes_total"), 0);
  EXPECT_EQ(samples.at("file_download_in_progress"), 0);
  EXPECT_EQ(samples.at("file_download_duration_seconds_count"), 0);
  EXPECT_EQ(samples.at("aes_hardware_acceleration"), 0);
  EXPECT_EQ(samples.at(R"(build_info{version="0.0.0-test"})"), 1);
  EXPECT_EQ(samples.at("audit_queue_depth"), 0);
  // No request yet: the per-operation families have no series.
  EXPECT_TRUE(label_values(samples, "s3_requests_total", "operation").empty());

  metrics.set_aes_hardware_acceleration(true);
  metrics.set_aes_hardware_acceleration(false);
  EXPECT_EQ(parse_samples(metrics.render()).at("aes_hardware_acceleration"), 0);
}

TEST(Metrics, StatusLabelIsAClassNeverACode) {
  Metrics metrics("test");
  for (int status : {100, 200, 204, 206, 304, 307, 403, 404, 416, 500, 503, 0, 99, 600, 999, -1})
    metrics.record_s3_request("GetObject", status, 1ms, 0, 0);
  auto samples = parse_samples(metrics.render());
  EXPECT_EQ(as_set(label_values(samples, "s3_requests_total", "status")),
            (std::set<std::string>{"1xx", "2xx", "3xx", "4xx", "5xx"}));
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="1xx"})"], 1);
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="2xx"})"], 3);
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="3xx"})"], 2);
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="4xx"})"], 3);
  // Outside 100-599 is a server bug: counted as 5xx.
  EXPECT_EQ(samples[R"(s3_requests_total{operation="GetObject",status="5xx"})"], 2 + 5);
  EXPECT_EQ(http_status_class(201), "2xx");
  EXPECT_EQ(http_status_class(599), "5xx");
  EXPECT_EQ(http_status_class(42), "5xx");
}

TEST(Metrics, RequestSeriesCarryOnlyOperationAndStatusLabels) {
  Metrics metrics("test");
  record_a_bit_of_everything(metrics);
  for (const auto& [key, value] : parse_samples(metrics.render())) {
    if (!key.starts_with("s3_")) continue;
    auto labels = key.substr(key.find('{'));
    for (auto banned : {"bucket=", "key=", "principal=", "tenant=", "client", "code="})
      EXPECT_EQ(labels.find(banned), std::string::npos) << key;
  }
}

TEST(Metrics, OperationLabelStaysBoundedWhateverCallersPass) {
  Metrics metrics("test");
  for (auto name : known_s3_operations()) metrics.record_s3_request(name, 200, 1ms, 0, 0);
  // Names that are not operation-shaped: a key, a path, empty, too long, non-ASCII.
  for (auto bad : {"photos/2024/a.jpg", "", "Get Object", "GetObject\"}", "Löschen", "x{y}"})
    metrics.record_s3_request(bad, 200, 1ms, 0, 0);
  metrics.record_s3_request(std::string(65, 'A'), 200, 1ms, 0, 0);
  // Many distinct operation-shaped names: only kMaxExtraOperations of them get their own series.
  for (int i = 0; i < 500; ++i) metrics.record_s3_request(fmt::format("Made{}Up", i), 200, 1ms, 0, 0);

  auto samples = parse_samples(metrics.render());
  auto operations = as_set(label_values(samples, "s3_requests_total", "operation"));
  EXPECT_EQ(operations.size(), known_s3_operations().size() + Metrics::kMaxExtraOperations + 1);
  EXPECT_TRUE(operations.contains("Other"));
  for (auto name : known_s3_operations()) EXPECT_TRUE(operations.contains(std::string(name))) << name;
  EXPECT_TRUE(operations.contains("Made0Up"));
  EXPECT_FALSE(operations.contains("photos/2024/a.jpg"));
  // 7 malformed names plus the 500 - 64 names past the cap.
  EXPECT_EQ(samples[R"(s3_requests_total{operation="Other",status="2xx"})"], 7 + 500 - Metrics::kMaxExtraOperations);
  // An extra name already admitted keeps its own series.
  metrics.record_s3_request("Made0Up", 200, 1ms, 0, 0);
  EXPECT_EQ(parse_samples(metrics.render())[R"(s3_requests_total{operation="Made0Up",status="2xx"})"], 2);
}

TEST(Metrics, KnownOperationsIncludeEveryOperationOfStageTwo) {
  std::set<std::string_view> known(known_s3_operations().begin(), known_s3_operations().end());
  for (auto name : {"CreateBucket", "DeleteBucket", "HeadBucket", "ListBuckets", "GetBucketLocation", "PutObject",
                    "GetObject", "HeadObject", "DeleteObject", "DeleteObjects", "CopyObject", "ListObjectsV2",
                    "ListObjects", "ListObjectVersions", "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
                    "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "ListMultipartUploads",
                    "PutObjectTagging", "GetObjectTagging", "DeleteObjectTagging"})
    EXPECT_TRUE(known.contains(name)) << name;
}

std::vector<double> bucket_bounds(const Samples& samples, std::string_view bucket_name) {
  std::vector<double> bounds;
  for (const auto& [key, value] : samples) {
    if (!key.starts_with(std::string(bucket_name) + "{")) continue;
    auto le = key.find("le=\"");
    auto end = key.find('"', le + 4);
    std::string bound = key.substr(le + 4, end - le - 4);
    bounds.push_back(bound == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(bound));
  }
  std::sort(bounds.begin(), bounds.end());
  return bounds;
}

TEST(Metrics, RequestDurationHistogramSpansOneMillisecondToOneMinute) {
  Metrics metrics("test");
  metrics.record_s3_request("GetObject", 200, 3ms, 0, 0);
  metrics.record_s3_request("GetObject", 200, 45s, 0, 0);
  metrics.record_s3_request("GetObject", 200, 90s, 0, 0);
  metrics.record_s3_request("GetObject", 200, std::chrono::duration<double>(-1), 0, 0);  // clock step: clamped to 0
  auto samples = parse_samples(metrics.render());
  auto bounds = bucket_bounds(samples, "s3_request_duration_seconds_bucket");
  ASSERT_FALSE(bounds.empty());
  EXPECT_DOUBLE_EQ(bounds.front(), 0.001);
  EXPECT_DOUBLE_EQ(bounds[bounds.size() - 2], 60);
  EXPECT_TRUE(std::isinf(bounds.back()));
  EXPECT_GE(bounds.size(), 12u);

  // prometheus-cpp appends `le` after the metric's own labels.
  auto value = [&](std::string_view le) {
    return samples.at(fmt::format(R"(s3_request_duration_seconds_bucket{{operation="GetObject",le="{}"}})", le));
  };
  EXPECT_EQ(value("0.001"), 1);   // the clamped one
  EXPECT_EQ(value("0.0025"), 1);
  EXPECT_EQ(value("0.005"), 2);
  EXPECT_EQ(value("30"), 2);
  EXPECT_EQ(value("60"), 3);
  EXPECT_EQ(value("+Inf"), 4);
  EXPECT_EQ(samples.at(R"(s3_request_duration_seconds_count{operation="GetObject"})"), 4);
  EXPECT_NEAR(samples.at(R"(s3_request_duration_seconds_sum{operation="GetObject"})"), 135.003, 1e-9);
}

TEST(Metrics, DownloadDurationHistogramReachesAnHour) {
  Metrics metrics("test");
  auto bounds = bucket_bounds(parse_samples(metrics.render()), "file_download_duration_seconds_bucket");
  ASSERT_GE(bounds.size(), 3u);
  EXPECT_DOUBLE_EQ(bounds.front(), 0.01);
  EXPECT_DOUBLE_EQ(bounds[bounds.size() - 2], 3600);
  EXPECT_TRUE(std::isinf(bounds.back()));
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  Metrics fresh("0.1.0");
  auto result = promtool_check_metrics(fresh.render());
  EXPECT_EQ(result.exit_code, 0) << "promtool at " BLOBSEAL_PROMTOOL " (Debian package prometheus): "
                                 << result.output << "\n" << fresh.render();

  Metrics busy("0.1.0");
  record_a_bit_of_everything(busy);
  for (auto name : known_s3_operations()) busy.record_s3_request(name, 503, 20ms, 10, 10);
  result = promtool_check_metrics(busy.render());
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n" << busy.render();
}

TEST(Metrics, OwnFamiliesRegisteredThroughTheRegistryAreRendered) {
  Metrics metrics("test");
  prometheus::BuildCounter()
      .Name("http_connections_accepted_total")
      .Help("Connections accepted")
      .Register(metrics.registry())
      .Add({})
      .Increment(5);
  EXPECT_EQ(parse_samples(metrics.render()).at("http_connections_accepted_total"), 5);
}

TEST(Metrics, CountsExactlyUnderConcurrentRecordingAndScraping) {
  Metrics metrics("test");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) (void)metrics.render();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto op = known_s3_operations()[static_cast<std::size_t>(i) % known_s3_operations().size()];
        metrics.record_s3_request(op, i % 2 ? 200 : 404, 1ms, 1, 2);
        auto download = metrics.start_download();
        download.add_bytes(3);
        if (i % 3 == 0) download.finish(DownloadOutcome::kSuccess);
        if (t == 0 && i % 100 == 0) metrics.record_s3_request(fmt::format("Extra{}", i), 200, 1ms, 0, 0);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  stop = true;
  scraper.join();

  auto samples = parse_samples(metrics.render());
  double requests = 0, bytes_in = 0, bytes_out = 0;
  for (const auto& [key, value] : samples) {
    if (key.starts_with("s3_requests_total{") && key.find("Extra") == std::string::npos) requests += value;
    if (key.starts_with("s3_request_bytes_in_total{")) bytes_in += value;
    if (key.starts_with("s3_response_bytes_out_total{")) bytes_out += value;
  }
  EXPECT_EQ(requests, kThreads * kPerThread);
  EXPECT_EQ(bytes_in, kThreads * kPerThread);
  EXPECT_EQ(bytes_out, 2.0 * kThreads * kPerThread);
  EXPECT_EQ(samples.at("file_download_bytes_total"), 3.0 * kThreads * kPerThread);
  EXPECT_EQ(samples.at("file_download_in_progress"), 0);
  double finished = samples.at(R"(file_downloads_total{status="success"})") +
                    samples.at(R"(file_downloads_total{status="aborted"})");
  EXPECT_EQ(finished, kThreads * kPerThread);
}

}  // namespace
}  // namespace blobseal::obs::testing
