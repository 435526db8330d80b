// Gateway mode with one upstream bucket per blobseal bucket: a store made of S3Stores, one per upstream bucket, that
// routes every storage key to the store of the blobseal bucket it belongs to (docs/PROVIDERS.md, "Bucket mapping").
//
//   <bucket>/<key>                          the objects of <bucket>       -> the store of <bucket>
//   .blobseal/uploads/<bucket>/<id>         its multipart uploads         -> the store of <bucket>
//   .blobseal/parts/<bucket>/<id>/<n>       their parts                   -> the store of <bucket>
//   anything else (.blobseal/buckets/…,     the bucket registry, the      -> the main store (the bucket named in
//   the index key, keys without '/')        store's index key               the --upstream URL)
//
// So an object, its uploads and their parts share an upstream bucket: completing an upload assembles the parts
// server-side (UploadPartCopy) exactly as with a single upstream bucket. Copies between blobseal buckets, which are
// copies between upstream buckets, stream through the node. A bucket's store is opened on first use (creating the
// upstream bucket when asked). A listing whose prefix does not name one bucket merges the listings of the main store
// and of every bucket's store (the buckets the registry names, and those opened in this process).
//
// Every method may be called from any number of threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/object_store.h"
#include "store/s3/s3_store.h"

namespace blobseal::store {

class BucketMappedStore final : public ObjectStore {
 public:
  // Opens the store of a blobseal bucket (its upstream bucket named by the operator's template).
  using Opener = std::function<Result<std::unique_ptr<S3Store>>(const std::string& bucket)>;

  // `registry_prefix`: where the main store lists blobseal's buckets (one key per bucket, the bucket's name after
  // the prefix), for merged listings and maintenance.
  BucketMappedStore(std::unique_ptr<S3Store> main, Opener open_bucket, std::string registry_prefix);
  ~BucketMappedStore() override;

  // The upstream bucket name for a blobseal bucket: `name_template` with every "{bucket}" replaced.
  // InvalidArgument when the template has no "{bucket}".
  static Result<std::string> upstream_bucket_name(std::string_view name_template, std::string_view bucket);

  Result<ObjectInfo> put(std::string_view key, ByteSource& body, const PutOptions& options) override;
  Result<std::unique_ptr<StoredObject>> open(std::string_view key) override;
  Result<ObjectInfo> head(std::string_view key) override;
  Result<ObjectInfo> replace_header(std::string_view key, std::string_view expected_generation, const Bytes& header,
                                    const std::map<std::string, std::string>& metadata) override;
  Result<ObjectInfo> copy(std::string_view source, std::string_view destination, const PutOptions& options) override;
  Result<ObjectInfo> compose(std::string_view destination, const std::vector<ComposeSource>& sources,
                             const PutOptions& options) override;
  Status remove(std::string_view key) override;
  Result<ListResult> list(const ListRequest& request) override;

  S3Store& main();
  // remove_orphans() of the main store and of every bucket's store; returns the total removed.
  Result<std::size_t> remove_orphans(std::chrono::seconds min_age);

  // The blobseal bucket whose store holds `key`, or "" for the main store. Pure.
  static std::string bucket_of_key(std::string_view key);

 private:
  Result<ObjectStore*> store_for(std::string_view key);
  Result<ObjectStore*> bucket_store(const std::string& bucket);
  Result<std::vector<ObjectStore*>> all_stores();

  std::unique_ptr<S3Store> main_;
  Opener open_bucket_;
  std::string registry_prefix_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<S3Store>> buckets_;
};

}  // namespace blobseal::store
