// Cobblestone-256 (c2sp.org/chunked-encryption instantiated with SHA-512 and AEAD_AES_256_GCM): the chunk layer of
// the sealed format. Pure computation over spans; the stream and reader classes below pull and push bytes through
// core's byte-stream interfaces and never touch a file or socket themselves.
//
//   key || base nonce || commitment = HKDF-Expand-SHA-512(input key,
//       "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" || 0x00 || salt || context, 32 + 12 + 32)
//   ciphertext = salt (24) || commitment (32) || AES-256-GCM chunks (16 KiB plaintext each, the last one shorter,
//                possibly empty), nonce = base nonce XOR big-endian chunk index, empty AAD.
#pragma once

#include <array>
#include <memory>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/byte_stream.h"
#include "core/error.h"
#include "core/secret_bytes.h"
#include "crypto/aes_gcm.h"

namespace blobseal::seal {

inline constexpr std::size_t kChunkSize = 16384;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kSealedChunkSize = kChunkSize + kTagSize;  // 16400
inline constexpr std::size_t kSaltSize = 24;
inline constexpr std::size_t kCommitmentSize = 32;
inline constexpr std::size_t kStreamHeaderSize = kSaltSize + kCommitmentSize;  // 56
inline constexpr std::size_t kInputKeySize = 32;
inline constexpr std::uint64_t kMaxChunks = std::uint64_t{1} << 38;
// Chunks per read or write batch: 32 chunks = 512 KiB of plaintext per system call, and the bound on a reader's or
// writer's buffers (two batches) whatever the object size.
inline constexpr std::size_t kDefaultBatchChunks = 32;

using Salt = std::array<std::uint8_t, kSaltSize>;

// A heap buffer that is not zero-filled on allocation (a std::vector would write every byte once more per stream).
// Released buffers go to a small per-thread cache and are handed out again for the next stream of the same batch
// size: opening object after object then neither returns half a megabyte to the kernel (glibc trims the heap top
// once it passes twice the mmap threshold) nor faults it back in page by page, which cost 10-15 % of a 64 MiB open.
// A reused buffer holds the previous stream's bytes, as reused heap memory does; callers wipe what they must.
class ChunkBuffer {
 public:
  ChunkBuffer() = default;
  explicit ChunkBuffer(std::size_t size);
  ~ChunkBuffer() { release(); }
  ChunkBuffer(ChunkBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  ChunkBuffer& operator=(ChunkBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  std::uint8_t* data() { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};
using Commitment = std::array<std::uint8_t, kCommitmentSize>;

// Size of the Cobblestone ciphertext (header included) of a plaintext of `plaintext_size` bytes.
std::uint64_t ciphertext_size(std::uint64_t plaintext_size);
// The plaintext size a ciphertext of `ciphertext_size` bytes would hold, or nullopt when no plaintext encrypts
// to that size (shorter than the header + one tag, or a final chunk of exactly 16 KiB + tag, which is truncation).
std::optional<std::uint64_t> plaintext_size(std::uint64_t ciphertext_size);
// Offset of chunk `index` inside a stream: 56 + index * 16400.
inline std::uint64_t chunk_offset(std::uint64_t index) { return kStreamHeaderSize + index * kSealedChunkSize; }

// The per-stream keys: an AEAD context, the base nonce and the expected commitment. Derived once per stream.
class StreamCipher {
 public:
  // Derives from a 32-byte input key (InvalidArgument otherwise), a salt and the caller's context.
  static Result<StreamCipher> derive(std::span<const std::uint8_t> input_key, const Salt& salt,
                                     std::span<const std::uint8_t> context);

  const Commitment& commitment() const { return commitment_; }
  // Constant-time check of a stream header's commitment; DataLoss on mismatch.
  Status check_commitment(std::span<const std::uint8_t> commitment) const;

  // Encrypts one chunk: `out` receives plaintext.size() + 16 bytes. `out` may start at plaintext.data().
  Status seal_chunk(std::uint64_t index, std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out);
  // Decrypts and verifies one sealed chunk (16..16400 bytes) into `out` (sealed.size() - 16 bytes); DataLoss on a
  // bad tag, and `out` is wiped. `out` may start at sealed.data().
  Status open_chunk(std::uint64_t index, std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out);

 private:
  StreamCipher(crypto::AesGcm aead, std::array<std::uint8_t, 12> base_nonce, Commitment commitment);
  std::array<std::uint8_t, 12> nonce_for(std::uint64_t index) const;

  crypto::AesGcm aead_;
  std::array<std::uint8_t, 12> base_nonce_;
  Commitment commitment_;
};

// Streaming encryption, push style: write() any amount, finish() once. Ciphertext goes to `sink` in batches of
// whole chunks; memory is one batch buffer (batch_chunks * 16400 bytes) whatever the message size.
class StreamEncryptor {
 public:
  // A random salt unless `salt` is given (tests inject the vectors' salts).
  static Result<StreamEncryptor> create(std::span<const std::uint8_t> input_key, std::span<const std::uint8_t> context,
                                        ByteSink& sink, std::optional<Salt> salt = std::nullopt,
                                        std::size_t batch_chunks = kDefaultBatchChunks);
  const Salt& salt() const { return salt_; }
  const Commitment& commitment() const { return cipher_.commitment(); }

  Status write(std::span<const std::uint8_t> plaintext);
  // Seals the final short (possibly empty) chunk and flushes. Further calls fail.
  Status finish();
  std::uint64_t plaintext_bytes() const { return plaintext_bytes_; }

 private:
  StreamEncryptor(StreamCipher cipher, Salt salt, ByteSink& sink, std::size_t batch_chunks);
  Status flush_full_chunks();

  StreamCipher cipher_;
  Salt salt_;
  ByteSink* sink_;
  ChunkBuffer buffer_;                // sealed chunks being assembled, flushed when full
  std::size_t batch_chunks_;
  std::size_t pending_ = 0;           // plaintext bytes of the chunk currently being filled
  std::size_t buffered_ = 0;          // bytes of buffer_ holding finished sealed chunks
  std::uint64_t chunk_index_ = 0;
  std::uint64_t plaintext_bytes_ = 0;
  bool header_written_ = false;
  bool finished_ = false;
};

// Streaming decryption, push style: feed ciphertext with update(), then finish(). Only verified plaintext reaches
// `sink`. After any error, every later call returns the same error (never a clean end).
class StreamDecryptor {
 public:
  static Result<StreamDecryptor> create(std::span<const std::uint8_t> input_key,
                                        std::span<const std::uint8_t> context, ByteSink& sink,
                                        std::size_t batch_chunks = kDefaultBatchChunks);
  Status update(std::span<const std::uint8_t> ciphertext);
  Status finish();
  std::uint64_t plaintext_bytes() const { return plaintext_bytes_; }
  // Once the header is read: the stream's salt and commitment (for manifest checks).
  const Salt& salt() const { return salt_; }
  const Commitment& commitment() const { return commitment_; }

 private:
  StreamDecryptor(SecretBytes key, std::vector<std::uint8_t> context, ByteSink& sink, std::size_t batch_chunks);
  Status fail(Error e);
  Status drain(bool final);
  // Opens whole non-final chunks straight from the caller's span (nothing buffered); returns bytes consumed.
  Result<std::size_t> open_direct(std::span<const std::uint8_t> ciphertext);

  SecretBytes input_key_;
  std::vector<std::uint8_t> context_;
  std::optional<StreamCipher> cipher_;
  ByteSink* sink_;
  ChunkBuffer buffer_;     // ciphertext waiting to be opened
  ChunkBuffer plaintext_;  // verified plaintext of one drain
  std::size_t buffered_ = 0;
  std::size_t batch_chunks_;
  std::uint64_t chunk_index_ = 0;
  std::uint64_t plaintext_bytes_ = 0;
  Salt salt_{};
  Commitment commitment_{};
  std::optional<Error> error_;
  bool finished_ = false;
};

// Random-access decryption of one stream that sits at [offset, offset + length) of a RandomAccessSource.
// open() reads the 56-byte header and checks the commitment before anything else. read() fetches only the chunks
// that cover the requested range, many per read_at call, verifies each, and writes verified plaintext to the sink.
class StreamReader {
 public:
  static Result<StreamReader> open(RandomAccessSource& source, std::uint64_t offset, std::uint64_t length,
                                   std::span<const std::uint8_t> input_key, std::span<const std::uint8_t> context,
                                   std::size_t batch_chunks = kDefaultBatchChunks);

  // Plaintext size implied by the ciphertext length (not yet authenticated; see authenticate_length()).
  std::uint64_t plaintext_size() const { return plaintext_size_; }
  const Salt& salt() const { return salt_; }
  const Commitment& commitment() const { return cipher_.commitment(); }

  // Decrypts the final chunk, proving the length. Needed before reporting a total the caller has no other
  // authenticated source for.
  Status authenticate_length();
  // Streams plaintext [pos, pos + count) to `sink`. OutOfRange when the range passes the end.
  Status read(std::uint64_t pos, std::uint64_t count, ByteSink& sink);
  // Reads into a buffer; convenience for small ranges.
  Status read_into(std::uint64_t pos, std::span<std::uint8_t> out);

 private:
  StreamReader(RandomAccessSource& source, std::uint64_t offset, std::uint64_t length, StreamCipher cipher,
               Salt salt, std::uint64_t plaintext_size, std::size_t batch_chunks);

  RandomAccessSource* source_;
  std::uint64_t offset_;
  std::uint64_t length_;
  StreamCipher cipher_;
  Salt salt_;
  std::uint64_t plaintext_size_;
  std::size_t batch_chunks_;
  ChunkBuffer buffer_;  // sealed chunks of one batch, opened in place; allocated on first read
};

}  // namespace blobseal::seal
