#include "core/secret_bytes.h"

#include <cstring>
#include <string.h>  // explicit_bzero
#include <utility>

namespace blobseal {

void secure_zero(void* data, std::size_t size) {
  if (data != nullptr && size > 0) explicit_bzero(data, size);
}

SecretBytes::SecretBytes(std::size_t size) : data_(size ? new std::uint8_t[size]() : nullptr), size_(size) {}

SecretBytes::SecretBytes(std::span<const std::uint8_t> bytes) : SecretBytes(bytes.size()) {
  if (size_ > 0) std::memcpy(data_, bytes.data(), size_);
}

SecretBytes::~SecretBytes() { wipe(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::wipe() {
  secure_zero(data_, size_);
  delete[] data_;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace blobseal
