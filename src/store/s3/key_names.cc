#include "store/s3/key_names.h"

#include <algorithm>
#include <array>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::store::s3 {

namespace {

constexpr std::string_view kAlphabet = "0123456789abcdefghijklmnopqrstuv";

int symbol_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'v') return c - 'a' + 10;
  return -1;
}

std::string group(std::string_view symbols) {
  std::string out;
  out.reserve(symbols.size() + symbols.size() / kSymbolsPerComponent);
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    if (i > 0 && i % kSymbolsPerComponent == 0) out.push_back('/');
    out.push_back(symbols[i]);
  }
  return out;
}

// Removes the separators of a grouped string, checking that they are exactly where group() puts them.
std::optional<std::string> ungroup(std::string_view grouped) {
  std::string out;
  out.reserve(grouped.size());
  std::size_t in_component = 0;
  for (std::size_t i = 0; i < grouped.size(); ++i) {
    char c = grouped[i];
    if (c == '/') {
      if (in_component != kSymbolsPerComponent || i + 1 == grouped.size()) return std::nullopt;
      in_component = 0;
      continue;
    }
    if (in_component == kSymbolsPerComponent) return std::nullopt;
    if (symbol_value(c) < 0) return std::nullopt;
    out.push_back(c);
    ++in_component;
  }
  return out;
}

char predecessor(char c) { return c == 'a' ? '9' : static_cast<char>(c - 1); }

}  // namespace

std::string encode_symbols(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t bits = 0;
  int count = 0;
  for (char ch : bytes) {
    bits = (bits << 8) | static_cast<unsigned char>(ch);
    count += 8;
    while (count >= 5) {
      count -= 5;
      out.push_back(kAlphabet[(bits >> count) & 31]);
    }
    bits &= (1u << count) - 1;
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (5 - count)) & 31]);
  return out;
}

std::optional<std::string> decode_symbols(std::string_view symbols) {
  std::size_t n = symbols.size() * 5 / 8;
  if ((n * 8 + 4) / 5 != symbols.size()) return std::nullopt;
  std::string out;
  out.reserve(n);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : symbols) {
    int v = symbol_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 5) | static_cast<std::uint32_t>(v);
    count += 5;
    if (count >= 8) {
      count -= 8;
      if (out.size() < n) out.push_back(static_cast<char>((bits >> count) & 0xFF));
      bits &= (1u << count) - 1;
    }
  }
  if (out.size() != n || bits != 0) return std::nullopt;  // the padding bits must be zero
  return out;
}

std::string key_name(std::string_view key) {
  std::string symbols = encode_symbols(key);
  if (symbols.size() <= kMaxDirectSymbols) return group(symbols);
  auto digest = crypto::sha256(as_bytes(key));
  std::string hash = encode_symbols(as_string_view(digest));
  std::string out = group(std::string_view(symbols).substr(0, kMaxDirectSymbols));
  out.push_back(kOverflowMarker);
  out += hash;
  return out;
}

std::optional<DecodedName> decode_key_name(std::string_view name) {
  DecodedName out;
  auto marker = name.find(kOverflowMarker);
  if (marker != std::string_view::npos) {
    auto symbols = ungroup(name.substr(0, marker));
    std::string_view hash = name.substr(marker + 1);
    if (!symbols || symbols->size() != kMaxDirectSymbols || hash.size() != kHashSymbols || !decode_symbols(hash))
      return std::nullopt;
    out.overflow = true;
    out.group = std::string(name.substr(0, marker + 1));
    return out;
  }
  auto symbols = ungroup(name);
  if (!symbols || symbols->empty() || symbols->size() > kMaxDirectSymbols) return std::nullopt;
  auto key = decode_symbols(*symbols);
  if (!key || key->empty()) return std::nullopt;
  out.key = std::move(*key);
  return out;
}

std::string start_after_for_keys_from(std::string_view key) {
  if (key.empty()) return {};
  std::string symbols = encode_symbols(key);
  if (symbols.size() > kMaxDirectSymbols) symbols.resize(kMaxDirectSymbols);
  std::string name = group(symbols);
  char last = name.back();
  name.pop_back();
  // Every name >= the key's name continues `name` with a symbol >= `last`, or is greater still.
  if (last != kAlphabet.front()) {
    name.push_back(predecessor(last));
    name.push_back('\x7f');  // above every character a name holds
  }
  return name;
}

std::string name_prefix_for_keys_with(std::string_view key_prefix) {
  std::string symbols = encode_symbols(key_prefix);
  // Only whole symbols: the last, padded one holds bits of the bytes that follow.
  symbols.resize(std::min(key_prefix.size() * 8 / 5, kMaxDirectSymbols));
  return group(symbols);
}

std::string start_after_past_group(std::string_view group_prefix) {
  std::string out(group_prefix);
  out.push_back('\x7f');
  return out;
}

}  // namespace blobseal::store::s3
