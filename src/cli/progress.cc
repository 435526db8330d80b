#include "cli/progress.h"

#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

namespace blobseal::cli {

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

Progress::Progress(std::string label, std::optional<std::uint64_t> total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::add(std::uint64_t bytes) {
  done_ += bytes;
  if (enabled_) draw(false);
}

void Progress::set_items(std::uint64_t items) {
  items_ = items;
  if (enabled_) draw(false);
}

void Progress::finish() {
  if (enabled_ && drawn_) {
    draw(true);
    std::fputc('\n', stderr);
  }
  enabled_ = false;
}

void Progress::draw(bool final) {
  auto now = std::chrono::steady_clock::now();
  if (!final && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  std::string rate = seconds > 0 ? human_bytes(static_cast<std::uint64_t>(done_ / seconds)) + "/s" : "";
  std::string line;
  if (total_ && *total_ > 0) {
    int percent = static_cast<int>(100.0 * static_cast<double>(done_) / static_cast<double>(*total_));
    int filled = percent / 4;
    line = fmt::format("{} [{:<25}] {:3}% {} / {} {}", label_, std::string(filled, '#'), percent, human_bytes(done_),
                       human_bytes(*total_), rate);
  } else if (items_ > 0) {
    line = fmt::format("{} {} objects, {} {}", label_, items_, human_bytes(done_), rate);
  } else {
    line = fmt::format("{} {} {}", label_, human_bytes(done_), rate);
  }
  std::fprintf(stderr, "\r%-79s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace blobseal::cli
