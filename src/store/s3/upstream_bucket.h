// The S3 operations the upstream store needs, on one bucket, over net::HttpClient: object PUT/GET/HEAD/DELETE,
// server-side copy, ListObjectsV2 and multipart uploads, with S3's XML answers parsed (pugixml) and S3 errors turned
// into blobseal errors. Names are upstream object names, already safe (store/s3/key_names.h); they are
// percent-encoded here all the same.
//
// Error mapping (upstream answers are never passed through as if they were the client's): 404 NotFound (reason
// "NoSuchKey" or "NoSuchUpload"), 412 and 409 FailedPrecondition (reason "PreconditionFailed"), 401/403
// Unavailable (reason "UpstreamAccessDenied": blobseal's upstream credentials are wrong, not the client's), 501
// Unimplemented (an operation the upstream lacks), other 5xx and 429 Unavailable ("UpstreamUnavailable"), anything
// else Internal ("UpstreamRejected"). Transport errors come
// from the client (Unavailable).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"
#include "net/http_client.h"

namespace blobseal::store::s3 {

struct UpstreamObject {
  std::string etag;            // unquoted
  std::uint64_t size = 0;
  std::vector<net::Header> headers;
};

struct ListedName {
  std::string name;
  std::string etag;            // unquoted
  std::uint64_t size = 0;
  std::string last_modified;   // ISO 8601 as listed
};

struct ListedPage {
  std::vector<ListedName> names;
  bool truncated = false;
  std::string next_continuation_token;
};

struct CompletedUploadPart {
  std::uint32_t part_number = 0;
  std::string etag;  // unquoted
};

struct InProgressUpload {
  std::string name;
  std::string upload_id;
  std::string initiated;       // ISO 8601
};

// Unix time (ns) of an ISO 8601 UTC timestamp as S3 lists them ("2024-03-01T10:15:00.000Z"); nullopt if malformed.
std::optional<std::int64_t> parse_iso8601(std::string_view text);

// Parsers of the upstream's XML answers (pure; fuzz/fuzz_upstream_xml.cc feeds them arbitrary bytes). An answer
// that is not well-formed XML, has another root, or is an <Error> (some operations answer 200 with one) is
// Unavailable with reason "UpstreamUnavailable"; `name` and `operation` only word the message.
struct UploadsPage {
  std::vector<InProgressUpload> uploads;
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};
Result<ListedPage> parse_list_objects_v2(std::string_view body, std::string_view prefix = "");
Result<std::string> parse_initiate_upload(std::string_view body, std::string_view name = "");
// The ETag (unquoted) of a CopyObjectResult, CopyPartResult or CompleteMultipartUploadResult; an empty one is
// refused in a CopyPartResult (completing the upload needs it) and passed on otherwise (Ceph RGW 16 completes with
// <ETag></ETag>; the callers HEAD the object).
Result<std::string> parse_result_etag(std::string_view body, std::string_view root_name, std::string_view operation,
                                      std::string_view name = "");
Result<UploadsPage> parse_list_uploads(std::string_view body, std::string_view prefix = "");

class UpstreamBucket {
 public:
  UpstreamBucket(net::HttpClient& client, std::string bucket, bool path_style);

  const std::string& name() const { return bucket_; }

  // PUT bucket; an existing bucket of ours is not an error.
  Status create();
  // HEAD bucket: NotFound (reason "NoSuchBucket") when it does not exist. With `probe`, a single attempt (a
  // readiness check answers now, or says the upstream is unreachable).
  Status check_exists(bool probe = false);

  // A single PUT of bytes held in memory (retried on transient failures). `headers`: conditions, x-amz-meta-*.
  Result<UpstreamObject> put(std::string_view name, ByteSpan body, const std::vector<net::Header>& headers = {});
  // A single PUT streaming `length` bytes from `body` (never retried).
  Result<UpstreamObject> put_stream(std::string_view name, ByteSource& body, std::uint64_t length,
                                    const std::vector<net::Header>& headers = {});
  // The whole object, at most `max_bytes` (ResourceExhausted beyond); NotFound when absent.
  Result<std::pair<UpstreamObject, Bytes>> get(std::string_view name, std::size_t max_bytes);
  Result<UpstreamObject> head(std::string_view name);
  // DELETE; deleting an absent object is not an error (S3 answers 204 either way).
  Status remove(std::string_view name);

  // GET bytes [offset, offset + length) as a stream, pinned to `if_match` (unquoted ETag) when not empty. The
  // answer is checked before any byte is returned: status 206 (or 200 for the whole object from offset 0), a
  // Content-Range naming exactly the range asked with the total `object_size`, and a Content-Length of `length`.
  // A server that answers something else (s3rver returns the whole object for "bytes=0-0") is refused: DataLoss.
  // NotFound when absent, FailedPrecondition when the ETag no longer matches.
  Result<std::unique_ptr<net::ResponseStream>> get_range(std::string_view name, std::uint64_t offset,
                                                         std::uint64_t length, std::uint64_t object_size,
                                                         std::string_view if_match);

  // Server-side copy (CopyObject) with the metadata replaced by `metadata_headers` (x-amz-meta-*), pinned to the
  // source's ETag when `if_match` is not empty. Up to 5 GiB; larger objects are copied part by part (copy_large).
  Result<UpstreamObject> copy(std::string_view source, std::string_view destination, std::string_view if_match,
                              const std::vector<net::Header>& metadata_headers);

  // ListObjectsV2 under `prefix`, after `start_after` or continuing `continuation_token`, at most `max_keys`.
  Result<ListedPage> list(std::string_view prefix, std::string_view start_after, std::string_view continuation_token,
                          std::size_t max_keys);

  // Multipart uploads.
  Result<std::string> create_upload(std::string_view name, const std::vector<net::Header>& headers);
  Result<std::string> upload_part(std::string_view name, std::string_view upload_id, std::uint32_t part_number,
                                  ByteSpan body);
  Result<std::string> upload_part_stream(std::string_view name, std::string_view upload_id, std::uint32_t part_number,
                                         ByteSource& body, std::uint64_t length);
  // UploadPartCopy of source bytes [offset, offset + length).
  Result<std::string> upload_part_copy(std::string_view name, std::string_view upload_id, std::uint32_t part_number,
                                       std::string_view source, std::string_view if_match, std::uint64_t offset,
                                       std::uint64_t length);
  // Returns the ETag of the assembled object. A retried request whose first attempt had in fact completed the
  // upload is recognised (the object exists with `expected_size`) and succeeds.
  Result<std::string> complete_upload(std::string_view name, std::string_view upload_id,
                                      const std::vector<CompletedUploadPart>& parts, std::uint64_t expected_size);
  Status abort_upload(std::string_view name, std::string_view upload_id);
  // In-progress uploads under `prefix` (all pages).
  Result<std::vector<InProgressUpload>> list_uploads(std::string_view prefix);

  net::HttpClient& client() { return client_; }

 private:
  std::string object_target(std::string_view name, std::string_view query = {}) const;
  std::string bucket_target(std::string_view query = {}) const;

  net::HttpClient& client_;
  std::string bucket_;
  bool path_style_;
};

}  // namespace blobseal::store::s3
