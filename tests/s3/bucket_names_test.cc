#include "s3/bucket_names.h"

#include <string>

#include <gtest/gtest.h>

namespace blobseal::s3 {
namespace {

TEST(BucketNames, Valid) {
  for (std::string_view name : {"abc", "my-bucket", "my.bucket.name", "a1b2c3", "123", "1-2", "a.b-c.d",
                                "docexamplebucket1", "log-delivery-march-2020", "my-hosted-content",
                                "xn-bucket", "sthree", "bucket-s3alias-not", "192.168.5.256a", "1.2.3", "1.2.3.4.5",
                                "1234.1.1.1"}) {
    EXPECT_TRUE(check_bucket_name(name)) << name;
  }
  EXPECT_TRUE(check_bucket_name(std::string(63, 'a')));
}

TEST(BucketNames, Invalid) {
  const std::string_view invalid[] = {
       "", "a", "ab", "My-Bucket", "my_bucket", "my bucket", "-bucket", "bucket-", ".bucket", "bucket.",
        "my..bucket", "my.-bucket", "my-.bucket", "192.168.5.4", "0.0.0.0", "999.999.999.999", "xn--bucket",
        "sthree-bucket", "sthree-configurator-x", "amzn-s3-demo-bucket", "bucket-s3alias", "bucket--ol-s3",
        "bucket.mrap", "bucket--x-s3", "bucket--table-s3", "bucket/x", "b\xC3\xA9t", std::string_view("buck\0et", 7), "b%cket",
        "b\tucket"};
  for (std::string_view name : invalid) {
    auto s = check_bucket_name(name);
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.error().reason(), "InvalidBucketName");
    EXPECT_TRUE(s.error().message().starts_with("The specified bucket is not valid")) << s.error().message();
  }
  EXPECT_FALSE(check_bucket_name(std::string(64, 'a')));
}

}  // namespace
}  // namespace blobseal::s3
