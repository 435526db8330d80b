// Dates as HTTP and S3 write them: the HTTP-date of RFC 9110 §5.6.7 (Last-Modified, If-Modified-Since, If-Range…)
// and the ISO 8601 timestamps of S3's XML documents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace blobseal::s3 {

// Parses an HTTP-date into Unix seconds. Accepts the three forms RFC 9110 requires recipients to accept:
//   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
//   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"
//   asctime      "Sun Nov  6 08:49:37 1994"
// Surrounding whitespace is ignored and names match case-insensitively; the day name must be a real one but need not
// agree with the date (as most servers do). A two-digit RFC 850 year is taken as the year with those last two
// digits that is not more than 50 years after `now_unix_seconds` (RFC 9110). nullopt for anything else, including
// impossible dates ("31 Feb"); callers ignore a conditional header whose date does not parse, as RFC 9110 says.
std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_unix_seconds);
// The same, with the system clock as `now`.
std::optional<std::int64_t> parse_http_date(std::string_view text);

// IMF-fixdate of a Unix time: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::int64_t unix_seconds);

// ISO 8601 in UTC with milliseconds, as S3's XML carries times: "2009-10-12T17:50:30.000Z".
std::string format_iso8601(std::int64_t unix_ns);

}  // namespace blobseal::s3
