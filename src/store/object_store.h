// The object store interface: where sealed bytes live. An object is a body (the concatenated Cobblestone streams,
// opaque here) plus a small header (the encoded envelope, opaque here) plus store-level metadata. Implementations:
// store/local/ (disk), later store/s3/ (an upstream S3 bucket). One conformance suite (tests/store) runs against
// every implementation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"

namespace blobseal::store {

inline constexpr std::size_t kMaxKeyBytes = 1024;

// Checks an object key: 1..1024 bytes of valid UTF-8 without NUL. Keys are names, never paths: "../x" and "/x" are
// valid keys that simply name objects. InvalidArgument otherwise.
Status validate_key(std::string_view key);

struct ObjectInfo {
  std::string key;
  std::uint64_t body_size = 0;       // stored (sealed) body size
  std::int64_t modified_unix_ns = 0;
  std::string generation;            // changes on every put/replace; used for compare-and-swap
  Bytes header;                      // the envelope, as given to put()
  std::map<std::string, std::string> metadata;  // store-level metadata, as given to put()
};

// An open object: its info and its body, readable at any offset. The body stays the one that was current when
// open() returned, even if the key is replaced or deleted meanwhile.
class StoredObject {
 public:
  virtual ~StoredObject() = default;
  virtual const ObjectInfo& info() const = 0;
  virtual RandomAccessSource& body() = 0;
};

struct PutOptions {
  Bytes header;
  // When set, called once the body has been read to its end and before the object is committed; its result
  // replaces `header` (the envelope records the plaintext length and ETag, known only then). An error aborts the
  // put and leaves the key as it was.
  std::function<Result<Bytes>()> finalize_header;
  // Likewise for `metadata`, called after finalize_header.
  std::function<Result<std::map<std::string, std::string>>()> finalize_metadata;
  std::map<std::string, std::string> metadata;
  // Only replace when the current generation equals this ("" = only if absent). FailedPrecondition otherwise.
  std::optional<std::string> if_generation_match;
  // When known, exactly how many bytes `body` yields (for a sealed body: seal::ciphertext_size of the plaintext's
  // Content-Length). The S3 store then streams the body upstream without holding it (without it, it holds one
  // part, part_size, at a time) and refuses a body of another length (InvalidArgument); the local store, which
  // streams to disk either way, ignores it.
  std::optional<std::uint64_t> body_size;
};

// One source of compose(): a key, pinned to a generation when one is given.
struct ComposeSource {
  std::string key;
  std::string generation;  // "" = whatever is current
};

struct ListRequest {
  std::string prefix;
  std::string delimiter;    // empty: no grouping
  std::string start_after;  // exclusive; continuation tokens are keys or common prefixes returned earlier
  std::size_t max_keys = 1000;
};

struct ListResult {
  std::vector<ObjectInfo> objects;          // header and metadata included
  std::vector<std::string> common_prefixes; // when a delimiter is given
  bool truncated = false;
  std::string next_start_after;             // pass as start_after to continue when truncated
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Streams `body` into a new object and makes it visible atomically: readers see the old object or the new one,
  // never a mix or a partial body, even across a crash at any point.
  virtual Result<ObjectInfo> put(std::string_view key, ByteSource& body, const PutOptions& options) = 0;

  virtual Result<std::unique_ptr<StoredObject>> open(std::string_view key) = 0;
  virtual Result<ObjectInfo> head(std::string_view key) = 0;

  // Replaces the header (and metadata) only, atomically, leaving the body untouched: rewrap. Fails with
  // FailedPrecondition when the object's generation is no longer `expected_generation`.
  virtual Result<ObjectInfo> replace_header(std::string_view key, std::string_view expected_generation,
                                            const Bytes& header,
                                            const std::map<std::string, std::string>& metadata) = 0;

  // Makes `destination` an object with the body of `source` and the given header, without the caller streaming
  // the body (the local store links it; an S3 upstream copies server-side).
  virtual Result<ObjectInfo> copy(std::string_view source, std::string_view destination,
                                  const PutOptions& options) = 0;

  // Makes `destination` an object whose body is the bodies of `sources`, one after another, with the header and
  // metadata of `options` (finalize_header, finalize_metadata and if_generation_match as for put), the sources
  // left as they are: a multipart upload's completion. NotFound when a source is absent, FailedPrecondition when
  // one no longer has the generation given. This default streams the bodies through open() and put(); an S3
  // upstream assembles them server-side (UploadPartCopy), so that no byte passes through the node.
  virtual Result<ObjectInfo> compose(std::string_view destination, const std::vector<ComposeSource>& sources,
                                     const PutOptions& options);

  // NotFound when absent.
  virtual Status remove(std::string_view key) = 0;

  // Keys in byte-wise lexicographic order, a page at a time, without loading the whole keyspace.
  virtual Result<ListResult> list(const ListRequest& request) = 0;
};

}  // namespace blobseal::store
