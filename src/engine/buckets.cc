// Buckets: one record per bucket under .blobseal/buckets/<name> (owner tenant, creation time), in the same store
// as the objects, so a bucket exists exactly when its record does, on any node that shares the store.
#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace blobseal::engine {

namespace {

constexpr std::string_view kBucketPrefix = kBucketRegistryPrefix;

std::string bucket_record(const std::string& name) { return std::string(kBucketPrefix) + name; }

Result<BucketInfo> parse_bucket(const std::string& name, const store::ObjectInfo& info) {
  auto json = nlohmann::json::parse(as_string_view(info.header), nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return make_error(ErrorCode::kDataLoss, fmt::format("bucket record of \"{}\" is unreadable", name));
  BucketInfo bucket;
  bucket.name = name;
  bucket.tenant = json.value("tenant", "");
  bucket.created_unix_ns = json.value("created_ns", std::int64_t{0});
  return bucket;
}

Error no_such_bucket(const std::string& name) {
  return Error(ErrorCode::kNotFound, fmt::format("bucket \"{}\" does not exist", name), "NoSuchBucket");
}

}  // namespace

Status Engine::create_bucket(const std::string& tenant, const std::string& name) {
  if (name.empty() || name.starts_with('.') || name.find('/') != std::string::npos)
    return make_error(ErrorCode::kInvalidArgument, "invalid bucket name", "InvalidBucketName");
  auto now = std::chrono::system_clock::now().time_since_epoch();
  nlohmann::json record{{"tenant", tenant},
                        {"created_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()}};
  std::string text = record.dump();
  store::PutOptions put;
  put.header.assign(text.begin(), text.end());
  put.if_generation_match = "";
  SpanSource empty(ByteSpan{});
  auto created = store_.put(bucket_record(name), empty, put);
  if (created) return {};
  if (created.error().code() != ErrorCode::kFailedPrecondition && created.error().code() != ErrorCode::kAlreadyExists)
    return make_error(created.error());
  auto existing = BLOBSEAL_TRY(head_bucket(name));
  if (existing.tenant == tenant)
    return make_error(ErrorCode::kAlreadyExists, fmt::format("you already own bucket \"{}\"", name),
                      "BucketAlreadyOwnedByYou");
  return make_error(ErrorCode::kAlreadyExists, fmt::format("bucket \"{}\" is taken", name), "BucketAlreadyExists");
}

Result<BucketInfo> Engine::head_bucket(const std::string& name) {
  if (name.empty() || name.starts_with('.') || name.find('/') != std::string::npos) return make_error(no_such_bucket(name));
  auto info = store_.head(bucket_record(name));
  if (!info) {
    if (info.error().code() == ErrorCode::kNotFound) return make_error(no_such_bucket(name));
    return make_error(info.error());
  }
  return parse_bucket(name, *info);
}

Result<std::vector<BucketInfo>> Engine::list_buckets(const std::string& tenant) {
  std::vector<BucketInfo> buckets;
  store::ListRequest request;
  request.prefix = std::string(kBucketPrefix);
  for (;;) {
    auto page = BLOBSEAL_TRY(store_.list(request));
    for (const auto& info : page.objects) {
      auto bucket = parse_bucket(info.key.substr(kBucketPrefix.size()), info);
      if (bucket && bucket->tenant == tenant) buckets.push_back(std::move(*bucket));
    }
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  return buckets;
}

Status Engine::delete_bucket(const std::string& name) {
  BLOBSEAL_TRY(head_bucket(name));
  store::ListRequest request;
  request.prefix = name + "/";
  request.max_keys = 1;
  auto objects = BLOBSEAL_TRY(store_.list(request));
  if (!objects.objects.empty())
    return make_error(ErrorCode::kFailedPrecondition, fmt::format("bucket \"{}\" is not empty", name),
                      "BucketNotEmpty");
  // In-progress uploads go with the bucket.
  Location bucket{"", name, ""};
  auto uploads = BLOBSEAL_TRY(list_uploads(name, ""));
  for (const auto& upload : uploads) {
    bucket.key = upload.key;
    (void)abort_multipart(bucket, upload.upload_id);
  }
  return store_.remove(bucket_record(name));
}

Result<std::string> Engine::tenant_of(const std::string& bucket) {
  if (bucket.empty()) return std::string();
  auto info = BLOBSEAL_TRY(head_bucket(bucket));
  return info.tenant;
}

}  // namespace blobseal::engine
