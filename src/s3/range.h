// The Range and If-Range request headers of a GET, with S3's semantics (RFC 9110 §14 and §13.1.5).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace blobseal::s3 {

// Resolves a Range header against an object of `size` bytes. Returns
//  - a value {offset, length} (length >= 1) for one satisfiable range: "bytes=a-b" (b clamped to size-1),
//    "bytes=a-", "bytes=-n" (the last n bytes, the whole object when n >= size);
//  - nullopt when the header is to be ignored and the whole object served with 200, as S3 and RFC 9110 do: a unit
//    other than "bytes", a syntactically invalid range (including b < a), or several ranges (S3 serves no
//    multipart/byteranges);
//  - OutOfRange with reason "InvalidRange" (416) when the range is unsatisfiable: a >= size, "bytes=-0", and any
//    range on an empty object.
// The unit matches case-insensitively and whitespace around the range is ignored. Positions of any length are read:
// a last position beyond 2^64 clamps, a first position beyond it is unsatisfiable.
Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>> resolve_range_header(std::string_view header,
                                                                                   std::uint64_t size);

// If-Range (RFC 9110 §13.1.5): whether a Range header still applies to the current representation, whose entity tag
// is `etag` (without quotes) and last modification `modified_unix_seconds`. A quoted entity tag must match strongly
// (a weak "W/" validator never matches); an HTTP-date must equal the last modification time exactly. A value that is
// neither matches nothing, so the whole object is sent.
bool if_range_matches(std::string_view if_range, std::string_view etag, std::int64_t modified_unix_seconds);

}  // namespace blobseal::s3
