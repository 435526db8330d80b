#include "s3/tags.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "s3/request_target.h"

namespace blobseal::s3 {

namespace {

constexpr std::string_view kHeaderMessage =
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name "
    "duplicates.";

// Decodes one UTF-8 code point at text[i], advancing i; nullopt when the sequence is not well-formed (RFC 3629).
std::optional<char32_t> next_code_point(std::string_view text, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  std::size_t left = text.size() - i;
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < left && byte(i + k) >= lo && byte(i + k) <= hi;
  };
  char32_t cp;
  std::size_t n;
  if (c < 0x80) {
    cp = c;
    n = 1;
  } else if (c >= 0xC2 && c <= 0xDF && cont(1)) {
    cp = c & 0x1F;
    n = 2;
  } else if ((c == 0xE0 && cont(1, 0xA0) && cont(2)) || (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && cont(1) && cont(2)) ||
             (c == 0xED && cont(1, 0x80, 0x9F) && cont(2))) {
    cp = c & 0x0F;
    n = 3;
  } else if ((c == 0xF0 && cont(1, 0x90) && cont(2) && cont(3)) || (c >= 0xF1 && c <= 0xF3 && cont(1) && cont(2) && cont(3)) ||
             (c == 0xF4 && cont(1, 0x80, 0x8F) && cont(2) && cont(3))) {
    cp = c & 0x07;
    n = 4;
  } else {
    return std::nullopt;
  }
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  i += n;
  return cp;
}

struct Block {
  char32_t first, last;
};

// Code points beyond ASCII that are not letters, numbers or separators: controls, format characters, combining
// marks, punctuation and symbol blocks, private use, emoji. Sorted, for binary search.
constexpr Block kRefused[] = {
    {0x0080, 0x009F}, {0x00A1, 0x00A9}, {0x00AB, 0x00B1}, {0x00B4, 0x00B4}, {0x00B6, 0x00B8}, {0x00BB, 0x00BB},
    {0x00BF, 0x00BF}, {0x00D7, 0x00D7}, {0x00F7, 0x00F7}, {0x02C2, 0x02C5}, {0x02D2, 0x02DF}, {0x02E5, 0x02EB},
    {0x02ED, 0x02ED}, {0x02EF, 0x036F}, {0x0483, 0x0489}, {0x055A, 0x055F}, {0x0589, 0x058A}, {0x0591, 0x05C7},
    {0x0600, 0x061F}, {0x064B, 0x065F}, {0x066A, 0x066D}, {0x06D4, 0x06D4}, {0x06D6, 0x06E4}, {0x06E7, 0x06ED},
    {0x0964, 0x0965}, {0x0E3F, 0x0E3F}, {0x0E4F, 0x0E4F}, {0x0E5A, 0x0E5B}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
    {0x200B, 0x2027}, {0x202A, 0x202E}, {0x2030, 0x205E}, {0x2060, 0x206F}, {0x20A0, 0x20FF}, {0x2190, 0x245F},
    {0x2500, 0x2775}, {0x2794, 0x2BFF}, {0x2E00, 0x2E7F}, {0x2FF0, 0x2FFF}, {0x3001, 0x3004}, {0x3008, 0x3020},
    {0x302A, 0x3030}, {0x3036, 0x3037}, {0x303D, 0x303F}, {0x3099, 0x309C}, {0x30A0, 0x30A0}, {0x30FB, 0x30FB},
    {0xD800, 0xF8FF}, {0xFE00, 0xFE6F}, {0xFEFF, 0xFEFF}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40},
    {0xFF5B, 0xFF65}, {0xFFE0, 0xFFFF}, {0x1D100, 0x1D3FF}, {0x1F000, 0x1FBFF}, {0xE0000, 0x10FFFF},
};

bool allowed_code_point(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           std::string_view(" +-=._:/@").find(static_cast<char>(cp)) != std::string_view::npos;
  }
  auto it = std::upper_bound(std::begin(kRefused), std::end(kRefused), cp,
                             [](char32_t v, const Block& b) { return v < b.first; });
  if (it == std::begin(kRefused)) return true;
  --it;
  return cp > it->last;
}

// The number of code points of `text` when it is well-formed UTF-8 of allowed characters; nullopt otherwise.
std::optional<std::size_t> allowed_length(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto cp = next_code_point(text, i);
    if (!cp || !allowed_code_point(*cp)) return std::nullopt;
    ++count;
  }
  return count;
}

tl::unexpected<Error> invalid_tag(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message), "InvalidTag");
}

std::string encode_component(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

// Splits "k=v&k2" into decoded pairs; nullopt on a malformed escape. Empty segments are skipped.
std::optional<TagSet> split_query(std::string_view text) {
  TagSet out;
  while (!text.empty()) {
    auto amp = text.find('&');
    std::string_view segment = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (segment.empty()) continue;
    auto eq = segment.find('=');
    auto key = percent_decode(segment.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : segment.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

}  // namespace

Status validate_tags(const TagSet& tags) {
  if (tags.size() > kMaxObjectTags)
    return make_error(ErrorCode::kInvalidArgument, "Object tags cannot be greater than 10", "BadRequest");
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const auto& [key, value] = tags[i];
    auto key_length = allowed_length(key);
    if (!key_length || *key_length == 0) return invalid_tag("The TagKey you have provided is invalid");
    if (*key_length > kMaxTagKeyChars) return invalid_tag("The TagKey you have provided is too long, max 128");
    auto value_length = allowed_length(value);
    if (!value_length) return invalid_tag("The TagValue you have provided is invalid");
    if (*value_length > kMaxTagValueChars) return invalid_tag("The TagValue you have provided is too long, max 256");
    if (key.size() >= 4 && (key[0] | 0x20) == 'a' && (key[1] | 0x20) == 'w' && (key[2] | 0x20) == 's' && key[3] == ':')
      return invalid_tag("Your TagKey cannot be prefixed with aws:");
    for (std::size_t j = 0; j < i; ++j)
      if (tags[j].first == key) return invalid_tag("Cannot provide multiple Tags with the same key");
  }
  return {};
}

Result<TagSet> parse_tagging_header(std::string_view header) {
  auto tags = split_query(header);
  if (!tags) return make_error(ErrorCode::kInvalidArgument, std::string(kHeaderMessage), "InvalidArgument");
  for (std::size_t i = 0; i < tags->size(); ++i) {
    if ((*tags)[i].first.empty())
      return make_error(ErrorCode::kInvalidArgument, std::string(kHeaderMessage), "InvalidArgument");
    for (std::size_t j = 0; j < i; ++j)
      if ((*tags)[j].first == (*tags)[i].first)
        return make_error(ErrorCode::kInvalidArgument, std::string(kHeaderMessage), "InvalidArgument");
  }
  BLOBSEAL_TRY_STATUS(validate_tags(*tags));
  return std::move(*tags);
}

std::string encode_tags(const TagSet& tags) {
  std::string out;
  for (const auto& [key, value] : tags) {
    if (!out.empty()) out.push_back('&');
    out += encode_component(key);
    out.push_back('=');
    out += encode_component(value);
  }
  return out;
}

TagSet decode_tags(std::string_view encoded) {
  TagSet out;
  while (!encoded.empty()) {
    auto amp = encoded.find('&');
    std::string_view segment = encoded.substr(0, amp);
    encoded = amp == std::string_view::npos ? std::string_view() : encoded.substr(amp + 1);
    auto eq = segment.find('=');
    if (segment.empty() || eq == std::string_view::npos) continue;
    auto key = percent_decode(segment.substr(0, eq), false);
    auto value = percent_decode(segment.substr(eq + 1), false);
    if (key && value) out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

}  // namespace blobseal::s3
