// Key material. SecretBytes owns its bytes, wipes them when it is destroyed or reassigned, cannot be copied by
// accident (clone() is explicit) and has no stream or fmt formatter, so a key cannot end up in a log line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace blobseal {

// Overwrites memory in a way the compiler may not elide (explicit_bzero).
void secure_zero(void* data, std::size_t size);

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);  // zero-filled
  explicit SecretBytes(std::span<const std::uint8_t> bytes);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes clone() const { return SecretBytes(view()); }

  std::span<const std::uint8_t> view() const { return {data_, size_}; }
  std::span<std::uint8_t> mutable_view() { return {data_, size_}; }
  const std::uint8_t* data() const { return data_; }
  std::uint8_t* data() { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void wipe();

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace blobseal
