// `blobseal serve --upstream URL`: the URL's parts become the s3 store's endpoint, bucket and prefix; anything else
// is refused with a message that names the problem (and never echoes credentials put in the URL).
#include <gtest/gtest.h>

#include "cli/serve.h"

namespace blobseal::cli {
namespace {

TEST(UpstreamUrl, EndpointBucketAndPrefix) {
  auto plain = parse_upstream_url("http://127.0.0.1:9000/sealed");
  ASSERT_TRUE(plain) << plain.error().to_string();
  EXPECT_EQ(plain->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(plain->bucket, "sealed");
  EXPECT_EQ(plain->prefix, "");
  auto nested = parse_upstream_url("https://s3.eu-west-1.amazonaws.com/bucket/a/b");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->endpoint, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(nested->bucket, "bucket");
  EXPECT_EQ(nested->prefix, "a/b/");
  auto slash = parse_upstream_url("http://h/b/p/");
  ASSERT_TRUE(slash);
  EXPECT_EQ(slash->prefix, "p/");
  auto bare = parse_upstream_url("http://h/b/");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->prefix, "");
}

TEST(UpstreamUrl, MalformedUrlsAreRefusedWithTheReason) {
  struct Case {
    const char* url;
    const char* reason;
  };
  for (const Case& c : {Case{"ftp://h/b", "scheme"}, Case{"h:9000/b", "scheme"}, Case{"http://", "host"},
                        Case{"http://h", "bucket is missing"}, Case{"http://h/", "bucket is missing"},
                        Case{"http://h//x", "bucket is missing"}, Case{"http://h/b?x=1", "query"},
                        Case{"http://h?x/b", "query"}}) {
    auto parsed = parse_upstream_url(c.url);
    ASSERT_FALSE(parsed) << c.url;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << c.url;
    EXPECT_NE(parsed.error().message().find(c.reason), std::string::npos) << c.url << ": " << parsed.error().message();
  }
}

TEST(UpstreamUrl, CredentialsInTheUrlAreRefusedWithoutBeingEchoed) {
  auto parsed = parse_upstream_url("http://AKIDEXAMPLE:wJalrXUtnFEMI@h:9000/b");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message().find("credentials do not belong in the URL"), std::string::npos);
  EXPECT_EQ(parsed.error().to_string().find("wJalrXUtnFEMI"), std::string::npos) << parsed.error().to_string();
}

}  // namespace
}  // namespace blobseal::cli
