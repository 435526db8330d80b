// The envelope of a sealed object (docs/FORMAT.md): which key wraps the object's data key, the wrapped key itself,
// the plaintext length, and a section sealed under a key derived from the data key that holds the content metadata
// and, for multipart objects, the manifest of parts. Parsing needs no key; opening the sealed section needs the DEK.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"
#include "seal/cobblestone.h"

namespace blobseal::seal {

inline constexpr std::uint8_t kFormatVersion = 1;
inline constexpr std::uint8_t kSuiteCobblestone256 = 1;
inline constexpr std::size_t kObjectIdSize = 16;
inline constexpr std::size_t kEnvelopeFixedSize = 64;           // bytes before the key reference
inline constexpr std::uint32_t kMaxEnvelopeSize = 16u << 20;    // a manifest of 10,000 parts needs ~700 KiB
inline constexpr std::size_t kMaxMetadataEntries = 1024;
inline constexpr std::uint32_t kMaxParts = 10000;

enum class Layout : std::uint8_t { kSingleStream = 0, kMultipart = 1 };

using ObjectId = std::array<std::uint8_t, kObjectIdSize>;
ObjectId new_object_id();

// Where an object lives. Bound into the data key's wrapping, so a sealed object copied under another name (or
// another tenant or bucket) does not open.
struct Location {
  std::string tenant;
  std::string bucket;
  std::string key;
};

// The key manager's reference to the wrapping key, and the wrapped data key.
struct KeyReference {
  std::string provider;   // key manager id, e.g. "local"
  std::string key_id;     // key name inside that manager
  std::uint32_t version = 0;
  Bytes wrapped_dek;
};

// One independently sealed stream of a multipart object, as the manifest records it.
struct PartRecord {
  std::uint32_t part_number = 0;
  std::uint64_t plaintext_size = 0;
  Salt salt{};
  Commitment commitment{};
};

// Content metadata (Content-Type, user metadata, ETag...), kept in order; names are compared as given.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// What the data key protects inside the envelope.
struct EnvelopeContents {
  Metadata metadata;
  std::vector<PartRecord> parts;  // empty for the single-stream layout; ascending part numbers for multipart
};

struct Envelope {
  std::uint8_t version = kFormatVersion;
  std::uint8_t suite = kSuiteCobblestone256;
  Layout layout = Layout::kSingleStream;
  bool length_recorded = true;
  ObjectId object_id{};
  std::uint64_t plaintext_size = 0;  // meaningful when length_recorded
  Salt envelope_salt{};              // fresh for every encoding of the sealed section
  KeyReference key;
  Bytes sealed_section;              // AES-256-GCM ciphertext || tag; produced by encode_envelope
};

// The associated data the key manager binds to the wrapped data key.
Bytes wrap_associated_data(const Location& location, const ObjectId& object_id);
// The Cobblestone context of one stream: format version, object id and part number (0 for a single stream).
Bytes stream_context(const ObjectId& object_id, std::uint32_t part_number);

// Seals `contents` under `dek` with a fresh envelope salt and encodes the whole envelope. `envelope.sealed_section`
// and `envelope.envelope_salt` are ignored on input.
Result<Bytes> encode_envelope(const Envelope& envelope, const EnvelopeContents& contents, const SecretBytes& dek);

// Re-encodes an envelope with a different key reference (rewrap, or a new location's wrapping), keeping the sealed
// section byte for byte. Needs no key: the sealed section's authentication does not cover the key reference, which
// the wrap itself authenticates.
Result<Bytes> reencode_envelope(const Envelope& envelope, const KeyReference& key);

struct ParsedEnvelope {
  Envelope envelope;
  std::size_t encoded_size = 0;  // bytes the envelope occupies at the start of the input
};

// Parses an envelope at the start of `data` (trailing bytes are allowed and not consumed). Checks structure and
// limits only; nothing is authenticated until open_envelope(). InvalidArgument for malformed input, Unimplemented
// for an unknown version or suite, DataLoss for a truncated envelope.
Result<ParsedEnvelope> parse_envelope(ByteSpan data);
// The total envelope size announced by its first 16 bytes, to know how much to read before parse_envelope().
Result<std::size_t> envelope_size(ByteSpan first_16_bytes);

// Decrypts and authenticates the sealed section under `dek`, and checks it against the public fields (layout,
// recorded length = sum of parts). DataLoss when anything was altered.
Result<EnvelopeContents> open_envelope(const Envelope& envelope, const SecretBytes& dek);

// The body size (concatenated Cobblestone streams) an envelope with these contents must have; nullopt when the
// length is not recorded (single stream written to a pipe).
std::optional<std::uint64_t> expected_body_size(const Envelope& envelope, const EnvelopeContents& contents);

// Looks up a metadata entry.
const std::string* find_metadata(const Metadata& metadata, std::string_view name);

}  // namespace blobseal::seal
