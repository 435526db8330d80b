// S3 response documents in XML. Each function renders one S3 shape as AWS documents it (API Reference, 2006-03-01),
// in the S3 namespace, with every client-supplied string escaped (xml_escape) or, where the request asked for
// encoding-type=url, percent-encoded as S3 does. ETags are given without quotes and rendered quoted; times are Unix
// nanoseconds rendered as ISO 8601 with milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/tags.h"

namespace blobseal::s3 {

// ---- service and buckets ----

struct BucketEntry {
  std::string name;
  std::int64_t created_unix_ns = 0;
};
// ListAllMyBucketsResult; `owner` is the tenant, as Owner/ID and Owner/DisplayName.
std::string render_list_buckets_xml(std::string_view owner, const std::vector<BucketEntry>& buckets);

// GetBucketLocation: <LocationConstraint>region</LocationConstraint>, empty for us-east-1 (pass "").
std::string render_location_xml(std::string_view region);

// GetBucketVersioning of a bucket that never had versioning: an empty <VersioningConfiguration/>.
std::string render_versioning_xml();

// GetBucketAcl / GetObjectAcl: the owner alone, with FULL_CONTROL (the only ACL blobseal has).
std::string render_acl_xml(std::string_view owner);

// ---- listings ----

struct ObjectEntry {
  std::string key;
  std::int64_t modified_unix_ns = 0;
  std::string etag;  // without quotes
  std::uint64_t size = 0;
};

// One reply type for ListObjects (version 1), ListObjectsV2 (version 2) and ListObjectVersions (version 0).
struct ListObjectsReply {
  int version = 2;
  std::string bucket;
  std::string prefix;
  std::string delimiter;    // omitted when empty
  std::size_t max_keys = 1000;
  bool url_encoded = false;  // encoding-type=url: keys, prefixes, delimiter, markers percent-encoded
  // V2
  std::string start_after;                        // omitted when empty
  std::optional<std::string> continuation_token;  // echoed when given
  std::string next_continuation_token;            // sent when truncated and not empty
  bool fetch_owner = false;                       // V2 lists owners only when asked
  // V1 (marker, next_marker) and versions (key-marker, next-key-marker)
  std::string marker;
  std::string next_marker;  // sent when not empty (V1: S3 sends it only with a delimiter)
  std::vector<ObjectEntry> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string owner;
};
// ListBucketResult, V1 or V2 by `version`.
std::string render_list_objects_xml(const ListObjectsReply& reply);
// ListVersionsResult: every object as its only version, VersionId "null", IsLatest true.
std::string render_list_versions_xml(const ListObjectsReply& reply);

// ---- DeleteObjects ----

struct DeletedEntry {
  std::string key;
  std::optional<std::string> version_id;
};
struct DeleteErrorEntry {
  std::string key;
  std::string code;  // S3 error code
  std::string message;
  std::optional<std::string> version_id;
};
struct DeleteReply {
  bool quiet = false;  // quiet mode reports errors only
  std::vector<DeletedEntry> deleted;
  std::vector<DeleteErrorEntry> errors;
};
std::string render_delete_result_xml(const DeleteReply& reply);

// ---- objects ----

// CopyObjectResult, or CopyPartResult when `part` (UploadPartCopy).
std::string render_copy_result_xml(std::string_view etag, std::int64_t modified_unix_ns, bool part);

// GetObjectTagging: <Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>.
std::string render_tagging_xml(const TagSet& tags);

// ---- multipart ----

// InitiateMultipartUploadResult.
std::string render_initiate_upload_xml(std::string_view bucket, std::string_view key, std::string_view upload_id);

// CompleteMultipartUploadResult; `location` is the object's URL, `etag` the multipart ETag ("<hex>-<parts>").
std::string render_complete_upload_xml(std::string_view location, std::string_view bucket, std::string_view key,
                                       std::string_view etag);

struct UploadEntry {
  std::string key;
  std::string upload_id;
  std::int64_t initiated_unix_ns = 0;
};
struct ListUploadsReply {
  std::string bucket;
  std::string prefix;
  std::string delimiter;  // omitted when empty
  std::size_t max_uploads = 1000;
  std::string key_marker;
  std::string upload_id_marker;
  std::string next_key_marker;        // sent when truncated
  std::string next_upload_id_marker;  // sent when truncated
  bool truncated = false;
  bool url_encoded = false;
  std::vector<UploadEntry> uploads;
  std::vector<std::string> common_prefixes;
  std::string owner;  // Owner and Initiator of every upload
};
// ListMultipartUploadsResult.
std::string render_list_uploads_xml(const ListUploadsReply& reply);

struct PartEntry {
  std::uint32_t number = 0;
  std::int64_t modified_unix_ns = 0;
  std::string etag;  // without quotes
  std::uint64_t size = 0;
};
struct ListPartsReply {
  std::string bucket;
  std::string key;
  std::string upload_id;
  std::uint32_t part_number_marker = 0;
  std::uint32_t next_part_number_marker = 0;  // sent when truncated
  std::size_t max_parts = 1000;
  bool truncated = false;
  bool url_encoded = false;  // encoding-type=url: the key percent-encoded
  std::vector<PartEntry> parts;
  std::string owner;  // Owner and Initiator
};
// ListPartsResult.
std::string render_list_parts_xml(const ListPartsReply& reply);

}  // namespace blobseal::s3
