#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace blobseal::http::testing {

RunningServer::RunningServer(ServerOptions options, Handler& handler) {
  options.listen = "127.0.0.1:0";
  auto created = Server::create(std::move(options), handler);
  if (!created) {
    error_ = created.error().to_string();
    return;
  }
  server_ = std::move(*created);
  thread_ = std::thread([this] {
    server_->run();
    std::lock_guard lock(mu_);
    finished_ = true;
  });
}

RunningServer::~RunningServer() {
  if (server_) stop();
}

std::chrono::milliseconds RunningServer::stop(std::chrono::milliseconds grace) {
  auto start = std::chrono::steady_clock::now();
  server_->stop(grace);
  if (thread_.joinable()) thread_.join();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

bool RunningServer::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

AccessLogSink LogCapture::sink() {
  return [this](std::string_view line) {
    std::lock_guard lock(mu_);
    lines_.emplace_back(line);
  };
}

std::vector<std::string> LogCapture::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

bool LogCapture::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      if (lines_.size() >= n) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "blobseal-http-test-XXXXXX").string();
  path_ = ::mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

void fill_pattern(std::uint64_t offset, std::span<char> out) {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = pattern_byte(offset + i);
}

void StreamCheck::add(std::string_view piece) {
  for (char c : piece) {
    if (c != pattern_byte(bytes)) ++mismatches;
    ++bytes;
  }
}

void StreamCheck::add(std::span<const std::uint8_t> piece) {
  add(std::string_view(reinterpret_cast<const char*>(piece.data()), piece.size()));
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int run_shell(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace blobseal::http::testing
