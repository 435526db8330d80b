#include "s3/http_date.h"

#include <gtest/gtest.h>

namespace blobseal::s3 {
namespace {

constexpr std::int64_t kExample = 784111777;            // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)
constexpr std::int64_t kNow2025 = 1735689600;           // 2025-01-01T00:00:00Z

TEST(HttpDate, ThreeFormsOfRfc9110) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", kNow2025), kExample);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", kNow2025), kExample);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994", kNow2025), kExample);
  EXPECT_EQ(parse_http_date("Sun Nov 16 08:49:37 1994", kNow2025), kExample + 10 * 86400);
}

TEST(HttpDate, OneArgumentFormUsesTheClock) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kExample);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
}

TEST(HttpDate, WhitespaceAndCase) {
  EXPECT_EQ(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t", kNow2025), kExample);
  EXPECT_EQ(parse_http_date("sun, 06 nov 1994 08:49:37 gmt", kNow2025), kExample);
  EXPECT_EQ(parse_http_date("SUNDAY, 06-NOV-94 08:49:37 GMT", kNow2025), kExample);
}

TEST(HttpDate, DayNameNeedNotAgree) {
  EXPECT_EQ(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT", kNow2025), kExample);
  EXPECT_EQ(parse_http_date("Xyz, 06 Nov 1994 08:49:37 GMT", kNow2025), std::nullopt);
}

TEST(HttpDate, Rfc850TwoDigitYears) {
  // Not more than 50 years in the future: from 2025, "74" is 2074 and "76" is 1976.
  EXPECT_EQ(parse_http_date("Monday, 01-Jan-74 00:00:00 GMT", kNow2025),
            parse_http_date("Mon, 01 Jan 2074 00:00:00 GMT", kNow2025));
  EXPECT_EQ(parse_http_date("Thursday, 01-Jan-76 00:00:00 GMT", kNow2025),
            parse_http_date("Thu, 01 Jan 1976 00:00:00 GMT", kNow2025));
  EXPECT_EQ(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", 0), 0);
  // From 2099, "00" is 2100 (one year ahead), not 2000.
  std::int64_t now2099 = *parse_http_date("Thu, 01 Jan 2099 00:00:00 GMT", kNow2025);
  EXPECT_EQ(parse_http_date("Friday, 01-Jan-00 00:00:00 GMT", now2099),
            parse_http_date("Fri, 01 Jan 2100 00:00:00 GMT", kNow2025));
}

TEST(HttpDate, CalendarIsChecked) {
  EXPECT_TRUE(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Thu, 29 Feb 2023 00:00:00 GMT", kNow2025));
  EXPECT_TRUE(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Fri, 29 Feb 1900 00:00:00 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Sun, 31 Apr 1994 08:49:37 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Sun, 00 Nov 1994 08:49:37 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 24:00:00 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:60:00 GMT", kNow2025));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:61 GMT", kNow2025));
  // A leap second is accepted and lands on the next second.
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", kNow2025),
            parse_http_date("Sun, 01 Jan 2017 00:00:00 GMT", kNow2025));
}

TEST(HttpDate, MalformedIsNullopt) {
  for (std::string_view text :
       {"", "GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT junk", "Sun,06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994", "1994-11-06T08:49:37Z", "784111777", "Sun, 06 Nov -994 08:49:37 GMT",
        "\"etag\""}) {
    EXPECT_EQ(parse_http_date(text, kNow2025), std::nullopt) << text;
  }
}

TEST(HttpDate, Format) {
  EXPECT_EQ(format_http_date(kExample), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(format_http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(format_http_date(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(HttpDate, FormatParsesBack) {
  for (std::int64_t t = -86400 * 400; t < 86400LL * 365 * 200; t += 86400 * 37 + 3599)
    ASSERT_EQ(parse_http_date(format_http_date(t), kNow2025), t) << format_http_date(t);
}

TEST(Iso8601, Format) {
  EXPECT_EQ(format_iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(1255369830123456789), "2009-10-12T17:50:30.123Z");
  EXPECT_EQ(format_iso8601(kExample * 1000000000), "1994-11-06T08:49:37.000Z");
  EXPECT_EQ(format_iso8601(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso8601(-1000000), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso8601(-1000001), "1969-12-31T23:59:59.998Z");
}

}  // namespace
}  // namespace blobseal::s3
