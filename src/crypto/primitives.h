// Hashes, MACs, key derivation, randomness and constant-time comparison.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/secret_bytes.h"

namespace blobseal::crypto {

// Fills `out` from the operating system's CSPRNG (OpenSSL RAND_bytes). Aborts the process if the generator fails:
// continuing without randomness would repeat nonces.
void random_bytes(std::span<std::uint8_t> out);
SecretBytes random_secret(std::size_t size);

// HKDF-Expand (RFC 5869, no Extract step) with SHA-512. `prk` may be shorter than the hash (Cobblestone uses the
// 32-byte input key directly). Fails only for out.size() > 255 * 64.
Status hkdf_expand_sha512(std::span<const std::uint8_t> prk, std::span<const std::uint8_t> info,
                          std::span<std::uint8_t> out);
// Full HKDF (extract + expand) with SHA-512, for the Wycheproof vectors.
Status hkdf_sha512(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                   std::span<const std::uint8_t> info, std::span<std::uint8_t> out);

std::array<std::uint8_t, 32> hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data);

// Incremental MD5 (S3 ETags) and SHA-256 (payload hashes).
class Digest {
 public:
  enum class Algorithm { kMd5, kSha256 };
  explicit Digest(Algorithm algorithm);
  ~Digest();
  Digest(Digest&&) noexcept;
  Digest& operator=(Digest&&) noexcept;
  void update(std::span<const std::uint8_t> data);
  std::vector<std::uint8_t> finish();

 private:
  void* ctx_;
};

// Compares in time independent of the contents (CRYPTO_memcmp); different lengths compare unequal.
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// True when the CPU has AES and carry-less multiply instructions that OpenSSL uses for AES-GCM.
bool cpu_has_aes_acceleration();

}  // namespace blobseal::crypto
