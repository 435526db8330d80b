// The engine: sealed-object operations on top of an ObjectStore and a KeyManager. Front ends (the CLI now, the S3
// and secure-files APIs later) call it with an already-authenticated location; it never sees a socket or a file.
//
// Every put generates a fresh data key, seals the body as it streams to the store, and commits the envelope with
// the store's atomic put. Every read unwraps the data key with the location's associated data (so an object moved
// on disk is refused), opens the envelope, checks the body size, and verifies each chunk before releasing it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/error.h"
#include "keys/key_manager.h"
#include "seal/envelope.h"
#include "seal/sealed_reader.h"
#include "store/object_store.h"

namespace blobseal::engine {

// Reasons (Error::reason) of a read refused because of the object's key: its version is retired or outside the
// dual-read window, or the key manager no longer has it (destroyed). The code is FailedPrecondition: the object exists.
inline constexpr std::string_view kKeyDisabledReason = "KMS.DisabledException";
inline constexpr std::string_view kKeyNotFoundReason = "KMS.NotFoundException";

// Where the store keeps one record per bucket (the bucket's name after the prefix).
inline constexpr std::string_view kBucketRegistryPrefix = ".blobseal/buckets/";
// The record holding the key that seals listing ETags, and the location its data key is bound to.
inline constexpr std::string_view kIndexKeyRecordName = ".blobseal/index-key";

using seal::Location;

// Names of the content metadata the engine itself keeps in the sealed envelope.
inline constexpr std::string_view kMetaEtag = "etag";                 // hex MD5 of the plaintext (S3 ETag)
inline constexpr std::string_view kMetaContentType = "content-type";

struct ObjectSummary {
  std::string key;
  std::uint64_t size = 0;            // plaintext bytes
  std::int64_t modified_unix_ns = 0;
  std::string generation;
  seal::Metadata metadata;           // empty when listed (listing does not unwrap keys)
  seal::KeyReference key_reference;  // wrapped key omitted from listings' use, kept for rewrap decisions
  std::optional<std::string> etag() const;
};

// An object opened for reading: its summary and a reader of its verified plaintext. Holds the store's open body, so
// it keeps reading the version that was current at open time.
class OpenObject {
 public:
  OpenObject(ObjectSummary summary, std::unique_ptr<store::StoredObject> stored, std::unique_ptr<seal::SealedReader> reader,
             std::vector<seal::PartRecord> parts);
  const ObjectSummary& summary() const { return summary_; }
  // Number of parts (1 for an object stored with a single PUT) and the plaintext range of part `n` (1-based
  // position in the manifest, as S3's partNumber). nullopt when there is no such part.
  std::size_t part_count() const { return parts_.empty() ? 1 : parts_.size(); }
  std::optional<std::pair<std::uint64_t, std::uint64_t>> part_range(std::size_t n) const;
  std::uint64_t size() const { return reader_->size(); }
  // Streams plaintext [pos, pos + count); DataLoss stops the stream at the first chunk that fails to verify.
  Status read(std::uint64_t pos, std::uint64_t count, ByteSink& sink) { return reader_->read(pos, count, sink); }
  Status verify_all() { return reader_->verify_all(); }

 private:
  ObjectSummary summary_;
  std::unique_ptr<store::StoredObject> stored_;
  std::unique_ptr<seal::SealedReader> reader_;
  std::vector<seal::PartRecord> parts_;
};

struct BucketInfo {
  std::string name;
  std::string tenant;
  std::int64_t created_unix_ns = 0;
};

struct UploadInfo {
  std::string upload_id;
  std::string key;
  std::int64_t initiated_unix_ns = 0;
};

struct PartInfo {
  std::uint32_t part_number = 0;
  std::uint64_t size = 0;       // plaintext bytes
  std::string etag;             // hex MD5 of the part's plaintext
  std::int64_t modified_unix_ns = 0;
};

struct CompletedPart {
  std::uint32_t part_number = 0;
  std::string etag;  // as the client sent it; quotes are ignored
};

// S3's minimum size of every part but the last.
inline constexpr std::uint64_t kMinPartSize = 5ull << 20;

struct PutOptions {
  seal::Metadata metadata;   // content metadata to seal with the object (Content-Type, user metadata)
  std::string key_id;        // key-encryption key; the key manager's default when empty
  std::optional<std::string> if_generation_match;  // "" = only if absent
  // How many plaintext bytes the body yields, when the client declared it (Content-Length): an upstream store
  // then streams the sealed body without holding a part of it. A body of another length fails the put.
  std::optional<std::uint64_t> size;
};

// Which objects `reencrypt_stored` re-encrypts; every condition given must hold, and none given selects every object.
struct ReencryptSelection {
  std::optional<std::string> bucket;  // "" is the CLI's namespace
  std::string prefix;                 // of the object key inside its bucket
  std::optional<std::string> key_id;  // the key that wraps the object's data key...
  std::optional<std::uint32_t> key_version;  // ...and that version of it (only with key_id)
  // Sealed (written by a put, a multipart completion or a re-encryption) strictly before this time: the store's
  // write time, which a re-encryption renews although the last-modified time clients see stays.
  std::optional<std::int64_t> sealed_before_unix_ns;
};

enum class ReencryptOutcome {
  kReencrypted,        // sealed again under a fresh data key
  kSelected,           // dry run: would be re-encrypted
  kReplacedMeanwhile,  // a client replaced the object during the re-encryption: the new one has a fresh key already
};

// Store-level metadata naming the last-modified time clients see, when it differs from the store's write time (a
// re-encryption is not a client write). Nanoseconds since the epoch, decimal.
inline constexpr std::string_view kStoreMetaLastModified = "last_modified_ns";

struct ListPage {
  std::vector<ObjectSummary> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_start_after;
};

struct VerifyIssue {
  std::string bucket;  // "" for the CLI namespace
  std::string key;
  Error error;
};

struct VerifyReport {
  std::uint64_t objects_checked = 0;
  std::uint64_t bytes_checked = 0;
  std::vector<VerifyIssue> issues;
};

class Engine {
 public:
  Engine(store::ObjectStore& store, keys::KeyManager& keys);

  // The store key an object is kept under: "<bucket>/<key>". The CLI's flat namespace is bucket "" ("/<key>"), which
  // no S3 bucket name can produce; internal records live under ".blobseal/", which no bucket name can start with.
  // So the mapping is invertible (location_of) and API input can never reach an internal record.
  static std::string storage_key(const Location& location);
  // Inverse of storage_key (tenant left empty): nullopt for internal records.
  static std::optional<Location> location_of(std::string_view storage_key);

  // Seals `body` (streamed, never held whole) and stores it atomically under `location`.
  Result<ObjectSummary> put(const Location& location, ByteSource& body, const PutOptions& options = {});

  // Opens for reading: NotFound when absent; DataLoss when the envelope, the wrapped key or the body size do not
  // authenticate (tampering, or a sealed object moved to another name).
  Result<OpenObject> open(const Location& location);

  // Summary with the sealed metadata (unwraps the data key).
  Result<ObjectSummary> head(const Location& location);

  Status remove(const Location& location);

  // Lists objects of `location.bucket` under `prefix`; sizes are plaintext sizes read from the envelopes' public
  // fields (no key is unwrapped). Entries whose envelope does not parse are listed with size 0.
  Result<ListPage> list(const Location& bucket, const store::ListRequest& request);

  // Copies an object to a new location by rewrapping its data key for the destination and rewriting the
  // envelope; the sealed body is linked or copied by the store, never re-encrypted. With `replace_metadata`, the
  // destination gets that metadata (the engine keeps the ETag).
  Result<ObjectSummary> copy(const Location& source, const Location& destination,
                             std::optional<seal::Metadata> replace_metadata = std::nullopt);

  // Changes an object's sealed metadata (tags, for instance) by rewriting its envelope under the same data key; the
  // body is untouched. `edit` may fail to abort. FailedPrecondition when the object changed meanwhile.
  Result<ObjectSummary> update_metadata(const Location& location,
                                        const std::function<Status(seal::Metadata& metadata)>& edit);

  // Rewrites the envelope of an object whose data key is not under the current key version (envelope only; no
  // data is touched). Returns true when it rewrote, false when already current.
  Result<bool> rewrap(const Location& location);
  // The same by storage key, for a walk over the store (blobseal rewrap): objects and the index-key record. nullopt
  // for internal records that hold no data key of their own (bucket records, multipart bookkeeping).
  Result<std::optional<bool>> rewrap_stored(std::string_view storage_key);
  // Whether rewrap_stored would rewrite the record (for a dry run); nullopt as there.
  Result<std::optional<bool>> needs_rewrap_stored(std::string_view storage_key);

  // Re-encrypts an object (by storage key, for a walk over the store) under a fresh data key, wrapped under the
  // current version of the key that wrapped the old one, with a fresh object id and fresh salts: the plaintext is
  // streamed from the old body, each chunk verified, and sealed again (a multipart object part by part, keeping its
  // part numbers and sizes, so ranges and partNumber reads behave as before). Content, metadata, tags, ETag and the
  // last-modified time clients see are kept. The replacement is conditional on the generation that was read: an
  // object replaced by a client meanwhile is left as the client wrote it (kReplacedMeanwhile); one whose envelope
  // alone changed (tags, rewrap) is re-encrypted again from its new state. A body or envelope that fails
  // verification is DataLoss, and the object is left untouched. nullopt for internal records and objects outside
  // `selection`. With `dry_run`, only selects (kSelected) and writes nothing.
  Result<std::optional<ReencryptOutcome>> reencrypt_stored(std::string_view storage_key,
                                                           const ReencryptSelection& selection, bool dry_run = false);

  // ---- buckets (records under .blobseal/buckets/) ----
  // AlreadyExists with reason "BucketAlreadyOwnedByYou" or "BucketAlreadyExists".
  Status create_bucket(const std::string& tenant, const std::string& name);
  // NotFound with reason "NoSuchBucket".
  Result<BucketInfo> head_bucket(const std::string& name);
  // Buckets of `tenant`, by name.
  Result<std::vector<BucketInfo>> list_buckets(const std::string& tenant);
  // FailedPrecondition with reason "BucketNotEmpty" while objects remain; aborts its multipart uploads.
  Status delete_bucket(const std::string& name);
  // The tenant that owns `bucket` ("" for the CLI namespace).
  Result<std::string> tenant_of(const std::string& bucket);

  // ---- multipart uploads (records under .blobseal/uploads/<bucket>/ and .blobseal/parts/<bucket>/) ----
  // The upload's data key is generated and wrapped for the final location now; parts are sealed under it as they
  // stream in, each with its own salt, and the manifest is sealed into the envelope at completion.
  Result<std::string> create_multipart(const Location& location, const PutOptions& options);
  // NotFound with reason "NoSuchUpload" for an unknown upload or one for another key. `size`: as PutOptions::size.
  Result<PartInfo> upload_part(const Location& location, const std::string& upload_id, std::uint32_t part_number,
                               ByteSource& body, std::optional<std::uint64_t> size = std::nullopt);
  // Copies plaintext [offset, offset + length) of `source` (the whole object when `range` is absent) into a part.
  Result<PartInfo> upload_part_copy(const Location& location, const std::string& upload_id, std::uint32_t part_number,
                                    const Location& source,
                                    std::optional<std::pair<std::uint64_t, std::uint64_t>> range);
  // Checks the list (reasons "InvalidPartOrder", "InvalidPart", "EntityTooSmall"), assembles the sealed parts into
  // the final object with its manifest, and removes the upload. The ETag is S3's md5-of-md5s-N.
  Result<ObjectSummary> complete_multipart(const Location& location, const std::string& upload_id,
                                           const std::vector<CompletedPart>& parts);
  Status abort_multipart(const Location& location, const std::string& upload_id);
  Result<std::vector<PartInfo>> list_parts(const Location& location, const std::string& upload_id);
  // In-progress uploads of a bucket whose key starts with `prefix`, by key then initiation.
  Result<std::vector<UploadInfo>> list_uploads(const std::string& bucket, const std::string& prefix);

  // Decrypts every chunk of the object at `location`.
  Status verify(const Location& location, std::uint64_t* bytes = nullptr);

  // Scrubs every object whose store key starts with `prefix` (all objects when empty); `progress` is called after
  // each object with the count so far.
  Result<VerifyReport> verify_all(const std::string& prefix,
                                  const std::function<void(std::uint64_t objects, std::uint64_t bytes)>& progress = {});

 private:
  Result<bool> rewrap_record(const std::string& storage_key, const Location& location);
  struct Unsealed {
    seal::Envelope envelope;
    seal::EnvelopeContents contents;
    SecretBytes dek;
  };
  Result<Unsealed> unseal(const Location& location, const store::ObjectInfo& info);
  // One attempt of reencrypt_stored on the object as `stored` holds it: false when the conditional replace lost
  // to a concurrent write.
  Result<bool> reencrypt_object(const Location& location, const std::string& storage_key, store::StoredObject& stored);
  struct UploadRecord;
  Result<UploadRecord> load_upload(const Location& location, const std::string& upload_id);
  Result<PartInfo> store_part(const UploadRecord& upload, std::uint32_t part_number, ByteSource& body,
                              std::optional<std::uint64_t> size);
  // Store-level metadata that lets listings show the ETag without unwrapping each object's key: the ETag sealed
  // under the store's index key (one data key, wrapped by the key manager, unwrapped once per process).
  Result<std::map<std::string, std::string>> listing_metadata(const std::string& storage_key, const std::string& etag);
  std::optional<std::string> listed_etag(const store::ObjectInfo& info);
  Result<const SecretBytes*> index_key();
  ObjectSummary summarize(const Location& location, const store::ObjectInfo& info, const seal::Envelope& envelope,
                          seal::Metadata metadata) const;

  store::ObjectStore& store_;
  keys::KeyManager& keys_;
  std::mutex index_key_mutex_;
  std::optional<SecretBytes> index_key_;
};

// A RandomAccessSource over [offset, offset + length) of another source (a sealed file's body after its envelope).
class SubrangeSource final : public RandomAccessSource {
 public:
  SubrangeSource(RandomAccessSource& inner, std::uint64_t offset, std::uint64_t length)
      : inner_(inner), offset_(offset), length_(length) {}
  std::uint64_t size() const override { return length_; }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override;

 private:
  RandomAccessSource& inner_;
  std::uint64_t offset_;
  std::uint64_t length_;
};

}  // namespace blobseal::engine
