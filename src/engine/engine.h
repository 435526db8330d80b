// The engine: sealed-object operations on top of an ObjectStore and a KeyManager. Front ends (the CLI now, the S3
// and secure-files APIs later) call it with an already-authenticated location; it never sees a socket or a file.
//
// Every put generates a fresh data key, seals the body as it streams to the store, and commits the envelope with
// the store's atomic put. Every read unwraps the data key with the location's associated data (so an object moved
// on disk is refused), opens the envelope, checks the body size, and verifies each chunk before releasing it.
#pragma once

#include <cstdint>
#include <functional>
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
  OpenObject(ObjectSummary summary, std::unique_ptr<store::StoredObject> stored, std::unique_ptr<seal::SealedReader> reader);
  const ObjectSummary& summary() const { return summary_; }
  std::uint64_t size() const { return reader_->size(); }
  // Streams plaintext [pos, pos + count); DataLoss stops the stream at the first chunk that fails to verify.
  Status read(std::uint64_t pos, std::uint64_t count, ByteSink& sink) { return reader_->read(pos, count, sink); }
  Status verify_all() { return reader_->verify_all(); }

 private:
  ObjectSummary summary_;
  std::unique_ptr<store::StoredObject> stored_;
  std::unique_ptr<seal::SealedReader> reader_;
};

struct PutOptions {
  seal::Metadata metadata;   // content metadata to seal with the object (Content-Type, user metadata)
  std::string key_id;        // key-encryption key; the key manager's default when empty
  std::optional<std::string> if_generation_match;  // "" = only if absent
};

struct ListPage {
  std::vector<ObjectSummary> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_start_after;
};

struct VerifyIssue {
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

  // The store key an object is kept under: "<bucket>/<key>", or the key alone when the bucket is empty.
  static std::string storage_key(const Location& location);

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

  // Rewrites the envelope of an object whose data key is not under the current key version (envelope only; no
  // data is touched). Returns true when it rewrote, false when already current.
  Result<bool> rewrap(const Location& location);

  // Decrypts every chunk of the object at `location`.
  Status verify(const Location& location, std::uint64_t* bytes = nullptr);

  // Scrubs every object whose store key starts with `prefix` (all objects when empty); `progress` is called after
  // each object with the count so far.
  Result<VerifyReport> verify_all(const std::string& prefix,
                                  const std::function<void(std::uint64_t objects, std::uint64_t bytes)>& progress = {});

 private:
  struct Unsealed {
    seal::Envelope envelope;
    seal::EnvelopeContents contents;
    SecretBytes dek;
  };
  Result<Unsealed> unseal(const Location& location, const store::ObjectInfo& info);
  ObjectSummary summarize(const Location& location, const store::ObjectInfo& info, const seal::Envelope& envelope,
                          seal::Metadata metadata) const;

  store::ObjectStore& store_;
  keys::KeyManager& keys_;
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
