// How an object key becomes the name of its record in the upstream bucket (docs/FORMAT.md, "Upstream S3"). Pure.
//
// A key (1..1,024 bytes of UTF-8, any of them: "../x", "a//b", "\n") cannot be an upstream name as it is: S3-like
// servers that keep objects as files (s3rver, MinIO's FS mode) turn '/' into directories, resolve "..", and refuse
// path components over 255 bytes; and a key of 1,024 bytes under a prefix would pass S3's own 1,024-byte limit. So
// a key is encoded, and the encoding keeps what listing needs: byte-wise key order is upstream name order.
//
//   symbols   the key's bits, 5 at a time, as "0123456789abcdefghijklmnopqrstuv" (ASCII order = value order), the
//             last symbol padded with zero bits: ceil(8n/5) symbols for n bytes. Strictly order-preserving: a < b
//             (byte-wise) exactly when symbols(a) < symbols(b), so a listing in name order is in key order.
//   grouping  a '/' after every 160 symbols, so no path component is longer than 160 (+53) characters. Every name
//             has its separators at the same positions, which keeps the order.
//   overflow  keys of more than kMaxDirectSymbols symbols (450 bytes) are named by their first kMaxDirectSymbols
//             symbols, '~' (above every symbol) and 52 symbols of SHA-256(key). Names of overflow keys that share
//             those first symbols sort together, after the one direct name they extend; among themselves they are
//             in hash order, so a listing reads that group whole and sorts it by the keys their records hold.
//
// Names use only [0-9a-v/~]: no escaping in URLs, no case to fold, nothing a filesystem reinterprets.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace blobseal::store::s3 {

inline constexpr std::size_t kSymbolsPerComponent = 160;
inline constexpr std::size_t kMaxDirectSymbols = 720;
inline constexpr std::size_t kHashSymbols = 52;
inline constexpr char kOverflowMarker = '~';

// The order-preserving base-32 symbols of `bytes` (no grouping).
std::string encode_symbols(std::string_view bytes);
// Inverse of encode_symbols; nullopt unless `symbols` is exactly what encode_symbols produces for some bytes
// (valid alphabet, a possible length, zero padding bits).
std::optional<std::string> decode_symbols(std::string_view symbols);

// The name of `key` below the records prefix (no store prefix): grouped symbols, or the overflow form.
std::string key_name(std::string_view key);

// What a name below the records prefix says about its key.
struct DecodedName {
  std::string key;       // the key, for a direct name
  bool overflow = false; // an overflow name: the key is only in the record
  std::string group;     // for an overflow name: the name up to and including the marker (the group's prefix)
};
// nullopt for a string that is not a name key_name() produces (a foreign object in the bucket).
std::optional<DecodedName> decode_key_name(std::string_view name);

// A value for S3's exclusive start-after such that the names listed after it are exactly the names of keys >= `key`
// (and, when `key` is an overflow key, the whole overflow group it belongs to, which the caller filters), in this
// encoding; "" for the empty key (every name). The caller prepends the records prefix.
std::string start_after_for_keys_from(std::string_view key);

// A string that the name of every key starting with `key_prefix` starts with (its whole symbols, grouped): the
// upstream listing prefix for a range of keys.
std::string name_prefix_for_keys_with(std::string_view key_prefix);

// The start-after value that continues a listing past every name of an overflow group (`group` as decoded).
std::string start_after_past_group(std::string_view group);

}  // namespace blobseal::store::s3
