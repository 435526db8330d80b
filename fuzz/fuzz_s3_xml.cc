// Fuzzes the S3 request-body parsers (src/s3/xml.h) and the tag codecs (src/s3/tags.h): every byte of these comes
// from the client.
//
// Input: byte 0 chooses the parser (mod 6); the rest is its input.
//   0 DeleteObjects, 1 CreateBucketConfiguration, 2 CompleteMultipartUpload, 3 Tagging: the rest is the body.
//   4 the x-amz-tagging header, 5 stored tags (decode_tags).
// Properties:
//  - a failure is InvalidArgument with one of the reasons the parser documents;
//  - a success obeys the documented limits (1..1000 objects with non-empty keys, 1..10000 parts, a valid tag set);
//  - rendering what was parsed and parsing it again gives the same values: the response escaping (xml_escape) is
//    the inverse of the parser for everything the parser accepts; encode_tags/decode_tags round-trip;
//  - nothing crashes, leaks or reads out of bounds (size, depth and element bounds keep each input cheap).
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "fuzz_common.h"
#include "s3/tags.h"
#include "s3/xml.h"
#include "s3/xml_responses.h"
#include "s3/xml_writer.h"

namespace blobseal::fuzz {
namespace {

void check_failure(const Error& e, std::initializer_list<std::string_view> reasons) {
  FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.to_string());
  for (std::string_view r : reasons)
    if (e.reason() == r) return;
  FUZZ_CHECK(false, "unexpected reason " + e.reason());
}

void delete_objects(std::string_view body) {
  auto parsed = s3::parse_delete_objects(body);
  if (!parsed) return check_failure(parsed.error(), {"MalformedXML", "UserKeyMustBeSpecified"});
  FUZZ_CHECK(!parsed->objects.empty() && parsed->objects.size() <= s3::kMaxDeleteObjects, "object count");
  std::string again = "<Delete>";
  if (parsed->quiet) again += "<Quiet>true</Quiet>";
  for (const auto& object : parsed->objects) {
    FUZZ_CHECK(!object.key.empty(), "an empty key");
    again += "<Object><Key>" + s3::xml_escape(object.key) + "</Key>";
    if (object.version_id) again += "<VersionId>" + s3::xml_escape(*object.version_id) + "</VersionId>";
    again += "</Object>";
  }
  again += "</Delete>";
  auto reparsed = s3::parse_delete_objects(again);
  FUZZ_CHECK(reparsed.has_value(), again);
  FUZZ_CHECK(reparsed->quiet == parsed->quiet && reparsed->objects.size() == parsed->objects.size(), again);
  for (std::size_t i = 0; i < parsed->objects.size(); ++i) {
    FUZZ_CHECK(reparsed->objects[i].key == parsed->objects[i].key, "key changed by a round trip");
    FUZZ_CHECK(reparsed->objects[i].version_id == parsed->objects[i].version_id, "version changed");
  }
}

void create_bucket(std::string_view body) {
  auto parsed = s3::parse_create_bucket_region(body);
  if (!parsed) return check_failure(parsed.error(), {"MalformedXML"});
  std::string again = "<CreateBucketConfiguration><LocationConstraint>" + s3::xml_escape(*parsed) +
                      "</LocationConstraint></CreateBucketConfiguration>";
  auto reparsed = s3::parse_create_bucket_region(again);
  FUZZ_CHECK(reparsed && *reparsed == *parsed, again);
}

void complete_multipart(std::string_view body) {
  auto parsed = s3::parse_complete_multipart(body);
  if (!parsed) return check_failure(parsed.error(), {"MalformedXML"});
  FUZZ_CHECK(!parsed->empty() && parsed->size() <= s3::kMaxCompletedParts, "part count");
  std::string again = "<CompleteMultipartUpload>";
  for (const auto& part : *parsed)
    again += "<Part><PartNumber>" + std::to_string(part.part_number) + "</PartNumber><ETag>" +
             s3::xml_escape(part.etag) + "</ETag></Part>";
  again += "</CompleteMultipartUpload>";
  auto reparsed = s3::parse_complete_multipart(again);
  FUZZ_CHECK(reparsed && reparsed->size() == parsed->size(), again);
  for (std::size_t i = 0; i < parsed->size(); ++i) {
    FUZZ_CHECK((*reparsed)[i].part_number == (*parsed)[i].part_number, "part number changed");
    FUZZ_CHECK((*reparsed)[i].etag == (*parsed)[i].etag, "etag changed");
  }
}

void check_tag_set(const s3::TagSet& tags) {
  FUZZ_CHECK(s3::validate_tags(tags).has_value(), "an invalid tag set was accepted");
  FUZZ_CHECK(s3::decode_tags(s3::encode_tags(tags)) == tags, "stored tags do not round-trip");
  auto reparsed = s3::parse_tagging_xml(s3::render_tagging_xml(tags));
  FUZZ_CHECK(reparsed && *reparsed == tags, "GetObjectTagging's document does not parse back");
}

void tagging_xml(std::string_view body) {
  auto parsed = s3::parse_tagging_xml(body);
  if (!parsed) return check_failure(parsed.error(), {"MalformedXML", "InvalidTag", "BadRequest"});
  check_tag_set(*parsed);
}

void tagging_header(std::string_view header) {
  auto parsed = s3::parse_tagging_header(header);
  if (!parsed) return check_failure(parsed.error(), {"InvalidArgument", "InvalidTag", "BadRequest"});
  check_tag_set(*parsed);
}

void stored_tags(std::string_view text) {
  s3::TagSet tags = s3::decode_tags(text);
  FUZZ_CHECK(s3::decode_tags(s3::encode_tags(tags)) == tags, "decoded tags do not round-trip");
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal;
  fuzz::InputReader in(ByteSpan(data, size));
  std::uint8_t mode = in.u8() % 6;
  std::string_view body = as_string_view(in.rest());
  switch (mode) {
    case 0: fuzz::delete_objects(body); break;
    case 1: fuzz::create_bucket(body); break;
    case 2: fuzz::complete_multipart(body); break;
    case 3: fuzz::tagging_xml(body); break;
    case 4: fuzz::tagging_header(body); break;
    default: fuzz::stored_tags(body); break;
  }
  return 0;
}
