// Shared pieces of the HTTP server tests: a server running on its own thread, a handler made of a lambda, a
// scratch directory, and the process's memory figures.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/handler.h"
#include "http/server.h"

namespace blobseal::http::testing {

class LambdaHandler final : public Handler {
 public:
  using Fn = std::function<void(Request&, ResponseWriter&)>;
  explicit LambdaHandler(Fn fn) : fn_(std::move(fn)) {}
  void handle(Request& request, ResponseWriter& response) override { fn_(request, response); }

 private:
  Fn fn_;
};

// A Server on 127.0.0.1:0, running on a background thread from construction to stop() or destruction.
class RunningServer {
 public:
  RunningServer(ServerOptions options, Handler& handler);
  ~RunningServer();
  bool ok() const { return server_ != nullptr; }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return server_->port(); }
  Server& server() { return *server_; }
  // stop(grace) and wait for run() to return; returns how long that took.
  std::chrono::milliseconds stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  // Whether run() has returned.
  bool finished() const;

 private:
  std::unique_ptr<Server> server_;
  std::string error_;
  std::thread thread_;
  mutable std::mutex mu_;
  bool finished_ = false;
};

// Collects access-log lines.
class LogCapture {
 public:
  AccessLogSink sink();
  std::vector<std::string> lines() const;
  // Waits up to `timeout` until at least `n` lines arrived.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// VmHWM (peak resident set) in bytes, from /proc/self/status.
std::uint64_t peak_rss_bytes();
// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs); false where the kernel does not allow it.
bool reset_peak_rss();

// A deterministic byte at `offset` of a test stream, and a running checksum of a stream.
inline char pattern_byte(std::uint64_t offset) {
  return static_cast<char>((offset * 2654435761u) >> 13);
}
void fill_pattern(std::uint64_t offset, std::span<char> out);
struct StreamCheck {
  std::uint64_t bytes = 0;
  std::uint64_t mismatches = 0;  // bytes that differ from pattern_byte(offset)
  void add(std::string_view piece);
  void add(std::span<const std::uint8_t> piece);
};

// Polls `condition` every 5 ms until it holds or `timeout` passes; returns whether it held.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Runs `cmd` with /bin/sh; returns its exit status.
int run_shell(const std::string& cmd);

}  // namespace blobseal::http::testing
