#include "engine/sealing_source.h"

#include <algorithm>
#include <cstring>

#include "seal/sealed_reader.h"

namespace blobseal::engine {

SealingSource::SealingSource(ByteSource& plaintext)
    : plaintext_(plaintext), md5_(crypto::Digest::Algorithm::kMd5) {}

Status SealingSource::start(const SecretBytes& dek, const seal::ObjectId& object_id, std::uint32_t part_number) {
  auto encryptor = seal::begin_stream(dek, object_id, part_number, queue_);
  if (!encryptor) return make_error(encryptor.error());
  encryptor_.emplace(std::move(*encryptor));
  input_.resize(seal::kDefaultBatchChunks * seal::kChunkSize);
  return {};
}

Result<std::size_t> SealingSource::read(std::span<std::uint8_t> out) {
  if (!encryptor_) return make_error(ErrorCode::kInternal, "SealingSource used before start()");
  while (queue_.available() == 0 && !finished_) {
    std::size_t n = BLOBSEAL_TRY(read_full(plaintext_, input_));
    if (n > 0) {
      md5_.update(std::span(input_.data(), n));
      BLOBSEAL_TRY_STATUS(encryptor_->write(std::span(input_.data(), n)));
    }
    if (n < input_.size()) {
      BLOBSEAL_TRY_STATUS(encryptor_->finish());
      finished_ = true;
      etag_ = to_hex(md5_.finish());
      secure_zero(input_.data(), input_.size());
    }
  }
  return queue_.take(out);
}

Status SealingSource::Queue::write(std::span<const std::uint8_t> data) {
  if (head_ == bytes_.size()) {
    bytes_.clear();
    head_ = 0;
  }
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  return {};
}

std::size_t SealingSource::Queue::take(std::span<std::uint8_t> out) {
  std::size_t n = std::min(out.size(), available());
  std::memcpy(out.data(), bytes_.data() + head_, n);
  head_ += n;
  return n;
}

}  // namespace blobseal::engine
