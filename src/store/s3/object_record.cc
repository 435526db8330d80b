#include "store/s3/object_record.h"

#include <cstring>

#include <fmt/format.h>

#include "crypto/primitives.h"

namespace blobseal::store::s3 {

namespace {

constexpr std::string_view kMagic = "BSREC001";
constexpr std::size_t kChecksumSize = 32;

tl::unexpected<Error> corrupt(std::string_view what) {
  return make_error(ErrorCode::kDataLoss, fmt::format("an upstream object record is corrupt: {}", what));
}

}  // namespace

Status check_record_limits(const Bytes& header, const std::map<std::string, std::string>& metadata) {
  if (header.size() > kMaxRecordHeaderBytes)
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("a header of {} bytes is over the limit of {}", header.size(), kMaxRecordHeaderBytes));
  if (metadata.size() > kMaxRecordMetadataEntries)
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("{} metadata entries are over the limit of {}", metadata.size(),
                                  kMaxRecordMetadataEntries));
  std::size_t total = header.size();
  for (const auto& [name, value] : metadata) {
    if (name.size() > kMaxRecordMetadataItemBytes || value.size() > kMaxRecordMetadataItemBytes)
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("metadata names and values are limited to {} bytes", kMaxRecordMetadataItemBytes));
    total += name.size() + value.size() + 8;
  }
  if (total + 4096 > kMaxRecordBytes)
    return make_error(ErrorCode::kResourceExhausted, "the header and metadata together are too large");
  return {};
}

Result<Bytes> encode_record(const ObjectRecord& record) {
  BLOBSEAL_TRY_STATUS(check_record_limits(record.header, record.metadata));
  if (record.key.size() > 0xFFFF || record.body_id.size() > 0xFF || record.body_etag.size() > 0xFF)
    return make_error(ErrorCode::kInvalidArgument, "a record field is too long");
  Bytes out;
  out.reserve(128 + record.key.size() + record.header.size());
  put_bytes(out, as_bytes(kMagic));
  put_u16(out, static_cast<std::uint16_t>(record.key.size()));
  put_bytes(out, as_bytes(record.key));
  put_bytes(out, record.revision);
  put_u8(out, static_cast<std::uint8_t>(record.body_id.size()));
  put_bytes(out, as_bytes(record.body_id));
  put_u8(out, static_cast<std::uint8_t>(record.body_etag.size()));
  put_bytes(out, as_bytes(record.body_etag));
  put_u64(out, record.body_size);
  put_u64(out, static_cast<std::uint64_t>(record.modified_unix_ns));
  put_u32(out, static_cast<std::uint32_t>(record.header.size()));
  put_bytes(out, record.header);
  put_u32(out, static_cast<std::uint32_t>(record.metadata.size()));
  for (const auto& [name, value] : record.metadata) {
    put_u32(out, static_cast<std::uint32_t>(name.size()));
    put_bytes(out, as_bytes(name));
    put_u32(out, static_cast<std::uint32_t>(value.size()));
    put_bytes(out, as_bytes(value));
  }
  auto checksum = crypto::sha256(out);
  put_bytes(out, checksum);
  return out;
}

Result<ObjectRecord> decode_record(ByteSpan bytes) {
  if (bytes.size() > kMaxRecordBytes) return corrupt("it is too long");
  if (bytes.size() < kMagic.size() + kChecksumSize) return corrupt("it is too short");
  ByteSpan content = bytes.first(bytes.size() - kChecksumSize);
  auto checksum = crypto::sha256(content);
  if (std::memcmp(checksum.data(), bytes.data() + content.size(), kChecksumSize) != 0)
    return corrupt("its checksum does not match");

  ByteReader reader(content);
  auto magic = reader.bytes(kMagic.size());
  if (!magic || as_string_view(*magic) != kMagic) return corrupt("unknown magic or version");
  ObjectRecord record;
  auto text = [&](std::optional<std::size_t> length, std::string& out) {
    if (!length) return false;
    auto data = reader.bytes(*length);
    if (!data) return false;
    out.assign(as_string_view(*data));
    return true;
  };
  auto u16 = reader.u16();
  if (!text(u16 ? std::optional<std::size_t>(*u16) : std::nullopt, record.key)) return corrupt("truncated key");
  auto revision = reader.bytes(record.revision.size());
  if (!revision) return corrupt("truncated revision");
  std::memcpy(record.revision.data(), revision->data(), record.revision.size());
  auto id_length = reader.u8();
  if (!text(id_length ? std::optional<std::size_t>(*id_length) : std::nullopt, record.body_id))
    return corrupt("truncated body id");
  auto etag_length = reader.u8();
  if (!text(etag_length ? std::optional<std::size_t>(*etag_length) : std::nullopt, record.body_etag))
    return corrupt("truncated body ETag");
  auto size = reader.u64();
  auto modified = reader.u64();
  auto header_length = reader.u32();
  if (!size || !modified || !header_length) return corrupt("truncated fields");
  record.body_size = *size;
  record.modified_unix_ns = static_cast<std::int64_t>(*modified);
  auto header = reader.bytes(*header_length);
  if (!header) return corrupt("truncated header");
  record.header.assign(header->begin(), header->end());
  auto count = reader.u32();
  if (!count || *count > kMaxRecordMetadataEntries) return corrupt("bad metadata count");
  for (std::uint32_t i = 0; i < *count; ++i) {
    std::string name, value;
    auto name_length = reader.u32();
    if (!text(name_length ? std::optional<std::size_t>(*name_length) : std::nullopt, name)) return corrupt("truncated metadata");
    auto value_length = reader.u32();
    if (!text(value_length ? std::optional<std::size_t>(*value_length) : std::nullopt, value)) return corrupt("truncated metadata");
    if (!record.metadata.empty() && !(record.metadata.rbegin()->first < name)) return corrupt("metadata out of order");
    record.metadata.emplace(std::move(name), std::move(value));
  }
  if (!reader.ok() || reader.remaining() != 0) return corrupt("trailing bytes");
  if (record.body_id.empty() != (record.body_size == 0)) return corrupt("body id and size disagree");
  return record;
}

}  // namespace blobseal::store::s3
