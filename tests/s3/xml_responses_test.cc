// The S3 response documents: each is well-formed, in the S3 namespace, and carries what S3's shape says.
#include "s3/xml_responses.h"

#include <string>

#include <gtest/gtest.h>
#include <pugixml.hpp>

namespace blobseal::s3 {
namespace {

constexpr std::int64_t kTime = 1255369830123000000;  // 2009-10-12T17:50:30.123Z
constexpr std::string_view kTimeText = "2009-10-12T17:50:30.123Z";

// Parses a rendered document and returns its root, checking the declaration and the namespace.
pugi::xml_node root_of(pugi::xml_document& doc, const std::string& text, std::string_view name) {
  EXPECT_TRUE(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")) << text;
  auto result = doc.load_buffer(text.data(), text.size(), pugi::parse_default | pugi::parse_ws_pcdata);
  EXPECT_TRUE(result) << result.description() << "\n" << text;
  pugi::xml_node root = doc.document_element();
  EXPECT_EQ(std::string_view(root.name()), name) << text;
  EXPECT_STREQ(root.attribute("xmlns").value(), "http://s3.amazonaws.com/doc/2006-03-01/") << text;
  return root;
}

std::string value(const pugi::xml_node& node, const char* child) { return node.child_value(child); }
std::size_t count(const pugi::xml_node& node, const char* child) {
  std::size_t n = 0;
  for (auto c : node.children(child)) (void)c, ++n;
  return n;
}

TEST(ListBucketsXml, Shape) {
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_buckets_xml("acme", {{"alpha", kTime}, {"beta", 0}}), "ListAllMyBucketsResult");
  EXPECT_EQ(value(root.child("Owner"), "ID"), "acme");
  EXPECT_EQ(value(root.child("Owner"), "DisplayName"), "acme");
  ASSERT_EQ(count(root.child("Buckets"), "Bucket"), 2u);
  auto first = root.child("Buckets").child("Bucket");
  EXPECT_EQ(value(first, "Name"), "alpha");
  EXPECT_EQ(value(first, "CreationDate"), kTimeText);
  EXPECT_EQ(value(first.next_sibling("Bucket"), "CreationDate"), "1970-01-01T00:00:00.000Z");
  pugi::xml_document empty;
  auto none = root_of(empty, render_list_buckets_xml("acme", {}), "ListAllMyBucketsResult");
  EXPECT_TRUE(none.child("Buckets"));
  EXPECT_EQ(count(none.child("Buckets"), "Bucket"), 0u);
}

TEST(LocationXml, EmptyForUsEast1) {
  pugi::xml_document a, b;
  EXPECT_EQ(std::string(root_of(a, render_location_xml(""), "LocationConstraint").child_value()), "");
  EXPECT_EQ(std::string(root_of(b, render_location_xml("eu-west-1"), "LocationConstraint").child_value()), "eu-west-1");
}

TEST(VersioningXml, Unversioned) {
  pugi::xml_document doc;
  auto root = root_of(doc, render_versioning_xml(), "VersioningConfiguration");
  EXPECT_FALSE(root.first_child());
}

TEST(AclXml, OwnerHasFullControl) {
  pugi::xml_document doc;
  auto root = root_of(doc, render_acl_xml("acme"), "AccessControlPolicy");
  EXPECT_EQ(value(root.child("Owner"), "ID"), "acme");
  auto grant = root.child("AccessControlList").child("Grant");
  EXPECT_EQ(value(grant, "Permission"), "FULL_CONTROL");
  EXPECT_STREQ(grant.child("Grantee").attribute("xsi:type").value(), "CanonicalUser");
  EXPECT_STREQ(grant.child("Grantee").attribute("xmlns:xsi").value(), "http://www.w3.org/2001/XMLSchema-instance");
  EXPECT_EQ(value(grant.child("Grantee"), "ID"), "acme");
}

ListObjectsReply sample_listing(int version) {
  ListObjectsReply reply;
  reply.version = version;
  reply.bucket = "b";
  reply.prefix = "dir a/";
  reply.delimiter = "/";
  reply.max_keys = 2;
  reply.objects = {{"dir a/x&y.txt", kTime, "0123abcd", 5}, {"dir a/k\r\n", 0, "ffff-2", 0}};
  reply.common_prefixes = {"dir a/sub+1/"};
  reply.truncated = true;
  reply.owner = "acme";
  return reply;
}

TEST(ListObjectsXml, Version1) {
  ListObjectsReply reply = sample_listing(1);
  reply.marker = "dir a/0";
  reply.next_marker = "dir a/sub+1/";
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_objects_xml(reply), "ListBucketResult");
  EXPECT_EQ(value(root, "Name"), "b");
  EXPECT_EQ(value(root, "Prefix"), "dir a/");
  EXPECT_EQ(value(root, "Marker"), "dir a/0");
  EXPECT_EQ(value(root, "NextMarker"), "dir a/sub+1/");
  EXPECT_EQ(value(root, "MaxKeys"), "2");
  EXPECT_EQ(value(root, "Delimiter"), "/");
  EXPECT_EQ(value(root, "IsTruncated"), "true");
  EXPECT_FALSE(root.child("EncodingType"));
  EXPECT_FALSE(root.child("KeyCount"));
  ASSERT_EQ(count(root, "Contents"), 2u);
  auto first = root.child("Contents");
  EXPECT_EQ(value(first, "Key"), "dir a/x&y.txt");
  EXPECT_EQ(value(first, "LastModified"), kTimeText);
  EXPECT_EQ(value(first, "ETag"), "\"0123abcd\"");
  EXPECT_EQ(value(first, "Size"), "5");
  EXPECT_EQ(value(first, "StorageClass"), "STANDARD");
  EXPECT_EQ(value(first.child("Owner"), "ID"), "acme");  // V1 always lists owners
  EXPECT_EQ(value(first.next_sibling("Contents"), "Key"), "dir a/k\r\n");  // CR survives parsing
  EXPECT_EQ(value(root.child("CommonPrefixes"), "Prefix"), "dir a/sub+1/");
}

TEST(ListObjectsXml, Version1WithoutNextMarkerOrDelimiter) {
  ListObjectsReply reply = sample_listing(1);
  reply.delimiter.clear();
  reply.truncated = false;
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_objects_xml(reply), "ListBucketResult");
  EXPECT_FALSE(root.child("NextMarker"));
  EXPECT_FALSE(root.child("Delimiter"));
  EXPECT_TRUE(root.child("Marker"));
  EXPECT_EQ(value(root, "IsTruncated"), "false");
}

TEST(ListObjectsXml, Version2) {
  ListObjectsReply reply = sample_listing(2);
  reply.continuation_token = "dG9rZW4=";
  reply.next_continuation_token = "bmV4dA==";
  reply.start_after = "dir a/0";
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_objects_xml(reply), "ListBucketResult");
  EXPECT_EQ(value(root, "KeyCount"), "3");
  EXPECT_EQ(value(root, "ContinuationToken"), "dG9rZW4=");
  EXPECT_EQ(value(root, "NextContinuationToken"), "bmV4dA==");
  EXPECT_EQ(value(root, "StartAfter"), "dir a/0");
  EXPECT_FALSE(root.child("Marker"));
  EXPECT_FALSE(root.child("Contents").child("Owner"));  // only with fetch-owner
  reply.fetch_owner = true;
  reply.truncated = false;
  reply.continuation_token.reset();
  reply.start_after.clear();
  pugi::xml_document with_owner;
  auto root2 = root_of(with_owner, render_list_objects_xml(reply), "ListBucketResult");
  EXPECT_EQ(value(root2.child("Contents").child("Owner"), "ID"), "acme");
  EXPECT_FALSE(root2.child("NextContinuationToken"));
  EXPECT_FALSE(root2.child("ContinuationToken"));
  EXPECT_FALSE(root2.child("StartAfter"));
}

TEST(ListObjectsXml, UrlEncoding) {
  ListObjectsReply reply = sample_listing(2);
  reply.url_encoded = true;
  reply.start_after = "a b";
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_objects_xml(reply), "ListBucketResult");
  EXPECT_EQ(value(root, "EncodingType"), "url");
  EXPECT_EQ(value(root, "Prefix"), "dir%20a/");
  EXPECT_EQ(value(root, "Delimiter"), "/");
  EXPECT_EQ(value(root, "StartAfter"), "a%20b");
  EXPECT_EQ(value(root.child("Contents"), "Key"), "dir%20a/x%26y.txt");
  EXPECT_EQ(value(root.child("Contents").next_sibling("Contents"), "Key"), "dir%20a/k%0D%0A");
  EXPECT_EQ(value(root.child("CommonPrefixes"), "Prefix"), "dir%20a/sub%2B1/");
  EXPECT_EQ(value(root, "Name"), "b");
}

TEST(ListObjectsXml, KeysWithControlCharactersAreReferences) {
  ListObjectsReply reply = sample_listing(2);
  reply.objects = {{std::string("a\x01" "b"), 0, "e", 1}};
  std::string text = render_list_objects_xml(reply);
  EXPECT_NE(text.find("<Key>a&#x1;b</Key>"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x01'), std::string::npos);
}

TEST(ListVersionsXml, EveryObjectIsItsNullVersion) {
  ListObjectsReply reply = sample_listing(0);
  reply.marker = "dir a/0";
  reply.next_marker = "dir a/k";
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_versions_xml(reply), "ListVersionsResult");
  EXPECT_EQ(value(root, "KeyMarker"), "dir a/0");
  EXPECT_TRUE(root.child("VersionIdMarker"));
  EXPECT_EQ(value(root, "NextKeyMarker"), "dir a/k");
  EXPECT_EQ(value(root, "NextVersionIdMarker"), "null");
  ASSERT_EQ(count(root, "Version"), 2u);
  auto v = root.child("Version");
  EXPECT_EQ(value(v, "Key"), "dir a/x&y.txt");
  EXPECT_EQ(value(v, "VersionId"), "null");
  EXPECT_EQ(value(v, "IsLatest"), "true");
  EXPECT_EQ(value(v, "ETag"), "\"0123abcd\"");
  EXPECT_EQ(value(v.child("Owner"), "ID"), "acme");
  EXPECT_EQ(count(root, "CommonPrefixes"), 1u);
  reply.truncated = false;
  pugi::xml_document last;
  EXPECT_FALSE(root_of(last, render_list_versions_xml(reply), "ListVersionsResult").child("NextKeyMarker"));
}

TEST(DeleteResultXml, VerboseAndQuiet) {
  DeleteReply reply;
  reply.deleted = {{"a", std::nullopt}, {"b<", std::string("null")}};
  reply.errors = {{"c", "NoSuchVersion", "The specified version does not exist."},
                  {"d", "AccessDenied", "Access Denied", std::string("v2")}};
  pugi::xml_document doc;
  auto root = root_of(doc, render_delete_result_xml(reply), "DeleteResult");
  ASSERT_EQ(count(root, "Deleted"), 2u);
  EXPECT_EQ(value(root.child("Deleted"), "Key"), "a");
  EXPECT_FALSE(root.child("Deleted").child("VersionId"));
  EXPECT_EQ(value(root.child("Deleted").next_sibling("Deleted"), "Key"), "b<");
  EXPECT_EQ(value(root.child("Deleted").next_sibling("Deleted"), "VersionId"), "null");
  ASSERT_EQ(count(root, "Error"), 2u);
  EXPECT_EQ(value(root.child("Error"), "Code"), "NoSuchVersion");
  EXPECT_EQ(value(root.child("Error"), "Message"), "The specified version does not exist.");
  EXPECT_EQ(value(root.child("Error").next_sibling("Error"), "VersionId"), "v2");

  reply.quiet = true;
  pugi::xml_document quiet;
  auto q = root_of(quiet, render_delete_result_xml(reply), "DeleteResult");
  EXPECT_EQ(count(q, "Deleted"), 0u);
  EXPECT_EQ(count(q, "Error"), 2u);
}

TEST(CopyResultXml, ObjectAndPart) {
  pugi::xml_document a, b;
  auto object = root_of(a, render_copy_result_xml("9b2cf535f27731c974343645a3985328", kTime, false), "CopyObjectResult");
  EXPECT_EQ(value(object, "ETag"), "\"9b2cf535f27731c974343645a3985328\"");
  EXPECT_EQ(value(object, "LastModified"), kTimeText);
  auto part = root_of(b, render_copy_result_xml("abc", 0, true), "CopyPartResult");
  EXPECT_EQ(value(part, "ETag"), "\"abc\"");
  EXPECT_EQ(value(part, "LastModified"), "1970-01-01T00:00:00.000Z");
}

TEST(TaggingXmlResponse, Shape) {
  pugi::xml_document doc;
  auto root = root_of(doc, render_tagging_xml({{"k1", "v 1"}, {"k&2", ""}}), "Tagging");
  auto set = root.child("TagSet");
  ASSERT_EQ(count(set, "Tag"), 2u);
  EXPECT_EQ(value(set.child("Tag"), "Key"), "k1");
  EXPECT_EQ(value(set.child("Tag"), "Value"), "v 1");
  EXPECT_EQ(value(set.child("Tag").next_sibling("Tag"), "Key"), "k&2");
  EXPECT_TRUE(set.child("Tag").next_sibling("Tag").child("Value"));
  pugi::xml_document empty;
  EXPECT_TRUE(root_of(empty, render_tagging_xml({}), "Tagging").child("TagSet"));
}

TEST(MultipartXml, InitiateAndComplete) {
  pugi::xml_document a, b;
  auto init = root_of(a, render_initiate_upload_xml("b", "k&<", "up-1"), "InitiateMultipartUploadResult");
  EXPECT_EQ(value(init, "Bucket"), "b");
  EXPECT_EQ(value(init, "Key"), "k&<");
  EXPECT_EQ(value(init, "UploadId"), "up-1");
  auto done = root_of(b, render_complete_upload_xml("http://h/b/k", "b", "k", "abc-3"), "CompleteMultipartUploadResult");
  EXPECT_EQ(value(done, "Location"), "http://h/b/k");
  EXPECT_EQ(value(done, "Bucket"), "b");
  EXPECT_EQ(value(done, "Key"), "k");
  EXPECT_EQ(value(done, "ETag"), "\"abc-3\"");
}

TEST(MultipartXml, ListUploads) {
  ListUploadsReply reply;
  reply.bucket = "b";
  reply.prefix = "p";
  reply.max_uploads = 1;
  reply.key_marker = "k0";
  reply.upload_id_marker = "u0";
  reply.uploads = {{"p/k 1", "u1", kTime}};
  reply.truncated = true;
  reply.next_key_marker = "p/k 1";
  reply.next_upload_id_marker = "u1";
  reply.owner = "acme";
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_uploads_xml(reply), "ListMultipartUploadsResult");
  EXPECT_EQ(value(root, "Bucket"), "b");
  EXPECT_EQ(value(root, "KeyMarker"), "k0");
  EXPECT_EQ(value(root, "UploadIdMarker"), "u0");
  EXPECT_EQ(value(root, "NextKeyMarker"), "p/k 1");
  EXPECT_EQ(value(root, "NextUploadIdMarker"), "u1");
  EXPECT_EQ(value(root, "Prefix"), "p");
  EXPECT_EQ(value(root, "MaxUploads"), "1");
  EXPECT_EQ(value(root, "IsTruncated"), "true");
  auto upload = root.child("Upload");
  EXPECT_EQ(value(upload, "Key"), "p/k 1");
  EXPECT_EQ(value(upload, "UploadId"), "u1");
  EXPECT_EQ(value(upload, "Initiated"), kTimeText);
  EXPECT_EQ(value(upload, "StorageClass"), "STANDARD");
  EXPECT_EQ(value(upload.child("Initiator"), "ID"), "acme");
  EXPECT_EQ(value(upload.child("Owner"), "ID"), "acme");

  reply.truncated = false;
  reply.url_encoded = true;
  pugi::xml_document encoded;
  auto e = root_of(encoded, render_list_uploads_xml(reply), "ListMultipartUploadsResult");
  EXPECT_FALSE(e.child("NextKeyMarker"));
  EXPECT_EQ(value(e, "EncodingType"), "url");
  EXPECT_EQ(value(e.child("Upload"), "Key"), "p/k%201");
}

TEST(MultipartXml, ListParts) {
  ListPartsReply reply;
  reply.bucket = "b";
  reply.key = "k y";
  reply.upload_id = "up";
  reply.part_number_marker = 1;
  reply.next_part_number_marker = 3;
  reply.max_parts = 2;
  reply.truncated = true;
  reply.parts = {{2, kTime, "aa", 5242880}, {3, 0, "bb", 1}};
  reply.owner = "acme";
  pugi::xml_document doc;
  auto root = root_of(doc, render_list_parts_xml(reply), "ListPartsResult");
  EXPECT_EQ(value(root, "Bucket"), "b");
  EXPECT_EQ(value(root, "Key"), "k y");
  EXPECT_EQ(value(root, "UploadId"), "up");
  EXPECT_EQ(value(root, "PartNumberMarker"), "1");
  EXPECT_EQ(value(root, "NextPartNumberMarker"), "3");
  EXPECT_EQ(value(root, "MaxParts"), "2");
  EXPECT_EQ(value(root, "IsTruncated"), "true");
  EXPECT_EQ(value(root, "StorageClass"), "STANDARD");
  EXPECT_EQ(value(root.child("Initiator"), "ID"), "acme");
  EXPECT_EQ(value(root.child("Owner"), "DisplayName"), "acme");
  ASSERT_EQ(count(root, "Part"), 2u);
  auto part = root.child("Part");
  EXPECT_EQ(value(part, "PartNumber"), "2");
  EXPECT_EQ(value(part, "LastModified"), kTimeText);
  EXPECT_EQ(value(part, "ETag"), "\"aa\"");
  EXPECT_EQ(value(part, "Size"), "5242880");

  reply.truncated = false;
  reply.url_encoded = true;
  pugi::xml_document last;
  auto l = root_of(last, render_list_parts_xml(reply), "ListPartsResult");
  EXPECT_FALSE(l.child("NextPartNumberMarker"));
  EXPECT_EQ(value(l, "Key"), "k%20y");
  EXPECT_EQ(value(l, "EncodingType"), "url");
}

}  // namespace
}  // namespace blobseal::s3
