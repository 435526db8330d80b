#include "keys/pkcs11/labels.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace blobseal::keys::pkcs11 {

namespace {

bool is_key_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool is_valid_key_id(std::string_view key_id) {
  return !key_id.empty() && key_id.size() <= kMaxKeyIdLength &&
         std::all_of(key_id.begin(), key_id.end(), is_key_id_char);
}

}  // namespace

Status validate_key_id(std::string_view key_id) {
  if (!is_valid_key_id(key_id))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid key name {}: use 1 to {} characters from A-Z a-z 0-9 . _ -",
                                  quote_name(key_id), kMaxKeyIdLength));
  return {};
}

std::string object_label(std::string_view key_id, std::uint32_t version) {
  return fmt::format("{}{}:v{}", kLabelPrefix, key_id, version);
}

std::optional<ObjectName> parse_object_label(std::string_view label) {
  if (!label.starts_with(kLabelPrefix)) return std::nullopt;
  label.remove_prefix(kLabelPrefix.size());
  std::size_t colon = label.rfind(":v");
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view key_id = label.substr(0, colon);
  std::string_view digits = label.substr(colon + 2);
  if (!is_valid_key_id(key_id) || digits.empty() || digits.front() == '0') return std::nullopt;
  std::uint32_t version = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return ObjectName{std::string(key_id), version};
}

std::string quote_name(std::string_view name) {
  constexpr std::size_t kShown = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < name.size() && i < kShown; ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  if (name.size() > kShown) out += "...";
  return out;
}

}  // namespace blobseal::keys::pkcs11
