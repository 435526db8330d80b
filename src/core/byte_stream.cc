#include "core/byte_stream.h"

#include <algorithm>
#include <cstring>

namespace blobseal {

Result<std::size_t> read_full(ByteSource& source, std::span<std::uint8_t> out) {
  std::size_t total = 0;
  while (total < out.size()) {
    std::size_t n = BLOBSEAL_TRY(source.read(out.subspan(total)));
    if (n == 0) break;
    total += n;
  }
  return total;
}

Result<std::size_t> read_full_at(RandomAccessSource& source, std::uint64_t offset, std::span<std::uint8_t> out) {
  std::size_t total = 0;
  while (total < out.size()) {
    std::size_t n = BLOBSEAL_TRY(source.read_at(offset + total, out.subspan(total)));
    if (n == 0) break;
    total += n;
  }
  return total;
}

Result<std::size_t> SpanSource::read(std::span<std::uint8_t> out) {
  std::size_t n = std::min(out.size(), data_.size() - pos_);
  if (n > 0) std::memcpy(out.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Result<std::size_t> SpanSource::read_at(std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= data_.size()) return std::size_t{0};
  std::size_t n = std::min<std::uint64_t>(out.size(), data_.size() - offset);
  if (n > 0) std::memcpy(out.data(), data_.data() + offset, n);
  return n;
}

}  // namespace blobseal
