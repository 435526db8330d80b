// Re-encryption under a fresh data key (blobseal reencrypt): the old body is read and verified chunk by chunk, and
// sealed again as it streams into a conditional put of the same key. A single-stream object stays one stream; a
// multipart object is sealed again part by part (same part numbers and plaintext sizes, a fresh salt each), so its
// manifest keeps the part boundaries that ranges and partNumber reads use, and its md5-of-md5s ETag still holds.
#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "engine/engine.h"
#include "engine/range_source.h"
#include "engine/sealing_source.h"

namespace blobseal::engine {

namespace {

using VerifiedRangeSource = PlaintextRangeSource<seal::SealedReader>;

// One stream of the new body: part 0 for a single-stream object, the part's number for a multipart one.
struct StreamPlan {
  std::uint32_t part_number = 0;
  std::uint64_t offset = 0;  // in the plaintext
  std::uint64_t size = 0;
};

// Seals the plaintext of `reader` again as the streams of `plan`, one after another, under `dek` and `object_id`:
// the body of the re-encrypted object. Holds one stream's batch at a time.
class ResealingSource final : public ByteSource {
 public:
  ResealingSource(seal::SealedReader& reader, const SecretBytes& dek, const seal::ObjectId& object_id,
                  std::vector<StreamPlan> plan)
      : reader_(reader), dek_(dek), object_id_(object_id), plan_(std::move(plan)) {}

  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    while (next_ <= plan_.size()) {
      if (!sealing_) {
        if (next_ == plan_.size()) break;
        const StreamPlan& stream = plan_[next_];
        range_ = std::make_unique<VerifiedRangeSource>(reader_, stream.offset, stream.size);
        sealing_ = std::make_unique<SealingSource>(*range_);
        BLOBSEAL_TRY_STATUS(sealing_->start(dek_, object_id_, stream.part_number));
      }
      std::size_t n = BLOBSEAL_TRY(sealing_->read(out));
      if (n > 0) return n;
      // This stream is sealed to its end.
      const StreamPlan& stream = plan_[next_];
      if (sealing_->plaintext_bytes() != stream.size)
        return make_error(ErrorCode::kDataLoss, fmt::format("part {} yielded {} bytes instead of {}",
                                                            stream.part_number, sealing_->plaintext_bytes(), stream.size));
      records_.push_back(sealing_->record(stream.part_number));
      md5s_.push_back(sealing_->etag());
      sealing_.reset();
      range_.reset();
      ++next_;
    }
    return std::size_t{0};
  }

  bool finished() const { return next_ == plan_.size() && !sealing_; }
  const std::vector<seal::PartRecord>& records() const { return records_; }
  // Hex MD5 of each stream's plaintext.
  const std::vector<std::string>& md5s() const { return md5s_; }

 private:
  seal::SealedReader& reader_;
  const SecretBytes& dek_;
  seal::ObjectId object_id_;
  std::vector<StreamPlan> plan_;
  std::size_t next_ = 0;
  std::unique_ptr<VerifiedRangeSource> range_;
  std::unique_ptr<SealingSource> sealing_;
  std::vector<seal::PartRecord> records_;
  std::vector<std::string> md5s_;
};

// The S3 ETag the re-sealed plaintext has: the MD5 of a single stream, md5-of-md5s-N of the parts.
Result<std::string> etag_of(seal::Layout layout, const std::vector<std::string>& md5s) {
  if (layout == seal::Layout::kSingleStream) return md5s.at(0);
  crypto::Digest digest(crypto::Digest::Algorithm::kMd5);
  for (const auto& md5 : md5s) digest.update(*from_hex(md5));
  return fmt::format("{}-{}", to_hex(digest.finish()), md5s.size());
}

bool selected(const ReencryptSelection& selection, const seal::Envelope& envelope, const store::ObjectInfo& info) {
  if (selection.key_id && envelope.key.key_id != *selection.key_id) return false;
  if (selection.key_version && envelope.key.version != *selection.key_version) return false;
  if (selection.sealed_before_unix_ns && info.modified_unix_ns >= *selection.sealed_before_unix_ns) return false;
  return true;
}

}  // namespace

Result<std::optional<ReencryptOutcome>> Engine::reencrypt_stored(std::string_view storage_key,
                                                                 const ReencryptSelection& selection, bool dry_run) {
  auto location = location_of(storage_key);
  if (!location) return std::optional<ReencryptOutcome>();  // internal records hold no object data
  if (selection.bucket && location->bucket != *selection.bucket) return std::optional<ReencryptOutcome>();
  if (!location->key.starts_with(selection.prefix)) return std::optional<ReencryptOutcome>();
  const std::string key(storage_key);
  // Each attempt reads one generation; a conditional replace lost to an envelope-only change (tags, rewrap) is
  // retried from the new state, a few times.
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto stored = BLOBSEAL_TRY(store_.open(key));
    auto parsed = BLOBSEAL_TRY(seal::parse_envelope(stored->info().header));
    if (!selected(selection, parsed.envelope, stored->info())) return std::optional<ReencryptOutcome>();
    if (dry_run) return std::optional<ReencryptOutcome>(ReencryptOutcome::kSelected);
    location->tenant = BLOBSEAL_TRY(tenant_of(location->bucket));  // bound into the wrapping with bucket and key
    if (BLOBSEAL_TRY(reencrypt_object(*location, key, *stored)))
      return std::optional<ReencryptOutcome>(ReencryptOutcome::kReencrypted);
    // Lost the race. A new put or completion gives the object a new id (and a new data key); a rewrite of the
    // envelope alone keeps the id, and with it the data key that is suspected.
    auto now = BLOBSEAL_TRY(store_.head(key));
    auto now_parsed = seal::parse_envelope(now.header);
    if (!now_parsed || now_parsed->envelope.object_id != parsed.envelope.object_id)
      return std::optional<ReencryptOutcome>(ReencryptOutcome::kReplacedMeanwhile);
  }
  return make_error(ErrorCode::kUnavailable,
                    fmt::format("the envelope of {} changed during each of {} attempts to re-encrypt it; run again",
                                key, kAttempts));
}

Result<bool> Engine::reencrypt_object(const Location& location, const std::string& key, store::StoredObject& stored) {
  const store::ObjectInfo& info = stored.info();
  auto old = BLOBSEAL_TRY(unseal(location, info));
  auto reader = BLOBSEAL_TRY(seal::SealedReader::open(old.envelope, old.contents, old.dek, stored.body()));

  std::vector<StreamPlan> plan;
  if (old.envelope.layout == seal::Layout::kMultipart) {
    std::uint64_t offset = 0;
    for (const auto& part : old.contents.parts) {
      plan.push_back({part.part_number, offset, part.plaintext_size});
      offset += part.plaintext_size;
    }
  } else {
    plan.push_back({0, 0, reader.size()});
  }
  std::uint64_t body_size = 0;
  for (const auto& stream : plan) body_size += seal::ciphertext_size(stream.size);

  // A fresh object id too: every stream's context, and the wrap's associated data, differ from the old ones.
  seal::ObjectId object_id = seal::new_object_id();
  auto data_key = BLOBSEAL_TRY(keys_.generate_data_key(seal::wrap_associated_data(location, object_id),
                                                        old.envelope.key.key_id));
  ResealingSource resealing(reader, data_key.plaintext, object_id, std::move(plan));

  seal::Envelope envelope;
  envelope.layout = old.envelope.layout;
  envelope.object_id = object_id;
  envelope.key = {data_key.wrapped.provider, data_key.wrapped.key_id, data_key.wrapped.version,
                  data_key.wrapped.ciphertext};
  envelope.length_recorded = true;
  envelope.plaintext_size = reader.size();

  store::PutOptions put;
  put.if_generation_match = info.generation;
  put.body_size = body_size;
  put.finalize_header = [&]() -> Result<Bytes> {
    if (!resealing.finished()) return make_error(ErrorCode::kInternal, "the store committed before the body ended");
    // The plaintext read back must be the one the ETag was computed over: the last check before the old body goes.
    std::string etag = BLOBSEAL_TRY(etag_of(envelope.layout, resealing.md5s()));
    if (const std::string* recorded = seal::find_metadata(old.contents.metadata, kMetaEtag); recorded && *recorded != etag)
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("the plaintext of {} does not match its ETag {} (read {})", key, *recorded, etag));
    seal::EnvelopeContents contents;
    contents.metadata = old.contents.metadata;
    if (envelope.layout == seal::Layout::kMultipart) contents.parts = resealing.records();
    return seal::encode_envelope(envelope, contents, data_key.plaintext);
  };
  // The listing ETag is sealed for this storage key and stays valid; the last-modified time clients see stays.
  put.metadata = info.metadata;
  put.metadata.try_emplace(std::string(kStoreMetaLastModified), std::to_string(info.modified_unix_ns));
  auto written = store_.put(key, resealing, put);
  if (!written) {
    if (written.error().code() == ErrorCode::kFailedPrecondition) return false;
    return make_error(written.error());
  }
  return true;
}

}  // namespace blobseal::engine
