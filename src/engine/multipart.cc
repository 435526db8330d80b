// Multipart uploads. An upload is a record under .blobseal/uploads/<bucket>/<upload id> holding the final object's
// envelope (data key wrapped for the final location, object id, content metadata); each part is a record under
// .blobseal/parts/<upload id>/<part number> whose body is the part sealed as its own Cobblestone stream (context =
// object id + part number, fresh salt per attempt) and whose header is a one-part envelope carrying the part's
// manifest entry and ETag, sealed under the upload's data key. Completion concatenates the chosen part bodies into
// the final object and seals the manifest of exactly those parts into its envelope.
#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "crypto/primitives.h"
#include "engine/engine.h"
#include "engine/range_source.h"
#include "engine/sealing_source.h"

namespace blobseal::engine {

namespace {

constexpr std::string_view kUploadPrefix = ".blobseal/uploads/";
constexpr std::string_view kPartPrefix = ".blobseal/parts/";

std::string upload_record(const std::string& bucket, const std::string& upload_id) {
  return fmt::format("{}{}/{}", kUploadPrefix, bucket, upload_id);
}
// Parts are named under their bucket too, so that a store that keeps each bucket apart (an upstream bucket per
// blobseal bucket) keeps an upload's parts beside the object they become.
std::string part_prefix(const std::string& bucket, const std::string& upload_id) {
  return fmt::format("{}{}/{}/", kPartPrefix, bucket, upload_id);
}
std::string part_record(const std::string& bucket, const std::string& upload_id, std::uint32_t part) {
  return fmt::format("{}{}/{}/{:05}", kPartPrefix, bucket, upload_id, part);
}

Error no_such_upload(const std::string& upload_id) {
  return Error(ErrorCode::kNotFound, fmt::format("upload \"{}\" does not exist (completed, aborted, or never made)", upload_id),
               "NoSuchUpload");
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string normalize_etag(std::string_view etag) {
  std::string out;
  for (char c : etag)
    if (c != '"') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

bool valid_upload_id(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

struct Engine::UploadRecord {
  std::string upload_id;
  Location location;
  seal::Envelope envelope;
  seal::Metadata metadata;
  SecretBytes dek;
  std::int64_t initiated_unix_ns = 0;
};

Result<std::string> Engine::create_multipart(const Location& location, const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(store::validate_key(storage_key(location)));
  if (location.bucket.empty() || location.bucket.starts_with('.'))
    return make_error(ErrorCode::kInvalidArgument, "invalid bucket name", "InvalidBucketName");
  std::array<std::uint8_t, 16> id_bytes{};
  crypto::random_bytes(id_bytes);
  std::string upload_id = to_hex(id_bytes);
  seal::ObjectId object_id = seal::new_object_id();
  auto data_key = BLOBSEAL_TRY(keys_.generate_data_key(seal::wrap_associated_data(location, object_id), options.key_id));
  seal::Envelope envelope;
  envelope.object_id = object_id;
  envelope.key = {data_key.wrapped.provider, data_key.wrapped.key_id, data_key.wrapped.version,
                  data_key.wrapped.ciphertext};
  store::PutOptions put;
  put.header = BLOBSEAL_TRY(seal::encode_envelope(envelope, {options.metadata, {}}, data_key.plaintext));
  put.metadata = {{"key", location.key}, {"initiated_ns", std::to_string(now_ns())}};
  put.if_generation_match = "";
  SpanSource empty(ByteSpan{});
  BLOBSEAL_TRY(store_.put(upload_record(location.bucket, upload_id), empty, put));
  return upload_id;
}

Result<Engine::UploadRecord> Engine::load_upload(const Location& location, const std::string& upload_id) {
  if (!valid_upload_id(upload_id)) return make_error(no_such_upload(upload_id));
  auto info = store_.head(upload_record(location.bucket, upload_id));
  if (!info) {
    if (info.error().code() == ErrorCode::kNotFound) return make_error(no_such_upload(upload_id));
    return make_error(info.error());
  }
  auto key = info->metadata.find("key");
  if (key == info->metadata.end() || key->second != location.key) return make_error(no_such_upload(upload_id));
  auto unsealed = BLOBSEAL_TRY(unseal(location, *info));
  UploadRecord record;
  record.upload_id = upload_id;
  record.location = location;
  record.envelope = std::move(unsealed.envelope);
  record.metadata = std::move(unsealed.contents.metadata);
  record.dek = std::move(unsealed.dek);
  if (auto it = info->metadata.find("initiated_ns"); it != info->metadata.end())
    record.initiated_unix_ns = std::strtoll(it->second.c_str(), nullptr, 10);
  return record;
}

Result<PartInfo> Engine::store_part(const UploadRecord& upload, std::uint32_t part_number, ByteSource& body,
                                    std::optional<std::uint64_t> size) {
  if (part_number < 1 || part_number > seal::kMaxParts)
    return make_error(ErrorCode::kInvalidArgument, "part numbers are 1 to 10000", "InvalidArgument");
  SealingSource sealing(body);
  BLOBSEAL_TRY_STATUS(sealing.start(upload.dek, upload.envelope.object_id, part_number));
  PartInfo part;
  part.part_number = part_number;
  store::PutOptions put;
  if (size) put.body_size = seal::ciphertext_size(*size);
  put.finalize_header = [&]() -> Result<Bytes> {
    seal::Envelope envelope = upload.envelope;
    envelope.layout = seal::Layout::kMultipart;
    envelope.length_recorded = true;
    envelope.plaintext_size = sealing.plaintext_bytes();
    part.size = sealing.plaintext_bytes();
    part.etag = sealing.etag();
    return seal::encode_envelope(envelope, {{{std::string(kMetaEtag), part.etag}}, {sealing.record(part_number)}},
                                 upload.dek);
  };
  auto info = BLOBSEAL_TRY(store_.put(part_record(upload.location.bucket, upload.upload_id, part_number), sealing, put));
  part.modified_unix_ns = info.modified_unix_ns;
  return part;
}

Result<PartInfo> Engine::upload_part(const Location& location, const std::string& upload_id,
                                     std::uint32_t part_number, ByteSource& body,
                                     std::optional<std::uint64_t> size) {
  auto upload = BLOBSEAL_TRY(load_upload(location, upload_id));
  return store_part(upload, part_number, body, size);
}

Result<PartInfo> Engine::upload_part_copy(const Location& location, const std::string& upload_id,
                                          std::uint32_t part_number, const Location& source,
                                          std::optional<std::pair<std::uint64_t, std::uint64_t>> range) {
  auto upload = BLOBSEAL_TRY(load_upload(location, upload_id));
  auto object = BLOBSEAL_TRY(open(source));
  std::uint64_t offset = 0, length = object.size();
  if (range) {
    if (range->first > object.size() || range->second > object.size() - range->first)
      return make_error(ErrorCode::kOutOfRange, "the copy range is outside the source object", "InvalidRange");
    offset = range->first;
    length = range->second;
  }
  PlaintextRangeSource<OpenObject> plaintext(object, offset, length);
  return store_part(upload, part_number, plaintext, length);
}

namespace {
struct OpenedPart {
  std::string record_key;
  std::string generation;
  seal::PartRecord record;
  std::string etag;
  std::int64_t modified_unix_ns = 0;
  std::uint64_t body_size = 0;
};

Result<OpenedPart> open_part(store::ObjectStore& store, const std::string& record_key, const SecretBytes& dek) {
  auto info = BLOBSEAL_TRY(store.head(record_key));
  auto parsed = BLOBSEAL_TRY(seal::parse_envelope(info.header));
  auto contents = BLOBSEAL_TRY(seal::open_envelope(parsed.envelope, dek));
  if (contents.parts.size() != 1) return make_error(ErrorCode::kDataLoss, "part record without its manifest entry");
  OpenedPart part;
  part.record_key = record_key;
  part.generation = info.generation;
  part.record = contents.parts[0];
  if (const std::string* e = seal::find_metadata(contents.metadata, kMetaEtag)) part.etag = *e;
  part.modified_unix_ns = info.modified_unix_ns;
  part.body_size = info.body_size;
  return part;
}
}  // namespace

Result<ObjectSummary> Engine::complete_multipart(const Location& location, const std::string& upload_id,
                                                 const std::vector<CompletedPart>& requested) {
  auto upload = BLOBSEAL_TRY(load_upload(location, upload_id));
  if (requested.empty())
    return make_error(ErrorCode::kInvalidArgument, "the part list is empty", "MalformedXML");
  for (std::size_t i = 1; i < requested.size(); ++i)
    if (requested[i].part_number <= requested[i - 1].part_number)
      return make_error(ErrorCode::kInvalidArgument, "parts must be listed in ascending order", "InvalidPartOrder");

  std::vector<OpenedPart> parts;
  for (const auto& want : requested) {
    auto part = open_part(store_, part_record(location.bucket, upload_id, want.part_number), upload.dek);
    if (!part) {
      if (part.error().code() == ErrorCode::kNotFound)
        return make_error(ErrorCode::kInvalidArgument, fmt::format("part {} was not uploaded", want.part_number),
                          "InvalidPart");
      return make_error(part.error());
    }
    if (normalize_etag(want.etag) != normalize_etag(part->etag))
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("part {}'s ETag does not match the uploaded part", want.part_number), "InvalidPart");
    parts.push_back(std::move(*part));
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i].record.plaintext_size < kMinPartSize)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("part {} is {} bytes; every part but the last must be at least 5 MiB",
                                    parts[i].record.part_number, parts[i].record.plaintext_size),
                        "EntityTooSmall");

  crypto::Digest md5s(crypto::Digest::Algorithm::kMd5);
  seal::EnvelopeContents contents;
  contents.metadata = upload.metadata;
  std::vector<store::ComposeSource> sources;
  std::uint64_t total = 0, stored_total = 0;
  for (const auto& part : parts) {
    auto binary = from_hex(part.etag);
    if (!binary) return make_error(ErrorCode::kDataLoss, "a part record holds an unreadable ETag");
    md5s.update(*binary);
    contents.parts.push_back(part.record);
    // Pinned to the generation whose manifest entry was read: a part re-uploaded meanwhile fails the completion.
    sources.push_back({part.record_key, part.generation});
    if (part.body_size != seal::ciphertext_size(part.record.plaintext_size))
      return make_error(ErrorCode::kDataLoss, "a stored part has the wrong size");
    total += part.record.plaintext_size;
    stored_total += part.body_size;
  }
  std::string etag = fmt::format("{}-{}", to_hex(md5s.finish()), parts.size());
  auto& metadata = contents.metadata;
  metadata.erase(std::remove_if(metadata.begin(), metadata.end(), [](const auto& e) { return e.first == kMetaEtag; }),
                 metadata.end());
  metadata.emplace_back(std::string(kMetaEtag), etag);

  seal::Envelope envelope = upload.envelope;
  envelope.layout = seal::Layout::kMultipart;
  envelope.length_recorded = true;
  envelope.plaintext_size = total;
  std::string key = storage_key(location);
  store::PutOptions put;
  put.header = BLOBSEAL_TRY(seal::encode_envelope(envelope, contents, upload.dek));
  put.metadata = BLOBSEAL_TRY(listing_metadata(key, etag));
  // The store assembles the parts' bodies (an upstream S3 store server-side, without the bytes crossing this node).
  auto info = BLOBSEAL_TRY(store_.compose(key, sources, put));
  if (info.body_size != stored_total)
    return make_error(ErrorCode::kDataLoss, "the assembled object has the wrong size");

  // The upload is over: its records go, including parts that were uploaded but not chosen.
  (void)abort_multipart(location, upload_id);
  return summarize(location, info, envelope, std::move(metadata));
}

Status Engine::abort_multipart(const Location& location, const std::string& upload_id) {
  if (!valid_upload_id(upload_id)) return make_error(no_such_upload(upload_id));
  auto info = store_.head(upload_record(location.bucket, upload_id));
  if (!info) return make_error(info.error().code() == ErrorCode::kNotFound ? no_such_upload(upload_id) : info.error());
  if (auto key = info->metadata.find("key"); key == info->metadata.end() || key->second != location.key)
    return make_error(no_such_upload(upload_id));
  store::ListRequest request;
  request.prefix = part_prefix(location.bucket, upload_id);
  for (;;) {
    auto page = BLOBSEAL_TRY(store_.list(request));
    for (const auto& part : page.objects) (void)store_.remove(part.key);
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  auto removed = store_.remove(upload_record(location.bucket, upload_id));
  if (!removed && removed.error().code() != ErrorCode::kNotFound) return removed;
  return {};
}

Result<std::vector<PartInfo>> Engine::list_parts(const Location& location, const std::string& upload_id) {
  auto upload = BLOBSEAL_TRY(load_upload(location, upload_id));
  std::vector<PartInfo> parts;
  store::ListRequest request;
  request.prefix = part_prefix(location.bucket, upload_id);
  for (;;) {
    auto page = BLOBSEAL_TRY(store_.list(request));
    for (const auto& info : page.objects) {
      auto part = BLOBSEAL_TRY(open_part(store_, info.key, upload.dek));
      parts.push_back({part.record.part_number, part.record.plaintext_size, part.etag, part.modified_unix_ns});
    }
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  return parts;
}

Result<std::vector<UploadInfo>> Engine::list_uploads(const std::string& bucket, const std::string& prefix) {
  std::vector<UploadInfo> uploads;
  store::ListRequest request;
  request.prefix = fmt::format("{}{}/", kUploadPrefix, bucket);
  for (;;) {
    auto page = BLOBSEAL_TRY(store_.list(request));
    for (const auto& info : page.objects) {
      auto key = info.metadata.find("key");
      if (key == info.metadata.end() || !key->second.starts_with(prefix)) continue;
      UploadInfo upload;
      upload.upload_id = info.key.substr(request.prefix.size());
      upload.key = key->second;
      if (auto it = info.metadata.find("initiated_ns"); it != info.metadata.end())
        upload.initiated_unix_ns = std::strtoll(it->second.c_str(), nullptr, 10);
      uploads.push_back(std::move(upload));
    }
    if (!page.truncated) break;
    request.start_after = page.next_start_after;
  }
  std::sort(uploads.begin(), uploads.end(), [](const UploadInfo& a, const UploadInfo& b) {
    return std::tie(a.key, a.initiated_unix_ns) < std::tie(b.key, b.initiated_unix_ns);
  });
  return uploads;
}

}  // namespace blobseal::engine
