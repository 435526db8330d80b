// The ciphertext strings of Vault / OpenBao Transit: "vault:v<N>:<base64>", where N is the key version that
// encrypted it. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace blobseal::keys::vault {

// The key version N of a "vault:v<N>:<payload>" ciphertext, or nullopt when `ciphertext` does not have that shape
// (no prefix, N empty, zero, with a leading zero or above 2^32-1, or an empty payload). The payload is not decoded.
std::optional<std::uint32_t> transit_ciphertext_version(std::string_view ciphertext);

}  // namespace blobseal::keys::vault
