#include "crypto/primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cpuid.h>
#include <cstdio>
#include <cstdlib>

namespace blobseal::crypto {

void random_bytes(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("blobseal: the random number generator failed; stopping rather than risk nonce reuse\n", stderr);
    std::abort();
  }
}

SecretBytes random_secret(std::size_t size) {
  SecretBytes s(size);
  random_bytes(s.mutable_view());
  return s;
}

namespace {
// The salt pointer must not be NULL even when empty (OpenSSL 3.0 fails the derivation otherwise).
const std::uint8_t kEmpty[1] = {0};

Status hkdf(int mode, std::span<const std::uint8_t> key, std::span<const std::uint8_t> salt,
            std::span<const std::uint8_t> info, std::span<std::uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return make_error(ErrorCode::kInternal, "HKDF unavailable");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return make_error(ErrorCode::kInternal, "HKDF context allocation failed");
  char digest[] = "SHA512";
  OSSL_PARAM params[6];
  int n = 0;
  params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(key.empty() ? kEmpty : key.data()), key.size());
  if (mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY)
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.empty() ? kEmpty : salt.data()), salt.size());
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.empty() ? kEmpty : info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  int rc = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) return make_error(ErrorCode::kInvalidArgument, "HKDF derivation failed");
  return {};
}
}  // namespace

Status hkdf_expand_sha512(std::span<const std::uint8_t> prk, std::span<const std::uint8_t> info,
                          std::span<std::uint8_t> out) {
  return hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, {}, info, out);
}

Status hkdf_sha512(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                   std::span<const std::uint8_t> info, std::span<std::uint8_t> out) {
  return hkdf(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, ikm, salt, info, out);
}

std::array<std::uint8_t, 32> hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.empty() ? kEmpty : key.data(), static_cast<int>(key.size()),
       data.empty() ? kEmpty : data.data(), data.size(), out.data(), &len);
  return out;
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.empty() ? kEmpty : data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Digest::Digest(Algorithm algorithm) : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), algorithm == Algorithm::kMd5 ? EVP_md5() : EVP_sha256(), nullptr);
}
Digest::~Digest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
Digest::Digest(Digest&& o) noexcept : ctx_(o.ctx_) { o.ctx_ = nullptr; }
Digest& Digest::operator=(Digest&& o) noexcept {
  std::swap(ctx_, o.ctx_);
  return *this;
}
void Digest::update(std::span<const std::uint8_t> data) {
  if (!data.empty()) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}
std::vector<std::uint8_t> Digest::finish() {
  std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  out.resize(len);
  return out;
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool cpu_has_aes_acceleration() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  bool aesni = (ecx & bit_AES) != 0;
  bool pclmul = (ecx & bit_PCLMUL) != 0;
  return aesni && pclmul;
#else
  return false;  // other architectures: reported as unknown/slow until detection is added for them
#endif
}

}  // namespace blobseal::crypto
