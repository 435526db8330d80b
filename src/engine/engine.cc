#include "engine/engine.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>

#include <fmt/format.h>

#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"
#include "engine/sealing_source.h"

namespace blobseal::engine {

namespace {

constexpr std::string_view kInternalPrefix = ".blobseal/";

void set_metadata(seal::Metadata& metadata, std::string_view name, std::string value) {
  for (auto& [n, v] : metadata)
    if (n == name) {
      v = std::move(value);
      return;
    }
  metadata.emplace_back(std::string(name), std::move(value));
}

// The store key of an API location; internal records (bucket names starting with '.') are unreachable.
// The location the index-key record's data key is bound to.
const Location kIndexKeyLocation{"", ".blobseal", "index-key"};

Result<std::string> checked_storage_key(const Location& location) {
  if (location.bucket.starts_with('.') || location.bucket.find('/') != std::string::npos)
    return make_error(ErrorCode::kInvalidArgument, "invalid bucket name", "InvalidBucketName");
  if (location.key.empty() || location.key.size() > store::kMaxKeyBytes)
    return make_error(ErrorCode::kInvalidArgument, "object keys are 1 to 1024 bytes", "KeyTooLongError");
  std::string key = Engine::storage_key(location);
  BLOBSEAL_TRY_STATUS(store::validate_key(key));
  return key;
}

}  // namespace

std::optional<std::string> ObjectSummary::etag() const {
  if (const std::string* v = seal::find_metadata(metadata, kMetaEtag)) return *v;
  return std::nullopt;
}

OpenObject::OpenObject(ObjectSummary summary, std::unique_ptr<store::StoredObject> stored,
                       std::unique_ptr<seal::SealedReader> reader, std::vector<seal::PartRecord> parts)
    : summary_(std::move(summary)), stored_(std::move(stored)), reader_(std::move(reader)), parts_(std::move(parts)) {}

std::optional<std::pair<std::uint64_t, std::uint64_t>> OpenObject::part_range(std::size_t n) const {
  if (parts_.empty()) {
    if (n != 1) return std::nullopt;
    return std::pair<std::uint64_t, std::uint64_t>{0, reader_->size()};
  }
  if (n == 0 || n > parts_.size()) return std::nullopt;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i + 1 < n; ++i) offset += parts_[i].plaintext_size;
  return std::pair<std::uint64_t, std::uint64_t>{offset, parts_[n - 1].plaintext_size};
}

Result<std::size_t> SubrangeSource::read_at(std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= length_) return std::size_t{0};
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), length_ - offset));
  return inner_.read_at(offset_ + offset, out.first(n));
}

Engine::Engine(store::ObjectStore& store, keys::KeyManager& keys) : store_(store), keys_(keys) {}

std::string Engine::storage_key(const Location& location) { return location.bucket + "/" + location.key; }

std::optional<Location> Engine::location_of(std::string_view key) {
  if (key.starts_with(kInternalPrefix)) return std::nullopt;
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return Location{"", std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

ObjectSummary Engine::summarize(const Location& location, const store::ObjectInfo& info,
                                const seal::Envelope& envelope, seal::Metadata metadata) const {
  ObjectSummary s;
  s.key = location.key;
  s.size = envelope.plaintext_size;
  s.modified_unix_ns = info.modified_unix_ns;
  // A re-encrypted object keeps the last-modified time of the client's write.
  if (auto it = info.metadata.find(std::string(kStoreMetaLastModified)); it != info.metadata.end()) {
    char* end = nullptr;
    long long ns = std::strtoll(it->second.c_str(), &end, 10);
    if (end != it->second.c_str() && *end == '\0') s.modified_unix_ns = ns;
  }
  s.generation = info.generation;
  s.metadata = std::move(metadata);
  s.key_reference = envelope.key;
  return s;
}

Result<ObjectSummary> Engine::put(const Location& location, ByteSource& body, const PutOptions& options) {
  std::string key = BLOBSEAL_TRY(checked_storage_key(location));
  seal::ObjectId object_id = seal::new_object_id();
  auto data_key = BLOBSEAL_TRY(keys_.generate_data_key(seal::wrap_associated_data(location, object_id), options.key_id));

  SealingSource sealing(body);
  BLOBSEAL_TRY_STATUS(sealing.start(data_key.plaintext, object_id, 0));

  seal::Envelope envelope;
  envelope.layout = seal::Layout::kSingleStream;
  envelope.object_id = object_id;
  envelope.key = {data_key.wrapped.provider, data_key.wrapped.key_id, data_key.wrapped.version,
                  data_key.wrapped.ciphertext};
  seal::Metadata metadata = options.metadata;

  store::PutOptions put;
  put.if_generation_match = options.if_generation_match;
  if (options.size) put.body_size = seal::ciphertext_size(*options.size);
  put.finalize_metadata = [&]() { return listing_metadata(key, sealing.etag()); };
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

namespace {
// An object whose data key the key manager refuses for its key's state (version retired, outside the dual-read
// window, destroyed, unknown) exists all the same: never NotFound, which callers read as "no such object". The
// reasons are AWS S3's own answers for SSE-KMS objects whose key is disabled or gone.
Error key_state_error(const Error& error) {
  if (error.code() == ErrorCode::kNotFound)
    return Error(ErrorCode::kFailedPrecondition, error.message(), std::string(kKeyNotFoundReason));
  if (error.code() == ErrorCode::kFailedPrecondition && error.reason().empty())
    return Error(ErrorCode::kFailedPrecondition, error.message(), std::string(kKeyDisabledReason));
  return error;
}
}  // namespace

Result<Engine::Unsealed> Engine::unseal(const Location& location, const store::ObjectInfo& info) {
  auto parsed = BLOBSEAL_TRY(seal::parse_envelope(info.header));
  seal::Envelope& envelope = parsed.envelope;
  if (envelope.key.provider != keys_.id())
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("object is sealed by key manager \"{}\", this server uses \"{}\"",
                                  envelope.key.provider, keys_.id()));
  keys::WrappedKey wrapped{envelope.key.provider, envelope.key.key_id, envelope.key.version, envelope.key.wrapped_dek};
  auto dek = keys_.unwrap(wrapped, seal::wrap_associated_data(location, envelope.object_id));
  if (!dek) return make_error(key_state_error(dek.error()));
  auto contents = BLOBSEAL_TRY(seal::open_envelope(envelope, *dek));
  return Unsealed{std::move(envelope), std::move(contents), std::move(*dek)};
}

Result<OpenObject> Engine::open(const Location& location) {
  std::string key = BLOBSEAL_TRY(checked_storage_key(location));
  auto stored = BLOBSEAL_TRY(store_.open(key));
  auto unsealed = BLOBSEAL_TRY(unseal(location, stored->info()));
  auto reader =
      BLOBSEAL_TRY(seal::SealedReader::open(unsealed.envelope, unsealed.contents, unsealed.dek, stored->body()));
  ObjectSummary summary = summarize(location, stored->info(), unsealed.envelope, std::move(unsealed.contents.metadata));
  summary.size = reader.size();
  return OpenObject(std::move(summary), std::move(stored), std::make_unique<seal::SealedReader>(std::move(reader)),
                    std::move(unsealed.contents.parts));
}

Result<ObjectSummary> Engine::head(const Location& location) {
  std::string key = BLOBSEAL_TRY(checked_storage_key(location));
  auto info = BLOBSEAL_TRY(store_.head(key));
  auto unsealed = BLOBSEAL_TRY(unseal(location, info));
  return summarize(location, info, unsealed.envelope, std::move(unsealed.contents.metadata));
}

Status Engine::remove(const Location& location) {
  std::string key = BLOBSEAL_TRY(checked_storage_key(location));
  return store_.remove(key);
}

Result<ListPage> Engine::list(const Location& bucket, const store::ListRequest& request) {
  std::string root = bucket.bucket + "/";
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
      seal::Metadata listed;
      if (auto etag = listed_etag(info)) listed.emplace_back(std::string(kMetaEtag), *etag);
      page.objects.push_back(summarize(location, info, parsed->envelope, std::move(listed)));
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
  std::string from = BLOBSEAL_TRY(checked_storage_key(source));
  std::string to = BLOBSEAL_TRY(checked_storage_key(destination));
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
  if (const std::string* etag = seal::find_metadata(metadata, kMetaEtag))
    put.metadata = BLOBSEAL_TRY(listing_metadata(to, *etag));
  auto copied = BLOBSEAL_TRY(store_.copy(from, to, put));
  return summarize(destination, copied, envelope, std::move(metadata));
}

Result<ObjectSummary> Engine::update_metadata(const Location& location,
                                              const std::function<Status(seal::Metadata&)>& edit) {
  std::string key = BLOBSEAL_TRY(checked_storage_key(location));
  auto info = BLOBSEAL_TRY(store_.head(key));
  auto unsealed = BLOBSEAL_TRY(unseal(location, info));
  BLOBSEAL_TRY_STATUS(edit(unsealed.contents.metadata));
  Bytes header = BLOBSEAL_TRY(seal::encode_envelope(unsealed.envelope, unsealed.contents, unsealed.dek));
  auto updated = BLOBSEAL_TRY(store_.replace_header(key, info.generation, header, info.metadata));
  return summarize(location, updated, unsealed.envelope, std::move(unsealed.contents.metadata));
}

Result<bool> Engine::rewrap(const Location& location) {
  std::string key = BLOBSEAL_TRY(checked_storage_key(location));
  return rewrap_record(key, location);
}

Result<std::optional<bool>> Engine::rewrap_stored(std::string_view storage_key) {
  if (storage_key == kIndexKeyRecordName)
    return std::optional<bool>(BLOBSEAL_TRY(rewrap_record(std::string(storage_key), kIndexKeyLocation)));
  auto location = location_of(storage_key);
  if (!location) return std::optional<bool>();  // other internal records hold no data key of their own
  location->tenant = BLOBSEAL_TRY(tenant_of(location->bucket));  // bound into the wrapping with bucket and key
  return std::optional<bool>(BLOBSEAL_TRY(rewrap_record(std::string(storage_key), *location)));
}

Result<std::optional<bool>> Engine::needs_rewrap_stored(std::string_view storage_key) {
  if (storage_key != kIndexKeyRecordName && !location_of(storage_key)) return std::optional<bool>();
  auto info = BLOBSEAL_TRY(store_.head(storage_key));
  auto parsed = BLOBSEAL_TRY(seal::parse_envelope(info.header));
  keys::WrappedKey current{parsed.envelope.key.provider, parsed.envelope.key.key_id, parsed.envelope.key.version,
                           parsed.envelope.key.wrapped_dek};
  return std::optional<bool>(BLOBSEAL_TRY(keys_.needs_rewrap(current)));
}

Result<bool> Engine::rewrap_record(const std::string& key, const Location& location) {
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

// ---- the index key: ETags in listings without a key-manager call per object ----------------------------------

namespace {
constexpr std::string_view kIndexKeyRecord = kIndexKeyRecordName;
constexpr std::string_view kListingEtagLabel = "blobseal.dev/listing-etag@v1";

Bytes listing_aad(std::string_view storage_key) {
  Bytes aad;
  put_bytes(aad, as_bytes(kListingEtagLabel));
  put_u8(aad, 0);
  put_bytes(aad, as_bytes(storage_key));
  return aad;
}
}  // namespace

Result<const SecretBytes*> Engine::index_key() {
  std::lock_guard lock(index_key_mutex_);
  if (index_key_) return &*index_key_;
  const Location& where = kIndexKeyLocation;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto info = store_.head(kIndexKeyRecord);
    if (info) {
      auto parsed = BLOBSEAL_TRY(seal::parse_envelope(info->header));
      keys::WrappedKey wrapped{parsed.envelope.key.provider, parsed.envelope.key.key_id, parsed.envelope.key.version,
                               parsed.envelope.key.wrapped_dek};
      auto key = BLOBSEAL_TRY(keys_.unwrap(wrapped, seal::wrap_associated_data(where, parsed.envelope.object_id)));
      BLOBSEAL_TRY(seal::open_envelope(parsed.envelope, key));  // authenticates the record
      index_key_.emplace(std::move(key));
      return &*index_key_;
    }
    if (info.error().code() != ErrorCode::kNotFound) return make_error(info.error());
    // First use of this store: create the record; a concurrent creator wins and we read theirs.
    seal::ObjectId id = seal::new_object_id();
    auto data_key = BLOBSEAL_TRY(keys_.generate_data_key(seal::wrap_associated_data(where, id)));
    seal::Envelope envelope;
    envelope.object_id = id;
    envelope.key = {data_key.wrapped.provider, data_key.wrapped.key_id, data_key.wrapped.version,
                    data_key.wrapped.ciphertext};
    store::PutOptions put;
    put.header = BLOBSEAL_TRY(seal::encode_envelope(envelope, {}, data_key.plaintext));
    put.if_generation_match = "";
    SpanSource empty(ByteSpan{});
    auto created = store_.put(kIndexKeyRecord, empty, put);
    if (created) {
      index_key_.emplace(std::move(data_key.plaintext));
      return &*index_key_;
    }
    if (created.error().code() != ErrorCode::kFailedPrecondition &&
        created.error().code() != ErrorCode::kAlreadyExists)
      return make_error(created.error());
  }
  return make_error(ErrorCode::kUnavailable, "could not load or create the store's index key");
}

Result<std::map<std::string, std::string>> Engine::listing_metadata(const std::string& storage_key,
                                                                    const std::string& etag) {
  const SecretBytes* key = BLOBSEAL_TRY(index_key());
  auto aead = BLOBSEAL_TRY(crypto::AesGcm::create(key->view()));
  Bytes sealed(crypto::kAesGcmNonceSize + etag.size() + crypto::kAesGcmTagSize);
  std::span<std::uint8_t> out(sealed);
  crypto::random_bytes(out.first(crypto::kAesGcmNonceSize));
  BLOBSEAL_TRY_STATUS(aead.seal(out.first(crypto::kAesGcmNonceSize), listing_aad(storage_key), as_bytes(etag),
                                out.subspan(crypto::kAesGcmNonceSize, etag.size()),
                                out.last<crypto::kAesGcmTagSize>()));
  return std::map<std::string, std::string>{{"etag", to_base64(sealed)}};
}

std::optional<std::string> Engine::listed_etag(const store::ObjectInfo& info) {
  auto it = info.metadata.find("etag");
  if (it == info.metadata.end()) return std::nullopt;
  auto sealed = from_base64(it->second);
  if (!sealed || sealed->size() < crypto::kAesGcmNonceSize + crypto::kAesGcmTagSize) return std::nullopt;
  auto key = index_key();
  if (!key) return std::nullopt;
  auto aead = crypto::AesGcm::create((*key)->view());
  if (!aead) return std::nullopt;
  ByteSpan in(*sealed);
  std::size_t n = in.size() - crypto::kAesGcmNonceSize - crypto::kAesGcmTagSize;
  std::string etag(n, '\0');
  if (!aead->open(in.first(crypto::kAesGcmNonceSize), listing_aad(info.key), in.subspan(crypto::kAesGcmNonceSize, n),
                  in.last(crypto::kAesGcmTagSize), std::span(reinterpret_cast<std::uint8_t*>(etag.data()), n)))
    return std::nullopt;
  return etag;
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
      auto location = location_of(info.key);
      if (!location) continue;  // internal records are checked through the objects they belong to
      std::uint64_t bytes = 0;
      Status status;
      if (auto tenant = tenant_of(location->bucket)) {
        location->tenant = *tenant;
        status = verify(*location, &bytes);
      } else {
        status = make_error(tenant.error().with_context("cannot tell which tenant the object belongs to"));
      }
      ++report.objects_checked;
      report.bytes_checked += bytes;
      if (!status) report.issues.push_back({location->bucket, location->key, status.error()});
      if (progress) progress(report.objects_checked, report.bytes_checked);
    }
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  return report;
}

}  // namespace blobseal::engine
