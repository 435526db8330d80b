// Reads a sealed object's plaintext: any range, in one pass, verifying every chunk before releasing a byte of it.
// Memory: one batch buffer (batch_chunks * 16400 bytes) whatever the object size.
#pragma once

#include <memory>
#include <vector>

#include "core/byte_stream.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"

namespace blobseal::seal {

class SealedReader {
 public:
  // Checks the body size against the envelope before any decryption (truncation or extension is DataLoss). For a
  // single stream whose length was not recorded, the final chunk is decrypted here so size() is authenticated.
  static Result<SealedReader> open(const Envelope& envelope, const EnvelopeContents& contents,
                                   const SecretBytes& dek, RandomAccessSource& body, std::size_t batch_chunks = kDefaultBatchChunks);
  ~SealedReader();
  SealedReader(SealedReader&&) noexcept;
  SealedReader& operator=(SealedReader&&) noexcept;

  // Authenticated plaintext size.
  std::uint64_t size() const;

  // Streams plaintext [pos, pos + count) to `sink`, crossing part boundaries as needed. On an integrity failure the
  // chunks already written were verified; the failing one and everything after are not written.
  Status read(std::uint64_t pos, std::uint64_t count, ByteSink& sink);

  // Decrypts every chunk of every stream (including final chunks) without producing output: the scrub.
  Status verify_all();

 private:
  struct Impl;
  explicit SealedReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Starts sealing one stream of an object: part 0 for a single-stream object, part N for a multipart part.
// The stream is bound to the object id and part number through the Cobblestone context.
Result<StreamEncryptor> begin_stream(const SecretBytes& dek, const ObjectId& object_id, std::uint32_t part_number,
                                     ByteSink& sink, std::size_t batch_chunks = kDefaultBatchChunks);
// The manifest record of a finished stream.
PartRecord part_record(std::uint32_t part_number, const StreamEncryptor& finished);

}  // namespace blobseal::seal
