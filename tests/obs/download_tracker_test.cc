// DownloadTracker: in-progress while alive, bytes as they go, one outcome per download (aborted when dropped
// unfinished), one duration observation, safe to move.
#include <chrono>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "obs/metrics.h"
#include "test_support.h"

namespace blobseal::obs::testing {
namespace {

struct DownloadView {
  double success, error, aborted, bytes, in_progress, count, sum;
};

DownloadView view(const Metrics& metrics) {
  auto s = parse_samples(metrics.render());
  return {s.at(R"(file_downloads_total{status="success"})"),
          s.at(R"(file_downloads_total{status="error"})"),
          s.at(R"(file_downloads_total{status="aborted"})"),
          s.at("file_download_bytes_total"),
          s.at("file_download_in_progress"),
          s.at("file_download_duration_seconds_count"),
          s.at("file_download_duration_seconds_sum")};
}

TEST(DownloadTracker, CountsInProgressBytesOutcomeAndDuration) {
  Metrics metrics("test");
  auto download = metrics.start_download();
  EXPECT_TRUE(download.active());
  EXPECT_EQ(view(metrics).in_progress, 1);
  download.add_bytes(100);
  download.add_bytes(23);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  download.finish(DownloadOutcome::kSuccess);
  EXPECT_FALSE(download.active());

  auto v = view(metrics);
  EXPECT_EQ(v.success, 1);
  EXPECT_EQ(v.error, 0);
  EXPECT_EQ(v.aborted, 0);
  EXPECT_EQ(v.bytes, 123);
  EXPECT_EQ(v.in_progress, 0);
  EXPECT_EQ(v.count, 1);
  EXPECT_GE(v.sum, 0.02);
  EXPECT_LT(v.sum, 10);
}

TEST(DownloadTracker, DroppedWithoutFinishCountsAsAborted) {
  Metrics metrics("test");
  {
    auto download = metrics.start_download();
    download.add_bytes(7);
  }
  auto v = view(metrics);
  EXPECT_EQ(v.aborted, 1);
  EXPECT_EQ(v.success + v.error, 0);
  EXPECT_EQ(v.bytes, 7);  // bytes that went out before the abort still went out
  EXPECT_EQ(v.in_progress, 0);
  EXPECT_EQ(v.count, 1);
}

TEST(DownloadTracker, ErrorOutcomeIsItsOwnSeries) {
  Metrics metrics("test");
  auto download = metrics.start_download();
  download.finish(DownloadOutcome::kError);
  auto v = view(metrics);
  EXPECT_EQ(v.error, 1);
  EXPECT_EQ(v.success + v.aborted, 0);
}

TEST(DownloadTracker, SecondFinishAndLaterBytesAreIgnored) {
  Metrics metrics("test");
  auto download = metrics.start_download();
  download.add_bytes(10);
  download.finish(DownloadOutcome::kSuccess);
  download.finish(DownloadOutcome::kError);
  download.add_bytes(1000);
  download.finish(DownloadOutcome::kAborted);
  auto v = view(metrics);
  EXPECT_EQ(v.success, 1);
  EXPECT_EQ(v.error + v.aborted, 0);
  EXPECT_EQ(v.bytes, 10);
  EXPECT_EQ(v.count, 1);
  EXPECT_EQ(v.in_progress, 0);
}

TEST(DownloadTracker, LongDownloadsShowBytesBeforeTheyFinish) {
  Metrics metrics("test");
  auto download = metrics.start_download();
  constexpr std::uint64_t kChunk = 16 * 1024;
  for (int i = 0; i < 200; ++i) download.add_bytes(kChunk);  // 3.1 MiB
  double during = view(metrics).bytes;
  EXPECT_GE(during, 200.0 * kChunk - static_cast<double>(DownloadTracker::kBytesFlushStep));
  EXPECT_LE(during, 200.0 * kChunk);
  download.finish(DownloadOutcome::kSuccess);
  EXPECT_EQ(view(metrics).bytes, 200.0 * kChunk);
}

TEST(DownloadTracker, MovesCarryTheDownload) {
  Metrics metrics("test");
  auto first = metrics.start_download();
  first.add_bytes(5);
  DownloadTracker moved(std::move(first));
  EXPECT_FALSE(first.active());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_TRUE(moved.active());
  first.finish(DownloadOutcome::kError);  // a moved-from tracker records nothing
  EXPECT_EQ(view(metrics).in_progress, 1);

  // Assigning over an active tracker ends the old download as aborted.
  auto other = metrics.start_download();
  EXPECT_EQ(view(metrics).in_progress, 2);
  other = std::move(moved);
  auto v = view(metrics);
  EXPECT_EQ(v.in_progress, 1);
  EXPECT_EQ(v.aborted, 1);
  EXPECT_EQ(v.error, 0);

  other.finish(DownloadOutcome::kSuccess);
  v = view(metrics);
  EXPECT_EQ(v.success, 1);
  EXPECT_EQ(v.bytes, 5);
  EXPECT_EQ(v.in_progress, 0);
  EXPECT_EQ(v.count, 2);
}

TEST(DownloadTracker, DefaultConstructedTrackerRecordsNothing) {
  Metrics metrics("test");
  {
    DownloadTracker inactive;
    EXPECT_FALSE(inactive.active());
    inactive.add_bytes(99);
    inactive.finish(DownloadOutcome::kSuccess);
  }
  auto v = view(metrics);
  EXPECT_EQ(v.success + v.error + v.aborted + v.bytes + v.count + v.in_progress, 0);
}

}  // namespace
}  // namespace blobseal::obs::testing
