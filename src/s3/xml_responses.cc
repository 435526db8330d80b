#include "s3/xml_responses.h"

#include <fmt/format.h>

#include "s3/http_date.h"
#include "s3/xml_writer.h"

namespace blobseal::s3 {

namespace {

std::string quoted(std::string_view etag) { return fmt::format("\"{}\"", etag); }

void owner(XmlWriter& xml, std::string_view name, std::string_view id) {
  xml.open(name);
  xml.element("ID", id);
  xml.element("DisplayName", id);
  xml.close();
}

// A client-supplied name in a listing: percent-encoded when the request asked for encoding-type=url.
std::string listed(std::string_view text, bool url_encoded) {
  return url_encoded ? url_encode_listing(text) : std::string(text);
}

void common_prefixes(XmlWriter& xml, const std::vector<std::string>& prefixes, bool url_encoded) {
  for (const auto& prefix : prefixes) {
    xml.open("CommonPrefixes");
    xml.element("Prefix", listed(prefix, url_encoded));
    xml.close();
  }
}

void object_details(XmlWriter& xml, const ObjectEntry& object) {
  xml.element("LastModified", format_iso8601(object.modified_unix_ns));
  xml.element("ETag", quoted(object.etag));
  xml.element("Size", object.size);
}

}  // namespace

std::string render_list_buckets_xml(std::string_view owner_id, const std::vector<BucketEntry>& buckets) {
  XmlWriter xml;
  xml.open("ListAllMyBucketsResult", true);
  owner(xml, "Owner", owner_id);
  xml.open("Buckets");
  for (const auto& bucket : buckets) {
    xml.open("Bucket");
    xml.element("Name", bucket.name);
    xml.element("CreationDate", format_iso8601(bucket.created_unix_ns));
    xml.close();
  }
  xml.close();
  return std::move(xml).finish();
}

std::string render_location_xml(std::string_view region) {
  XmlWriter xml;
  if (region.empty()) xml.empty("LocationConstraint", true);
  else xml.open("LocationConstraint", true).text(region);
  return std::move(xml).finish();
}

std::string render_versioning_xml() {
  XmlWriter xml;
  xml.empty("VersioningConfiguration", true);
  return std::move(xml).finish();
}

std::string render_acl_xml(std::string_view owner_id) {
  XmlWriter xml;
  xml.open("AccessControlPolicy", true);
  owner(xml, "Owner", owner_id);
  xml.open("AccessControlList");
  xml.open("Grant");
  xml.open_with_attributes("Grantee",
                           "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"");
  xml.element("ID", owner_id);
  xml.element("DisplayName", owner_id);
  xml.close();
  xml.element("Permission", "FULL_CONTROL");
  return std::move(xml).finish();
}

std::string render_list_objects_xml(const ListObjectsReply& reply) {
  const bool v2 = reply.version == 2;
  const bool enc = reply.url_encoded;
  XmlWriter xml;
  xml.open("ListBucketResult", true);
  xml.element("Name", reply.bucket);
  xml.element("Prefix", listed(reply.prefix, enc));
  if (v2) {
    if (reply.continuation_token) xml.element("ContinuationToken", *reply.continuation_token);
    if (reply.truncated && !reply.next_continuation_token.empty())
      xml.element("NextContinuationToken", reply.next_continuation_token);
    xml.element("KeyCount", static_cast<std::uint64_t>(reply.objects.size() + reply.common_prefixes.size()));
  } else {
    xml.element("Marker", listed(reply.marker, enc));
    if (reply.truncated && !reply.next_marker.empty()) xml.element("NextMarker", listed(reply.next_marker, enc));
  }
  xml.element("MaxKeys", static_cast<std::uint64_t>(reply.max_keys));
  if (!reply.delimiter.empty()) xml.element("Delimiter", listed(reply.delimiter, enc));
  if (enc) xml.element("EncodingType", "url");
  xml.element("IsTruncated", reply.truncated);
  if (v2 && !reply.start_after.empty()) xml.element("StartAfter", listed(reply.start_after, enc));
  for (const auto& object : reply.objects) {
    xml.open("Contents");
    xml.element("Key", listed(object.key, enc));
    object_details(xml, object);
    if (!v2 || reply.fetch_owner) owner(xml, "Owner", reply.owner);
    xml.element("StorageClass", "STANDARD");
    xml.close();
  }
  common_prefixes(xml, reply.common_prefixes, enc);
  return std::move(xml).finish();
}

std::string render_list_versions_xml(const ListObjectsReply& reply) {
  const bool enc = reply.url_encoded;
  XmlWriter xml;
  xml.open("ListVersionsResult", true);
  xml.element("Name", reply.bucket);
  xml.element("Prefix", listed(reply.prefix, enc));
  xml.element("KeyMarker", listed(reply.marker, enc));
  xml.element("VersionIdMarker", "");
  if (reply.truncated && !reply.next_marker.empty()) {
    xml.element("NextKeyMarker", listed(reply.next_marker, enc));
    xml.element("NextVersionIdMarker", "null");
  }
  xml.element("MaxKeys", static_cast<std::uint64_t>(reply.max_keys));
  if (!reply.delimiter.empty()) xml.element("Delimiter", listed(reply.delimiter, enc));
  if (enc) xml.element("EncodingType", "url");
  xml.element("IsTruncated", reply.truncated);
  for (const auto& object : reply.objects) {
    xml.open("Version");
    xml.element("Key", listed(object.key, enc));
    xml.element("VersionId", "null");
    xml.element("IsLatest", true);
    object_details(xml, object);
    owner(xml, "Owner", reply.owner);
    xml.element("StorageClass", "STANDARD");
    xml.close();
  }
  common_prefixes(xml, reply.common_prefixes, enc);
  return std::move(xml).finish();
}

std::string render_delete_result_xml(const DeleteReply& reply) {
  XmlWriter xml;
  xml.open("DeleteResult", true);
  if (!reply.quiet) {
    for (const auto& deleted : reply.deleted) {
      xml.open("Deleted");
      xml.element("Key", deleted.key);
      if (deleted.version_id) xml.element("VersionId", *deleted.version_id);
      xml.close();
    }
  }
  for (const auto& error : reply.errors) {
    xml.open("Error");
    xml.element("Key", error.key);
    if (error.version_id) xml.element("VersionId", *error.version_id);
    xml.element("Code", error.code);
    xml.element("Message", error.message);
    xml.close();
  }
  return std::move(xml).finish();
}

std::string render_copy_result_xml(std::string_view etag, std::int64_t modified_unix_ns, bool part) {
  XmlWriter xml;
  xml.open(part ? "CopyPartResult" : "CopyObjectResult", true);
  xml.element("LastModified", format_iso8601(modified_unix_ns));
  xml.element("ETag", quoted(etag));
  return std::move(xml).finish();
}

std::string render_tagging_xml(const TagSet& tags) {
  XmlWriter xml;
  xml.open("Tagging", true);
  xml.open("TagSet");
  for (const auto& [key, value] : tags) {
    xml.open("Tag");
    xml.element("Key", key);
    xml.element("Value", value);
    xml.close();
  }
  return std::move(xml).finish();
}

std::string render_initiate_upload_xml(std::string_view bucket, std::string_view key, std::string_view upload_id) {
  XmlWriter xml;
  xml.open("InitiateMultipartUploadResult", true);
  xml.element("Bucket", bucket);
  xml.element("Key", key);
  xml.element("UploadId", upload_id);
  return std::move(xml).finish();
}

std::string render_complete_upload_xml(std::string_view location, std::string_view bucket, std::string_view key,
                                       std::string_view etag) {
  XmlWriter xml;
  xml.open("CompleteMultipartUploadResult", true);
  xml.element("Location", location);
  xml.element("Bucket", bucket);
  xml.element("Key", key);
  xml.element("ETag", quoted(etag));
  return std::move(xml).finish();
}

std::string render_list_uploads_xml(const ListUploadsReply& reply) {
  const bool enc = reply.url_encoded;
  XmlWriter xml;
  xml.open("ListMultipartUploadsResult", true);
  xml.element("Bucket", reply.bucket);
  xml.element("KeyMarker", listed(reply.key_marker, enc));
  xml.element("UploadIdMarker", reply.upload_id_marker);
  if (reply.truncated) {
    xml.element("NextKeyMarker", listed(reply.next_key_marker, enc));
    xml.element("NextUploadIdMarker", reply.next_upload_id_marker);
  }
  xml.element("Prefix", listed(reply.prefix, enc));
  if (!reply.delimiter.empty()) xml.element("Delimiter", listed(reply.delimiter, enc));
  xml.element("MaxUploads", static_cast<std::uint64_t>(reply.max_uploads));
  if (enc) xml.element("EncodingType", "url");
  xml.element("IsTruncated", reply.truncated);
  for (const auto& upload : reply.uploads) {
    xml.open("Upload");
    xml.element("Key", listed(upload.key, enc));
    xml.element("UploadId", upload.upload_id);
    owner(xml, "Initiator", reply.owner);
    owner(xml, "Owner", reply.owner);
    xml.element("StorageClass", "STANDARD");
    xml.element("Initiated", format_iso8601(upload.initiated_unix_ns));
    xml.close();
  }
  common_prefixes(xml, reply.common_prefixes, enc);
  return std::move(xml).finish();
}

std::string render_list_parts_xml(const ListPartsReply& reply) {
  XmlWriter xml;
  xml.open("ListPartsResult", true);
  xml.element("Bucket", reply.bucket);
  xml.element("Key", listed(reply.key, reply.url_encoded));
  xml.element("UploadId", reply.upload_id);
  owner(xml, "Initiator", reply.owner);
  owner(xml, "Owner", reply.owner);
  xml.element("StorageClass", "STANDARD");
  xml.element("PartNumberMarker", static_cast<std::uint64_t>(reply.part_number_marker));
  if (reply.truncated) xml.element("NextPartNumberMarker", static_cast<std::uint64_t>(reply.next_part_number_marker));
  xml.element("MaxParts", static_cast<std::uint64_t>(reply.max_parts));
  if (reply.url_encoded) xml.element("EncodingType", "url");
  xml.element("IsTruncated", reply.truncated);
  for (const auto& part : reply.parts) {
    xml.open("Part");
    xml.element("PartNumber", static_cast<std::uint64_t>(part.number));
    xml.element("LastModified", format_iso8601(part.modified_unix_ns));
    xml.element("ETag", quoted(part.etag));
    xml.element("Size", part.size);
    xml.close();
  }
  return std::move(xml).finish();
}

}  // namespace blobseal::s3
