#include "s3/errors.h"

#include <gtest/gtest.h>
#include <pugixml.hpp>

namespace blobseal::s3 {
namespace {

TEST(ErrorStatus, EveryCodeTheFrontEndUses) {
  const std::pair<std::string_view, int> expected[] = {
      {"NotModified", 304},
      {"PreconditionFailed", 412},
      {"InvalidRange", 416},
      {"InvalidPartNumber", 416},
      {"NoSuchKey", 404},
      {"NoSuchBucket", 404},
      {"NoSuchUpload", 404},
      {"NoSuchVersion", 404},
      {"BucketNotEmpty", 409},
      {"BucketAlreadyOwnedByYou", 409},
      {"BucketAlreadyExists", 409},
      {"AccessDenied", 403},
      {"SignatureDoesNotMatch", 403},
      {"InvalidAccessKeyId", 403},
      {"RequestTimeTooSkewed", 403},
      {"EntityTooLarge", 400},
      {"EntityTooSmall", 400},
      {"InvalidPart", 400},
      {"InvalidPartOrder", 400},
      {"MalformedXML", 400},
      {"InvalidArgument", 400},
      {"InvalidDigest", 400},
      {"BadDigest", 400},
      {"MetadataTooLarge", 400},
      {"InvalidTag", 400},
      {"BadRequest", 400},
      {"InvalidBucketName", 400},
      {"InvalidRequest", 400},
      {"KeyTooLongError", 400},
      {"IncompleteBody", 400},
      {"XAmzContentSHA256Mismatch", 400},
      {"AuthorizationHeaderMalformed", 400},
      {"AuthorizationQueryParametersError", 400},
      {"IllegalLocationConstraintException", 400},
      {"MaxMessageLengthExceeded", 400},
      {"UserKeyMustBeSpecified", 400},
      {"MissingContentLength", 411},  // 411 Length Required, as AWS documents it
      {"MethodNotAllowed", 405},
      {"NotImplemented", 501},
      {"InternalError", 500},
      {"ServiceUnavailable", 503},
      {"SlowDown", 503},
  };
  for (const auto& [code, status] : expected) EXPECT_EQ(s3_error_status(code), status) << code;
}

TEST(ErrorStatus, UnknownCodesAreServerErrors) {
  EXPECT_EQ(s3_error_status(""), 500);
  EXPECT_EQ(s3_error_status("NoSuchThing"), 500);
  EXPECT_EQ(s3_error_status("nosuchkey"), 500);  // codes are case-sensitive
  EXPECT_EQ(s3_error_status("NoSuchKeyX"), 500);
}

TEST(ErrorXml, ShapeAndEscaping) {
  std::string body = render_error_xml("NoSuchKey", "The <key> & \"more\"", "/b/a&b<c>", "req-1");
  EXPECT_TRUE(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>")) << body;
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(body.c_str()));
  auto error = doc.child("Error");
  EXPECT_STREQ(error.child_value("Code"), "NoSuchKey");
  EXPECT_STREQ(error.child_value("Message"), "The <key> & \"more\"");
  EXPECT_STREQ(error.child_value("Resource"), "/b/a&b<c>");
  EXPECT_STREQ(error.child_value("RequestId"), "req-1");
}

}  // namespace
}  // namespace blobseal::s3
