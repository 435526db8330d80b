#include "keys/local/keyring_file.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "crypto/aes_gcm.h"

namespace blobseal::keys::local {

namespace {

using nlohmann::json;

bool is_key_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Records where a parse failed, and nothing of the text around it (the lexer's "last read" token may be key
// material, so nlohmann's own messages are never used).
struct ErrorPositionSax {
  std::size_t position = 0;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(json::string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception&) {
    position = pos;
    return false;
  }
};

// Overwrites every "material" string in a parsed document before it is freed.
void wipe_material(json& document) {
  if (!document.is_object()) return;
  auto keys = document.find("keys");
  if (keys == document.end() || !keys->is_object()) return;
  for (auto& [name, key] : keys->items()) {
    if (!key.is_object()) continue;
    auto versions = key.find("versions");
    if (versions == key.end() || !versions->is_array()) continue;
    for (auto& version : *versions) {
      if (!version.is_object()) continue;
      auto material = version.find("material");
      if (material != version.end() && material->is_string()) {
        auto& s = material->get_ref<json::string_t&>();
        secure_zero(s.data(), s.size());
      }
    }
  }
}

class KeyringParser {
 public:
  explicit KeyringParser(std::string_view path) : path_(path) {}

  Result<KeyringContents> parse(json& document) {
    if (!document.is_object()) return fail("the top level must be a JSON object");
    KeyringContents contents;
    bool has_format = false;
    bool has_keys = false;
    bool has_default = false;
    for (auto& [field, value] : document.items()) {
      if (field == "format") {
        if (!value.is_string() || value.get_ref<const std::string&>() != kKeyringFormat)
          return fail(fmt::format("\"format\" must be \"{}\" (this build reads no other keyring format)",
                                  kKeyringFormat));
        has_format = true;
      } else if (field == "default_key") {
        if (!value.is_string()) return fail("\"default_key\" must be a string");
        contents.default_key = value.get<std::string>();
        has_default = true;
      } else if (field == "dual_read_versions") {
        if (!value.is_number_unsigned() || value.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
          return fail("\"dual_read_versions\" must be a non-negative integer (0: every non-retired version)");
        contents.dual_read_versions = static_cast<unsigned>(value.get<std::uint64_t>());
      } else if (field == "keys") {
        if (!value.is_object()) return fail("\"keys\" must be an object of named keys");
        for (auto& [name, key] : value.items()) {
          if (auto valid = validate_key_name(name); !valid)
            return fail(fmt::format("key {}: {}", quote_name(name), valid.error().message()));
          auto entry = parse_key(name, key);
          if (!entry) return tl::unexpected(entry.error());
          contents.keys.emplace(name, std::move(*entry));
        }
        has_keys = true;
      } else {
        return fail(fmt::format("unknown field {} at the top level", quote_name(field)));
      }
    }
    if (!has_format) return fail(fmt::format("\"format\": \"{}\" is missing", kKeyringFormat));
    if (!has_keys || contents.keys.empty()) return fail("the keyring has no keys");
    if (!has_default) return fail("\"default_key\" is missing");
    if (contents.find(contents.default_key) == nullptr)
      return fail(fmt::format("\"default_key\" names key {}, which is not in \"keys\"", quote_name(contents.default_key)));
    return contents;
  }

 private:
  Result<KeyEntry> parse_key(const std::string& name, json& key) {
    if (!key.is_object()) return fail(fmt::format("key \"{}\" must be an object with \"versions\"", name));
    KeyEntry entry;
    bool has_versions = false;
    for (auto& [field, value] : key.items()) {
      if (field != "versions") return fail(fmt::format("unknown field {} in key \"{}\"", quote_name(field), name));
      if (!value.is_array() || value.empty())
        return fail(fmt::format("key \"{}\": \"versions\" must be a non-empty array", name));
      for (std::size_t i = 0; i < value.size(); ++i) {
        auto version = parse_version(name, i, value[i]);
        if (!version) return tl::unexpected(version.error());
        entry.versions.push_back(std::move(*version));
      }
      has_versions = true;
    }
    if (!has_versions) return fail(fmt::format("key \"{}\" has no \"versions\"", name));
    std::sort(entry.versions.begin(), entry.versions.end(),
              [](const KeyVersionEntry& a, const KeyVersionEntry& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < entry.versions.size(); ++i)
      if (entry.versions[i].version == entry.versions[i - 1].version)
        return fail(fmt::format("key \"{}\" lists version {} twice", name, entry.versions[i].version));
    return entry;
  }

  Result<KeyVersionEntry> parse_version(const std::string& name, std::size_t index, json& value) {
    // Until the version number is known, name the entry by its position.
    std::string where = fmt::format("key \"{}\" versions[{}]", name, index);
    if (!value.is_object()) return fail(fmt::format("{} must be an object", where));
    KeyVersionEntry entry;
    if (auto v = value.find("version"); v != value.end()) {
      if (!v->is_number_unsigned() || v->get<std::uint64_t>() == 0 ||
          v->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
        return fail(fmt::format("{}: \"version\" must be an integer from 1 to 4294967295", where));
      entry.version = static_cast<std::uint32_t>(v->get<std::uint64_t>());
      where = fmt::format("key \"{}\" version {}", name, entry.version);
    } else {
      return fail(fmt::format("{} has no \"version\"", where));
    }
    bool has_material = false;
    for (auto& [field, v] : value.items()) {
      if (field == "version") continue;
      if (field == "created") {
        if (!v.is_number_integer()) return fail(fmt::format("{}: \"created\" must be Unix seconds", where));
        entry.created_unix = v.get<std::int64_t>();
      } else if (field == "retired") {
        if (v.is_null()) continue;
        if (!v.is_number_integer())
          return fail(fmt::format("{}: \"retired\" must be null or Unix seconds", where));
        entry.retired_unix = v.get<std::int64_t>();
      } else if (field == "destroyed") {
        if (v.is_null()) continue;
        if (!v.is_number_integer())
          return fail(fmt::format("{}: \"destroyed\" must be null or Unix seconds", where));
        entry.destroyed_unix = v.get<std::int64_t>();
      } else if (field == "material") {
        if (!v.is_string())
          return fail(fmt::format("{}: \"material\" must be a base64 string of 32 bytes", where));
        auto material = decode_key_material(v.get_ref<const std::string&>());
        if (!material) return fail(fmt::format("{}: \"material\" {}", where, material.error().message()));
        entry.material = std::move(*material);
        has_material = true;
      } else {
        return fail(fmt::format("unknown field {} in {}", quote_name(field), where));
      }
    }
    if (entry.destroyed_unix) {
      if (has_material) return fail(fmt::format("{} is destroyed but still has \"material\"", where));
      if (!entry.retired_unix) return fail(fmt::format("{} is destroyed but not retired", where));
    } else if (!has_material) {
      return fail(fmt::format("{} has no \"material\"", where));
    }
    return entry;
  }

  tl::unexpected<Error> fail(std::string_view what) const {
    return make_error(ErrorCode::kFailedPrecondition, fmt::format("keyring {} is invalid: {}", path_, what));
  }

  std::string_view path_;
};

}  // namespace

const KeyVersionEntry* KeyEntry::find(std::uint32_t version) const {
  auto it = std::lower_bound(versions.begin(), versions.end(), version,
                             [](const KeyVersionEntry& e, std::uint32_t v) { return e.version < v; });
  return it != versions.end() && it->version == version ? &*it : nullptr;
}

KeyVersionEntry* KeyEntry::find(std::uint32_t version) {
  return const_cast<KeyVersionEntry*>(static_cast<const KeyEntry*>(this)->find(version));
}

const KeyVersionEntry* KeyEntry::current() const {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it)
    if (!it->retired_unix) return &*it;
  return nullptr;
}

KeyVersionState KeyEntry::state_of(const KeyVersionEntry& entry, unsigned window) const {
  if (entry.destroyed_unix) return KeyVersionState::kDestroyed;
  if (entry.retired_unix) return KeyVersionState::kRetired;
  // Rank among non-retired versions, newest first.
  unsigned rank = 0;
  for (auto it = versions.rbegin(); it != versions.rend() && it->version > entry.version; ++it)
    if (!it->retired_unix) ++rank;
  if (rank == 0) return KeyVersionState::kCurrent;
  if (window == 0 || rank < window) return KeyVersionState::kActive;
  return KeyVersionState::kExpired;
}

const KeyEntry* KeyringContents::find(std::string_view key_id) const {
  auto it = keys.find(key_id);
  return it == keys.end() ? nullptr : &it->second;
}

KeyEntry* KeyringContents::find(std::string_view key_id) {
  auto it = keys.find(key_id);
  return it == keys.end() ? nullptr : &it->second;
}

Status validate_key_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxKeyNameLength || !std::all_of(name.begin(), name.end(), is_key_name_char))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid key name {}: use 1 to {} characters from A-Z a-z 0-9 . _ -",
                                  quote_name(name), kMaxKeyNameLength));
  return {};
}

Result<SecretBytes> decode_key_material(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  constexpr std::string_view kNotBase64 =
      "is not valid base64 (expected the standard base64 encoding, with padding, of exactly 32 bytes)";
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "is empty (expected the base64 of 32 bytes)");
  if (text.size() % 4 != 0) return make_error(ErrorCode::kInvalidArgument, std::string(kNotBase64));
  // Validate the syntax first, so the size is known before anything is decoded.
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) return make_error(ErrorCode::kInvalidArgument, std::string(kNotBase64));
      ++padding;
    } else if (padding > 0 || base64_value(c) < 0) {
      return make_error(ErrorCode::kInvalidArgument, std::string(kNotBase64));
    }
  }
  std::size_t size = text.size() / 4 * 3 - padding;
  if (size != crypto::kAesGcmKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("decodes to {} bytes, not {} (generate a key with `openssl rand -base64 32`)", size,
                                  crypto::kAesGcmKeySize));
  SecretBytes out(size);
  std::size_t o = 0;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      int v = text[i + j] == '=' ? 0 : base64_value(text[i + j]);
      n = n << 6 | static_cast<std::uint32_t>(v);
    }
    std::uint8_t bytes[3] = {static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                             static_cast<std::uint8_t>(n)};
    for (std::size_t j = 0; j < 3 && o < size; ++j) out.data()[o++] = bytes[j];
    secure_zero(bytes, sizeof bytes);
    secure_zero(&n, sizeof n);
  }
  return out;
}

Result<KeyringContents> parse_keyring(ByteSpan text, std::string_view path) {
  const char* first = reinterpret_cast<const char*>(text.data());
  const char* last = first + text.size();
  json document = json::parse(first, last, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    ErrorPositionSax sax;
    json::sax_parse(first, last, &sax, nlohmann::detail::input_format_t::json, /*strict=*/true);
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("keyring {} is not valid JSON (syntax error near byte {})", path, sax.position));
  }
  auto contents = KeyringParser(path).parse(document);
  wipe_material(document);
  return contents;
}

SecretBytes serialize_keyring(const KeyringContents& contents) {
  // Reserve an upper bound up front so the buffer never reallocates (a reallocation would leave an unwiped copy of
  // the material behind): a version line is at most ~170 bytes, a key's lines at most ~100 plus its name.
  std::size_t bound = 256 + contents.default_key.size();
  for (const auto& [name, key] : contents.keys) bound += 128 + name.size() + key.versions.size() * 256;
  std::string out;
  out.reserve(bound);
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{{\n  \"format\": \"{}\",\n  \"default_key\": \"{}\",\n  \"dual_read_versions\": {},\n",
                 kKeyringFormat, contents.default_key, contents.dual_read_versions);
  fmt::format_to(it, "  \"keys\": {{");
  bool first_key = true;
  for (const auto& [name, key] : contents.keys) {
    fmt::format_to(it, "{}\n    \"{}\": {{\n      \"versions\": [", first_key ? "" : ",", name);
    first_key = false;
    bool first_version = true;
    for (const auto& v : key.versions) {
      fmt::format_to(it, "{}\n        {{\"version\": {}, \"created\": {}, \"retired\": ", first_version ? "" : ",",
                     v.version, v.created_unix);
      first_version = false;
      if (v.retired_unix) fmt::format_to(it, "{}", *v.retired_unix);
      else fmt::format_to(it, "null");
      if (v.destroyed_unix) {
        fmt::format_to(it, ", \"destroyed\": {}}}", *v.destroyed_unix);
        continue;
      }
      std::string material = to_base64(v.material.view());
      fmt::format_to(it, ", \"material\": \"{}\"}}", material);
      secure_zero(material.data(), material.size());
    }
    fmt::format_to(it, "\n      ]\n    }}");
  }
  fmt::format_to(it, "\n  }}\n}}\n");
  SecretBytes text(as_bytes(out));
  secure_zero(out.data(), out.size());
  return text;
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
  if (name.size() > kShown) out += fmt::format(" (truncated, {} bytes)", name.size());
  return out;
}

}  // namespace blobseal::keys::local
