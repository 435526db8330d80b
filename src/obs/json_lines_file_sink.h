// The audit sink for files: one JSON object per line (format_audit_line), appended by a background thread so the
// request never waits for the disk.
//
// Memory is bounded: the sink holds at most `max_events` events and about `max_bytes` of their strings, counting both
// the queue and the batch being written. When a record() would exceed either bound the event is dropped and
// audit_events_dropped_total{reason="queue_full"} rises: the request is never blocked and the queue never grows.
// Operators watch that counter and audit_queue_depth; a non-zero rate means the audit disk is too slow or full.
//
// Durability: written lines are fdatasync'd at most `sync_interval` after they are written, on flush(), and on close().
// A write that fails (disk full) loses its batch, counted under reason="write_error"; the file is truncated back to
// the last complete line so the next batch starts on a line of its own. Every line in the file is one whole event.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "obs/audit.h"

namespace blobseal::obs {

class Metrics;

struct JsonLinesFileSinkOptions {
  std::size_t max_events = 65536;
  std::size_t max_bytes = 32 << 20;  // estimated from the events' string sizes plus sizeof(AuditEvent)
  std::chrono::milliseconds sync_interval{1000};
  Metrics* metrics = nullptr;        // audit_events_dropped_total and audit_queue_depth; must outlive the sink
};

class JsonLinesFileSink final : public AuditSink {
 public:
  // Opens `path` for appending, creating it with mode 0600 (an existing file keeps the mode the operator gave it),
  // and starts the writer thread. A FIFO or a character device (/dev/stdout) works too: it is never fsync'd, and a
  // FIFO must already have a reader (otherwise Unavailable, rather than blocking startup).
  static Result<std::unique_ptr<JsonLinesFileSink>> open(const std::string& path, JsonLinesFileSinkOptions options = {});

  // close(), ignoring its error.
  ~JsonLinesFileSink() override;

  void record(AuditEvent event) noexcept override;

  Status flush() override;

  // Stops taking events, writes and syncs every event already taken, stops the writer thread and closes the file.
  // Blocks as long as the writes do (a FIFO nobody reads blocks it). Idempotent: a second call returns the first
  // call's result. Events recorded afterwards are dropped under reason="closed".
  Status close();

  // Events dropped since open, for every reason.
  std::uint64_t dropped() const;
  // Events held now: queued plus being written.
  std::size_t queue_depth() const;

 private:
  class Impl;
  explicit JsonLinesFileSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blobseal::obs
