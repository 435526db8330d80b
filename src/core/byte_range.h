// A single byte range in HTTP Range syntax without the unit: "FIRST-LAST", "FIRST-" or "-SUFFIX" (RFC 9110 §14.1.2).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.h"

namespace blobseal {

struct ByteRange {
  std::optional<std::uint64_t> first;  // absent for a suffix range
  std::optional<std::uint64_t> last;   // absent for "FIRST-" and for a suffix range
  std::uint64_t suffix = 0;            // for "-SUFFIX"
};

// Parses the syntax only; InvalidArgument for anything malformed (including LAST < FIRST).
Result<ByteRange> parse_byte_range(std::string_view spec);

struct ResolvedRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// Applies a range to an object of `size` bytes; OutOfRange when unsatisfiable (FIRST >= size, or a zero suffix).
Result<ResolvedRange> resolve(const ByteRange& range, std::uint64_t size);

}  // namespace blobseal
