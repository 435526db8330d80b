#include "store/object_store.h"

#include <fmt/format.h>

namespace blobseal::store {

namespace {

// The length of the UTF-8 sequence that starts at key[i], or 0 when it is not a well-formed sequence (RFC 3629
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). NUL is well-formed here; the caller refuses it.
std::size_t utf8_sequence_length(std::string_view key, std::size_t i) {
  auto byte = [&](std::size_t at) { return static_cast<unsigned char>(key[at]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong below U+0800
    if (lead == 0xED) second_max = 0x9F;  // U+D800..U+DFFF are surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong below U+10000
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, an overlong two-byte lead (C0, C1) or F5..FF
  }
  if (i + length > key.size()) return 0;
  if (byte(i + 1) < second_min || byte(i + 1) > second_max) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return length;
}

}  // namespace

Status validate_key(std::string_view key) {
  if (key.empty()) return make_error(ErrorCode::kInvalidArgument, "invalid object key: empty");
  if (key.size() > kMaxKeyBytes)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid object key: {} bytes, the limit is {}", key.size(), kMaxKeyBytes));
  for (std::size_t i = 0; i < key.size();) {
    if (key[i] == '\0')
      return make_error(ErrorCode::kInvalidArgument, fmt::format("invalid object key: NUL byte at offset {}", i));
    std::size_t length = utf8_sequence_length(key, i);
    if (length == 0)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("invalid object key: not valid UTF-8 at byte offset {}", i));
    i += length;
  }
  return {};
}

}  // namespace blobseal::store
