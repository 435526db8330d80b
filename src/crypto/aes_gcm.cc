#include "crypto/aes_gcm.h"

#include <openssl/evp.h>

#include <cstring>

namespace blobseal::crypto {

struct AesGcm::Impl {
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  ~Impl() {
    EVP_CIPHER_CTX_free(enc);  // EVP_CIPHER_CTX_free cleanses the expanded key schedule
    EVP_CIPHER_CTX_free(dec);
  }
};

AesGcm::AesGcm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AesGcm::~AesGcm() = default;
AesGcm::AesGcm(AesGcm&&) noexcept = default;
AesGcm& AesGcm::operator=(AesGcm&&) noexcept = default;

Result<AesGcm> AesGcm::create(std::span<const std::uint8_t> key) {
  if (key.size() != kAesGcmKeySize) return make_error(ErrorCode::kInvalidArgument, "AES-256-GCM key must be 32 bytes");
  auto impl = std::make_unique<Impl>();
  impl->enc = EVP_CIPHER_CTX_new();
  impl->dec = EVP_CIPHER_CTX_new();
  if (!impl->enc || !impl->dec) return make_error(ErrorCode::kResourceExhausted, "cannot allocate cipher context");
  if (EVP_EncryptInit_ex(impl->enc, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(impl->enc, EVP_CTRL_GCM_SET_IVLEN, kAesGcmNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(impl->enc, nullptr, nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(impl->dec, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(impl->dec, EVP_CTRL_GCM_SET_IVLEN, kAesGcmNonceSize, nullptr) != 1 ||
      EVP_DecryptInit_ex(impl->dec, nullptr, nullptr, key.data(), nullptr) != 1) {
    return make_error(ErrorCode::kInternal, "AES-256-GCM initialisation failed");
  }
  return AesGcm(std::move(impl));
}

Status AesGcm::seal(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
                    std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out,
                    std::span<std::uint8_t, kAesGcmTagSize> tag) {
  if (nonce.size() != kAesGcmNonceSize || out.size() != plaintext.size())
    return make_error(ErrorCode::kInvalidArgument, "AES-GCM seal: bad nonce or output size");
  EVP_CIPHER_CTX* c = impl_->enc;
  int len = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1)
    return make_error(ErrorCode::kInternal, "AES-GCM: setting the nonce failed");
  if (!aad.empty() && EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return make_error(ErrorCode::kInternal, "AES-GCM: AAD failed");
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(c, out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    return make_error(ErrorCode::kInternal, "AES-GCM: encryption failed");
  if (EVP_EncryptFinal_ex(c, out.data() + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kAesGcmTagSize, tag.data()) != 1)
    return make_error(ErrorCode::kInternal, "AES-GCM: finalisation failed");
  return {};
}

Status AesGcm::open(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
                    std::span<const std::uint8_t> ciphertext, std::span<const std::uint8_t> tag,
                    std::span<std::uint8_t> out) {
  if (nonce.size() != kAesGcmNonceSize || tag.size() != kAesGcmTagSize || out.size() != ciphertext.size())
    return make_error(ErrorCode::kInvalidArgument, "AES-GCM open: bad nonce, tag or output size");
  EVP_CIPHER_CTX* c = impl_->dec;
  int len = 0;
  bool ok = EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (ciphertext.empty() ||
             EVP_DecryptUpdate(c, out.data(), &len, ciphertext.data(), static_cast<int>(ciphertext.size())) == 1) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kAesGcmTagSize, const_cast<std::uint8_t*>(tag.data())) == 1 &&
            EVP_DecryptFinal_ex(c, out.data() + ciphertext.size(), &len) == 1;
  if (!ok) {
    if (!out.empty()) std::memset(out.data(), 0, out.size());
    return make_error(ErrorCode::kDataLoss, "authentication tag mismatch");
  }
  return {};
}

Result<std::vector<std::uint8_t>> aes_gcm_open_once(std::span<const std::uint8_t> key, std::span<const std::uint8_t> iv,
                                                    std::span<const std::uint8_t> aad,
                                                    std::span<const std::uint8_t> ciphertext,
                                                    std::span<const std::uint8_t> tag) {
  const EVP_CIPHER* cipher = key.size() == 16 ? EVP_aes_128_gcm() : key.size() == 24 ? EVP_aes_192_gcm()
                             : key.size() == 32 ? EVP_aes_256_gcm() : nullptr;
  if (cipher == nullptr || iv.empty()) return make_error(ErrorCode::kInvalidArgument, "unsupported key or IV size");
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  std::vector<std::uint8_t> out(ciphertext.size() + 16);
  int len = 0;
  bool ok = EVP_DecryptInit_ex(c, cipher, nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1 &&
            EVP_DecryptInit_ex(c, nullptr, nullptr, key.data(), iv.data()) == 1 &&
            (aad.empty() || EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (ciphertext.empty() ||
             EVP_DecryptUpdate(c, out.data(), &len, ciphertext.data(), static_cast<int>(ciphertext.size())) == 1) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                                const_cast<std::uint8_t*>(tag.data())) == 1 &&
            EVP_DecryptFinal_ex(c, out.data() + ciphertext.size(), &len) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) return make_error(ErrorCode::kDataLoss, "authentication tag mismatch");
  out.resize(ciphertext.size());
  return out;
}

}  // namespace blobseal::crypto
