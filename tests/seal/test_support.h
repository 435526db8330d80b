// Shared pieces of the seal tests: the Cobblestone vectors (inflated and decoded), a sink that checks every released
// byte against the plaintext as it arrives, and the engine's recipe for sealing and opening a whole object
// (envelope + body), with the real local keyring (a BLOB_KEY, in memory) wrapping the data keys.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "keys/key_manager.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"
#include "seal/sealed_reader.h"

namespace blobseal::seal::test {

Bytes sha512(ByteSpan data);
Bytes random_bytes_seeded(std::size_t n, std::uint64_t seed);

// ---- Cobblestone-256 Wycheproof vectors ---------------------------------------------------------------------------

struct CobblestoneVector {
  int id = 0;
  std::string comment;
  std::set<std::string> flags;
  bool valid = false;
  Bytes key;
  Bytes context;
  Bytes ciphertext;  // inflated
  std::optional<Bytes> aead_key;
  std::optional<Bytes> base_nonce;
  std::optional<std::uint64_t> msg_length;
  std::optional<Bytes> msg_sha512;
  // Raw-mode decryption with aead_key and base_nonce (crypto::AesGcm, chunk by chunk, stopping at the first chunk
  // that does not verify): the longest validly encrypted prefix. Empty when there is no aead_key.
  Bytes verified_prefix;

  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
  // Raw-mode decryption of every chunk at its own index, slicing the ciphertext the way a random-access reader
  // must (from its length): the plaintext of each chunk that verifies, keyed by its plaintext offset. A
  // random-access reader may release these bytes and no others. Empty when the length is impossible or there is no
  // aead_key.
  std::vector<std::pair<std::uint64_t, Bytes>> verified_chunks;

  // What a decryptor may release: the message of a valid vector, the valid prefix of a PartialPlaintext vector,
  // nothing for any other invalid vector (c2sp_chunked_encryption.md, "Streaming decryption").
  ByteSpan allowed_plaintext() const;
  std::string describe() const;
};

// What the test lists need, read from the JSON alone (cheap enough for every test process's start-up).
struct CobblestoneVectorInfo {
  int id = 0;
  bool valid = false;
  std::set<std::string> flags;
  bool has_raw_mode_keys = false;
  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
};
const std::vector<CobblestoneVectorInfo>& cobblestone_index();
// The whole vector, inflated and with its raw-mode reference computed on first use.
const CobblestoneVector& cobblestone_vector(int id);

// ---- Checking what a reader releases -------------------------------------------------------------------------------

// Records the bytes written to it and compares each one, as it arrives, with `expected` at plaintext position
// `start` + (bytes received so far). A byte past the end of `expected`, or one that differs, is a violation: an
// unverified or wrong byte was released.
class CheckingSink final : public ByteSink {
 public:
  // The plaintext that may be released: byte strings at plaintext offsets (sorted, not overlapping). Anything
  // outside them is unverifiable.
  using Segments = std::vector<std::pair<std::uint64_t, ByteSpan>>;

  CheckingSink(ByteSpan expected, std::uint64_t start) : segments_{{0, expected}}, start_(start) {}
  CheckingSink(Segments segments, std::uint64_t start) : segments_(std::move(segments)), start_(start) {}
  Status write(std::span<const std::uint8_t> data) override;

  std::uint64_t received() const { return received_; }
  bool violated() const { return violation_.has_value(); }
  const std::string& violation() const { return *violation_; }
  std::size_t largest_write() const { return largest_write_; }
  std::size_t writes() const { return writes_; }
  const Bytes& bytes() const { return bytes_; }
  void keep_bytes(bool keep) { keep_ = keep; }

 private:
  Segments segments_;
  std::uint64_t start_;
  std::uint64_t received_ = 0;
  std::optional<std::string> violation_;
  std::size_t largest_write_ = 0;
  std::size_t writes_ = 0;
  bool keep_ = false;
  Bytes bytes_;
};

// Plaintext offsets at which a reader that releases only whole verified chunks may stop: every chunk boundary of
// every stream, and each stream's end.
std::set<std::uint64_t> chunk_boundaries(const std::vector<std::uint64_t>& stream_sizes);

// ---- Whole sealed objects -------------------------------------------------------------------------------------------

struct SealedObject {
  Location location;
  ObjectId object_id{};
  SecretBytes dek;
  Bytes plaintext;
  Bytes envelope;                           // encoded
  Bytes body;                               // the concatenated streams
  std::vector<std::uint64_t> stream_sizes;  // plaintext bytes per stream (one entry for a single stream)
  std::vector<std::uint64_t> stream_offsets;  // where each stream starts in the body
  std::vector<PartRecord> parts;            // empty for a single stream
};

// An object opened the way the engine opens one: parse the envelope, check the provider, unwrap the data key with
// the location's associated data, open the sealed section, check the body size.
// A source that can only copy (read_at, no view()), as files and upstream bodies are read; SpanSource is read in
// place. Readers take a different path for each, so the matrices run through both.
class CopyingSource final : public RandomAccessSource {
 public:
  explicit CopyingSource(ByteSpan data) : inner_(data) {}
  std::uint64_t size() const override { return inner_.size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    return inner_.read_at(offset, out);
  }

 private:
  SpanSource inner_;
};

enum class BodyAccess { kInPlace, kCopied };

struct OpenedObject {
  std::unique_ptr<RandomAccessSource> body;
  Envelope envelope;
  EnvelopeContents contents;
  std::optional<SealedReader> reader;
};

class Sealer {
 public:
  Sealer();  // a LocalKeyring holding one random BLOB_KEY
  keys::KeyManager& keys() { return *keys_; }

  // A single-stream object (part 0).
  SealedObject seal_single(const Location& location, Bytes plaintext, bool length_recorded = true,
                           std::size_t batch_chunks = kDefaultBatchChunks);
  // A multipart object; part numbers default to 1..n.
  SealedObject seal_multipart(const Location& location, Bytes plaintext, const std::vector<std::uint64_t>& part_sizes,
                              std::vector<std::uint32_t> part_numbers = {});
  // One more stream under an object's data key (another attempt of a part, or another part number).
  static Bytes seal_stream(const SecretBytes& dek, const ObjectId& object_id, std::uint32_t part_number,
                           ByteSpan plaintext, PartRecord* record = nullptr);

  Result<std::unique_ptr<OpenedObject>> open(const Location& location, ByteSpan envelope, ByteSpan body,
                                             std::size_t batch_chunks = kDefaultBatchChunks,
                                             BodyAccess access = BodyAccess::kInPlace);

 private:
  std::unique_ptr<keys::KeyManager> keys_;
};

}  // namespace blobseal::seal::test

namespace blobseal::seal::test {
// The error code of a failed Result, or nullopt when it succeeded (so a test never calls error() on a value).
template <typename R>
std::optional<ErrorCode> code_of(const R& result) {
  if (result) return std::nullopt;
  return result.error().code();
}
}  // namespace blobseal::seal::test
