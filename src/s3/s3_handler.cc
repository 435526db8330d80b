#include "s3/s3_handler.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "s3/adapters.h"
#include "s3/request_target.h"

namespace blobseal::s3 {

namespace {

using Clock = std::chrono::system_clock;
constexpr std::string_view kMetaTagging = "x-amz-tagging";
constexpr std::size_t kMaxUserMetadataBytes = 2048;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string quoted(std::string_view etag) { return fmt::format("\"{}\"", etag); }

// Headers stored with an object and returned on GET/HEAD, as S3 does.
constexpr std::string_view kStoredHeaders[] = {"content-type",  "content-encoding", "content-disposition",
                                              "content-language", "cache-control", "expires"};

// Strips quotes and an optional weak prefix for comparisons.
std::string etag_token(std::string_view v) {
  if (v.starts_with("W/")) v.remove_prefix(2);
  std::string out;
  for (char c : v)
    if (c != '"' && c != ' ') out.push_back(c);
  return out;
}

bool etag_list_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string token = etag_token(header.substr(0, comma));
    if (token == "*" || token == etag) return true;
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
  }
  return false;
}

// A request body wrapper that counts bytes and checks, at the end, the digests the client sent (Content-MD5,
// x-amz-content-sha256). A mismatch turns the end of the stream into an error, so the store never commits it.
class CheckedBody final : public ByteSource {
 public:
  CheckedBody(ByteSource& inner, std::optional<Bytes> md5, std::optional<Bytes> sha256, std::uint64_t limit)
      : inner_(inner), md5_expected_(std::move(md5)), sha_expected_(std::move(sha256)), limit_(limit) {
    if (md5_expected_) md5_.emplace(crypto::Digest::Algorithm::kMd5);
    if (sha_expected_) sha_.emplace(crypto::Digest::Algorithm::kSha256);
  }
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = BLOBSEAL_TRY(inner_.read(out));
    bytes_ += n;
    if (bytes_ > limit_)
      return make_error(ErrorCode::kResourceExhausted, "the object is larger than the maximum allowed", "EntityTooLarge");
    if (n > 0) {
      if (md5_) md5_->update(out.first(n));
      if (sha_) sha_->update(out.first(n));
      return n;
    }
    if (md5_ && !crypto::constant_time_equal(md5_->finish(), *md5_expected_))
      return make_error(ErrorCode::kInvalidArgument, "the Content-MD5 you specified did not match what we received",
                        "BadDigest");
    if (sha_ && !crypto::constant_time_equal(sha_->finish(), *sha_expected_))
      return make_error(ErrorCode::kInvalidArgument,
                        "the provided 'x-amz-content-sha256' header does not match what was computed",
                        "XAmzContentSHA256Mismatch");
    md5_.reset();
    sha_.reset();
    return std::size_t{0};
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  ByteSource& inner_;
  std::optional<Bytes> md5_expected_, sha_expected_;
  std::optional<crypto::Digest> md5_, sha_;
  std::uint64_t limit_;
  std::uint64_t bytes_ = 0;
};

// Holds back the first bytes of a GET body until a whole first batch verified, so an object whose first chunk
// fails answers a clean 500 instead of a started 200. Later failures abort the connection.
class DeferredHeadersSink final : public ByteSink {
 public:
  DeferredHeadersSink(http::ResponseWriter& response, std::uint64_t length, obs::DownloadTracker& tracker)
      : response_(response), length_(length), tracker_(tracker) {}
  Status write(std::span<const std::uint8_t> data) override {
    if (!response_.headers_sent()) BLOBSEAL_TRY_STATUS(response_.send_headers(length_));
    BLOBSEAL_TRY_STATUS(response_.body_sink().write(data));
    tracker_.add_bytes(data.size());
    written_ += data.size();
    return {};
  }
  std::uint64_t written() const { return written_; }

 private:
  http::ResponseWriter& response_;
  std::uint64_t length_;
  obs::DownloadTracker& tracker_;
  std::uint64_t written_ = 0;
};

}  // namespace

// ---- per-request state --------------------------------------------------------------------------------------

struct Call {
  http::Request& request;
  http::ResponseWriter& response;
  RequestTarget target;
  QueryParameters query;
  std::string operation = "Unknown";
  const Credential* principal = nullptr;
  std::optional<AuthResult> auth;
  int status = 0;
  std::string error_code;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  bool is_head = false;
  engine::Location location() const {
    return engine::Location{principal ? principal->tenant : "", target.bucket, target.key};
  }
};

struct S3Error {
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct S3Handler::Impl {
  S3Options options;
  const CredentialStore& credentials;
  engine::Engine& engine;
  obs::Metrics& metrics;
  obs::AuditSink& audit;

  // ---- responses ----
  void send_error(Call& call, const S3Error& error) {
    call.error_code = error.code;
    call.status = s3_error_status(error.code);
    if (call.response.headers_sent()) {
      call.response.abort();
      return;
    }
    for (const auto& [n, v] : error.headers) call.response.add_header(n, v);
    std::string resource(call.request.path());
    if (call.is_head || call.status == 304) {
      call.response.set_status(call.status);
      call.response.add_header("x-amz-request-id", std::string(call.request.request_id()));
      (void)call.response.send_headers(0);
      (void)call.response.finish();
      return;
    }
    std::string body = render_error_xml(error.code, error.message, resource, call.request.request_id());
    call.bytes_out += body.size();
    (void)http::respond(call.response, call.status, "application/xml", body,
                        {{"x-amz-request-id", std::string(call.request.request_id())}});
  }

  void send_xml(Call& call, int status, const std::string& body) {
    call.status = status;
    call.bytes_out += body.size();
    (void)http::respond(call.response, status, "application/xml", body,
                        {{"x-amz-request-id", std::string(call.request.request_id())}});
  }

  void send_empty(Call& call, int status, std::vector<http::Header> headers = {}) {
    call.status = status;
    call.response.set_status(status);
    call.response.add_header("x-amz-request-id", std::string(call.request.request_id()));
    for (auto& h : headers) call.response.add_header(std::move(h.name), std::move(h.value));
    (void)call.response.send_headers(0);
    (void)call.response.finish();
  }

  // Maps an engine error to S3's vocabulary; `not_found` names what was missing in this operation.
  S3Error from_engine(const Error& e, std::string_view not_found = "NoSuchKey") {
    // Gateway mode: what went wrong with the upstream (its address, libcurl's words, internal object names) goes to
    // the log; the client gets S3's own answer, 503 ServiceUnavailable to retry later or 500 InternalError.
    if (e.reason().starts_with("Upstream") || e.reason() == "RetriesExhausted") {
      std::fprintf(stderr, "blobseal: upstream error: %s\n", e.to_string().c_str());
      if (e.code() == ErrorCode::kUnavailable)
        return {"ServiceUnavailable", "The storage behind this service is unavailable. Please try again.", {}};
      return {"InternalError", "We encountered an internal error. Please try again.", {}};
    }
    if (!e.reason().empty()) return {e.reason(), e.message(), {}};
    switch (e.code()) {
      case ErrorCode::kNotFound: return {std::string(not_found), e.message(), {}};
      case ErrorCode::kInvalidArgument: return {"InvalidArgument", e.message(), {}};
      case ErrorCode::kOutOfRange: return {"InvalidRange", e.message(), {}};
      case ErrorCode::kPermissionDenied: return {"AccessDenied", e.message(), {}};
      case ErrorCode::kFailedPrecondition: return {"PreconditionFailed", e.message(), {}};
      case ErrorCode::kResourceExhausted: return {"EntityTooLarge", e.message(), {}};
      case ErrorCode::kUnavailable: return {"ServiceUnavailable", e.message(), {}};
      case ErrorCode::kDataLoss:
        metrics.record_integrity_failure(obs::IntegrityCheck::kGet);
        // The details go to the log, not to the client.
        std::fprintf(stderr, "blobseal: integrity failure: %s\n", e.message().c_str());
        return {"InternalError", "We encountered an internal error. Please try again.", {}};
      default:
        std::fprintf(stderr, "blobseal: internal error: %s\n", e.to_string().c_str());
        return {"InternalError", "We encountered an internal error. Please try again.", {}};
    }
  }

  // ---- dispatch ----
  void handle(http::Request& request, http::ResponseWriter& response);
  bool respond_inline(http::Request& request, http::ResponseWriter& response);
  // Makes sure the request was answered, then records its metrics and audit event.
  void conclude(Call& call, std::chrono::steady_clock::time_point started);
  std::string classify(const Call& call) const;
  std::optional<S3Error> authenticate(Call& call);
  std::optional<S3Error> check_bucket_owner(Call& call, bool must_exist = true);
  void dispatch(Call& call);

  // service and buckets
  void list_buckets(Call& call);
  void create_bucket(Call& call);
  void delete_bucket(Call& call);
  void head_bucket(Call& call);
  void get_bucket_location(Call& call);
  void list_objects(Call& call, int version);
  void list_object_versions(Call& call);
  void delete_objects(Call& call);
  void list_uploads(Call& call);

  // objects
  void put_object(Call& call);
  void copy_object(Call& call);
  // Declines (returns false, having written nothing) when the object is larger than `inline_limit` and no Range asks
  // for at most that much of it.
  bool get_object(Call& call, std::uint64_t inline_limit = UINT64_MAX);
  bool small_range_of(const Call& call, std::uint64_t size, std::uint64_t limit) const;
  void serve_object(Call& call, engine::OpenObject& object);
  void delete_object(Call& call);
  void put_tagging(Call& call);
  void put_acl(Call& call);
  void get_tagging(Call& call);
  void delete_tagging(Call& call);

  // multipart
  void create_upload(Call& call);
  void upload_part(Call& call);
  void upload_part_copy(Call& call);
  void complete_upload(Call& call);
  void abort_upload(Call& call);
  void list_parts(Call& call);

  // helpers
  // The object bytes the client declared: x-amz-decoded-content-length for an aws-chunked body, else
  // Content-Length. nullopt when unknown (a chunked transfer): the store then holds a part at a time.
  static std::optional<std::uint64_t> declared_length(const Call& call, bool aws_chunked);
  Result<ByteSource*> request_body(Call& call, std::unique_ptr<ByteSource>& decoded,
                                   std::unique_ptr<CheckedBody>& checked);
  std::optional<S3Error> object_metadata_from_headers(Call& call, seal::Metadata& metadata);
  std::optional<S3Error> copy_source(Call& call, engine::Location& source);
  std::optional<S3Error> evaluate_conditions(Call& call, const engine::ObjectSummary& object, std::string_view prefix,
                                             bool for_get);
  // Stored content headers and user metadata, except the (lower-case) names in `skip`.
  void add_object_headers(Call& call, const engine::ObjectSummary& object, const std::vector<std::string>& skip = {});
};

S3Handler::S3Handler(S3Options options, const CredentialStore& credentials, engine::Engine& engine,
                     obs::Metrics& metrics, obs::AuditSink& audit)
    : impl_(new Impl{std::move(options), credentials, engine, metrics, audit}) {}
S3Handler::~S3Handler() = default;

void S3Handler::handle(http::Request& request, http::ResponseWriter& response) { impl_->handle(request, response); }
bool S3Handler::respond_inline(http::Request& request, http::ResponseWriter& response) {
  return impl_->respond_inline(request, response);
}

void S3Handler::Impl::handle(http::Request& request, http::ResponseWriter& response) {
  auto started = std::chrono::steady_clock::now();
  auto target = resolve_target(request.path(), request.header("host").value_or(""), options.virtual_host_suffixes);
  auto query = QueryParameters::parse(request.query());
  Call call{request, response, target.value_or(RequestTarget{}), query.value_or(QueryParameters{})};
  call.is_head = request.method() == "HEAD";
  call.operation = classify(call);
  if (!target) {
    send_error(call, from_engine(target.error()));
  } else if (!query) {
    send_error(call, from_engine(query.error()));
  } else if (auto denied = authenticate(call)) {
    send_error(call, *denied);
  } else {
    dispatch(call);
  }
  conclude(call, started);
}

// An authenticated GET or HEAD of a small object in the caller's bucket is served here, on the I/O thread, exactly
// as handle() would serve it. Anything else (another operation, a refusal, a missing or large object) is declined
// before anything is written or recorded, and handle() then serves it from the start.
bool S3Handler::Impl::respond_inline(http::Request& request, http::ResponseWriter& response) {
  if (!options.inline_small_reads || (request.method() != "GET" && request.method() != "HEAD")) return false;
  auto started = std::chrono::steady_clock::now();
  auto target = resolve_target(request.path(), request.header("host").value_or(""), options.virtual_host_suffixes);
  if (!target) return false;
  auto query = QueryParameters::parse(request.query());
  if (!query) return false;
  Call call{request, response, *target, *query};
  call.is_head = request.method() == "HEAD";
  call.operation = classify(call);
  if (call.operation != "GetObject" && call.operation != "HeadObject") return false;
  if (authenticate(call) || check_bucket_owner(call)) return false;
  if (!get_object(call, http::kInlineBodyLimit)) return false;
  conclude(call, started);
  return true;
}

void S3Handler::Impl::conclude(Call& call, std::chrono::steady_clock::time_point started) {
  http::Request& request = call.request;
  if (!call.response.headers_sent()) send_error(call, {"InternalError", "the request was not answered", {}});

  auto elapsed = std::chrono::steady_clock::now() - started;
  metrics.record_s3_request(call.operation, call.status, elapsed, call.bytes_in, call.bytes_out);
  obs::AuditEvent event;
  event.time = Clock::now();
  event.request_id = std::string(request.request_id());
  event.principal = call.principal ? call.principal->access_key : "";
  event.tenant = call.principal ? call.principal->tenant : "";
  event.action = call.operation;
  event.bucket = call.target.bucket;
  event.key = call.target.key;
  event.bytes_in = call.bytes_in;
  event.bytes_out = call.bytes_out;
  event.http_status = call.status;
  event.error_code = call.error_code;
  event.client_address = std::string(request.remote_address());
  if (auto agent = request.header("user-agent")) event.user_agent = std::string(*agent);
  event.duration = std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
  audit.record(std::move(event));
}

namespace {
// S3's sub-resources (query parameters that select an operation other than the plain object or bucket one). A request
// naming one this front end does not implement must never fall through to PutObject, DeleteBucket and the like.
constexpr std::string_view kSubresources[] = {
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
    "ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
    "retention", "select", "tagging", "torrent", "uploadId", "uploads", "versioning", "versions", "website"};

// The sub-resource a request names ("" for none); "*" when it names several.
std::string subresource_of(const QueryParameters& q) {
  std::string found;
  for (std::string_view name : kSubresources) {
    if (!q.has(name)) continue;
    if (!found.empty()) return "*";
    found = name;
  }
  return found;
}
}  // namespace

std::string S3Handler::Impl::classify(const Call& call) const {
  std::string_view m = call.request.method();
  const auto& t = call.target;
  const std::string sub = subresource_of(call.query);
  bool copy = call.request.header("x-amz-copy-source").has_value();
  if (t.bucket.empty()) return m == "GET" && sub.empty() ? "ListBuckets" : "Unknown";
  if (t.key.empty()) {
    if (m == "PUT") {
      if (sub.empty()) return "CreateBucket";
      if (sub == "acl") return "PutBucketAcl";
      if (sub == "tagging") return "PutBucketTagging";
      return "Unknown";
    }
    if (m == "DELETE") return sub.empty() ? "DeleteBucket" : "Unknown";
    if (m == "HEAD") return sub.empty() ? "HeadBucket" : "Unknown";
    if (m == "POST") return sub == "delete" ? "DeleteObjects" : "Unknown";
    if (m == "GET") {
      if (sub == "location") return "GetBucketLocation";
      if (sub == "versions") return "ListObjectVersions";
      if (sub == "uploads") return "ListMultipartUploads";
      if (sub == "versioning") return "GetBucketVersioning";
      if (sub == "acl") return "GetBucketAcl";
      if (!sub.empty()) return "Unknown";
      return call.query.get("list-type") == "2" ? "ListObjectsV2" : "ListObjects";
    }
    return "Unknown";
  }
  if (m == "PUT") {
    if (sub.empty()) return copy ? "CopyObject" : "PutObject";
    if (sub == "tagging") return "PutObjectTagging";
    if (sub == "uploadId") return copy ? "UploadPartCopy" : "UploadPart";
    if (sub == "acl") return "PutObjectAcl";
    return "Unknown";
  }
  if (m == "GET") {
    if (sub.empty()) return "GetObject";
    if (sub == "tagging") return "GetObjectTagging";
    if (sub == "uploadId") return "ListParts";
    if (sub == "acl") return "GetObjectAcl";
    return "Unknown";
  }
  if (m == "HEAD") return sub.empty() ? "HeadObject" : "Unknown";
  if (m == "DELETE") {
    if (sub.empty()) return "DeleteObject";
    if (sub == "tagging") return "DeleteObjectTagging";
    if (sub == "uploadId") return "AbortMultipartUpload";
    return "Unknown";
  }
  if (m == "POST") {
    if (sub == "uploads") return "CreateMultipartUpload";
    if (sub == "uploadId") return "CompleteMultipartUpload";
  }
  return "Unknown";
}

std::optional<S3Error> S3Handler::Impl::authenticate(Call& call) {
  auto result = verify_signature(call.request, credentials, options.region, options.clock(), options.max_clock_skew);
  if (!result) return from_engine(result.error(), "AccessDenied");
  call.principal = credentials.find(result->access_key);
  if (call.principal == nullptr) return S3Error{"InvalidAccessKeyId", "unknown access key", {}};
  call.auth = std::move(*result);
  return std::nullopt;
}

std::optional<S3Error> S3Handler::Impl::check_bucket_owner(Call& call, bool must_exist) {
  if (auto valid = check_bucket_name(call.target.bucket); !valid && must_exist)
    return S3Error{"NoSuchBucket", "The specified bucket does not exist", {}};
  auto bucket = engine.head_bucket(call.target.bucket);
  if (!bucket) return from_engine(bucket.error(), "NoSuchBucket");
  if (bucket->tenant != call.principal->tenant) return S3Error{"AccessDenied", "Access Denied", {}};
  return std::nullopt;
}

void S3Handler::Impl::dispatch(Call& call) {
  const std::string& op = call.operation;
  if (op == "ListBuckets") return list_buckets(call);
  if (op == "CreateBucket") return create_bucket(call);
  if (op == "Unknown" || op == "PutBucketTagging")
    return send_error(call, {call.request.method() == "GET" || call.request.method() == "PUT" ||
                                     call.request.method() == "DELETE" || call.request.method() == "HEAD" ||
                                     call.request.method() == "POST"
                                 ? "NotImplemented"
                                 : "MethodNotAllowed",
                             "This operation is not supported by blobseal", {}});
  if (auto denied = check_bucket_owner(call)) return send_error(call, *denied);
  if (op == "DeleteBucket") return delete_bucket(call);
  if (op == "HeadBucket") return head_bucket(call);
  if (op == "GetBucketLocation") return get_bucket_location(call);
  if (op == "ListObjectsV2") return list_objects(call, 2);
  if (op == "ListObjects") return list_objects(call, 1);
  if (op == "ListObjectVersions") return list_object_versions(call);
  if (op == "ListMultipartUploads") return list_uploads(call);
  if (op == "DeleteObjects") return delete_objects(call);
  if (op == "GetBucketVersioning") return send_xml(call, 200, render_versioning_xml());
  if (op == "GetBucketAcl" || op == "GetObjectAcl")
    return send_xml(call, 200, render_acl_xml(call.principal->tenant));
  if (op == "PutBucketAcl" || op == "PutObjectAcl") return put_acl(call);
  if (op == "PutObject") return put_object(call);
  if (op == "CopyObject") return copy_object(call);
  if (op == "GetObject" || op == "HeadObject") {
    get_object(call);
    return;
  }
  if (op == "DeleteObject") return delete_object(call);
  if (op == "PutObjectTagging") return put_tagging(call);
  if (op == "GetObjectTagging") return get_tagging(call);
  if (op == "DeleteObjectTagging") return delete_tagging(call);
  if (op == "CreateMultipartUpload") return create_upload(call);
  if (op == "UploadPart") return upload_part(call);
  if (op == "UploadPartCopy") return upload_part_copy(call);
  if (op == "CompleteMultipartUpload") return complete_upload(call);
  if (op == "AbortMultipartUpload") return abort_upload(call);
  if (op == "ListParts") return list_parts(call);
  send_error(call, {"NotImplemented", "This operation is not supported by blobseal", {}});
}

// ---- service and buckets ------------------------------------------------------------------------------------

void S3Handler::Impl::list_buckets(Call& call) {
  auto buckets = engine.list_buckets(call.principal->tenant);
  if (!buckets) return send_error(call, from_engine(buckets.error()));
  std::vector<BucketEntry> entries;
  for (const auto& b : *buckets) entries.push_back({b.name, b.created_unix_ns});
  send_xml(call, 200, render_list_buckets_xml(call.principal->tenant, entries));
}

void S3Handler::Impl::create_bucket(Call& call) {
  if (auto valid = check_bucket_name(call.target.bucket); !valid)
    return send_error(call, {"InvalidBucketName", valid.error().message(), {}});
  // An optional CreateBucketConfiguration names the region; anything but ours is refused as S3 does.
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  auto text = read_small_body(**body, 64 * 1024);
  if (!text) return send_error(call, from_engine(text.error()));
  call.bytes_in += text->size();
  if (!text->empty()) {
    auto region = parse_create_bucket_region(*text);
    if (!region) return send_error(call, from_engine(region.error()));
    if (!region->empty() && *region != options.region)
      return send_error(call, {"IllegalLocationConstraintException",
                               fmt::format("The {} location constraint is incompatible for the region specific endpoint "
                                           "this request was sent to.",
                                           *region),
                               {}});
  }
  auto created = engine.create_bucket(call.principal->tenant, call.target.bucket);
  if (!created) return send_error(call, from_engine(created.error()));
  send_empty(call, 200, {{"Location", "/" + call.target.bucket}});
}

void S3Handler::Impl::delete_bucket(Call& call) {
  auto deleted = engine.delete_bucket(call.target.bucket);
  if (!deleted) return send_error(call, from_engine(deleted.error(), "NoSuchBucket"));
  send_empty(call, 204);
}

void S3Handler::Impl::head_bucket(Call& call) {
  send_empty(call, 200, {{"x-amz-bucket-region", options.region}});
}

void S3Handler::Impl::get_bucket_location(Call& call) {
  send_xml(call, 200, render_location_xml(options.region == "us-east-1" ? "" : options.region));
}

namespace {
Result<std::size_t> max_keys_parameter(const QueryParameters& q, std::string_view name = "max-keys") {
  auto v = q.get(name);
  if (!v) return std::size_t{1000};
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{} must be a non-negative integer", name),
                      "InvalidArgument");
  return std::min<std::size_t>(n, 1000);
}
}  // namespace

void S3Handler::Impl::list_objects(Call& call, int version) {
  const auto& q = call.query;
  ListObjectsReply reply;
  reply.version = version;
  reply.bucket = call.target.bucket;
  reply.prefix = q.get("prefix").value_or("");
  reply.delimiter = q.get("delimiter").value_or("");
  auto max_keys = max_keys_parameter(q);
  if (!max_keys) return send_error(call, from_engine(max_keys.error()));
  reply.max_keys = *max_keys;
  auto encoding = q.get("encoding-type");
  if (encoding && *encoding != "url")
    return send_error(call, {"InvalidArgument", "Invalid Encoding Method specified in Request", {}});
  reply.url_encoded = encoding.has_value();
  store::ListRequest request;
  request.prefix = reply.prefix;
  request.delimiter = reply.delimiter;
  request.max_keys = reply.max_keys;
  if (version == 2) {
    reply.start_after = q.get("start-after").value_or("");
    reply.continuation_token = q.get("continuation-token");
    reply.fetch_owner = q.get("fetch-owner") == "true";
    if (reply.continuation_token) {
      auto decoded = from_base64(*reply.continuation_token);
      if (!decoded) return send_error(call, {"InvalidArgument", "The continuation token provided is incorrect", {}});
      request.start_after.assign(decoded->begin(), decoded->end());
    } else {
      request.start_after = reply.start_after;
    }
  } else {
    reply.marker = q.get("marker").value_or("");
    request.start_after = reply.marker;
  }
  if (reply.max_keys == 0) return send_xml(call, 200, render_list_objects_xml(reply));
  auto page = engine.list(call.location(), request);
  if (!page) return send_error(call, from_engine(page.error()));
  for (auto& object : page->objects)
    reply.objects.push_back({object.key, object.modified_unix_ns, object.etag().value_or(""), object.size});
  reply.common_prefixes = std::move(page->common_prefixes);
  reply.truncated = page->truncated;
  if (page->truncated) {
    if (version == 2) reply.next_continuation_token = to_base64(as_bytes(page->next_start_after));
    else if (!reply.delimiter.empty()) reply.next_marker = page->next_start_after;
  }
  reply.owner = call.principal->tenant;
  send_xml(call, 200, render_list_objects_xml(reply));
}

void S3Handler::Impl::list_object_versions(Call& call) {
  // Buckets are unversioned: every object is listed once, as its only ("null") version.
  const auto& q = call.query;
  ListObjectsReply reply;
  reply.version = 0;
  reply.bucket = call.target.bucket;
  reply.prefix = q.get("prefix").value_or("");
  reply.delimiter = q.get("delimiter").value_or("");
  auto max_keys = max_keys_parameter(q);
  if (!max_keys) return send_error(call, from_engine(max_keys.error()));
  reply.max_keys = *max_keys;
  reply.url_encoded = q.get("encoding-type") == "url";
  reply.marker = q.get("key-marker").value_or("");
  store::ListRequest request{reply.prefix, reply.delimiter, reply.marker, reply.max_keys};
  if (reply.max_keys > 0) {
    auto page = engine.list(call.location(), request);
    if (!page) return send_error(call, from_engine(page.error()));
    for (auto& object : page->objects)
      reply.objects.push_back({object.key, object.modified_unix_ns, object.etag().value_or(""), object.size});
    reply.common_prefixes = std::move(page->common_prefixes);
    reply.truncated = page->truncated;
    if (page->truncated) reply.next_marker = page->next_start_after;
  }
  reply.owner = call.principal->tenant;
  send_xml(call, 200, render_list_versions_xml(reply));
}

void S3Handler::Impl::delete_objects(Call& call) {
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  if (!call.request.header("content-md5") && !call.request.header("x-amz-checksum-crc32") &&
      !call.request.header("x-amz-checksum-crc32c") && !call.request.header("x-amz-checksum-sha256") &&
      !call.request.header("x-amz-checksum-sha1") && !call.request.header("x-amz-sdk-checksum-algorithm"))
    return send_error(call, {"InvalidRequest", "Missing required header for this request: Content-MD5", {}});
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  auto text = read_small_body(**body, 2 * 1024 * 1024);
  if (!text) return send_error(call, from_engine(text.error()));
  call.bytes_in += text->size();
  auto request = parse_delete_objects(*text);
  if (!request) return send_error(call, from_engine(request.error()));
  DeleteReply reply;
  reply.quiet = request->quiet;
  for (const auto& item : request->objects) {
    if (item.version_id && *item.version_id != "null") {
      reply.errors.push_back({item.key, "NoSuchVersion", "The specified version does not exist."});
      continue;
    }
    engine::Location location = call.location();
    location.key = item.key;
    auto removed = engine.remove(location);
    // Deleting a missing key succeeds, as on S3.
    if (removed || removed.error().code() == ErrorCode::kNotFound) {
      reply.deleted.push_back({item.key, item.version_id});
    } else {
      S3Error e = from_engine(removed.error());
      reply.errors.push_back({item.key, e.code, e.message});
    }
  }
  send_xml(call, 200, render_delete_result_xml(reply));
}

void S3Handler::Impl::list_uploads(Call& call) {
  std::string prefix = call.query.get("prefix").value_or("");
  auto uploads = engine.list_uploads(call.target.bucket, prefix);
  if (!uploads) return send_error(call, from_engine(uploads.error()));
  auto max_uploads = max_keys_parameter(call.query, "max-uploads");
  if (!max_uploads) return send_error(call, from_engine(max_uploads.error()));
  ListUploadsReply reply;
  reply.bucket = call.target.bucket;
  reply.prefix = prefix;
  reply.max_uploads = *max_uploads;
  reply.key_marker = call.query.get("key-marker").value_or("");
  reply.upload_id_marker = call.query.get("upload-id-marker").value_or("");
  reply.owner = call.principal->tenant;
  for (const auto& u : *uploads) {
    if (!reply.key_marker.empty() &&
        (u.key < reply.key_marker || (u.key == reply.key_marker && u.upload_id <= reply.upload_id_marker)))
      continue;
    if (reply.uploads.size() == reply.max_uploads) {
      reply.truncated = true;
      break;
    }
    reply.uploads.push_back({u.key, u.upload_id, u.initiated_unix_ns});
  }
  if (reply.truncated && !reply.uploads.empty()) {
    reply.next_key_marker = reply.uploads.back().key;
    reply.next_upload_id_marker = reply.uploads.back().upload_id;
  }
  send_xml(call, 200, render_list_uploads_xml(reply));
}

// ---- objects ------------------------------------------------------------------------------------------------

std::optional<std::uint64_t> S3Handler::Impl::declared_length(const Call& call, bool aws_chunked) {
  if (!aws_chunked) return call.request.content_length();
  auto decoded = call.request.header("x-amz-decoded-content-length");
  if (!decoded || decoded->empty() || decoded->size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : *decoded) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

Result<ByteSource*> S3Handler::Impl::request_body(Call& call, std::unique_ptr<ByteSource>& decoded,
                                                  std::unique_ptr<CheckedBody>& checked) {
  ByteSource* body = &call.request.body();
  // aws-chunked bodies (signed per chunk, or unsigned with trailers) are decoded and verified on the way.
  decoded = BLOBSEAL_TRY(decode_payload(*call.auth, call.request, *body));
  if (decoded) body = decoded.get();
  std::optional<Bytes> md5, sha;
  if (auto header = call.request.header("content-md5")) {
    auto digest = from_base64(*header);
    if (!digest || digest->size() != 16)
      return make_error(ErrorCode::kInvalidArgument, "The Content-MD5 you specified was invalid", "InvalidDigest");
    md5 = std::move(*digest);
  }
  if (auto hash = call.auth->payload_sha256) sha = *hash;
  checked = std::make_unique<CheckedBody>(*body, std::move(md5), std::move(sha), options.max_object_size);
  return checked.get();
}

std::optional<S3Error> S3Handler::Impl::object_metadata_from_headers(Call& call, seal::Metadata& metadata) {
  std::size_t user_bytes = 0;
  for (std::string_view name : kStoredHeaders) {
    auto v = call.request.header(name);
    if (!v) continue;
    std::string value(*v);
    // aws-chunked is the transfer framing of a streaming upload, not the object's encoding: S3 drops it.
    if (name == "content-encoding") {
      std::string kept;
      for (std::string_view rest = value; !rest.empty();) {
        auto comma = rest.find(',');
        std::string_view token = rest.substr(0, comma);
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        if (!token.empty() && lower(token) != "aws-chunked") kept += (kept.empty() ? "" : ",") + std::string(token);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      if (kept.empty()) continue;
      value = std::move(kept);
    }
    metadata.emplace_back(std::string(name), std::move(value));
  }
  if (!seal::find_metadata(metadata, "content-type")) metadata.emplace_back("content-type", "binary/octet-stream");
  for (const auto& h : call.request.headers()) {
    std::string name = lower(h.name);
    if (!name.starts_with("x-amz-meta-")) continue;
    user_bytes += name.size() - std::string_view("x-amz-meta-").size() + h.value.size();
    if (auto existing = std::find_if(metadata.begin(), metadata.end(), [&](const auto& e) { return e.first == name; });
        existing != metadata.end())
      existing->second += "," + h.value;  // repeated headers combine, as HTTP says
    else
      metadata.emplace_back(name, h.value);
  }
  if (user_bytes > kMaxUserMetadataBytes)
    return S3Error{"MetadataTooLarge",
                   fmt::format("Your metadata headers exceed the maximum allowed metadata size ({} > 2048 bytes)",
                               user_bytes),
                   {}};
  if (auto tagging = call.request.header("x-amz-tagging")) {
    auto tags = parse_tagging_header(*tagging);
    if (!tags) return from_engine(tags.error());
    metadata.emplace_back(std::string(kMetaTagging), encode_tags(*tags));
  }
  return std::nullopt;
}

void S3Handler::Impl::put_object(Call& call) {
  if (!call.request.content_length() && !call.request.header("x-amz-decoded-content-length"))
    return send_error(call, {"MissingContentLength", "You must provide the Content-Length HTTP header.", {}});
  if (call.request.content_length() && *call.request.content_length() > options.max_object_size &&
      !call.request.header("x-amz-decoded-content-length"))
    return send_error(call, {"EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", {}});
  engine::PutOptions put;
  if (auto e = object_metadata_from_headers(call, put.metadata)) return send_error(call, *e);
  if (auto none = call.request.header("if-none-match")) {
    if (etag_token(*none) != "*")
      return send_error(call, {"NotImplemented", "If-None-Match on PUT supports only '*'", {}});
    put.if_generation_match = "";
  }
  if (auto match = call.request.header("if-match")) {
    auto current = engine.head(call.location());
    if (!current) return send_error(call, from_engine(current.error()));
    if (!etag_list_matches(*match, current->etag().value_or("")))
      return send_error(call, {"PreconditionFailed", "At least one of the pre-conditions you specified did not hold", {}});
    put.if_generation_match = current->generation;
  }
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  put.size = declared_length(call, decoded != nullptr);
  auto summary = engine.put(call.location(), **body, put);
  call.bytes_in += checked->bytes();
  if (!summary) {
    S3Error e = from_engine(summary.error());
    if (summary.error().code() == ErrorCode::kFailedPrecondition) e.code = "PreconditionFailed";
    return send_error(call, e);
  }
  send_empty(call, 200, {{"ETag", quoted(summary->etag().value_or(""))}});
}

std::optional<S3Error> S3Handler::Impl::copy_source(Call& call, engine::Location& source) {
  std::string raw(*call.request.header("x-amz-copy-source"));
  if (auto q = raw.find('?'); q != std::string::npos) {
    std::string version = raw.substr(q + 1);
    raw.resize(q);
    if (version != "versionId=null" && !version.empty())
      return S3Error{"InvalidArgument", "blobseal buckets are not versioned; only versionId=null exists", {}};
  }
  auto decoded = percent_decode(raw, false);
  if (!decoded) return S3Error{"InvalidArgument", "Invalid copy source encoding", {}};
  std::string_view path(*decoded);
  if (path.starts_with('/')) path.remove_prefix(1);
  auto slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == path.size())
    return S3Error{"InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", {}};
  source = engine::Location{call.principal->tenant, std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
  auto bucket = engine.head_bucket(source.bucket);
  if (!bucket) return from_engine(bucket.error(), "NoSuchBucket");
  if (bucket->tenant != call.principal->tenant) return S3Error{"AccessDenied", "Access Denied", {}};
  return std::nullopt;
}

std::optional<S3Error> S3Handler::Impl::evaluate_conditions(Call& call, const engine::ObjectSummary& object,
                                                            std::string_view prefix, bool for_get) {
  auto header = [&](std::string_view name) { return call.request.header(fmt::format("{}{}", prefix, name)); };
  std::string etag = object.etag().value_or("");
  std::int64_t modified = object.modified_unix_ns / 1000000000;
  auto if_match = header("if-match");
  auto if_none_match = header("if-none-match");
  auto if_modified = header("if-modified-since");
  auto if_unmodified = header("if-unmodified-since");
  S3Error failed{"PreconditionFailed", "At least one of the pre-conditions you specified did not hold", {}};
  // RFC 9110 §13.2.2 order, with S3's documented combinations.
  if (if_match) {
    if (!etag_list_matches(*if_match, etag)) return failed;
  } else if (if_unmodified) {
    if (auto t = parse_http_date(*if_unmodified); t && modified > *t) return failed;
  }
  S3Error not_modified{for_get ? "NotModified" : "PreconditionFailed", "Not Modified", {}};
  if (for_get) not_modified.headers = {{"ETag", quoted(etag)}};
  if (if_none_match) {
    if (etag_list_matches(*if_none_match, etag)) return not_modified;
  } else if (if_modified && for_get) {
    if (auto t = parse_http_date(*if_modified); t && modified <= *t) return not_modified;
  }
  return std::nullopt;
}

void S3Handler::Impl::add_object_headers(Call& call, const engine::ObjectSummary& object,
                                         const std::vector<std::string>& skip) {
  auto& r = call.response;
  r.add_header("ETag", quoted(object.etag().value_or("")));
  r.add_header("Last-Modified", format_http_date(object.modified_unix_ns / 1000000000));
  r.add_header("Accept-Ranges", "bytes");
  r.add_header("x-amz-request-id", std::string(call.request.request_id()));
  r.add_header("x-amz-server-side-encryption", "AES256");
  for (const auto& [name, value] : object.metadata) {
    if (name == engine::kMetaEtag) continue;
    if (name == kMetaTagging) {
      r.add_header("x-amz-tagging-count", std::to_string(decode_tags(value).size()));
      continue;
    }
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    bool stored = std::find(std::begin(kStoredHeaders), std::end(kStoredHeaders), name) != std::end(kStoredHeaders);
    if (stored || name.starts_with("x-amz-meta-")) r.add_header(name, value);
  }
}

bool S3Handler::Impl::get_object(Call& call, std::uint64_t inline_limit) {
  auto object = engine.open(call.location());
  if (!object) {
    if (inline_limit != UINT64_MAX) return false;
    send_error(call, from_engine(object.error()));
    return true;
  }
  if (object->size() > inline_limit && !small_range_of(call, object->size(), inline_limit)) return false;
  serve_object(call, *object);
  return true;
}

// A GET whose Range header (without If-Range or partNumber, which may widen the answer) resolves to at most `limit`
// bytes of an object of `size`: a small range of a large object can be answered inline.
bool S3Handler::Impl::small_range_of(const Call& call, std::uint64_t size, std::uint64_t limit) const {
  if (call.is_head || call.query.has("partNumber") || call.request.header("if-range")) return false;
  auto range_header = call.request.header("range");
  if (!range_header) return false;
  auto resolved = resolve_range_header(*range_header, size);
  return resolved && *resolved && (*resolved)->second <= limit;
}

void S3Handler::Impl::serve_object(Call& call, engine::OpenObject& opened) {
  auto* object = &opened;
  const engine::ObjectSummary& summary = object->summary();
  if (auto failed = evaluate_conditions(call, summary, "", true)) return send_error(call, *failed);

  std::uint64_t size = object->size();
  std::uint64_t offset = 0, length = size;
  int status = 200;
  std::optional<std::string> content_range;
  if (auto part = call.query.get("partNumber")) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(part->data(), part->data() + part->size(), n);
    if (ec != std::errc() || end != part->data() + part->size() || n < 1 || n > 10000)
      return send_error(call, {"InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", {}});
    auto range = object->part_range(n);
    if (!range) return send_error(call, {"InvalidPartNumber", "The requested partnumber is not satisfiable", {}});
    offset = range->first;
    length = range->second;
    if (object->part_count() > 1 || call.query.get("partNumber") != "1" || true) {
      status = 206;
      content_range = fmt::format("bytes {}-{}/{}", offset, offset + length - (length > 0 ? 1 : 0), size);
    }
    call.response.add_header("x-amz-mp-parts-count", std::to_string(object->part_count()));
  } else if (auto range_header = call.request.header("range")) {
    bool use_range = true;
    if (auto if_range = call.request.header("if-range")) {
      // If-Range: the range applies only when the validator still matches; otherwise the whole object.
      use_range = if_range_matches(*if_range, summary.etag().value_or(""), summary.modified_unix_ns / 1000000000);
    }
    if (use_range) {
      auto resolved = resolve_range_header(*range_header, size);
      if (!resolved) {
        return send_error(call, {"InvalidRange", "The requested range is not satisfiable",
                                 {{"Content-Range", fmt::format("bytes */{}", size)}}});
      }
      if (*resolved) {
        offset = (*resolved)->first;
        length = (*resolved)->second;
        status = 206;
        content_range = fmt::format("bytes {}-{}/{}", offset, offset + length - 1, size);
      }
    }
  }

  // response-* query parameters replace stored headers on a GET (presigned downloads use them).
  static constexpr std::pair<std::string_view, std::string_view> kOverrides[] = {
      {"response-content-type", "Content-Type"},         {"response-content-language", "Content-Language"},
      {"response-expires", "Expires"},                   {"response-cache-control", "Cache-Control"},
      {"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"}};
  std::vector<std::string> overridden;
  for (const auto& [param, header] : kOverrides)
    if (call.query.has(param)) overridden.push_back(lower(header));
  add_object_headers(call, summary, overridden);
  for (const auto& [param, header] : kOverrides)
    if (auto v = call.query.get(param)) call.response.add_header(std::string(header), *v);
  if (content_range) call.response.add_header("Content-Range", *content_range);
  call.response.set_status(status);
  call.status = status;
  if (call.is_head || length == 0) {
    // HEAD carries the length of what a GET would send (the server sends no body for HEAD); a zero-length body needs
    // no verification beyond the envelope.
    (void)call.response.send_headers(length);
    (void)call.response.finish();
    return;
  }
  obs::DownloadTracker tracker = metrics.start_download();
  DeferredHeadersSink sink(call.response, length, tracker);
  auto read = object->read(offset, length, sink);
  call.bytes_out += sink.written();
  if (!read) {
    tracker.finish(read.error().code() == ErrorCode::kDataLoss ? obs::DownloadOutcome::kError
                                                                : obs::DownloadOutcome::kAborted);
    return send_error(call, from_engine(read.error()));  // before headers: a clean 500; after: the connection is reset
  }
  if (!call.response.finish()) {
    tracker.finish(obs::DownloadOutcome::kAborted);
    return;
  }
  tracker.finish(obs::DownloadOutcome::kSuccess);
}

void S3Handler::Impl::copy_object(Call& call) {
  engine::Location source;
  if (auto e = copy_source(call, source)) return send_error(call, *e);
  auto current = engine.head(source);
  if (!current) return send_error(call, from_engine(current.error()));
  if (auto failed = evaluate_conditions(call, *current, "x-amz-copy-source-", false)) return send_error(call, *failed);
  std::string directive = std::string(call.request.header("x-amz-metadata-directive").value_or("COPY"));
  std::string tagging_directive = std::string(call.request.header("x-amz-tagging-directive").value_or("COPY"));
  if ((directive != "COPY" && directive != "REPLACE") || (tagging_directive != "COPY" && tagging_directive != "REPLACE"))
    return send_error(call, {"InvalidArgument", "Unknown metadata or tagging directive", {}});
  engine::Location destination = call.location();
  if (source.bucket == destination.bucket && source.key == destination.key && directive == "COPY")
    return send_error(call, {"InvalidRequest",
                             "This copy request is illegal because it is trying to copy an object to itself without "
                             "changing the object's metadata, storage class, website redirect location or encryption "
                             "attributes.",
                             {}});
  std::optional<seal::Metadata> replace;
  if (directive == "REPLACE" || tagging_directive == "REPLACE") {
    seal::Metadata metadata;
    if (directive == "REPLACE") {
      if (auto e = object_metadata_from_headers(call, metadata)) return send_error(call, *e);
      metadata.erase(std::remove_if(metadata.begin(), metadata.end(), [](const auto& m) { return m.first == kMetaTagging; }),
                     metadata.end());
    } else {
      for (const auto& m : current->metadata)
        if (m.first != kMetaTagging) metadata.push_back(m);
    }
    if (tagging_directive == "REPLACE") {
      if (auto tagging = call.request.header("x-amz-tagging")) {
        auto tags = parse_tagging_header(*tagging);
        if (!tags) return send_error(call, from_engine(tags.error()));
        metadata.emplace_back(std::string(kMetaTagging), encode_tags(*tags));
      }
    } else if (const std::string* tags = seal::find_metadata(current->metadata, kMetaTagging)) {
      metadata.emplace_back(std::string(kMetaTagging), *tags);
    }
    replace = std::move(metadata);
  }
  auto copied = engine.copy(source, destination, replace);
  if (!copied) return send_error(call, from_engine(copied.error()));
  send_xml(call, 200, render_copy_result_xml(copied->etag().value_or(""), copied->modified_unix_ns, false));
}

void S3Handler::Impl::delete_object(Call& call) {
  if (auto version = call.query.get("versionId"); version && *version != "null")
    return send_error(call, {"NoSuchVersion", "The specified version does not exist.", {}});
  auto removed = engine.remove(call.location());
  if (!removed && removed.error().code() != ErrorCode::kNotFound) return send_error(call, from_engine(removed.error()));
  send_empty(call, 204);
}

void S3Handler::Impl::put_tagging(Call& call) {
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  auto text = read_small_body(**body, 64 * 1024);
  if (!text) return send_error(call, from_engine(text.error()));
  call.bytes_in += text->size();
  auto tags = parse_tagging_xml(*text);
  if (!tags) return send_error(call, from_engine(tags.error()));
  std::string encoded = encode_tags(*tags);
  auto updated = engine.update_metadata(call.location(), [&](seal::Metadata& metadata) -> Status {
    metadata.erase(std::remove_if(metadata.begin(), metadata.end(), [](const auto& m) { return m.first == kMetaTagging; }),
                   metadata.end());
    if (!encoded.empty()) metadata.emplace_back(std::string(kMetaTagging), encoded);
    return {};
  });
  if (!updated) return send_error(call, from_engine(updated.error()));
  send_empty(call, 200);
}

void S3Handler::Impl::get_tagging(Call& call) {
  auto head = engine.head(call.location());
  if (!head) return send_error(call, from_engine(head.error()));
  const std::string* tags = seal::find_metadata(head->metadata, kMetaTagging);
  send_xml(call, 200, render_tagging_xml(tags ? decode_tags(*tags) : std::vector<std::pair<std::string, std::string>>{}));
}

void S3Handler::Impl::delete_tagging(Call& call) {
  auto updated = engine.update_metadata(call.location(), [&](seal::Metadata& metadata) -> Status {
    metadata.erase(std::remove_if(metadata.begin(), metadata.end(), [](const auto& m) { return m.first == kMetaTagging; }),
                   metadata.end());
    return {};
  });
  if (!updated) return send_error(call, from_engine(updated.error()));
  send_empty(call, 204);
}

// ---- multipart uploads --------------------------------------------------------------------------------------

namespace {
// partNumber: an integer in 1..10000, as S3 requires.
std::optional<std::uint32_t> part_number_parameter(const QueryParameters& q) {
  auto v = q.get("partNumber");
  if (!v || v->empty()) return std::nullopt;
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > 10000) return std::nullopt;
  return n;
}
}  // namespace

void S3Handler::Impl::create_upload(Call& call) {
  engine::PutOptions put;
  if (auto e = object_metadata_from_headers(call, put.metadata)) return send_error(call, *e);
  auto upload_id = engine.create_multipart(call.location(), put);
  if (!upload_id) return send_error(call, from_engine(upload_id.error()));
  send_xml(call, 200, render_initiate_upload_xml(call.target.bucket, call.target.key, *upload_id));
}

void S3Handler::Impl::upload_part(Call& call) {
  auto number = part_number_parameter(call.query);
  if (!number)
    return send_error(call, {"InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", {}});
  if (!call.request.content_length() && !call.request.header("x-amz-decoded-content-length"))
    return send_error(call, {"MissingContentLength", "You must provide the Content-Length HTTP header.", {}});
  std::string upload_id = call.query.get("uploadId").value_or("");
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  auto part = engine.upload_part(call.location(), upload_id, *number, **body, declared_length(call, decoded != nullptr));
  call.bytes_in += checked->bytes();
  if (!part) return send_error(call, from_engine(part.error(), "NoSuchUpload"));
  send_empty(call, 200, {{"ETag", quoted(part->etag)}});
}

void S3Handler::Impl::upload_part_copy(Call& call) {
  auto number = part_number_parameter(call.query);
  if (!number)
    return send_error(call, {"InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", {}});
  std::string upload_id = call.query.get("uploadId").value_or("");
  engine::Location source;
  if (auto e = copy_source(call, source)) return send_error(call, *e);
  auto current = engine.head(source);
  if (!current) return send_error(call, from_engine(current.error()));
  if (auto failed = evaluate_conditions(call, *current, "x-amz-copy-source-", false)) return send_error(call, *failed);
  std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
  if (auto header = call.request.header("x-amz-copy-source-range")) {
    // UploadPartCopy takes only the "bytes=first-last" form, and the range must lie inside the source.
    std::string_view v = *header;
    std::uint64_t first = 0, last = 0;
    bool ok = v.starts_with("bytes=");
    if (ok) {
      v.remove_prefix(6);
      auto dash = v.find('-');
      ok = dash != std::string_view::npos && dash > 0 && dash + 1 < v.size();
      if (ok) {
        auto [e1, c1] = std::from_chars(v.data(), v.data() + dash, first);
        auto [e2, c2] = std::from_chars(v.data() + dash + 1, v.data() + v.size(), last);
        ok = c1 == std::errc() && c2 == std::errc() && e1 == v.data() + dash && e2 == v.data() + v.size() &&
             first <= last;
      }
    }
    if (!ok)
      return send_error(call, {"InvalidArgument",
                               "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                               "and last are the zero-based offsets of the first and last bytes to copy",
                               {}});
    if (last >= current->size)
      return send_error(call, {"InvalidRange", "The requested range is not satisfiable",
                               {{"Content-Range", fmt::format("bytes */{}", current->size)}}});
    range = std::make_pair(first, last - first + 1);
  }
  auto part = engine.upload_part_copy(call.location(), upload_id, *number, source, range);
  if (!part) return send_error(call, from_engine(part.error(), "NoSuchUpload"));
  send_xml(call, 200, render_copy_result_xml(part->etag, part->modified_unix_ns, true));
}

void S3Handler::Impl::complete_upload(Call& call) {
  std::string upload_id = call.query.get("uploadId").value_or("");
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  auto text = read_small_body(**body, 4 * 1024 * 1024);
  if (!text) return send_error(call, from_engine(text.error()));
  call.bytes_in += text->size();
  auto request = parse_complete_multipart(*text);
  if (!request) return send_error(call, from_engine(request.error()));
  if (request->empty())
    return send_error(call, {"MalformedXML",
                             "The XML you provided was not well-formed or did not validate against our published "
                             "schema",
                             {}});
  std::vector<engine::CompletedPart> parts;
  parts.reserve(request->size());
  for (const auto& p : *request) {
    if (p.part_number < 1 || p.part_number > 10000)
      return send_error(call, {"InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", {}});
    parts.push_back({static_cast<std::uint32_t>(p.part_number), p.etag});
  }
  auto completed = engine.complete_multipart(call.location(), upload_id, parts);
  if (!completed) return send_error(call, from_engine(completed.error(), "NoSuchUpload"));
  std::string location = fmt::format("/{}/{}", call.target.bucket, call.target.key);
  send_xml(call, 200,
           render_complete_upload_xml(location, call.target.bucket, call.target.key, completed->etag().value_or("")));
}

void S3Handler::Impl::abort_upload(Call& call) {
  auto aborted = engine.abort_multipart(call.location(), call.query.get("uploadId").value_or(""));
  if (!aborted) return send_error(call, from_engine(aborted.error(), "NoSuchUpload"));
  send_empty(call, 204);
}

void S3Handler::Impl::list_parts(Call& call) {
  std::string upload_id = call.query.get("uploadId").value_or("");
  auto parts = engine.list_parts(call.location(), upload_id);
  if (!parts) return send_error(call, from_engine(parts.error(), "NoSuchUpload"));
  auto max_parts = max_keys_parameter(call.query, "max-parts");
  if (!max_parts) return send_error(call, from_engine(max_parts.error()));
  std::uint32_t marker = 0;
  if (auto m = call.query.get("part-number-marker"); m && !m->empty()) {
    auto [end, ec] = std::from_chars(m->data(), m->data() + m->size(), marker);
    if (ec != std::errc() || end != m->data() + m->size())
      return send_error(call, {"InvalidArgument", "part-number-marker must be an integer", {}});
  }
  ListPartsReply reply;
  reply.bucket = call.target.bucket;
  reply.key = call.target.key;
  reply.upload_id = upload_id;
  reply.part_number_marker = marker;
  reply.max_parts = *max_parts;
  reply.owner = call.principal->tenant;
  for (const auto& p : *parts) {
    if (p.part_number <= marker) continue;
    if (reply.parts.size() == reply.max_parts) {
      reply.truncated = true;
      break;
    }
    reply.parts.push_back({p.part_number, p.modified_unix_ns, p.etag, p.size});
  }
  if (reply.truncated && !reply.parts.empty()) reply.next_part_number_marker = reply.parts.back().number;
  send_xml(call, 200, render_list_parts_xml(reply));
}

}  // namespace blobseal::s3

namespace blobseal::s3 {

// Objects and buckets are private to their tenant; there are no ACLs to change. A request that asks for exactly
// that (canned "private", or a policy granting only the owner FULL_CONTROL, as s3cmd and rclone send after a copy)
// succeeds without effect; anything that would grant access to someone else is refused, never silently ignored.
void S3Handler::Impl::put_acl(Call& call) {
  if (call.operation == "PutObjectAcl") {
    auto head = engine.head(call.location());
    if (!head) return send_error(call, from_engine(head.error()));
  }
  for (const char* grant : {"x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp",
                            "x-amz-grant-full-control"})
    if (call.request.header(grant))
      return send_error(call, {"NotImplemented", "blobseal objects are private to their tenant; grants are not supported", {}});
  if (auto canned = call.request.header("x-amz-acl"); canned && *canned != "private")
    return send_error(call, {"NotImplemented", "blobseal objects are private to their tenant; only the canned ACL "
                                               "'private' is accepted", {}});
  std::unique_ptr<ByteSource> decoded;
  std::unique_ptr<CheckedBody> checked;
  auto body = request_body(call, decoded, checked);
  if (!body) return send_error(call, from_engine(body.error()));
  auto text = read_small_body(**body, 64 * 1024);
  if (!text) return send_error(call, from_engine(text.error()));
  call.bytes_in += text->size();
  if (!text->empty()) {
    // Only the owner's FULL_CONTROL: one grant, no group (URI) or e-mail grantee, no other permission.
    auto count = [&](std::string_view needle) {
      std::size_t n = 0;
      for (auto pos = text->find(needle); pos != std::string::npos; pos = text->find(needle, pos + 1)) ++n;
      return n;
    };
    bool owner_only = count("<Grant>") == 1 && count("<Permission>FULL_CONTROL</Permission>") == 1 &&
                      count("<URI>") == 0 && count("<EmailAddress>") == 0 && text->find("<ID>") != std::string::npos;
    if (!owner_only)
      return send_error(call, {"NotImplemented", "blobseal objects are private to their tenant; only an ACL that "
                                                 "grants the owner FULL_CONTROL is accepted", {}});
  }
  send_empty(call, 200);
}

}  // namespace blobseal::s3
