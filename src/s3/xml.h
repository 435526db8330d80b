// S3 request bodies in XML (DeleteObjects, CreateBucket, CompleteMultipartUpload, PutObjectTagging): reading them
// from the request and parsing them as untrusted input.
//
// Every parser takes the body as received and holds it to XML 1.0 before reading the S3 shape: UTF-8 only (a
// leading BOM is skipped), no DOCTYPE or other markup declaration (so no entity can be defined, expanded or fetched),
// only the five predefined entities and character references to XML characters, no C0 control other than TAB, LF
// and CR, and one root element. Bodies larger than kMaxXmlBodyBytes, deeper than kMaxXmlDepth or with more than
// kMaxXmlElements elements are refused before a tree is built. Every failure is InvalidArgument with reason
// "MalformedXML" and S3's message, unless a parser names another reason. Elements are matched by local name, so
// the S3 namespace is optional; elements a parser does not know are ignored, a known element given twice is not.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_stream.h"
#include "core/error.h"
#include "s3/tags.h"

namespace blobseal::s3 {

inline constexpr std::size_t kMaxXmlBodyBytes = 4 << 20;  // 10,000 parts of CompleteMultipartUpload fit twice
inline constexpr std::size_t kMaxXmlDepth = 16;           // S3's request shapes are 4 deep
inline constexpr std::size_t kMaxXmlElements = 100000;
inline constexpr std::size_t kMaxDeleteObjects = 1000;    // S3's limit per DeleteObjects request
inline constexpr std::size_t kMaxCompletedParts = 10000;  // S3's limit of parts per upload

// Reads `body` to its end (so a wrapper that checks a digest at the end gets to check it) and returns it, when it
// has at most `limit` bytes. A longer body is ResourceExhausted with reason "MaxMessageLengthExceeded" (S3's
// "Your request was too big", 400), after reading at most limit + 1 bytes. Errors of `body` pass through unchanged.
Result<std::string> read_small_body(ByteSource& body, std::size_t limit);

// DeleteObjects: <Delete><Quiet>true</Quiet><Object><Key>k</Key><VersionId>v</VersionId></Object>…</Delete>.
struct ObjectIdentifier {
  std::string key;                        // exactly as sent (white space is part of a key)
  std::optional<std::string> version_id;
};
struct DeleteObjectsRequest {
  bool quiet = false;
  std::vector<ObjectIdentifier> objects;  // in request order, 1 to kMaxDeleteObjects
};
// MalformedXML for no <Object>, more than 1000, an <Object> without <Key>, or a Quiet that is not an xs:boolean;
// "UserKeyMustBeSpecified" for an empty <Key>.
Result<DeleteObjectsRequest> parse_delete_objects(std::string_view xml);

// CreateBucket: <CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>…. Returns the
// location constraint, "" when there is none. Callers skip an empty body (S3 accepts CreateBucket without one).
Result<std::string> parse_create_bucket_region(std::string_view xml);

// CompleteMultipartUpload: <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"…"</ETag></Part>….
struct CompletedPart {
  int part_number = 0;  // as sent, any int: range and order are the handler's to check (InvalidPart/InvalidPartOrder)
  std::string etag;     // as sent without surrounding white space, quotes included; "" when <ETag> is absent
};
// MalformedXML for no <Part>, more than 10,000, a <Part> without <PartNumber>, or a PartNumber that is not an int.
Result<std::vector<CompletedPart>> parse_complete_multipart(std::string_view xml);

// PutObjectTagging: <Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>…</TagSet></Tagging>.
// MalformedXML for a missing <TagSet>, or a <Tag> without <Key> or <Value>; then validate_tags's rules and reasons.
Result<TagSet> parse_tagging_xml(std::string_view xml);

}  // namespace blobseal::s3
