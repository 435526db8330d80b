// AES-256-GCM with a reusable context: set the key once, then seal/open many messages with different nonces
// (what a chunked stream does 60,000 times per GiB). OpenSSL stays behind the pimpl.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/error.h"
#include "core/secret_bytes.h"

namespace blobseal::crypto {

inline constexpr std::size_t kAesGcmKeySize = 32;
inline constexpr std::size_t kAesGcmNonceSize = 12;
inline constexpr std::size_t kAesGcmTagSize = 16;

class AesGcm {
 public:
  // key must be 32 bytes.
  static Result<AesGcm> create(std::span<const std::uint8_t> key);
  ~AesGcm();
  AesGcm(AesGcm&&) noexcept;
  AesGcm& operator=(AesGcm&&) noexcept;

  // Encrypts `plaintext` into `out` (same size; may alias plaintext exactly) and writes the tag.
  Status seal(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
              std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out,
              std::span<std::uint8_t, kAesGcmTagSize> tag);

  // Decrypts and verifies. On a tag mismatch returns kDataLoss and zeroes `out`, so no unverified byte
  // is ever left behind for a careless caller. `out` may alias `ciphertext` exactly.
  Status open(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
              std::span<const std::uint8_t> ciphertext, std::span<const std::uint8_t> tag,
              std::span<std::uint8_t> out);

 private:
  struct Impl;
  explicit AesGcm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One-shot AES-GCM for arbitrary nonce sizes (Wycheproof vectors); the data path uses AesGcm.
Result<std::vector<std::uint8_t>> aes_gcm_open_once(std::span<const std::uint8_t> key, std::span<const std::uint8_t> iv,
                                                    std::span<const std::uint8_t> aad,
                                                    std::span<const std::uint8_t> ciphertext,
                                                    std::span<const std::uint8_t> tag);

}  // namespace blobseal::crypto
