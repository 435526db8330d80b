// Pulls plaintext from a caller's body, seals it as one Cobblestone stream, and hands out the ciphertext: the
// pull-side adapter between a request body and ObjectStore::put. Holds at most one batch of plaintext and its
// ciphertext, and computes the plaintext's MD5 (the S3 ETag) on the way.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "crypto/primitives.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"
#include "seal/sealed_reader.h"

namespace blobseal::engine {

class SealingSource final : public ByteSource {
 public:
  explicit SealingSource(ByteSource& plaintext);

  // Must be called once before read(): the stream is bound to the object id and part number (0 = single stream).
  Status start(const SecretBytes& dek, const seal::ObjectId& object_id, std::uint32_t part_number);

  Result<std::size_t> read(std::span<std::uint8_t> out) override;

  // Valid once read() has returned 0.
  bool finished() const { return finished_; }
  std::uint64_t plaintext_bytes() const { return encryptor_->plaintext_bytes(); }
  const std::string& etag() const { return etag_; }  // hex MD5 of the plaintext
  seal::PartRecord record(std::uint32_t part_number) const { return seal::part_record(part_number, *encryptor_); }

 private:
  // The encryptor writes sealed batches here; read() drains it.
  class Queue final : public ByteSink {
   public:
    Status write(std::span<const std::uint8_t> data) override;
    std::size_t available() const { return bytes_.size() - head_; }
    std::size_t take(std::span<std::uint8_t> out);

   private:
    std::vector<std::uint8_t> bytes_;
    std::size_t head_ = 0;
  };

  ByteSource& plaintext_;
  crypto::Digest md5_;
  Queue queue_;
  std::optional<seal::StreamEncryptor> encryptor_;
  std::vector<std::uint8_t> input_;
  std::string etag_;
  bool finished_ = false;
};

}  // namespace blobseal::engine
