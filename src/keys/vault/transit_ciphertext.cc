#include "keys/vault/transit_ciphertext.h"

#include <charconv>

namespace blobseal::keys::vault {

std::optional<std::uint32_t> transit_ciphertext_version(std::string_view ciphertext) {
  constexpr std::string_view kPrefix = "vault:v";
  if (ciphertext.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = ciphertext.substr(kPrefix.size());
  std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) return std::nullopt;
  std::string_view digits = rest.substr(0, colon);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  for (char c : digits)
    if (c < '0' || c > '9') return std::nullopt;
  std::uint32_t version = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (ec != std::errc() || end != digits.data() + digits.size() || version == 0) return std::nullopt;
  return version;
}

}  // namespace blobseal::keys::vault
