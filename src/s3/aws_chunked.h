// The aws-chunked body encoding of S3 streaming uploads (Content-Encoding: aws-chunked):
//
//   <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n[<trailers>]\r\n
//
// where a trailer is "x-amz-checksum-<alg>:<base64>\r\n", followed in the signed-trailer mode by
// "x-amz-trailer-signature:<sig>\r\n". Chunk signatures chain from the request's seed signature (sigv4.h's
// chunk_string_to_sign / trailer_string_to_sign).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"

namespace blobseal::s3 {

// The trailing checksums we can verify. (S3's SHA-1 is not among them: a body declaring it is refused.)
enum class ChecksumAlgorithm { kCrc32, kCrc32c, kCrc64Nvme, kSha256 };

// "x-amz-checksum-crc32" → kCrc32, ...; nullopt for any other name.
std::optional<ChecksumAlgorithm> checksum_algorithm_from_header(std::string_view lower_name);

// An incremental checksum whose result is the big-endian byte string S3 base64-encodes in x-amz-checksum-*.
class PayloadChecksum {
 public:
  explicit PayloadChecksum(ChecksumAlgorithm algorithm);
  ~PayloadChecksum();
  PayloadChecksum(PayloadChecksum&&) noexcept;
  PayloadChecksum& operator=(PayloadChecksum&&) noexcept;

  ChecksumAlgorithm algorithm() const { return algorithm_; }
  void update(std::span<const std::uint8_t> data);
  Bytes finish();

 private:
  ChecksumAlgorithm algorithm_;
  std::uint64_t crc_ = 0;
  struct Sha;
  std::unique_ptr<Sha> sha_;
};

// CRC-32C (Castagnoli) and CRC-64/NVME, continuing from `crc` (0 to start), as S3 defines them.
std::uint32_t crc32c(std::uint32_t crc, std::span<const std::uint8_t> data);
std::uint64_t crc64nvme(std::uint64_t crc, std::span<const std::uint8_t> data);

struct AwsChunkedOptions {
  bool signed_chunks = false;  // every chunk header carries chunk-signature=, verified before its data is released
  bool trailer = false;        // trailing headers follow the final chunk (signed too when signed_chunks)
  std::uint64_t decoded_length = 0;             // x-amz-decoded-content-length: the decoded bytes must add up to it
  std::vector<std::string> declared_trailers;   // lower-case names from x-amz-trailer; only these may appear
  // The largest chunk accepted. A signed chunk is held in memory until its signature verifies, so this bounds the
  // memory of one upload; clients use 8 KiB .. 1 MiB.
  std::size_t max_chunk_size = 16u << 20;
  // For signed_chunks: the scope's derived key, the request time and scope, and the request's signature.
  SecretBytes signing_key;
  std::string timestamp;
  std::string scope;
  std::string seed_signature;
};

// Decodes an aws-chunked body as it is read, in bounded memory (a small read-ahead buffer plus, in the signed modes,
// one chunk). Every failure is an error from read(), never a clean end of stream: a truncated, reordered or
// tampered body cannot pass for a shorter valid one. Errors (Error::reason(), S3's codes):
//   SignatureDoesNotMatch   a chunk or trailer signature is missing or wrong
//   InvalidChunkSizeError   a malformed chunk header, a chunk over max_chunk_size, data longer than its size
//   IncompleteBody          the body ends early, or the decoded length differs from x-amz-decoded-content-length
//   MalformedTrailerError   malformed or undeclared trailing headers, a declared trailer missing
//   BadDigest               a trailing checksum does not match the data
//   InvalidRequest          data after the end of the encoding
// Errors are sticky: once read() failed, it fails again.
class AwsChunkedSource final : public ByteSource {
 public:
  // NotImplemented when a declared trailer is a checksum we cannot verify; InvalidRequest for any other
  // declared trailer that is not an x-amz-checksum-*.
  static Result<std::unique_ptr<AwsChunkedSource>> create(ByteSource& body, AwsChunkedOptions options);
  ~AwsChunkedSource() override;

  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  struct State;
  explicit AwsChunkedSource(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The client side: frames and signs chunks in the order they are sent.
class ChunkSigner {
 public:
  ChunkSigner(SecretBytes signing_key, std::string timestamp, std::string scope, std::string seed_signature);

  // The signature of the next chunk (an empty `data` is the final chunk); advances the chain.
  std::string sign_chunk(std::span<const std::uint8_t> data);
  // "<hex size>;chunk-signature=<sig>\r\n<data>\r\n" for the next chunk. For the final (empty) chunk that is
  // "0;chunk-signature=<sig>\r\n\r\n", which also ends a body without trailers.
  std::string frame_chunk(std::span<const std::uint8_t> data);
  // The trailer signature over "name:value\n"..., after the final chunk.
  std::string sign_trailer(std::string_view canonical_trailers);

 private:
  SecretBytes signing_key_;
  std::string timestamp_;
  std::string scope_;
  std::string previous_;
};

}  // namespace blobseal::s3
