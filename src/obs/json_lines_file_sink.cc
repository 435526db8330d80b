#include "obs/json_lines_file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "obs/metrics.h"

namespace blobseal::obs {

namespace {

// Lines are written in chunks of about this size, so a large batch needs no large buffer.
constexpr std::size_t kWriteChunk = 1 << 20;

std::size_t footprint(const AuditEvent& e) {
  std::size_t bytes = sizeof(AuditEvent) + e.request_id.size() + e.principal.size() + e.tenant.size() +
                      e.action.size() + e.bucket.size() + e.key.size() + e.error_code.size() +
                      e.client_address.size();
  if (e.user_agent) bytes += e.user_agent->size();
  if (e.key_id) bytes += e.key_id->size();
  return bytes;
}

// Writes all of `data`; on failure returns the errno and how much was written before it.
struct WriteOutcome {
  std::size_t written = 0;
  int error = 0;
};

WriteOutcome write_all(int fd, std::string_view data) {
  WriteOutcome outcome;
  while (outcome.written < data.size()) {
    ssize_t n = ::write(fd, data.data() + outcome.written, data.size() - outcome.written);
    if (n < 0) {
      if (errno == EINTR) continue;
      outcome.error = errno;
      return outcome;
    }
    outcome.written += static_cast<std::size_t>(n);
  }
  return outcome;
}

// True when the file is non-empty and does not end with a line feed (a line torn by a crash or a full disk).
bool ends_inside_a_line(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st{};
  char last = '\n';
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    if (::pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
  }
  ::close(fd);
  return last != '\n';
}

}  // namespace

class JsonLinesFileSink::Impl {
 public:
  Impl(int fd, bool regular, bool needs_newline, std::string path, JsonLinesFileSinkOptions options)
      : fd_(fd), regular_(regular), needs_newline_(needs_newline), path_(std::move(path)), options_(options) {}

  ~Impl() {
    if (fd_ >= 0) ::close(fd_);
  }

  void start() { writer_ = std::thread([this] { run(); }); }

  void record(AuditEvent&& event) noexcept {
    std::size_t bytes = footprint(event);
    std::optional<AuditDropReason> dropped;
    bool wake = false;
    std::size_t depth = 0;
    {
      std::lock_guard lock(mutex_);
      if (closing_) {
        dropped = AuditDropReason::kClosed;
      } else if (held_events_ >= options_.max_events || held_bytes_ + bytes > options_.max_bytes) {
        dropped = AuditDropReason::kQueueFull;
      } else {
        try {
          pending_.push_back(std::move(event));
          ++held_events_;
          held_bytes_ += bytes;
          ++accepted_;
          // The writer only waits when the queue is empty, so only the first event of a batch needs to wake it.
          wake = pending_.size() == 1;
        } catch (...) {
          dropped = AuditDropReason::kQueueFull;
        }
      }
      depth = held_events_;
    }
    if (dropped) {
      count_dropped(*dropped, 1);
      return;
    }
    if (options_.metrics != nullptr) options_.metrics->set_audit_queue_depth(depth);
    if (wake) work_cv_.notify_one();
  }

  Status flush() {
    std::unique_lock lock(mutex_);
    std::uint64_t target = accepted_;
    if (target > flush_target_) flush_target_ = target;
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return resolved_ >= target || writer_done_; });
    return take_error(lock);
  }

  Status close() {
    std::lock_guard close_lock(close_mutex_);
    if (close_result_) return *close_result_;
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    work_cv_.notify_one();
    if (writer_.joinable()) writer_.join();
    Status result;
    {
      std::unique_lock lock(mutex_);
      result = take_error(lock);
    }
    if (::close(std::exchange(fd_, -1)) != 0 && result) result = make_error(errno_error("closing audit log", path_));
    close_result_ = result;
    return result;
  }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  std::size_t queue_depth() const {
    std::lock_guard lock(mutex_);
    return held_events_;
  }

 private:
  Status take_error(std::unique_lock<std::mutex>&) {
    if (!error_) return {};
    Error error = std::move(*error_);
    error_.reset();
    return make_error(std::move(error));
  }

  void count_dropped(AuditDropReason reason, std::uint64_t count) {
    if (count == 0) return;
    dropped_.fetch_add(count, std::memory_order_relaxed);
    if (options_.metrics != nullptr) options_.metrics->record_audit_events_dropped(reason, count);
  }

  // The writer thread: takes the whole queue as a batch, writes it without holding the lock, syncs when due.
  void run() {
    std::vector<AuditEvent> batch;
    std::string buffer;
    std::uint64_t written = 0;   // events taken and written (or lost), in accept order
    std::uint64_t resolved = 0;  // writer's copy of resolved_
    bool dirty = false;          // lines written since the last sync
    auto last_sync = std::chrono::steady_clock::now();

    std::unique_lock lock(mutex_);
    for (;;) {
      auto has_work = [&] { return !pending_.empty() || closing_ || flush_target_ > resolved_; };
      if (dirty) {
        work_cv_.wait_until(lock, last_sync + options_.sync_interval, has_work);
      } else {
        work_cv_.wait(lock, has_work);
      }
      batch.swap(pending_);
      const bool closing = closing_;
      const std::uint64_t flush_target = flush_target_;
      lock.unlock();

      std::size_t batch_bytes = 0;
      for (const auto& event : batch) batch_bytes += footprint(event);
      std::optional<Error> failure;
      if (!batch.empty()) {
        std::size_t lost = write_batch(batch, buffer, failure);
        count_dropped(AuditDropReason::kWriteError, lost);
        if (lost < batch.size()) dirty = true;
        written += batch.size();
      }
      auto now = std::chrono::steady_clock::now();
      if (dirty && (closing || flush_target > resolved || now >= last_sync + options_.sync_interval)) {
        if (regular_ && ::fdatasync(fd_) != 0 && !failure) failure = errno_error("syncing audit log", path_);
        dirty = false;
        last_sync = now;
      }
      if (!dirty) resolved = written;
      std::size_t done_events = batch.size();
      batch.clear();
      if (batch.capacity() > 8192) batch.shrink_to_fit();

      lock.lock();
      held_events_ -= done_events;
      held_bytes_ -= batch_bytes;
      if (failure && !error_) error_ = std::move(failure);
      resolved_ = resolved;
      std::size_t depth = held_events_;
      if (options_.metrics != nullptr && done_events > 0) options_.metrics->set_audit_queue_depth(depth);
      done_cv_.notify_all();
      if (closing_ && pending_.empty() && !dirty) break;
    }
    writer_done_ = true;
    done_cv_.notify_all();
  }

  // Appends the batch's lines. Returns how many events were lost to a write failure (then `failure` is set): the
  // failed chunk and everything after it. The file is cut back to the end of the last complete chunk; where that is
  // impossible, the next chunk begins with a line feed so a torn line never swallows the next event.
  std::size_t write_batch(const std::vector<AuditEvent>& batch, std::string& buffer, std::optional<Error>& failure) {
    std::size_t next = 0;
    std::size_t lost = 0;
    while (next < batch.size()) {
      const std::size_t first = next;
      buffer.clear();
      if (needs_newline_) buffer.push_back('\n');
      while (next < batch.size() && buffer.size() < kWriteChunk) {
        try {
          buffer += format_audit_line(batch[next]);
          buffer.push_back('\n');
        } catch (...) {
          ++lost;  // out of memory formatting one event
        }
        ++next;
      }
      off_t size_before = -1;
      struct stat st{};
      if (regular_ && ::fstat(fd_, &st) == 0) size_before = st.st_size;
      WriteOutcome outcome = write_all(fd_, buffer);
      if (outcome.error == 0) {
        needs_newline_ = false;
        continue;
      }
      errno = outcome.error;
      failure = errno_error("writing audit log", path_);
      if (outcome.written > 0 && !(size_before >= 0 && ::ftruncate(fd_, size_before) == 0)) needs_newline_ = true;
      return lost + (batch.size() - first);
    }
    return lost;
  }

  int fd_;
  const bool regular_;
  bool needs_newline_;  // writer thread only
  const std::string path_;
  const JsonLinesFileSinkOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  // the writer waits here for events, a flush or close
  std::condition_variable done_cv_;  // flush() waits here for resolved_
  std::vector<AuditEvent> pending_;
  std::size_t held_events_ = 0;      // pending plus the batch being written
  std::size_t held_bytes_ = 0;
  std::uint64_t accepted_ = 0;       // events accepted since open
  std::uint64_t resolved_ = 0;       // accepted events that are synced, or lost to a write error
  std::uint64_t flush_target_ = 0;
  bool closing_ = false;
  bool writer_done_ = false;
  std::optional<Error> error_;       // first failure since the last flush()/close()
  std::atomic<std::uint64_t> dropped_{0};

  std::mutex close_mutex_;
  std::optional<Status> close_result_;
  std::thread writer_;
};

Result<std::unique_ptr<JsonLinesFileSink>> JsonLinesFileSink::open(const std::string& path,
                                                                   JsonLinesFileSinkOptions options) {
  if (options.max_events == 0) return make_error(ErrorCode::kInvalidArgument, "audit queue capacity must be > 0");
  const bool torn = ends_inside_a_line(path);
  // O_NONBLOCK only for the open itself: a FIFO without a reader fails with ENXIO instead of hanging startup.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) {
    if (errno == ENXIO)
      return make_error(ErrorCode::kUnavailable, fmt::format("audit log {}: a FIFO with no reader", path));
    return make_error(errno_error("opening audit log", path));
  }
  struct stat st{};
  int flags = ::fcntl(fd, F_GETFL);
  if (::fstat(fd, &st) != 0 || flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    Error error = errno_error("opening audit log", path);
    ::close(fd);
    return make_error(std::move(error));
  }
  auto impl = std::make_unique<Impl>(fd, S_ISREG(st.st_mode), torn, path, options);
  try {
    impl->start();
  } catch (const std::system_error& e) {
    return make_error(ErrorCode::kResourceExhausted, fmt::format("audit log {}: starting the writer: {}", path, e.what()));
  }
  return std::unique_ptr<JsonLinesFileSink>(new JsonLinesFileSink(std::move(impl)));
}

JsonLinesFileSink::JsonLinesFileSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JsonLinesFileSink::~JsonLinesFileSink() { (void)impl_->close(); }

void JsonLinesFileSink::record(AuditEvent event) noexcept { impl_->record(std::move(event)); }

Status JsonLinesFileSink::flush() { return impl_->flush(); }

Status JsonLinesFileSink::close() { return impl_->close(); }

std::uint64_t JsonLinesFileSink::dropped() const { return impl_->dropped(); }

std::size_t JsonLinesFileSink::queue_depth() const { return impl_->queue_depth(); }

}  // namespace blobseal::obs
