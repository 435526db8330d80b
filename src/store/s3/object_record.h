// The record of an object in the upstream bucket: the small upstream object, named after the key, whose atomic
// replacement is every change's commit point (docs/FORMAT.md, "Upstream S3"). It holds the key, which immutable
// body object is current, the header (the envelope) and the store metadata, byte for byte. Pure codec.
//
//   magic "BSREC001"
//   u16 key length, key
//   16  revision (random per write: every record written differs, so its upstream ETag does)
//   u8  body id length, body id (ASCII; 0 = no body object, an empty body)
//   u8  body ETag length, body ETag (ASCII, unquoted)
//   u64 body size
//   u64 modified time (ns since the Unix epoch, two's complement)
//   u32 header length, header
//   u32 metadata entry count, per entry: u32 name length, name, u32 value length, value (names strictly ascending)
//   32  SHA-256 of everything above
//
// The checksum catches a truncated or corrupted record (refused as DataLoss, never read as another object); it is
// not a MAC: the envelope inside is what the engine authenticates.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "core/bytes.h"
#include "core/error.h"

namespace blobseal::store::s3 {

inline constexpr std::size_t kMaxRecordHeaderBytes = 16u << 20;
inline constexpr std::size_t kMaxRecordMetadataEntries = 1024;
inline constexpr std::size_t kMaxRecordMetadataItemBytes = 64u << 10;
// Whatever the fields say, a record is at most this long (a header at its limit plus a little metadata).
inline constexpr std::size_t kMaxRecordBytes = 32u << 20;

struct ObjectRecord {
  std::string key;
  std::array<std::uint8_t, 16> revision{};
  std::string body_id;    // "" when the body is empty (no body object)
  std::string body_etag;  // unquoted
  std::uint64_t body_size = 0;
  std::int64_t modified_unix_ns = 0;
  Bytes header;
  std::map<std::string, std::string> metadata;
};

// ResourceExhausted when a limit above is exceeded.
Status check_record_limits(const Bytes& header, const std::map<std::string, std::string>& metadata);

Result<Bytes> encode_record(const ObjectRecord& record);
// DataLoss for anything but a record encode_record produced.
Result<ObjectRecord> decode_record(ByteSpan bytes);

}  // namespace blobseal::store::s3
