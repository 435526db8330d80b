#include "store/s3/bucket_mapped_store.h"

#include <algorithm>

#include <fmt/format.h>

namespace blobseal::store {

namespace {

constexpr std::string_view kUploads = ".blobseal/uploads/";
constexpr std::string_view kParts = ".blobseal/parts/";

// The first path segment of `rest` when a '/' ends it, else "".
std::string first_segment(std::string_view rest) {
  auto slash = rest.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(rest.substr(0, slash));
}

// A prefix whose keys all belong to one bucket names it; "" when it spans buckets (or is the main store's).
struct PrefixRoute {
  bool one_store = false;
  std::string bucket;  // "" with one_store: the main store
};

PrefixRoute route_of_prefix(std::string_view prefix) {
  for (std::string_view internal : {kUploads, kParts}) {
    if (prefix.starts_with(internal)) {
      std::string bucket = first_segment(prefix.substr(internal.size()));
      if (bucket.empty()) return {};
      return {true, bucket};
    }
    if (internal.starts_with(prefix)) return {};  // ".blobseal/" or shorter: spans the uploads of every bucket
  }
  if (prefix.starts_with('.')) return {true, ""};
  std::string bucket = first_segment(prefix);
  if (bucket.empty()) return {};
  return {true, bucket};
}

// One entry of a merged listing: an object or a common prefix.
struct Entry {
  std::string name;
  const ObjectInfo* object = nullptr;  // null for a common prefix
};

}  // namespace

BucketMappedStore::BucketMappedStore(std::unique_ptr<S3Store> main, Opener open_bucket, std::string registry_prefix)
    : main_(std::move(main)), open_bucket_(std::move(open_bucket)), registry_prefix_(std::move(registry_prefix)) {}

BucketMappedStore::~BucketMappedStore() = default;

Result<std::string> BucketMappedStore::upstream_bucket_name(std::string_view name_template, std::string_view bucket) {
  constexpr std::string_view kPlaceholder = "{bucket}";
  if (name_template.find(kPlaceholder) == std::string_view::npos)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the upstream bucket template {:?} has no {{bucket}}", name_template));
  std::string out;
  for (std::string_view rest = name_template; !rest.empty();) {
    auto at = rest.find(kPlaceholder);
    out += rest.substr(0, at);
    if (at == std::string_view::npos) break;
    out += bucket;
    rest.remove_prefix(at + kPlaceholder.size());
  }
  return out;
}

std::string BucketMappedStore::bucket_of_key(std::string_view key) {
  for (std::string_view internal : {kUploads, kParts})
    if (key.starts_with(internal)) return first_segment(key.substr(internal.size()));
  if (key.starts_with('.')) return "";
  return first_segment(key);
}

S3Store& BucketMappedStore::main() { return *main_; }

Result<ObjectStore*> BucketMappedStore::bucket_store(const std::string& bucket) {
  if (bucket.empty()) return static_cast<ObjectStore*>(main_.get());
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(bucket);
  if (it == buckets_.end()) {
    auto opened = open_bucket_(bucket);
    if (!opened) return make_error(opened.error());
    it = buckets_.emplace(bucket, std::move(*opened)).first;
  }
  return static_cast<ObjectStore*>(it->second.get());
}

Result<ObjectStore*> BucketMappedStore::store_for(std::string_view key) { return bucket_store(bucket_of_key(key)); }

Result<std::vector<ObjectStore*>> BucketMappedStore::all_stores() {
  std::vector<std::string> names;
  ListRequest request;
  request.prefix = registry_prefix_;
  for (;;) {
    auto page = BLOBSEAL_TRY(main_->list(request));
    for (const auto& object : page.objects) names.push_back(object.key.substr(registry_prefix_.size()));
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, store] : buckets_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<ObjectStore*> stores{main_.get()};
  for (const auto& name : names) {
    if (name.empty() || name.find('/') != std::string::npos) continue;
    stores.push_back(BLOBSEAL_TRY(bucket_store(name)));
  }
  return stores;
}

Result<ObjectInfo> BucketMappedStore::put(std::string_view key, ByteSource& body, const PutOptions& options) {
  return BLOBSEAL_TRY(store_for(key))->put(key, body, options);
}

Result<std::unique_ptr<StoredObject>> BucketMappedStore::open(std::string_view key) {
  return BLOBSEAL_TRY(store_for(key))->open(key);
}

Result<ObjectInfo> BucketMappedStore::head(std::string_view key) { return BLOBSEAL_TRY(store_for(key))->head(key); }

Result<ObjectInfo> BucketMappedStore::replace_header(std::string_view key, std::string_view expected_generation,
                                                     const Bytes& header,
                                                     const std::map<std::string, std::string>& metadata) {
  return BLOBSEAL_TRY(store_for(key))->replace_header(key, expected_generation, header, metadata);
}

Result<ObjectInfo> BucketMappedStore::copy(std::string_view source, std::string_view destination,
                                           const PutOptions& options) {
  ObjectStore* from = BLOBSEAL_TRY(store_for(source));
  ObjectStore* to = BLOBSEAL_TRY(store_for(destination));
  if (from == to) return to->copy(source, destination, options);
  // Between upstream buckets: the body streams through this node.
  return ObjectStore::compose(destination, {ComposeSource{std::string(source), ""}}, options);
}

Result<ObjectInfo> BucketMappedStore::compose(std::string_view destination, const std::vector<ComposeSource>& sources,
                                              const PutOptions& options) {
  ObjectStore* to = BLOBSEAL_TRY(store_for(destination));
  for (const auto& source : sources)
    if (BLOBSEAL_TRY(store_for(source.key)) != to) return ObjectStore::compose(destination, sources, options);
  return to->compose(destination, sources, options);
}

Status BucketMappedStore::remove(std::string_view key) { return BLOBSEAL_TRY(store_for(key))->remove(key); }

Result<ListResult> BucketMappedStore::list(const ListRequest& request) {
  PrefixRoute route = route_of_prefix(request.prefix);
  if (route.one_store) return BLOBSEAL_TRY(bucket_store(route.bucket))->list(request);

  // Spans stores: merge their pages. Each store returns its first max_keys entries after start_after; the merged
  // page may not go past the last entry of a store that has more (its next entries could come before the others').
  auto stores = BLOBSEAL_TRY(all_stores());
  std::vector<ListResult> pages;
  pages.reserve(stores.size());
  std::vector<Entry> entries;
  std::optional<std::string> cut;
  for (ObjectStore* store : stores) {
    pages.push_back(BLOBSEAL_TRY(store->list(request)));
    const ListResult& page = pages.back();
    std::string last;
    for (const auto& object : page.objects) {
      entries.push_back({object.key, &object});
      last = std::max(last, object.key);
    }
    for (const auto& prefix : page.common_prefixes) {
      entries.push_back({prefix, nullptr});
      last = std::max(last, prefix);
    }
    if (page.truncated && (!cut || last < *cut)) cut = last;
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  ListResult merged;
  std::size_t taken = 0;
  std::string previous_prefix;
  bool more = false;
  for (const Entry& entry : entries) {
    if (!entry.object && entry.name == previous_prefix) continue;  // the same common prefix from several stores
    if ((cut && entry.name > *cut) || taken == request.max_keys) {
      more = true;
      break;
    }
    if (entry.object) {
      merged.objects.push_back(*entry.object);
    } else {
      merged.common_prefixes.push_back(entry.name);
      previous_prefix = entry.name;
    }
    merged.next_start_after = entry.name;
    ++taken;
  }
  merged.truncated = more || cut.has_value();
  if (!merged.truncated) merged.next_start_after.clear();
  return merged;
}

Result<std::size_t> BucketMappedStore::remove_orphans(std::chrono::seconds min_age) {
  std::size_t removed = BLOBSEAL_TRY(main_->remove_orphans(min_age));
  auto stores = BLOBSEAL_TRY(all_stores());
  for (ObjectStore* store : stores)
    if (store != main_.get()) removed += BLOBSEAL_TRY(static_cast<S3Store*>(store)->remove_orphans(min_age));
  return removed;
}

}  // namespace blobseal::store
