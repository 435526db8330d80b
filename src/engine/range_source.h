// Plaintext [offset, offset + length) of a sealed object as a pull stream, over anything with
// `Status read(std::uint64_t offset, std::uint64_t length, ByteSink&)` that verifies each chunk before handing out its
// bytes (seal::SealedReader, engine::OpenObject): UploadPartCopy and reencrypt read their sources through it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

#include "core/byte_stream.h"

namespace blobseal::engine {

template <typename Reader>
class PlaintextRangeSource final : public ByteSource {
 public:
  PlaintextRangeSource(Reader& reader, std::uint64_t offset, std::uint64_t length)
      : reader_(reader), pos_(offset), end_(offset + length) {}

  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (pos_ >= end_ || out.empty()) return std::size_t{0};
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), end_ - pos_));
    struct Into final : ByteSink {
      std::uint8_t* at;
      Status write(std::span<const std::uint8_t> d) override {
        std::memcpy(at, d.data(), d.size());
        at += d.size();
        return {};
      }
    } sink;
    sink.at = out.data();
    BLOBSEAL_TRY_STATUS(reader_.read(pos_, n, sink));
    pos_ += n;
    return n;
  }

 private:
  Reader& reader_;
  std::uint64_t pos_;
  std::uint64_t end_;
};

}  // namespace blobseal::engine
