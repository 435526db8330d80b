#include "store/s3/upstream_bucket.h"

#include <charconv>

#include <fmt/format.h>
#include <pugixml.hpp>

#include "net/sigv4_signer.h"

namespace blobseal::store::s3 {

namespace {

constexpr std::uint64_t kMaxXmlBody = 16u << 20;

std::string unquote(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

std::string quote(std::string_view etag) { return fmt::format("\"{}\"", etag); }

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// The local name of an element ("ListBucketResult" for "s3:ListBucketResult").
std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view name) {
  for (auto c : node.children())
    if (local_name(c) == name) return c;
  return {};
}

std::string child_text(const pugi::xml_node& node, std::string_view name) {
  return std::string(child(node, name).text().get());
}

Error upstream_error(std::string_view operation, std::string_view name, const net::Response& response) {
  std::string code = net::error_code_of(response.body);
  std::string message = fmt::format("upstream {} {:?}: HTTP {}{}{}", operation, name, response.status,
                                    code.empty() ? "" : " ", code);
  int s = response.status;
  if (s == 404) return Error(ErrorCode::kNotFound, message, code == "NoSuchUpload" ? "NoSuchUpload" : "NoSuchKey");
  if (s == 412 || s == 409) return Error(ErrorCode::kFailedPrecondition, message, "PreconditionFailed");
  if (s == 401 || s == 403)
    return Error(ErrorCode::kUnavailable, message + " (check the upstream credentials and bucket policy)",
                 "UpstreamAccessDenied");
  if (s == 501) return Error(ErrorCode::kUnimplemented, message, "NotImplemented");
  if (s >= 500 || s == 429) return Error(ErrorCode::kUnavailable, message, "UpstreamUnavailable");
  return Error(ErrorCode::kInternal, message, "UpstreamRejected");
}

Result<pugi::xml_document> parse_xml(std::string_view operation, std::string_view body) {
  pugi::xml_document doc;
  auto parsed = doc.load_buffer(body.data(), body.size(), pugi::parse_default & ~pugi::parse_doctype);
  if (!parsed)
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("upstream {}: unreadable XML answer ({})", operation, parsed.description()),
                      "UpstreamUnavailable");
  return doc;
}

// Some S3 operations (CopyObject, UploadPartCopy, CompleteMultipartUpload) may answer 200 with an <Error> body.
Result<pugi::xml_node> expect_root(const pugi::xml_document& doc, std::string_view operation, std::string_view name,
                                   std::string_view root_name, std::string_view body) {
  pugi::xml_node root = doc.document_element();
  if (local_name(root) == "Error") {
    net::Response as_error;
    as_error.body = std::string(body);
    as_error.status = child_text(root, "Code") == "SlowDown" || child_text(root, "Code") == "InternalError" ? 503 : 500;
    return make_error(upstream_error(operation, name, as_error));
  }
  if (local_name(root) != root_name)
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("upstream {} {:?}: unexpected answer <{}>", operation, name, root.name()),
                      "UpstreamUnavailable");
  return root;
}

UpstreamObject object_of(const net::Response& response) {
  UpstreamObject out;
  if (auto etag = response.header("ETag")) out.etag = unquote(*etag);
  if (auto length = response.header("Content-Length")) out.size = parse_u64(*length).value_or(0);
  out.headers = response.headers;
  return out;
}

}  // namespace

std::optional<std::int64_t> parse_iso8601(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t.back() != 'Z')
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) { return parse_u64(t.substr(at, n)); };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{static_cast<int>(*y)}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  auto tp = sys_days(ymd) + hours(*h) + minutes(*mi) + seconds(*s);
  return duration_cast<nanoseconds>(tp.time_since_epoch()).count();
}

Result<ListedPage> parse_list_objects_v2(std::string_view body, std::string_view prefix) {
  auto doc = BLOBSEAL_TRY(parse_xml("list", body));
  auto root = BLOBSEAL_TRY(expect_root(doc, "list", prefix, "ListBucketResult", body));
  ListedPage page;
  for (auto node : root.children()) {
    if (local_name(node) != "Contents") continue;
    ListedName entry;
    entry.name = child_text(node, "Key");
    entry.etag = unquote(child_text(node, "ETag"));
    entry.size = parse_u64(child_text(node, "Size")).value_or(0);
    entry.last_modified = child_text(node, "LastModified");
    page.names.push_back(std::move(entry));
  }
  page.truncated = child_text(root, "IsTruncated") == "true";
  page.next_continuation_token = child_text(root, "NextContinuationToken");
  if (page.truncated && page.next_continuation_token.empty())
    return make_error(ErrorCode::kUnavailable, "upstream list: a truncated page without a continuation token",
                      "UpstreamUnavailable");
  return page;
}

Result<std::string> parse_initiate_upload(std::string_view body, std::string_view name) {
  auto doc = BLOBSEAL_TRY(parse_xml("create upload", body));
  auto root = BLOBSEAL_TRY(expect_root(doc, "create upload", name, "InitiateMultipartUploadResult", body));
  std::string id = child_text(root, "UploadId");
  if (id.empty())
    return make_error(ErrorCode::kUnavailable, "upstream create upload: no UploadId in the answer",
                      "UpstreamUnavailable");
  return id;
}

Result<std::string> parse_result_etag(std::string_view body, std::string_view root_name, std::string_view operation,
                                      std::string_view name) {
  auto doc = BLOBSEAL_TRY(parse_xml(operation, body));
  auto root = BLOBSEAL_TRY(expect_root(doc, operation, name, root_name, body));
  std::string etag = unquote(child_text(root, "ETag"));
  // Ceph RGW 16 answers CompleteMultipartUpload with an empty <ETag/> (its callers HEAD the object anyway); a part
  // copy's ETag is needed to complete the upload.
  if (etag.empty() && root_name == "CopyPartResult")
    return make_error(ErrorCode::kUnavailable, fmt::format("upstream {} {:?}: no ETag in the answer", operation, name),
                      "UpstreamUnavailable");
  return etag;
}

Result<UploadsPage> parse_list_uploads(std::string_view body, std::string_view prefix) {
  auto doc = BLOBSEAL_TRY(parse_xml("list uploads", body));
  auto root = BLOBSEAL_TRY(expect_root(doc, "list uploads", prefix, "ListMultipartUploadsResult", body));
  UploadsPage page;
  for (auto node : root.children()) {
    if (local_name(node) != "Upload") continue;
    page.uploads.push_back({child_text(node, "Key"), child_text(node, "UploadId"), child_text(node, "Initiated")});
  }
  page.truncated = child_text(root, "IsTruncated") == "true";
  page.next_key_marker = child_text(root, "NextKeyMarker");
  page.next_upload_id_marker = child_text(root, "NextUploadIdMarker");
  return page;
}

UpstreamBucket::UpstreamBucket(net::HttpClient& client, std::string bucket, bool path_style)
    : client_(client), bucket_(std::move(bucket)), path_style_(path_style) {}

std::string UpstreamBucket::object_target(std::string_view name, std::string_view query) const {
  std::string target = path_style_ ? fmt::format("/{}/{}", bucket_, net::uri_encode(name, false))
                                   : fmt::format("/{}", net::uri_encode(name, false));
  if (!query.empty()) target += fmt::format("?{}", query);
  return target;
}

std::string UpstreamBucket::bucket_target(std::string_view query) const {
  std::string target = path_style_ ? fmt::format("/{}", bucket_) : std::string("/");
  if (!query.empty()) target += fmt::format("?{}", query);
  return target;
}

Status UpstreamBucket::create() {
  net::Request request;
  request.method = "PUT";
  request.target = bucket_target();
  std::string body;
  const auto& credentials = client_.options().credentials;
  if (credentials && credentials->region != "us-east-1")
    body = fmt::format("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                       "<LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                       credentials->region);
  request.body = as_bytes(body);
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (response.ok()) return {};
  if (response.status == 409 && net::error_code_of(response.body) == "BucketAlreadyOwnedByYou") return {};
  return make_error(upstream_error("create bucket", bucket_, response));
}

Status UpstreamBucket::check_exists(bool probe) {
  net::Request request;
  request.method = "HEAD";
  request.target = bucket_target();
  if (probe) request.max_attempts = 1;
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (response.ok()) return {};
  if (response.status == 404)
    return make_error(ErrorCode::kNotFound, fmt::format("the upstream bucket {:?} does not exist", bucket_),
                      "NoSuchBucket");
  return make_error(upstream_error("check bucket", bucket_, response));
}

Result<UpstreamObject> UpstreamBucket::put(std::string_view name, ByteSpan body,
                                           const std::vector<net::Header>& headers) {
  net::Request request;
  request.method = "PUT";
  request.target = object_target(name);
  request.headers = headers;
  request.body = body;
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (!response.ok()) return make_error(upstream_error("PUT", name, response));
  auto object = object_of(response);
  object.size = body.size();
  if (response.attempts > 1) object.headers.push_back({"X-Blobseal-Attempts", std::to_string(response.attempts)});
  return object;
}

Result<UpstreamObject> UpstreamBucket::put_stream(std::string_view name, ByteSource& body, std::uint64_t length,
                                                  const std::vector<net::Header>& headers) {
  net::Request request;
  request.method = "PUT";
  request.target = object_target(name);
  request.headers = headers;
  request.body_stream = &body;
  request.body_length = length;
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (!response.ok()) return make_error(upstream_error("PUT", name, response));
  auto object = object_of(response);
  object.size = length;
  return object;
}

Result<std::pair<UpstreamObject, Bytes>> UpstreamBucket::get(std::string_view name, std::size_t max_bytes) {
  net::Request request;
  request.target = object_target(name);
  auto response = BLOBSEAL_TRY(client_.send(request, max_bytes));
  if (!response.ok()) return make_error(upstream_error("GET", name, response));
  UpstreamObject object = object_of(response);
  object.size = response.body.size();
  Bytes body(response.body.begin(), response.body.end());
  return std::make_pair(std::move(object), std::move(body));
}

Result<UpstreamObject> UpstreamBucket::head(std::string_view name) {
  net::Request request;
  request.method = "HEAD";
  request.target = object_target(name);
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (!response.ok()) return make_error(upstream_error("HEAD", name, response));
  return object_of(response);
}

Status UpstreamBucket::remove(std::string_view name) {
  net::Request request;
  request.method = "DELETE";
  request.target = object_target(name);
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (response.ok() || response.status == 404) return {};
  return make_error(upstream_error("DELETE", name, response));
}

Result<std::unique_ptr<net::ResponseStream>> UpstreamBucket::get_range(std::string_view name, std::uint64_t offset,
                                                                       std::uint64_t length,
                                                                       std::uint64_t object_size,
                                                                       std::string_view if_match) {
  if (length == 0 || offset + length > object_size)
    return make_error(ErrorCode::kInternal, "a ranged read outside the object");
  net::Request request;
  request.target = object_target(name);
  std::uint64_t last = offset + length - 1;
  request.headers.push_back({"Range", fmt::format("bytes={}-{}", offset, last)});
  if (!if_match.empty()) request.headers.push_back({"If-Match", quote(if_match)});
  auto stream = BLOBSEAL_TRY(client_.open(request));
  const net::Response& response = stream->response();
  auto refuse = [&](std::string_view what) {
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("upstream GET {:?} bytes {}-{}: {}; refusing the answer", name, offset, last, what));
  };
  if (response.status == 416) return refuse("the object is shorter than recorded (HTTP 416)");
  if (!response.ok()) return make_error(upstream_error("GET", name, response));
  auto content_length = response.header("Content-Length");
  std::optional<std::uint64_t> answered = content_length ? parse_u64(*content_length) : std::nullopt;
  if (response.status == 200) {
    // Only acceptable when the range was the whole object.
    if (offset != 0 || length != object_size || !answered || *answered != object_size)
      return refuse(fmt::format("the server ignored the range (HTTP 200, {} bytes)",
                                content_length ? std::string(*content_length) : "no length"));
    return stream;
  }
  if (response.status != 206) return refuse(fmt::format("unexpected HTTP {}", response.status));
  auto range = response.header("Content-Range");
  std::string expected = fmt::format("bytes {}-{}/{}", offset, last, object_size);
  if (!range || *range != expected)
    return refuse(fmt::format("Content-Range {:?} where {:?} was asked",
                              range ? std::string(*range) : std::string("(none)"), expected));
  if (!answered || *answered != length)
    return refuse(fmt::format("Content-Length {} where {} was asked",
                              content_length ? std::string(*content_length) : "(none)", length));
  return stream;
}

Result<UpstreamObject> UpstreamBucket::copy(std::string_view source, std::string_view destination,
                                            std::string_view if_match,
                                            const std::vector<net::Header>& metadata_headers) {
  net::Request request;
  request.method = "PUT";
  request.target = object_target(destination);
  request.headers = metadata_headers;
  request.headers.push_back({"x-amz-copy-source", fmt::format("/{}/{}", bucket_, net::uri_encode(source, false))});
  request.headers.push_back({"x-amz-metadata-directive", "REPLACE"});
  if (!if_match.empty()) request.headers.push_back({"x-amz-copy-source-if-match", quote(if_match)});
  auto response = BLOBSEAL_TRY(client_.send(request, kMaxXmlBody));
  if (!response.ok()) return make_error(upstream_error("copy to", destination, response));
  UpstreamObject out;
  out.etag = BLOBSEAL_TRY(parse_result_etag(response.body, "CopyObjectResult", "copy to", destination));
  return out;
}

Result<ListedPage> UpstreamBucket::list(std::string_view prefix, std::string_view start_after,
                                        std::string_view continuation_token, std::size_t max_keys) {
  std::string query = fmt::format("list-type=2&max-keys={}&prefix={}", max_keys, net::uri_encode(prefix, true));
  if (!continuation_token.empty())
    query += fmt::format("&continuation-token={}", net::uri_encode(continuation_token, true));
  else if (!start_after.empty())
    query += fmt::format("&start-after={}", net::uri_encode(start_after, true));
  net::Request request;
  request.target = bucket_target(query);
  auto response = BLOBSEAL_TRY(client_.send(request, kMaxXmlBody));
  if (!response.ok()) return make_error(upstream_error("list", prefix, response));
  return parse_list_objects_v2(response.body, prefix);
}

Result<std::string> UpstreamBucket::create_upload(std::string_view name, const std::vector<net::Header>& headers) {
  net::Request request;
  request.method = "POST";
  request.target = object_target(name, "uploads");
  request.headers = headers;
  request.idempotent = true;  // a second upload left behind is aborted by garbage collection
  auto response = BLOBSEAL_TRY(client_.send(request, kMaxXmlBody));
  if (!response.ok()) return make_error(upstream_error("create upload", name, response));
  return parse_initiate_upload(response.body, name);
}

Result<std::string> UpstreamBucket::upload_part(std::string_view name, std::string_view upload_id,
                                                std::uint32_t part_number, ByteSpan body) {
  net::Request request;
  request.method = "PUT";
  request.target = object_target(name, fmt::format("partNumber={}&uploadId={}", part_number,
                                                   net::uri_encode(upload_id, true)));
  request.body = body;
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (!response.ok()) return make_error(upstream_error("upload part", name, response));
  auto etag = response.header("ETag");
  if (!etag) return make_error(ErrorCode::kUnavailable, "upstream upload part: no ETag", "UpstreamUnavailable");
  return unquote(*etag);
}

Result<std::string> UpstreamBucket::upload_part_stream(std::string_view name, std::string_view upload_id,
                                                       std::uint32_t part_number, ByteSource& body,
                                                       std::uint64_t length) {
  net::Request request;
  request.method = "PUT";
  request.target = object_target(name, fmt::format("partNumber={}&uploadId={}", part_number,
                                                   net::uri_encode(upload_id, true)));
  request.body_stream = &body;
  request.body_length = length;
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (!response.ok()) return make_error(upstream_error("upload part", name, response));
  auto etag = response.header("ETag");
  if (!etag) return make_error(ErrorCode::kUnavailable, "upstream upload part: no ETag", "UpstreamUnavailable");
  return unquote(*etag);
}

Result<std::string> UpstreamBucket::upload_part_copy(std::string_view name, std::string_view upload_id,
                                                     std::uint32_t part_number, std::string_view source,
                                                     std::string_view if_match, std::uint64_t offset,
                                                     std::uint64_t length) {
  net::Request request;
  request.method = "PUT";
  request.target = object_target(name, fmt::format("partNumber={}&uploadId={}", part_number,
                                                   net::uri_encode(upload_id, true)));
  request.headers.push_back({"x-amz-copy-source", fmt::format("/{}/{}", bucket_, net::uri_encode(source, false))});
  request.headers.push_back({"x-amz-copy-source-range", fmt::format("bytes={}-{}", offset, offset + length - 1)});
  if (!if_match.empty()) request.headers.push_back({"x-amz-copy-source-if-match", quote(if_match)});
  auto response = BLOBSEAL_TRY(client_.send(request, kMaxXmlBody));
  if (!response.ok()) return make_error(upstream_error("copy part to", name, response));
  return parse_result_etag(response.body, "CopyPartResult", "copy part to", name);
}

Result<std::string> UpstreamBucket::complete_upload(std::string_view name, std::string_view upload_id,
                                                    const std::vector<CompletedUploadPart>& parts,
                                                    std::uint64_t expected_size) {
  std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& part : parts)
    body += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", part.part_number, part.etag);
  body += "</CompleteMultipartUpload>";
  net::Request request;
  request.method = "POST";
  request.target = object_target(name, fmt::format("uploadId={}", net::uri_encode(upload_id, true)));
  request.headers.push_back({"Content-Type", "application/xml"});
  request.body = as_bytes(body);
  request.idempotent = true;  // a repeat after a lost answer is recognised below
  auto response = BLOBSEAL_TRY(client_.send(request, kMaxXmlBody));
  if (response.status == 404 && response.attempts > 1) {
    // The first attempt may have completed the upload before its answer was lost.
    auto object = head(name);
    if (object && object->size == expected_size) return object->etag;
  }
  if (!response.ok()) return make_error(upstream_error("complete upload", name, response));
  return parse_result_etag(response.body, "CompleteMultipartUploadResult", "complete upload", name);
}

Status UpstreamBucket::abort_upload(std::string_view name, std::string_view upload_id) {
  net::Request request;
  request.method = "DELETE";
  request.target = object_target(name, fmt::format("uploadId={}", net::uri_encode(upload_id, true)));
  auto response = BLOBSEAL_TRY(client_.send(request));
  if (response.ok() || response.status == 404) return {};
  return make_error(upstream_error("abort upload", name, response));
}

Result<std::vector<InProgressUpload>> UpstreamBucket::list_uploads(std::string_view prefix) {
  std::vector<InProgressUpload> out;
  std::string key_marker, upload_marker;
  for (int page = 0; page < 100000; ++page) {
    std::string query = fmt::format("uploads&prefix={}", net::uri_encode(prefix, true));
    if (!key_marker.empty()) query += fmt::format("&key-marker={}", net::uri_encode(key_marker, true));
    if (!upload_marker.empty()) query += fmt::format("&upload-id-marker={}", net::uri_encode(upload_marker, true));
    net::Request request;
    request.target = bucket_target(query);
    auto response = BLOBSEAL_TRY(client_.send(request, kMaxXmlBody));
    if (!response.ok()) return make_error(upstream_error("list uploads", prefix, response));
    auto parsed = BLOBSEAL_TRY(parse_list_uploads(response.body, prefix));
    for (auto& upload : parsed.uploads) out.push_back(std::move(upload));
    if (!parsed.truncated) break;
    key_marker = parsed.next_key_marker;
    upload_marker = parsed.next_upload_id_marker;
    if (key_marker.empty() && upload_marker.empty()) break;
  }
  return out;
}

}  // namespace blobseal::store::s3
