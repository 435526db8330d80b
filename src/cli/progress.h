// A progress line on stderr for long operations, drawn only when stderr is a terminal and --quiet is not given.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/byte_stream.h"

namespace blobseal::cli {

class Progress {
 public:
  Progress(std::string label, std::optional<std::uint64_t> total, bool enabled);
  ~Progress();
  void add(std::uint64_t bytes);
  void set_items(std::uint64_t items);  // for counts of objects rather than bytes
  void finish();

 private:
  void draw(bool final);

  std::string label_;
  std::optional<std::uint64_t> total_;
  bool enabled_;
  std::uint64_t done_ = 0;
  std::uint64_t items_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

// A sink that counts what passes through it into a Progress.
class ProgressSink final : public ByteSink {
 public:
  ProgressSink(ByteSink& inner, Progress& progress) : inner_(inner), progress_(progress) {}
  Status write(std::span<const std::uint8_t> data) override {
    BLOBSEAL_TRY_STATUS(inner_.write(data));
    progress_.add(data.size());
    return {};
  }

 private:
  ByteSink& inner_;
  Progress& progress_;
};

class ProgressSource final : public ByteSource {
 public:
  ProgressSource(ByteSource& inner, Progress& progress) : inner_(inner), progress_(progress) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = BLOBSEAL_TRY(inner_.read(out));
    progress_.add(n);
    return n;
  }

 private:
  ByteSource& inner_;
  Progress& progress_;
};

// "1.5 GiB"
std::string human_bytes(std::uint64_t bytes);

}  // namespace blobseal::cli
