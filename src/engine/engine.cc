#include "engine/engine.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include <fmt/format.h>

#include "crypto/primitives.h"

namespace blobseal::engine {

namespace {

constexpr std::size_t kPlaintextBatch = seal::kDefaultBatchChunks * seal::kChunkSize;

// Pulls plaintext from the caller's body, seals it, and hands out ciphertext: the pull-side adapter between a
// request body and ObjectStore::put. Holds at most one batch of plaintext and its ciphertext.
class SealingSource final : public ByteSource {
 public:
  SealingSource(ByteSource& plaintext) : plaintext_(plaintext), md5_(crypto::Digest::Algorithm::kMd5) {}

  Status start(const SecretBytes& dek, const seal::ObjectId& object_id) {
    auto encryptor = seal::begin_stream(dek, object_id, 0, queue_);
    if (!encryptor) return make_error(encryptor.error());
    encryptor_.emplace(std::move(*encryptor));
    input_.resize(kPlaintextBatch);
    return {};
  }

  Result<std::size_t> read(std::span<std::uint8_t> out) override {
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

  bool finished() const { return finished_; }
  std::uint64_t plaintext_bytes() const { return encryptor_->plaintext_bytes(); }
  const std::string& etag() const { return etag_; }

 private:
  // A byte queue the encryptor writes into and read() drains.
  class Queue final : public ByteSink {
   public:
    Status write(std::span<const std::uint8_t> data) override {
      if (head_ == bytes_.size()) {
        bytes_.clear();
        head_ = 0;
      }
      bytes_.insert(bytes_.end(), data.begin(), data.end());
      return {};
    }
    std::size_t available() const { return bytes_.size() - head_; }
    std::size_t take(std::span<std::uint8_t> out) {
      std::size_t n = std::min(out.size(), available());
      std::memcpy(out.data(), bytes_.data() + head_, n);
      head_ += n;
      return n;
    }

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

void set_metadata(seal::Metadata& metadata, std::string_view name, std::string value) {
  for (auto& [n, v] : metadata)
    if (n == name) {
      v = std::move(value);
      return;
    }
  metadata.emplace_back(std::string(name), std::move(value));
}

}  // namespace

std::optional<std::string> ObjectSummary::etag() const {
  if (const std::string* v = seal::find_metadata(metadata, kMetaEtag)) return *v;
  return std::nullopt;
}

OpenObject::OpenObject(ObjectSummary summary, std::unique_ptr<store::StoredObject> stored,
                       std::unique_ptr<seal::SealedReader> reader)
    : summary_(std::move(summary)), stored_(std::move(stored)), reader_(std::move(reader)) {}

Result<std::size_t> SubrangeSource::read_at(std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= length_) return std::size_t{0};
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), length_ - offset));
  return inner_.read_at(offset_ + offset, out.first(n));
}

Engine::Engine(store::ObjectStore& store, keys::KeyManager& keys) : store_(store), keys_(keys) {}

std::string Engine::storage_key(const Location& location) {
  return location.bucket.empty() ? location.key : location.bucket + "/" + location.key;
}

ObjectSummary Engine::summarize(const Location& location, const store::ObjectInfo& info,
                                const seal::Envelope& envelope, seal::Metadata metadata) const {
  ObjectSummary s;
  s.key = location.key;
  s.size = envelope.plaintext_size;
  s.modified_unix_ns = info.modified_unix_ns;
  s.generation = info.generation;
  s.metadata = std::move(metadata);
  s.key_reference = envelope.key;
  return s;
}

Result<ObjectSummary> Engine::put(const Location& location, ByteSource& body, const PutOptions& options) {
  std::string key = storage_key(location);
  BLOBSEAL_TRY_STATUS(store::validate_key(key));
  seal::ObjectId object_id = seal::new_object_id();
  auto data_key = BLOBSEAL_TRY(keys_.generate_data_key(seal::wrap_associated_data(location, object_id), options.key_id));

  SealingSource sealing(body);
  BLOBSEAL_TRY_STATUS(sealing.start(data_key.plaintext, object_id));

  seal::Envelope envelope;
  envelope.layout = seal::Layout::kSingleStream;
  envelope.object_id = object_id;
  envelope.key = {data_key.wrapped.provider, data_key.wrapped.key_id, data_key.wrapped.version,
                  data_key.wrapped.ciphertext};
  seal::Metadata metadata = options.metadata;

  store::PutOptions put;
  put.if_generation_match = options.if_generation_match;
  put.finalize_header = [&]() -> Result<Bytes> {
    if (!sealing.finished()) return make_error(ErrorCode::kInternal, "the store committed before the body ended");
    envelope.length_recorded = true;
    envelope.plaintext_size = sealing.plaintext_bytes();
    set_metadata(metadata, kMetaEtag, sealing.etag());
    return seal::encode_envelope(envelope, seal::EnvelopeContents{metadata, {}}, data_key.plaintext);
  };
  auto info = BLOBSEAL_TRY(store_.put(key, sealing, put));
  return summarize(location, info, envelope, std::move(metadata));
}

Result<Engine::Unsealed> Engine::unseal(const Location& location, const store::ObjectInfo& info) {
  auto parsed = BLOBSEAL_TRY(seal::parse_envelope(info.header));
  seal::Envelope& envelope = parsed.envelope;
  if (envelope.key.provider != keys_.id())
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("object is sealed by key manager \"{}\", this server uses \"{}\"",
                                  envelope.key.provider, keys_.id()));
  keys::WrappedKey wrapped{envelope.key.provider, envelope.key.key_id, envelope.key.version, envelope.key.wrapped_dek};
  auto dek = keys_.unwrap(wrapped, seal::wrap_associated_data(location, envelope.object_id));
  if (!dek) return make_error(dek.error());
  auto contents = BLOBSEAL_TRY(seal::open_envelope(envelope, *dek));
  return Unsealed{std::move(envelope), std::move(contents), std::move(*dek)};
}

Result<OpenObject> Engine::open(const Location& location) {
  std::string key = storage_key(location);
  BLOBSEAL_TRY_STATUS(store::validate_key(key));
  auto stored = BLOBSEAL_TRY(store_.open(key));
  auto unsealed = BLOBSEAL_TRY(unseal(location, stored->info()));
  auto reader =
      BLOBSEAL_TRY(seal::SealedReader::open(unsealed.envelope, unsealed.contents, unsealed.dek, stored->body()));
  ObjectSummary summary = summarize(location, stored->info(), unsealed.envelope, std::move(unsealed.contents.metadata));
  summary.size = reader.size();
  return OpenObject(std::move(summary), std::move(stored), std::make_unique<seal::SealedReader>(std::move(reader)));
}

Result<ObjectSummary> Engine::head(const Location& location) {
  std::string key = storage_key(location);
  BLOBSEAL_TRY_STATUS(store::validate_key(key));
  auto info = BLOBSEAL_TRY(store_.head(key));
  auto unsealed = BLOBSEAL_TRY(unseal(location, info));
  return summarize(location, info, unsealed.envelope, std::move(unsealed.contents.metadata));
}

Status Engine::remove(const Location& location) {
  std::string key = storage_key(location);
  BLOBSEAL_TRY_STATUS(store::validate_key(key));
  return store_.remove(key);
}

Result<ListPage> Engine::list(const Location& bucket, const store::ListRequest& request) {
  std::string root = bucket.bucket.empty() ? std::string() : bucket.bucket + "/";
  store::ListRequest scoped = request;
  scoped.prefix = root + request.prefix;
  if (!request.start_after.empty()) scoped.start_after = root + request.start_after;
  auto result = BLOBSEAL_TRY(store_.list(scoped));
  ListPage page;
  page.truncated = result.truncated;
  if (!result.next_start_after.empty()) page.next_start_after = result.next_start_after.substr(root.size());
  for (auto& prefix : result.common_prefixes) page.common_prefixes.push_back(prefix.substr(root.size()));
  for (auto& info : result.objects) {
    Location location{bucket.tenant, bucket.bucket, info.key.substr(root.size())};
    auto parsed = seal::parse_envelope(info.header);
    if (parsed) {
      page.objects.push_back(summarize(location, info, parsed->envelope, {}));
    } else {
      ObjectSummary s;
      s.key = location.key;
      s.modified_unix_ns = info.modified_unix_ns;
      s.generation = info.generation;
      page.objects.push_back(std::move(s));
    }
  }
  return page;
}

Result<ObjectSummary> Engine::copy(const Location& source, const Location& destination,
                                   std::optional<seal::Metadata> replace_metadata) {
  std::string from = storage_key(source), to = storage_key(destination);
  BLOBSEAL_TRY_STATUS(store::validate_key(from));
  BLOBSEAL_TRY_STATUS(store::validate_key(to));
  auto info = BLOBSEAL_TRY(store_.head(from));
  auto unsealed = BLOBSEAL_TRY(unseal(source, info));
  // The object id stays (the body's streams are bound to it); the wrap is redone for the new location.
  auto wrapped = BLOBSEAL_TRY(
      keys_.wrap(unsealed.dek, seal::wrap_associated_data(destination, unsealed.envelope.object_id)));
  seal::Envelope envelope = unsealed.envelope;
  envelope.key = {wrapped.provider, wrapped.key_id, wrapped.version, wrapped.ciphertext};
  seal::Metadata metadata = unsealed.contents.metadata;
  if (replace_metadata) {
    std::optional<std::string> etag;
    if (const std::string* e = seal::find_metadata(metadata, kMetaEtag)) etag = *e;
    metadata = *replace_metadata;
    if (etag) set_metadata(metadata, kMetaEtag, *etag);
  }
  store::PutOptions put;
  put.header = BLOBSEAL_TRY(
      seal::encode_envelope(envelope, seal::EnvelopeContents{metadata, unsealed.contents.parts}, unsealed.dek));
  auto copied = BLOBSEAL_TRY(store_.copy(from, to, put));
  return summarize(destination, copied, envelope, std::move(metadata));
}

Result<bool> Engine::rewrap(const Location& location) {
  std::string key = storage_key(location);
  auto info = BLOBSEAL_TRY(store_.head(key));
  auto parsed = BLOBSEAL_TRY(seal::parse_envelope(info.header));
  keys::WrappedKey current{parsed.envelope.key.provider, parsed.envelope.key.key_id, parsed.envelope.key.version,
                           parsed.envelope.key.wrapped_dek};
  if (!BLOBSEAL_TRY(keys_.needs_rewrap(current))) return false;
  auto unsealed = BLOBSEAL_TRY(unseal(location, info));
  auto wrapped = BLOBSEAL_TRY(keys_.wrap(unsealed.dek, seal::wrap_associated_data(location, unsealed.envelope.object_id),
                                          parsed.envelope.key.key_id));
  Bytes header = BLOBSEAL_TRY(seal::reencode_envelope(
      parsed.envelope, {wrapped.provider, wrapped.key_id, wrapped.version, wrapped.ciphertext}));
  BLOBSEAL_TRY(store_.replace_header(key, info.generation, header, info.metadata));
  return true;
}

Status Engine::verify(const Location& location, std::uint64_t* bytes) {
  auto object = BLOBSEAL_TRY(open(location));
  BLOBSEAL_TRY_STATUS(object.verify_all());
  if (bytes != nullptr) *bytes = object.size();
  return {};
}

Result<VerifyReport> Engine::verify_all(const std::string& prefix,
                                        const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  VerifyReport report;
  store::ListRequest request;
  request.prefix = prefix;
  request.max_keys = 1000;
  for (;;) {
    auto page = BLOBSEAL_TRY(store_.list(request));
    for (const auto& info : page.objects) {
      std::uint64_t bytes = 0;
      auto status = verify(Location{"", "", info.key}, &bytes);
      ++report.objects_checked;
      report.bytes_checked += bytes;
      if (!status) report.issues.push_back({info.key, status.error()});
      if (progress) progress(report.objects_checked, report.bytes_checked);
    }
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  return report;
}

}  // namespace blobseal::engine
