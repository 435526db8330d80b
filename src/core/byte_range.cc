#include "core/byte_range.h"

#include <charconv>

#include <fmt/format.h>

namespace blobseal {

namespace {
std::optional<std::uint64_t> parse_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}
}  // namespace

Result<ByteRange> parse_byte_range(std::string_view spec) {
  auto dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find('-', dash + 1) != std::string_view::npos)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("bad range \"{}\": expected FIRST-LAST, FIRST- or -SUFFIX", spec));
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  ByteRange range;
  if (a.empty()) {
    auto suffix = parse_number(b);
    if (!suffix) return make_error(ErrorCode::kInvalidArgument, fmt::format("bad suffix range \"{}\"", spec));
    range.suffix = *suffix;
    return range;
  }
  range.first = parse_number(a);
  if (!range.first) return make_error(ErrorCode::kInvalidArgument, fmt::format("bad range start in \"{}\"", spec));
  if (!b.empty()) {
    range.last = parse_number(b);
    if (!range.last || *range.last < *range.first)
      return make_error(ErrorCode::kInvalidArgument, fmt::format("bad range end in \"{}\"", spec));
  }
  return range;
}

Result<ResolvedRange> resolve(const ByteRange& range, std::uint64_t size) {
  if (!range.first) {
    if (range.suffix == 0 || size == 0)
      return make_error(ErrorCode::kOutOfRange, "the suffix range selects no bytes");
    std::uint64_t n = std::min(range.suffix, size);
    return ResolvedRange{size - n, n};
  }
  if (*range.first >= size)
    return make_error(ErrorCode::kOutOfRange, fmt::format("range starts at {} but the object has {} bytes", *range.first, size));
  std::uint64_t last = range.last ? std::min(*range.last, size - 1) : size - 1;
  return ResolvedRange{*range.first, last - *range.first + 1};
}

}  // namespace blobseal
