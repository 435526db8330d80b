// Fuzzes the GET preconditions' parsers (src/s3/range.h, src/s3/http_date.h): the Range header, If-Range and the
// HTTP-date, all client-supplied header text.
//
// Input: byte 0 chooses the object size (bit 7 clear: the low 7 bits, so small sizes with their edge cases are
// common; set: a u64 follows); the rest is the header text.
// Properties:
//  - resolve_range_header: a range lies inside the object and is not empty; an error is OutOfRange/"InvalidRange";
//    an empty object never yields a range; a header that core's single-range parser accepts after "bytes=" resolves
//    the same way (a differential check against parse_byte_range/resolve);
//  - parse_http_date: a parsed date formats (format_http_date) to an IMF-fixdate that parses back to the same
//    instant; if_range_matches agrees with it (a date matches its own instant only);
//  - nothing crashes, leaks or reads out of bounds.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/byte_range.h"
#include "core/bytes.h"
#include "fuzz_common.h"
#include "s3/http_date.h"
#include "s3/range.h"

namespace blobseal::fuzz {
namespace {

void check_range(std::string_view header, std::uint64_t size) {
  auto resolved = s3::resolve_range_header(header, size);
  if (!resolved) {
    FUZZ_CHECK(resolved.error().code() == ErrorCode::kOutOfRange, resolved.error().to_string());
    FUZZ_CHECK(resolved.error().reason() == "InvalidRange", resolved.error().to_string());
  } else if (*resolved) {
    auto [offset, length] = **resolved;
    FUZZ_CHECK(size > 0, "a range of an empty object");
    FUZZ_CHECK(length >= 1, "an empty range");
    FUZZ_CHECK(offset < size && length <= size - offset, "a range outside the object");
  }

  // Differential: a spec core's parser accepts (one range, at most 19 digits a position) must resolve alike.
  if (!header.starts_with("bytes=")) return;
  std::string_view spec = header.substr(6);
  auto parsed = parse_byte_range(spec);
  if (!parsed) return;
  auto expected = resolve(*parsed, size);
  if (!expected) {
    FUZZ_CHECK(!resolved, "core finds the range unsatisfiable, the S3 parser does not");
  } else {
    FUZZ_CHECK(resolved && *resolved, "core resolves the range, the S3 parser does not");
    FUZZ_CHECK((*resolved)->first == expected->offset && (*resolved)->second == expected->length,
               "the S3 parser and core resolve the range differently");
  }
}

void check_date(std::string_view text) {
  auto t = s3::parse_http_date(text, 1735689600);
  if (!t) {
    FUZZ_CHECK(!s3::if_range_matches(text, "", 0), "If-Range matched what is neither an entity tag nor a date");
    return;
  }
  std::string formatted = s3::format_http_date(*t);
  FUZZ_CHECK(s3::parse_http_date(formatted, 1735689600) == t, formatted);
  FUZZ_CHECK(s3::if_range_matches(formatted, "etag", *t), formatted);
  FUZZ_CHECK(!s3::if_range_matches(formatted, "etag", *t + 1), formatted);
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal;
  fuzz::InputReader in(ByteSpan(data, size));
  std::uint8_t choice = in.u8();
  std::uint64_t object_size = (choice & 0x80) ? in.u64() : (choice & 0x7F);
  std::string_view text = as_string_view(in.rest());
  fuzz::check_range(text, object_size);
  fuzz::check_date(text);
  (void)s3::if_range_matches(text, "d41d8cd98f00b204e9800998ecf8427e", 784111777);
  return 0;
}
