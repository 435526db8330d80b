#include "s3/errors.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "s3/xml_writer.h"

namespace blobseal::s3 {

namespace {

// From AWS's "List of error codes" (Amazon S3 API Reference, Error responses). Sorted by code for binary search.
constexpr std::pair<std::string_view, int> kStatuses[] = {
    {"AccessControlListNotSupported", 400},
    {"AccessDenied", 403},
    {"AccountProblem", 403},
    {"AllAccessDisabled", 403},
    {"AuthorizationHeaderMalformed", 400},
    {"AuthorizationQueryParametersError", 400},
    {"BadDigest", 400},
    {"BadRequest", 400},
    {"BucketAlreadyExists", 409},
    {"BucketAlreadyOwnedByYou", 409},
    {"BucketNotEmpty", 409},
    {"ConditionalRequestConflict", 409},
    {"CredentialsNotSupported", 400},
    {"EntityTooLarge", 400},
    {"EntityTooSmall", 400},
    {"ExpiredToken", 400},
    {"IllegalLocationConstraintException", 400},
    {"IllegalVersioningConfigurationException", 400},
    {"IncompleteBody", 400},
    {"IncorrectNumberOfFilesInPostRequest", 400},
    {"InlineDataTooLarge", 400},
    {"InternalError", 500},
    {"InvalidAccessKeyId", 403},
    {"InvalidArgument", 400},
    {"InvalidBucketName", 400},
    {"InvalidBucketState", 409},
    {"InvalidDigest", 400},
    {"InvalidEncryptionAlgorithmError", 400},
    {"InvalidLocationConstraint", 400},
    {"InvalidObjectState", 403},
    {"InvalidPart", 400},
    {"InvalidPartNumber", 416},
    {"InvalidPartOrder", 400},
    {"InvalidPayer", 403},
    {"InvalidPolicyDocument", 400},
    {"InvalidRange", 416},
    {"InvalidRequest", 400},
    {"InvalidSecurity", 403},
    {"InvalidStorageClass", 400},
    {"InvalidTag", 400},
    {"InvalidToken", 400},
    {"InvalidURI", 400},
    // An SSE-KMS object whose key is disabled or gone; here, a retired or destroyed key version.
    {"KMS.DisabledException", 400},
    {"KMS.NotFoundException", 400},
    {"KeyTooLongError", 400},
    {"MalformedACLError", 400},
    {"MalformedPOSTRequest", 400},
    {"MalformedXML", 400},
    {"MaxMessageLengthExceeded", 400},
    {"MaxPostPreDataLengthExceededError", 400},
    {"MetadataTooLarge", 400},
    {"MethodNotAllowed", 405},
    {"MissingContentLength", 411},
    {"MissingRequestBodyError", 400},
    {"MissingSecurityElement", 400},
    {"MissingSecurityHeader", 400},
    {"NoSuchBucket", 404},
    {"NoSuchBucketPolicy", 404},
    {"NoSuchKey", 404},
    {"NoSuchLifecycleConfiguration", 404},
    {"NoSuchTagSet", 404},
    {"NoSuchUpload", 404},
    {"NoSuchVersion", 404},
    {"NotImplemented", 501},
    {"NotModified", 304},
    {"NotSignedUp", 403},
    {"OperationAborted", 409},
    {"PermanentRedirect", 301},
    {"PreconditionFailed", 412},
    {"Redirect", 307},
    {"RequestHeaderSectionTooLarge", 400},
    {"RequestIsNotMultiPartContent", 400},
    {"RequestTimeTooSkewed", 403},
    {"RequestTimeout", 400},
    {"RequestTorrentOfBucketError", 400},
    {"ServiceUnavailable", 503},
    {"SignatureDoesNotMatch", 403},
    {"SlowDown", 503},
    {"TemporaryRedirect", 307},
    {"TokenRefreshRequired", 400},
    {"TooManyBuckets", 400},
    {"UnexpectedContent", 400},
    {"UnresolvableGrantByEmailAddress", 400},
    {"UserKeyMustBeSpecified", 400},
    {"XAmzContentSHA256Mismatch", 400},
};

constexpr bool sorted() {
  for (std::size_t i = 1; i < std::size(kStatuses); ++i)
    if (!(kStatuses[i - 1].first < kStatuses[i].first)) return false;
  return true;
}
static_assert(sorted(), "kStatuses must be sorted by code");

}  // namespace

int s3_error_status(std::string_view code) {
  auto it = std::lower_bound(std::begin(kStatuses), std::end(kStatuses), code,
                             [](const auto& entry, std::string_view c) { return entry.first < c; });
  if (it == std::end(kStatuses) || it->first != code) return 500;
  return it->second;
}

std::string render_error_xml(std::string_view code, std::string_view message, std::string_view resource,
                             std::string_view request_id) {
  XmlWriter xml;
  xml.open("Error");
  xml.element("Code", code);
  xml.element("Message", message);
  xml.element("Resource", resource);
  xml.element("RequestId", request_id);
  return std::move(xml).finish();
}

}  // namespace blobseal::s3
