#include "seal/sealed_reader.h"

#include <algorithm>

#include <fmt/format.h>

#include "crypto/primitives.h"

namespace blobseal::seal {

namespace {

class DiscardSink final : public ByteSink {
 public:
  Status write(std::span<const std::uint8_t>) override { return {}; }
};

struct StreamSpan {
  std::uint32_t part_number = 0;
  std::uint64_t plaintext_start = 0;  // offset of this stream's first plaintext byte in the object
  std::uint64_t plaintext_size = 0;
  std::uint64_t body_offset = 0;      // offset of the stream in the body
  std::uint64_t body_size = 0;
  const PartRecord* record = nullptr;  // manifest entry (multipart only)
};

}  // namespace

struct SealedReader::Impl {
  SecretBytes dek;
  ObjectId object_id{};
  RandomAccessSource* body = nullptr;
  std::size_t batch_chunks = kDefaultBatchChunks;
  std::vector<PartRecord> parts;
  std::vector<StreamSpan> streams;
  std::uint64_t size = 0;
  // One stream open at a time keeps memory at one reader's buffers whatever the part count.
  std::size_t open_index = SIZE_MAX;
  std::optional<StreamReader> open_stream;

  Result<StreamReader*> stream(std::size_t index) {
    if (open_index == index && open_stream) return &*open_stream;
    open_stream.reset();
    open_index = SIZE_MAX;
    const StreamSpan& s = streams[index];
    Bytes context = stream_context(object_id, s.part_number);
    auto reader =
        BLOBSEAL_TRY(StreamReader::open(*body, s.body_offset, s.body_size, dek.view(), context, batch_chunks));
    if (s.record != nullptr && (!crypto::constant_time_equal(reader.salt(), s.record->salt) ||
                                !crypto::constant_time_equal(reader.commitment(), s.record->commitment)))
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("part {} is not the part the manifest names (substituted or replayed)",
                                    s.part_number));
    if (reader.plaintext_size() != s.plaintext_size)
      return make_error(ErrorCode::kDataLoss, fmt::format("part {} has the wrong length", s.part_number));
    open_stream.emplace(std::move(reader));
    open_index = index;
    return &*open_stream;
  }
};

SealedReader::SealedReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SealedReader::~SealedReader() = default;
SealedReader::SealedReader(SealedReader&&) noexcept = default;
SealedReader& SealedReader::operator=(SealedReader&&) noexcept = default;

Result<SealedReader> SealedReader::open(const Envelope& envelope, const EnvelopeContents& contents,
                                        const SecretBytes& dek, RandomAccessSource& body, std::size_t batch_chunks) {
  if (dek.size() != kInputKeySize) return make_error(ErrorCode::kInvalidArgument, "data key must be 32 bytes");
  auto impl = std::make_unique<Impl>();
  impl->dek = dek.clone();
  impl->object_id = envelope.object_id;
  impl->body = &body;
  impl->batch_chunks = batch_chunks;
  impl->parts = contents.parts;

  std::uint64_t body_size = body.size();
  if (auto expected = expected_body_size(envelope, contents); expected && *expected != body_size)
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("the sealed body is {} bytes but the envelope requires {}: truncated or extended",
                                  body_size, *expected));

  if (envelope.layout == Layout::kSingleStream) {
    StreamSpan s;
    s.body_size = body_size;
    if (envelope.length_recorded) {
      s.plaintext_size = envelope.plaintext_size;
    } else {
      auto derived = plaintext_size(body_size);
      if (!derived) return make_error(ErrorCode::kDataLoss, "the sealed body has an impossible length (truncated)");
      s.plaintext_size = *derived;
    }
    impl->streams.push_back(s);
    impl->size = s.plaintext_size;
    if (!envelope.length_recorded) {
      // No authenticated length in the envelope: prove it with the final chunk before reporting it.
      auto* reader = BLOBSEAL_TRY(impl->stream(0));
      BLOBSEAL_TRY_STATUS(reader->authenticate_length());
    }
  } else {
    std::uint64_t plaintext = 0, offset = 0;
    for (const auto& part : impl->parts) {
      StreamSpan s;
      s.part_number = part.part_number;
      s.plaintext_start = plaintext;
      s.plaintext_size = part.plaintext_size;
      s.body_offset = offset;
      s.body_size = ciphertext_size(part.plaintext_size);
      s.record = &part;
      impl->streams.push_back(s);
      plaintext += s.plaintext_size;
      offset += s.body_size;
    }
    impl->size = plaintext;
  }
  return SealedReader(std::move(impl));
}

std::uint64_t SealedReader::size() const { return impl_->size; }

Status SealedReader::read(std::uint64_t pos, std::uint64_t count, ByteSink& sink) {
  if (pos > impl_->size || count > impl_->size - pos)
    return make_error(ErrorCode::kOutOfRange,
                      fmt::format("range {}+{} is past the end of a {}-byte object", pos, count, impl_->size));
  auto& streams = impl_->streams;
  // The last stream starting at or before pos.
  auto it = std::upper_bound(streams.begin(), streams.end(), pos,
                             [](std::uint64_t p, const StreamSpan& s) { return p < s.plaintext_start; });
  std::size_t index = it == streams.begin() ? 0 : static_cast<std::size_t>(it - streams.begin() - 1);
  while (count > 0) {
    const StreamSpan& s = streams[index];
    std::uint64_t local = pos - s.plaintext_start;
    std::uint64_t n = std::min(count, s.plaintext_size - local);
    if (n > 0) {
      auto* reader = BLOBSEAL_TRY(impl_->stream(index));
      BLOBSEAL_TRY_STATUS(reader->read(local, n, sink));
    }
    pos += n;
    count -= n;
    ++index;
  }
  return {};
}

Status SealedReader::verify_all() {
  DiscardSink discard;
  for (std::size_t i = 0; i < impl_->streams.size(); ++i) {
    auto* reader = BLOBSEAL_TRY(impl_->stream(i));
    BLOBSEAL_TRY_STATUS(reader->read(0, impl_->streams[i].plaintext_size, discard));
    BLOBSEAL_TRY_STATUS(reader->authenticate_length());
  }
  return {};
}

Result<StreamEncryptor> begin_stream(const SecretBytes& dek, const ObjectId& object_id, std::uint32_t part_number,
                                     ByteSink& sink, std::size_t batch_chunks) {
  Bytes context = stream_context(object_id, part_number);
  return StreamEncryptor::create(dek.view(), context, sink, std::nullopt, batch_chunks);
}

PartRecord part_record(std::uint32_t part_number, const StreamEncryptor& finished) {
  PartRecord record;
  record.part_number = part_number;
  record.plaintext_size = finished.plaintext_bytes();
  record.salt = finished.salt();
  record.commitment = finished.commitment();
  return record;
}

}  // namespace blobseal::seal
