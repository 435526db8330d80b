// The parsers of the upstream's XML answers (store/s3/upstream_bucket.h): what S3, Ceph RGW and s3rver send is read
// exactly; anything else is refused as the upstream being unavailable, never taken for an empty or a final answer.
#include <gtest/gtest.h>

#include "store/s3/upstream_bucket.h"

namespace blobseal::store::s3 {
namespace {

void expect_unavailable(const Error& e, std::string_view fragment) {
  EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.to_string();
  EXPECT_EQ(e.reason(), "UpstreamUnavailable");
  EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
}

TEST(UpstreamXml, ListObjectsV2PageIsReadWithQuotedAndEscapedEtags) {
  auto page = parse_list_objects_v2(
      R"(<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
      R"(<IsTruncated>true</IsTruncated><NextContinuationToken>tok+/=</NextContinuationToken>)"
      R"(<Contents><Key>p/k/0&amp;1</Key><LastModified>2026-11-30T10:15:00.000Z</LastModified>)"
      R"(<ETag>&quot;9b2c&quot;</ETag><Size>123</Size></Contents>)"
      R"(<Contents><Key>p/b/ff</Key><ETag>"d41d-2"</ETag><Size>0</Size></Contents></ListBucketResult>)");
  ASSERT_TRUE(page) << page.error().to_string();
  ASSERT_EQ(page->names.size(), 2u);
  EXPECT_EQ(page->names[0].name, "p/k/0&1");
  EXPECT_EQ(page->names[0].etag, "9b2c");
  EXPECT_EQ(page->names[0].size, 123u);
  EXPECT_EQ(page->names[0].last_modified, "2026-11-30T10:15:00.000Z");
  EXPECT_EQ(page->names[1].etag, "d41d-2");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok+/=");
}

TEST(UpstreamXml, TruncatedListingWithoutATokenIsRefusedNotTakenAsTheEnd) {
  auto page = parse_list_objects_v2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>");
  ASSERT_FALSE(page);
  expect_unavailable(page.error(), "continuation token");
}

TEST(UpstreamXml, ErrorDocumentInA200AnswerIsAnError) {
  // CopyObject, UploadPartCopy and CompleteMultipartUpload may fail after answering 200.
  auto etag = parse_result_etag("<Error><Code>InternalError</Code><Message>try again</Message></Error>",
                                "CompleteMultipartUploadResult", "complete upload", "b/1");
  ASSERT_FALSE(etag);
  expect_unavailable(etag.error(), "InternalError");
  auto slow = parse_result_etag("<Error><Code>SlowDown</Code></Error>", "CopyPartResult", "copy part to", "b/1");
  ASSERT_FALSE(slow);
  expect_unavailable(slow.error(), "SlowDown");
}

TEST(UpstreamXml, ResultEtagsAreUnquotedAndAnEmptyPartCopyEtagIsRefused) {
  auto etag = parse_result_etag(R"(<CopyObjectResult><ETag>"abc"</ETag></CopyObjectResult>)", "CopyObjectResult",
                                "copy to", "b/1");
  ASSERT_TRUE(etag) << etag.error().to_string();
  EXPECT_EQ(*etag, "abc");
  auto empty = parse_result_etag("<CopyPartResult><ETag></ETag></CopyPartResult>", "CopyPartResult",
                                 "copy part to", "b/1");
  ASSERT_FALSE(empty);
  expect_unavailable(empty.error(), "no ETag");
  // Ceph RGW 16's answer to CompleteMultipartUpload, verbatim: the ETag is empty, the completion succeeded.
  auto rgw = parse_result_etag(
      R"(<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
      R"(<Location>http://127.0.0.1:42199/blobseal-test/p/x</Location><Bucket>blobseal-test</Bucket><Key>p/x</Key>)"
      R"(<ETag></ETag></CompleteMultipartUploadResult>)",
      "CompleteMultipartUploadResult", "complete upload", "p/x");
  ASSERT_TRUE(rgw) << rgw.error().to_string();
  EXPECT_EQ(*rgw, "");
}

TEST(UpstreamXml, WrongRootMalformedXmlAndMissingUploadIdAreRefused) {
  auto wrong = parse_initiate_upload("<ListBucketResult/>", "b/1");
  ASSERT_FALSE(wrong);
  expect_unavailable(wrong.error(), "unexpected answer");
  auto malformed = parse_list_objects_v2("<ListBucketResult><Contents>", "p/");
  ASSERT_FALSE(malformed);
  expect_unavailable(malformed.error(), "unreadable XML");
  auto no_id = parse_initiate_upload("<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>");
  ASSERT_FALSE(no_id);
  expect_unavailable(no_id.error(), "no UploadId");
  auto id = parse_initiate_upload(
      "<InitiateMultipartUploadResult><UploadId>2~abc</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "2~abc");
}

TEST(UpstreamXml, DoctypeEntitiesAreNeverExpanded) {
  auto page = parse_list_objects_v2(
      R"(<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ListBucketResult><Contents><Key>&e;</Key>)"
      R"(</Contents></ListBucketResult>)");
  ASSERT_TRUE(page) << page.error().to_string();
  ASSERT_EQ(page->names.size(), 1u);
  EXPECT_EQ(page->names[0].name.find("root:"), std::string::npos);
}

TEST(UpstreamXml, MultipartUploadListingWithMarkers) {
  auto page = parse_list_uploads(
      "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>p/b/01</NextKeyMarker>"
      "<NextUploadIdMarker>u2</NextUploadIdMarker><Upload><Key>p/b/01</Key><UploadId>u2</UploadId>"
      "<Initiated>2026-11-30T10:15:00.000Z</Initiated></Upload></ListMultipartUploadsResult>");
  ASSERT_TRUE(page) << page.error().to_string();
  ASSERT_EQ(page->uploads.size(), 1u);
  EXPECT_EQ(page->uploads[0].name, "p/b/01");
  EXPECT_EQ(page->uploads[0].upload_id, "u2");
  EXPECT_EQ(page->uploads[0].initiated, "2026-11-30T10:15:00.000Z");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_key_marker, "p/b/01");
  EXPECT_EQ(page->next_upload_id_marker, "u2");
}

}  // namespace
}  // namespace blobseal::store::s3
