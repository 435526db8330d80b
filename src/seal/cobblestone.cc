#include "seal/cobblestone.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::seal {

namespace {

constexpr std::string_view kInfoPrefix = "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM";
constexpr std::size_t kDerivedSize = crypto::kAesGcmKeySize + crypto::kAesGcmNonceSize + kCommitmentSize;

Error truncated(std::string_view what) {
  return Error(ErrorCode::kDataLoss, fmt::format("sealed stream is truncated or extended: {}", what));
}

// Size of the sealed form of chunk `index` in a stream whose plaintext is `plaintext_size` bytes.
std::size_t sealed_chunk_size(std::uint64_t index, std::uint64_t plaintext_size) {
  std::uint64_t last = plaintext_size / kChunkSize;
  return index < last ? kSealedChunkSize : static_cast<std::size_t>(plaintext_size % kChunkSize) + kTagSize;
}

}  // namespace

std::uint64_t ciphertext_size(std::uint64_t n) {
  return kStreamHeaderSize + (n / kChunkSize) * kSealedChunkSize + (n % kChunkSize) + kTagSize;
}

std::optional<std::uint64_t> plaintext_size(std::uint64_t size) {
  if (size < kStreamHeaderSize + kTagSize) return std::nullopt;
  std::uint64_t body = size - kStreamHeaderSize;
  std::uint64_t full = body / kSealedChunkSize;
  std::uint64_t rest = body % kSealedChunkSize;
  // rest == 0: the last chunk is full, so the real final chunk is missing; 1..15: not even a tag.
  if (rest < kTagSize) return std::nullopt;
  if (full + 1 > kMaxChunks) return std::nullopt;
  return full * kChunkSize + (rest - kTagSize);
}

// ---- ChunkBuffer ----------------------------------------------------------------------------------------------

namespace {

// The released buffers of one thread, reused by exact size (a stream's batch buffers come in a handful of sizes).
// Bounded: four buffers of at most 2 MiB each per thread.
constexpr std::size_t kCachedBuffers = 4;
constexpr std::size_t kLargestCachedBuffer = std::size_t{2} << 20;

thread_local bool t_buffer_cache_gone = false;  // trivially destructible: readable while the cache is destroyed

struct BufferCache {
  std::array<std::uint8_t*, kCachedBuffers> data{};
  std::array<std::size_t, kCachedBuffers> size{};
  std::size_t next_eviction = 0;
  ~BufferCache() {
    for (auto* p : data) delete[] p;
    t_buffer_cache_gone = true;
  }
};

BufferCache* buffer_cache() {
  if (t_buffer_cache_gone) return nullptr;
  thread_local BufferCache cache;
  return &cache;
}

}  // namespace

ChunkBuffer::ChunkBuffer(std::size_t size) : size_(size) {
  if (BufferCache* cache = size <= kLargestCachedBuffer ? buffer_cache() : nullptr) {
    for (std::size_t i = 0; i < kCachedBuffers; ++i) {
      if (cache->data[i] != nullptr && cache->size[i] == size) {
        data_ = std::exchange(cache->data[i], nullptr);
        return;
      }
    }
  }
  data_ = new std::uint8_t[size];
}

void ChunkBuffer::release() {
  if (data_ == nullptr) return;
  BufferCache* cache = size_ <= kLargestCachedBuffer ? buffer_cache() : nullptr;
  if (cache == nullptr) {
    delete[] std::exchange(data_, nullptr);
    return;
  }
  std::size_t slot = kCachedBuffers;
  for (std::size_t i = 0; i < kCachedBuffers && slot == kCachedBuffers; ++i)
    if (cache->data[i] == nullptr) slot = i;
  if (slot == kCachedBuffers) {
    slot = cache->next_eviction;
    cache->next_eviction = (slot + 1) % kCachedBuffers;
    delete[] cache->data[slot];
  }
  cache->data[slot] = std::exchange(data_, nullptr);
  cache->size[slot] = size_;
}

// ---- StreamCipher ---------------------------------------------------------------------------------------------

StreamCipher::StreamCipher(crypto::AesGcm aead, std::array<std::uint8_t, 12> base_nonce, Commitment commitment)
    : aead_(std::move(aead)), base_nonce_(base_nonce), commitment_(commitment) {}

Result<StreamCipher> StreamCipher::derive(std::span<const std::uint8_t> input_key, const Salt& salt,
                                          std::span<const std::uint8_t> context) {
  if (input_key.size() != kInputKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Cobblestone-256 needs a {}-byte key, got {} bytes", kInputKeySize, input_key.size()));
  Bytes info;
  info.reserve(kInfoPrefix.size() + 1 + kSaltSize + context.size());
  put_bytes(info, as_bytes(kInfoPrefix));
  put_u8(info, 0);
  put_bytes(info, salt);
  put_bytes(info, context);
  SecretBytes derived(kDerivedSize);
  BLOBSEAL_TRY_STATUS(crypto::hkdf_expand_sha512(input_key, info, derived.mutable_view()));
  auto aead = BLOBSEAL_TRY(crypto::AesGcm::create(derived.view().first(crypto::kAesGcmKeySize)));
  std::array<std::uint8_t, 12> nonce{};
  Commitment commitment{};
  std::memcpy(nonce.data(), derived.data() + crypto::kAesGcmKeySize, nonce.size());
  std::memcpy(commitment.data(), derived.data() + crypto::kAesGcmKeySize + nonce.size(), commitment.size());
  return StreamCipher(std::move(aead), nonce, commitment);
}

Status StreamCipher::check_commitment(std::span<const std::uint8_t> commitment) const {
  if (!crypto::constant_time_equal(commitment, commitment_))
    return make_error(ErrorCode::kDataLoss,
                      "key commitment mismatch: wrong key, wrong object or part, or a tampered stream header");
  return {};
}

std::array<std::uint8_t, 12> StreamCipher::nonce_for(std::uint64_t index) const {
  std::array<std::uint8_t, 12> nonce = base_nonce_;
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<std::uint8_t>(index >> (8 * i));
  return nonce;
}

Status StreamCipher::seal_chunk(std::uint64_t index, std::span<const std::uint8_t> plaintext,
                                std::span<std::uint8_t> out) {
  if (index >= kMaxChunks) return make_error(ErrorCode::kResourceExhausted, "stream exceeds 2^38 chunks");
  if (plaintext.size() > kChunkSize || out.size() != plaintext.size() + kTagSize)
    return make_error(ErrorCode::kInvalidArgument, "bad chunk size");
  auto nonce = nonce_for(index);
  return aead_.seal(nonce, {}, plaintext, out.first(plaintext.size()),
                    std::span<std::uint8_t, kTagSize>(out.data() + plaintext.size(), kTagSize));
}

Status StreamCipher::open_chunk(std::uint64_t index, std::span<const std::uint8_t> sealed,
                                std::span<std::uint8_t> out) {
  if (index >= kMaxChunks) return make_error(ErrorCode::kDataLoss, "stream exceeds 2^38 chunks");
  if (sealed.size() < kTagSize || sealed.size() > kSealedChunkSize || out.size() != sealed.size() - kTagSize)
    return make_error(ErrorCode::kDataLoss, "bad sealed chunk size");
  auto nonce = nonce_for(index);
  std::size_t n = sealed.size() - kTagSize;
  auto status = aead_.open(nonce, {}, sealed.first(n), sealed.subspan(n), out);
  if (!status) return make_error(ErrorCode::kDataLoss, fmt::format("chunk {} failed authentication", index));
  return {};
}

// ---- StreamEncryptor ------------------------------------------------------------------------------------------

StreamEncryptor::StreamEncryptor(StreamCipher cipher, Salt salt, ByteSink& sink, std::size_t batch_chunks)
    : cipher_(std::move(cipher)),
      salt_(salt),
      sink_(&sink),
      buffer_(std::max<std::size_t>(batch_chunks, 1) * kSealedChunkSize),
      batch_chunks_(std::max<std::size_t>(batch_chunks, 1)) {}

Result<StreamEncryptor> StreamEncryptor::create(std::span<const std::uint8_t> input_key,
                                                std::span<const std::uint8_t> context, ByteSink& sink,
                                                std::optional<Salt> salt, std::size_t batch_chunks) {
  Salt s{};
  if (salt) s = *salt;
  else crypto::random_bytes(s);
  auto cipher = BLOBSEAL_TRY(StreamCipher::derive(input_key, s, context));
  return StreamEncryptor(std::move(cipher), s, sink, batch_chunks);
}

Status StreamEncryptor::flush_full_chunks() {
  if (!header_written_) {
    std::array<std::uint8_t, kStreamHeaderSize> header{};
    std::memcpy(header.data(), salt_.data(), kSaltSize);
    std::memcpy(header.data() + kSaltSize, cipher_.commitment().data(), kCommitmentSize);
    BLOBSEAL_TRY_STATUS(sink_->write(header));
    header_written_ = true;
  }
  if (buffered_ > 0) BLOBSEAL_TRY_STATUS(sink_->write(std::span(buffer_.data(), buffered_)));
  buffered_ = 0;
  return {};
}

Status StreamEncryptor::write(std::span<const std::uint8_t> plaintext) {
  if (finished_) return make_error(ErrorCode::kFailedPrecondition, "stream already finished");
  plaintext_bytes_ += plaintext.size();
  while (!plaintext.empty()) {
    std::uint8_t* slot = buffer_.data() + buffered_;
    if (pending_ == 0 && plaintext.size() >= kChunkSize) {
      // Whole chunk available: encrypt straight from the caller's buffer.
      BLOBSEAL_TRY_STATUS(cipher_.seal_chunk(chunk_index_, plaintext.first(kChunkSize),
                                             std::span(slot, kSealedChunkSize)));
      plaintext = plaintext.subspan(kChunkSize);
    } else {
      std::size_t n = std::min(kChunkSize - pending_, plaintext.size());
      std::memcpy(slot + pending_, plaintext.data(), n);
      pending_ += n;
      plaintext = plaintext.subspan(n);
      if (pending_ < kChunkSize) break;
      BLOBSEAL_TRY_STATUS(cipher_.seal_chunk(chunk_index_, std::span(slot, kChunkSize),
                                             std::span(slot, kSealedChunkSize)));
      pending_ = 0;
    }
    ++chunk_index_;
    buffered_ += kSealedChunkSize;
    if (buffered_ + kSealedChunkSize > buffer_.size()) BLOBSEAL_TRY_STATUS(flush_full_chunks());
  }
  return {};
}

Status StreamEncryptor::finish() {
  if (finished_) return make_error(ErrorCode::kFailedPrecondition, "stream already finished");
  finished_ = true;
  std::uint8_t* slot = buffer_.data() + buffered_;
  BLOBSEAL_TRY_STATUS(
      cipher_.seal_chunk(chunk_index_, std::span(slot, pending_), std::span(slot, pending_ + kTagSize)));
  buffered_ += pending_ + kTagSize;
  pending_ = 0;
  ++chunk_index_;
  return flush_full_chunks();
}

// ---- StreamDecryptor ------------------------------------------------------------------------------------------

StreamDecryptor::StreamDecryptor(SecretBytes key, std::vector<std::uint8_t> context, ByteSink& sink,
                                 std::size_t batch_chunks)
    : input_key_(std::move(key)),
      context_(std::move(context)),
      sink_(&sink),
      batch_chunks_(std::max<std::size_t>(batch_chunks, 1)) {
  // One batch of chunks plus one more, so a full batch can be opened while knowing more data follows it.
  buffer_ = ChunkBuffer((batch_chunks_ + 1) * kSealedChunkSize);
  plaintext_ = ChunkBuffer((batch_chunks_ + 1) * kChunkSize);
}

Result<StreamDecryptor> StreamDecryptor::create(std::span<const std::uint8_t> input_key,
                                                std::span<const std::uint8_t> context, ByteSink& sink,
                                                std::size_t batch_chunks) {
  if (input_key.size() != kInputKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Cobblestone-256 needs a {}-byte key, got {} bytes", kInputKeySize, input_key.size()));
  return StreamDecryptor(SecretBytes(input_key), std::vector<std::uint8_t>(context.begin(), context.end()), sink,
                         batch_chunks);
}

Status StreamDecryptor::fail(Error e) {
  error_ = e;
  return make_error(std::move(e));
}

// Opens the whole chunks in buffer_ [0, buffered_) that are known not to be final (more bytes follow them, or
// `final` says the stream ended: then the last chunk must be short), writes their plaintext, and keeps the rest.
Status StreamDecryptor::drain(bool final) {
  std::size_t pos = 0;
  std::size_t out_pos = 0;
  while (buffered_ - pos > kSealedChunkSize || (final && buffered_ - pos > 0)) {
    std::size_t n = std::min(buffered_ - pos, kSealedChunkSize);
    if (final && buffered_ - pos <= kSealedChunkSize) {
      if (n == kSealedChunkSize) return fail(truncated("the final chunk is a full chunk: the real end is missing"));
      if (n < kTagSize) return fail(truncated("the final chunk is shorter than a tag"));
    }
    auto status = cipher_->open_chunk(chunk_index_, std::span<const std::uint8_t>(buffer_.data() + pos, n),
                                      std::span(plaintext_.data() + out_pos, n - kTagSize));
    if (!status) {
      // Release what was verified before this chunk, never this one.
      if (out_pos > 0) (void)sink_->write(std::span(plaintext_.data(), out_pos));
      return fail(status.error());
    }
    out_pos += n - kTagSize;
    pos += n;
    ++chunk_index_;
    plaintext_bytes_ += n - kTagSize;
    if (n < kSealedChunkSize) break;  // a short chunk can only be the final one
  }
  if (out_pos > 0) {
    auto status = sink_->write(std::span(plaintext_.data(), out_pos));
    if (!status) return fail(status.error());
  }
  if (final && pos < buffered_) return fail(truncated("data after the final chunk"));
  std::memmove(buffer_.data(), buffer_.data() + pos, buffered_ - pos);
  buffered_ -= pos;
  return {};
}

Result<std::size_t> StreamDecryptor::open_direct(std::span<const std::uint8_t> ciphertext) {
  std::size_t used = 0;
  // A chunk is known not to be final only when at least one more byte follows it.
  while (ciphertext.size() - used > kSealedChunkSize) {
    std::size_t chunks = std::min((ciphertext.size() - used - 1) / kSealedChunkSize, batch_chunks_ + 1);
    std::size_t out = 0;
    for (std::size_t i = 0; i < chunks; ++i) {
      auto status = cipher_->open_chunk(chunk_index_, ciphertext.subspan(used, kSealedChunkSize),
                                        std::span(plaintext_.data() + out, kChunkSize));
      if (!status) {
        if (out > 0) (void)sink_->write(std::span(plaintext_.data(), out));
        return make_error(fail(status.error()).error());
      }
      used += kSealedChunkSize;
      out += kChunkSize;
      ++chunk_index_;
      plaintext_bytes_ += kChunkSize;
    }
    if (auto status = sink_->write(std::span(plaintext_.data(), out)); !status) return make_error(fail(status.error()).error());
  }
  return used;
}

Status StreamDecryptor::update(std::span<const std::uint8_t> ciphertext) {
  if (error_) return make_error(*error_);
  if (finished_) return fail(Error(ErrorCode::kFailedPrecondition, "stream already finished"));
  while (!ciphertext.empty()) {
    if (!cipher_) {
      std::size_t n = std::min(kStreamHeaderSize - buffered_, ciphertext.size());
      std::memcpy(buffer_.data() + buffered_, ciphertext.data(), n);
      buffered_ += n;
      ciphertext = ciphertext.subspan(n);
      if (buffered_ < kStreamHeaderSize) return {};
      std::memcpy(salt_.data(), buffer_.data(), kSaltSize);
      std::memcpy(commitment_.data(), buffer_.data() + kSaltSize, kCommitmentSize);
      auto cipher = StreamCipher::derive(input_key_.view(), salt_, context_);
      if (!cipher) return fail(cipher.error());
      if (auto status = cipher->check_commitment(commitment_); !status) return fail(status.error());
      cipher_.emplace(std::move(*cipher));
      buffered_ = 0;
      continue;
    }
    if (buffered_ == 0) {
      std::size_t used = BLOBSEAL_TRY(open_direct(ciphertext));
      ciphertext = ciphertext.subspan(used);
      if (ciphertext.empty()) break;
    }
    std::size_t n = std::min(buffer_.size() - buffered_, ciphertext.size());
    std::memcpy(buffer_.data() + buffered_, ciphertext.data(), n);
    buffered_ += n;
    ciphertext = ciphertext.subspan(n);
    if (buffered_ == buffer_.size()) BLOBSEAL_TRY_STATUS(drain(false));
  }
  return {};
}

Status StreamDecryptor::finish() {
  if (error_) return make_error(*error_);
  if (finished_) return fail(Error(ErrorCode::kFailedPrecondition, "stream already finished"));
  if (!cipher_) return fail(truncated("shorter than the 56-byte stream header"));
  BLOBSEAL_TRY_STATUS(drain(true));
  if (chunk_index_ == 0) return fail(truncated("no final chunk"));
  finished_ = true;
  secure_zero(plaintext_.data(), plaintext_.size());
  return {};
}

// ---- StreamReader ---------------------------------------------------------------------------------------------

StreamReader::StreamReader(RandomAccessSource& source, std::uint64_t offset, std::uint64_t length,
                           StreamCipher cipher, Salt salt, std::uint64_t plaintext_size, std::size_t batch_chunks)
    : source_(&source),
      offset_(offset),
      length_(length),
      cipher_(std::move(cipher)),
      salt_(salt),
      plaintext_size_(plaintext_size),
      batch_chunks_(std::max<std::size_t>(batch_chunks, 1)) {}

Result<StreamReader> StreamReader::open(RandomAccessSource& source, std::uint64_t offset, std::uint64_t length,
                                        std::span<const std::uint8_t> input_key,
                                        std::span<const std::uint8_t> context, std::size_t batch_chunks) {
  if (input_key.size() != kInputKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Cobblestone-256 needs a {}-byte key, got {} bytes", kInputKeySize, input_key.size()));
  auto size = seal::plaintext_size(length);
  if (!size) return make_error(truncated(fmt::format("{} bytes is not a valid stream length", length)));
  std::array<std::uint8_t, kStreamHeaderSize> header{};
  std::size_t got = BLOBSEAL_TRY(read_full_at(source, offset, header));
  if (got != header.size()) return make_error(truncated("the stream header is cut short"));
  Salt salt{};
  std::memcpy(salt.data(), header.data(), kSaltSize);
  auto cipher = BLOBSEAL_TRY(StreamCipher::derive(input_key, salt, context));
  BLOBSEAL_TRY_STATUS(cipher.check_commitment(std::span(header).subspan(kSaltSize)));
  return StreamReader(source, offset, length, std::move(cipher), salt, *size, batch_chunks);
}

Status StreamReader::authenticate_length() {
  std::uint64_t last = plaintext_size_ / kChunkSize;
  std::size_t n = sealed_chunk_size(last, plaintext_size_);
  std::vector<std::uint8_t> chunk(n);
  std::size_t got = BLOBSEAL_TRY(read_full_at(*source_, offset_ + chunk_offset(last), chunk));
  if (got != n) return make_error(truncated("the final chunk is cut short"));
  auto status = cipher_.open_chunk(last, chunk, std::span(chunk).first(n - kTagSize));
  secure_zero(chunk.data(), chunk.size());
  return status;
}

Status StreamReader::read(std::uint64_t pos, std::uint64_t count, ByteSink& sink) {
  if (pos > plaintext_size_ || count > plaintext_size_ - pos)
    return make_error(ErrorCode::kOutOfRange,
                      fmt::format("range {}+{} is past the end of a {}-byte stream", pos, count, plaintext_size_));
  if (count == 0) return {};
  std::uint64_t first = pos / kChunkSize;
  std::uint64_t last = (pos + count - 1) / kChunkSize;
  if (buffer_.empty()) {
    // Sized for this stream: a small object never pays for a whole batch.
    std::uint64_t chunks = std::min<std::uint64_t>(batch_chunks_, plaintext_size_ / kChunkSize + 1);
    buffer_ = ChunkBuffer(static_cast<std::size_t>(chunks) * kSealedChunkSize);
  }
  std::uint64_t skip = pos - first * kChunkSize;  // plaintext bytes to drop at the start of the first chunk
  std::uint64_t remaining = count;
  for (std::uint64_t batch_start = first; batch_start <= last; batch_start += batch_chunks_) {
    std::uint64_t batch_end = std::min<std::uint64_t>(last, batch_start + batch_chunks_ - 1);
    std::uint64_t bytes = 0;
    for (std::uint64_t k = batch_start; k <= batch_end; ++k) bytes += sealed_chunk_size(k, plaintext_size_);
    std::uint64_t at = offset_ + chunk_offset(batch_start);
    // A source in memory is opened from where it lies, into the buffer; any other is first read into the buffer
    // and opened in place there (OpenSSL allows exact but not partial overlap), each chunk's plaintext then slid
    // down over the tags before it while it is still in L1: one buffer per batch, not two.
    const std::uint8_t* sealed = nullptr;
    if (auto view = source_->view(at, static_cast<std::size_t>(bytes))) {
      if (view->size() != bytes) return make_error(truncated("the stored body ended early"));
      sealed = view->data();
    } else {
      std::span<std::uint8_t> batch(buffer_.data(), static_cast<std::size_t>(bytes));
      std::size_t got = BLOBSEAL_TRY(read_full_at(*source_, at, batch));
      if (got != bytes) return make_error(truncated("the stored body ended early"));
      sealed = buffer_.data();
    }
    std::uint8_t* data = buffer_.data();
    std::size_t in = 0, out = 0;
    for (std::uint64_t k = batch_start; k <= batch_end; ++k) {
      std::size_t n = sealed_chunk_size(k, plaintext_size_);
      std::uint8_t* target = sealed == data ? data + in : data + out;
      auto status = cipher_.open_chunk(k, std::span<const std::uint8_t>(sealed + in, n), std::span(target, n - kTagSize));
      if (!status) {
        // Release the verified chunks of this batch that precede the failure (within the range), then fail.
        std::size_t usable = out > skip ? out - static_cast<std::size_t>(skip) : 0;
        usable = static_cast<std::size_t>(std::min<std::uint64_t>(usable, remaining));
        if (usable > 0) (void)sink.write(std::span(data + skip, usable));
        secure_zero(data, buffer_.size());
        return status;
      }
      if (target != data + out) std::memmove(data + out, target, n - kTagSize);
      in += n;
      out += n - kTagSize;
    }
    std::size_t usable = static_cast<std::size_t>(std::min<std::uint64_t>(out - skip, remaining));
    BLOBSEAL_TRY_STATUS(sink.write(std::span(data + skip, usable)));
    remaining -= usable;
    skip = 0;
  }
  return {};
}

Status StreamReader::read_into(std::uint64_t pos, std::span<std::uint8_t> out) {
  struct SpanSink final : ByteSink {
    std::span<std::uint8_t> target;
    std::size_t written = 0;
    Status write(std::span<const std::uint8_t> data) override {
      std::memcpy(target.data() + written, data.data(), data.size());
      written += data.size();
      return {};
    }
  } sink;
  sink.target = out;
  return read(pos, out.size(), sink);
}

}  // namespace blobseal::seal
