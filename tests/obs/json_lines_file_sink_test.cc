// JsonLinesFileSink against real files, a real FIFO and /dev/full: every accepted event lands as one JSON line, in
// order per thread; a writer that cannot keep up makes the sink drop and count, never block or grow; close drains;
// write errors are reported and counted; the file is created 0600.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "obs/json_lines_file_sink.h"
#include "obs/metrics.h"
#include "test_support.h"

namespace blobseal::obs::testing {
namespace {

using namespace std::chrono_literals;

AuditEvent event_for(std::string request_id, std::string key = "k") {
  AuditEvent event;
  event.time = std::chrono::system_clock::now();
  event.request_id = std::move(request_id);
  event.principal = "AKIAEXAMPLE";
  event.tenant = "acme";
  event.action = "PutObject";
  event.bucket = "b";
  event.key = std::move(key);
  event.http_status = 200;
  event.client_address = "127.0.0.1:1";
  return event;
}

std::unique_ptr<JsonLinesFileSink> open_sink(const std::string& path, JsonLinesFileSinkOptions options = {}) {
  auto sink = JsonLinesFileSink::open(path, options);
  EXPECT_TRUE(sink) << (sink ? "" : sink.error().to_string());
  return sink ? std::move(*sink) : nullptr;
}

double sample(const Metrics& metrics, const std::string& key) { return parse_samples(metrics.render()).at(key); }

// Every line must be a whole JSON object; returns them parsed.
std::vector<nlohmann::json> parse_lines(const std::vector<std::string>& lines) {
  std::vector<nlohmann::json> out;
  for (const auto& line : lines) {
    EXPECT_NO_THROW(out.push_back(nlohmann::json::parse(line))) << "not one JSON object: " << line;
  }
  return out;
}

TEST(JsonLinesFileSink, CreatesTheFileWithMode0600WhateverTheUmask) {
  TempDir dir;
  mode_t old_umask = ::umask(0);
  auto sink = open_sink(dir.file("audit.log"));
  ::umask(old_umask);
  ASSERT_TRUE(sink);
  struct stat st{};
  ASSERT_EQ(::stat(dir.file("audit.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(JsonLinesFileSink, AppendsToAnExistingFileAndKeepsItsMode) {
  TempDir dir;
  std::string path = dir.file("audit.log");
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0640);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "{\"old\":1}\n", 10), 10);
    ::fchmod(fd, 0640);
    ::close(fd);
  }
  auto sink = open_sink(path);
  ASSERT_TRUE(sink);
  sink->record(event_for("new"));
  ASSERT_TRUE(sink->close());
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"old\":1}");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["request_id"], "new");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(JsonLinesFileSink, ATornLastLineDoesNotSwallowTheNextEvent) {
  TempDir dir;
  std::string path = dir.file("audit.log");
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_EQ(::write(fd, "{\"torn\":", 8), 8);
    ::close(fd);
  }
  auto sink = open_sink(path);
  sink->record(event_for("after-crash"));
  ASSERT_TRUE(sink->close());
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"torn\":");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["request_id"], "after-crash");
}

TEST(JsonLinesFileSink, TenThousandEventsFromEightThreadsAllLandInOrderPerThread) {
  TempDir dir;
  Metrics metrics("test");
  auto sink = open_sink(dir.file("audit.log"), {.metrics = &metrics});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) sink->record(event_for(fmt::format("{}-{}", t, i), fmt::format("k/{}", i)));
    });
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(sink->flush());

  // flush() made everything visible without closing.
  auto events = parse_lines(read_lines(dir.file("audit.log")));
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::map<int, int> next;  // thread -> next expected sequence number
  for (const auto& json : events) {
    std::string id = json["request_id"];
    int thread = std::stoi(id.substr(0, id.find('-')));
    int seq = std::stoi(id.substr(id.find('-') + 1));
    EXPECT_EQ(seq, next[thread]) << "out of order for thread " << thread;
    next[thread] = seq + 1;
    EXPECT_EQ(json["key"], fmt::format("k/{}", seq));
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
  EXPECT_EQ(sink->dropped(), 0u);
  EXPECT_EQ(sink->queue_depth(), 0u);
  EXPECT_EQ(sample(metrics, "audit_queue_depth"), 0);
  EXPECT_TRUE(sink->close());
}

TEST(JsonLinesFileSink, CloseDrainsEverythingAlreadyTaken) {
  TempDir dir;
  auto sink = open_sink(dir.file("audit.log"), {.sync_interval = 1h});
  for (int i = 0; i < 5000; ++i) sink->record(event_for(std::to_string(i)));
  ASSERT_TRUE(sink->close());
  auto events = parse_lines(read_lines(dir.file("audit.log")));
  ASSERT_EQ(events.size(), 5000u);
  EXPECT_EQ(events.back()["request_id"], "4999");
  EXPECT_TRUE(sink->close());  // idempotent
}

TEST(JsonLinesFileSink, EventsAfterCloseAreDroppedAndCounted) {
  TempDir dir;
  Metrics metrics("test");
  auto sink = open_sink(dir.file("audit.log"), {.metrics = &metrics});
  sink->record(event_for("before"));
  ASSERT_TRUE(sink->close());
  sink->record(event_for("after"));
  sink->record(event_for("after"));
  EXPECT_EQ(sink->dropped(), 2u);
  EXPECT_EQ(sample(metrics, R"(audit_events_dropped_total{reason="closed"})"), 2);
  EXPECT_EQ(read_lines(dir.file("audit.log")).size(), 1u);
  EXPECT_TRUE(sink->flush());
}

TEST(JsonLinesFileSink, HostileStringsStayOneLineEach) {
  TempDir dir;
  auto sink = open_sink(dir.file("audit.log"));
  const std::vector<std::string> keys = {"a\nb", "\r\n{\"forged\":1}\n", std::string("\0\n\0", 3), "\xff\n\xfe",
                                         "\x1b]0;title\x07", "\xe2\x80\xa8"};
  for (const auto& key : keys) {
    auto event = event_for("hostile", key);
    event.user_agent = key;
    sink->record(std::move(event));
  }
  ASSERT_TRUE(sink->close());
  auto lines = read_lines(dir.file("audit.log"));
  ASSERT_EQ(lines.size(), keys.size());
  auto events = parse_lines(lines);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]["request_id"], "hostile");
  EXPECT_EQ(events[0]["key"], "a\nb");
  EXPECT_EQ(events[1]["key"], "\r\n{\"forged\":1}\n");
}

// A FIFO whose reader does not read yet: the writer thread blocks in write() once the pipe (shrunk to one page) is
// full, so the sink must drop instead of blocking record() or queueing beyond its bound.
class StalledReader {
 public:
  explicit StalledReader(const std::string& path) {
    EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd_, 0);
    EXPECT_GE(::fcntl(fd_, F_SETPIPE_SZ, 4096), 0);
  }
  ~StalledReader() {
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  // Starts reading until EOF (the sink closing its end).
  void start_reading() {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    reader_ = std::thread([this] {
      char buffer[65536];
      for (;;) {
        ssize_t n = ::read(fd_, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        data_.append(buffer, static_cast<std::size_t>(n));
      }
    });
  }
  std::vector<std::string> lines() {
    reader_.join();
    std::vector<std::string> out;
    std::size_t start = 0;
    for (auto nl = data_.find('\n'); nl != std::string::npos; nl = data_.find('\n', start)) {
      out.push_back(data_.substr(start, nl - start));
      start = nl + 1;
    }
    EXPECT_EQ(start, data_.size()) << "an unterminated line";
    return out;
  }

 private:
  int fd_ = -1;
  std::thread reader_;
  std::string data_;
};

TEST(JsonLinesFileSink, FullQueueDropsAndCountsWithoutBlocking) {
  TempDir dir;
  std::string path = dir.file("audit.fifo");
  StalledReader reader(path);
  Metrics metrics("test");
  constexpr std::size_t kCapacity = 8;
  constexpr int kEvents = 1000;
  auto sink = open_sink(path, {.max_events = kCapacity, .metrics = &metrics});
  ASSERT_TRUE(sink);

  auto started = std::chrono::steady_clock::now();
  const std::string big_key(2048, 'x');  // one line is more than half the pipe
  for (int i = 0; i < kEvents; ++i) {
    sink->record(event_for(std::to_string(i), big_key));
    EXPECT_LE(sink->queue_depth(), kCapacity);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s) << "record() blocked";

  const std::uint64_t dropped = sink->dropped();
  // At most the bound plus what fit into the one-page pipe got through.
  EXPECT_GE(dropped, static_cast<std::uint64_t>(kEvents) - kCapacity - 2);
  EXPECT_EQ(sample(metrics, R"(audit_events_dropped_total{reason="queue_full"})"), static_cast<double>(dropped));
  EXPECT_GT(sample(metrics, "audit_queue_depth"), 0);

  reader.start_reading();
  ASSERT_TRUE(sink->close());
  auto events = parse_lines(reader.lines());
  EXPECT_EQ(events.size() + dropped, static_cast<std::size_t>(kEvents)) << "every event is written or counted";
  int last = -1;
  for (const auto& json : events) {
    int id = std::stoi(json["request_id"].get<std::string>());
    EXPECT_GT(id, last);
    last = id;
    EXPECT_EQ(json["key"], big_key);
  }
  EXPECT_EQ(sink->dropped(), dropped) << "close() dropped nothing";
  EXPECT_EQ(sample(metrics, "audit_queue_depth"), 0);
}

TEST(JsonLinesFileSink, ByteBoundDropsLargeEventsBeforeTheCountBound) {
  TempDir dir;
  std::string path = dir.file("audit.fifo");
  StalledReader reader(path);
  constexpr std::size_t kMaxBytes = 64 * 1024;
  auto sink = open_sink(path, {.max_events = 65536, .max_bytes = kMaxBytes});
  ASSERT_TRUE(sink);
  const std::string huge_agent(16 * 1024, 'u');
  for (int i = 0; i < 100; ++i) {
    auto event = event_for(std::to_string(i));
    event.user_agent = huge_agent;
    sink->record(std::move(event));
  }
  // Each event holds more than 16 KiB, so at most four fit under 64 KiB (plus what the pipe took).
  EXPECT_LE(sink->queue_depth(), kMaxBytes / huge_agent.size());
  EXPECT_GE(sink->dropped(), 100u - kMaxBytes / huge_agent.size() - 1);
  const std::uint64_t dropped = sink->dropped();
  reader.start_reading();
  ASSERT_TRUE(sink->close());
  EXPECT_EQ(parse_lines(reader.lines()).size() + dropped, 100u);
}

TEST(JsonLinesFileSink, AFifoWithoutAReaderIsRefusedAtOpen) {
  TempDir dir;
  std::string path = dir.file("audit.fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto sink = JsonLinesFileSink::open(path);
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().code(), ErrorCode::kUnavailable);
}

TEST(JsonLinesFileSink, WriteErrorsAreReportedByFlushAndCounted) {
  Metrics metrics("test");
  auto sink = open_sink("/dev/full", {.metrics = &metrics});  // every write fails with ENOSPC
  ASSERT_TRUE(sink);
  for (int i = 0; i < 3; ++i) sink->record(event_for(std::to_string(i)));
  auto flushed = sink->flush();
  ASSERT_FALSE(flushed);
  EXPECT_EQ(flushed.error().code(), ErrorCode::kResourceExhausted) << flushed.error().to_string();
  EXPECT_NE(flushed.error().message().find("/dev/full"), std::string::npos);
  EXPECT_EQ(sink->dropped(), 3u);
  EXPECT_EQ(sample(metrics, R"(audit_events_dropped_total{reason="write_error"})"), 3);
  // The error was handed out once; the sink keeps going.
  EXPECT_TRUE(sink->flush());
  sink->record(event_for("again"));
  EXPECT_FALSE(sink->close());
  EXPECT_EQ(sink->dropped(), 4u);
}

TEST(JsonLinesFileSink, OpenFailuresNameThePath) {
  auto missing = JsonLinesFileSink::open("/nonexistent-dir/audit.log");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("/nonexistent-dir/audit.log"), std::string::npos);

  TempDir dir;
  auto zero = JsonLinesFileSink::open(dir.file("a.log"), {.max_events = 0});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), ErrorCode::kInvalidArgument);
}

TEST(JsonLinesFileSink, SyncIntervalDoesNotDelayVisibility) {
  // Lines are written as soon as the writer takes them; the interval only spaces out fdatasync.
  TempDir dir;
  auto sink = open_sink(dir.file("audit.log"), {.sync_interval = 1h});
  sink->record(event_for("soon"));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (read_lines(dir.file("audit.log")).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(read_lines(dir.file("audit.log")).size(), 1u);
  EXPECT_TRUE(sink->flush());
}

}  // namespace
}  // namespace blobseal::obs::testing
