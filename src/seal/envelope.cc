#include "seal/envelope.h"

#include <cstring>

#include <fmt/format.h>

#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"

namespace blobseal::seal {

namespace {

constexpr std::string_view kMagic = "BLOBSEAL";
constexpr std::string_view kEnvelopeInfo = "blobseal.dev/envelope@v1";
constexpr std::string_view kWrapLabel = "blobseal.dev/dek@v1";
constexpr std::string_view kStreamLabel = "blobseal.dev/v1";
constexpr std::uint8_t kFlagLengthRecorded = 0x01;
constexpr std::size_t kMaxWrappedKeySize = 4096;
// The longest plaintext one Cobblestone stream can hold: 2^38 chunks, the last one short.
constexpr std::uint64_t kMaxStreamPlaintext = kMaxChunks * kChunkSize - 1;

Error malformed(std::string_view what) {
  return Error(ErrorCode::kInvalidArgument, fmt::format("malformed sealed-object envelope: {}", what));
}

// The 64 fixed bytes, with the size field (bytes 12..16) set to `size`.
Bytes fixed_header(const Envelope& e, std::uint32_t size) {
  Bytes out;
  out.reserve(kEnvelopeFixedSize);
  put_bytes(out, as_bytes(kMagic));
  put_u8(out, e.version);
  put_u8(out, e.suite);
  put_u8(out, static_cast<std::uint8_t>(e.layout));
  put_u8(out, e.length_recorded ? kFlagLengthRecorded : 0);
  put_u32(out, size);
  put_bytes(out, e.object_id);
  put_u64(out, e.length_recorded ? e.plaintext_size : 0);
  put_bytes(out, e.envelope_salt);
  return out;
}

// What the sealed section's tag covers: the fixed header without its size field.
Bytes sealed_section_aad(const Envelope& e) {
  Bytes fixed = fixed_header(e, 0);
  Bytes aad(fixed.begin(), fixed.begin() + 12);
  aad.insert(aad.end(), fixed.begin() + 16, fixed.end());
  return aad;
}

struct EnvelopeKeys {
  SecretBytes material;  // key (32) || nonce (12)
  std::span<const std::uint8_t> key() const { return material.view().first(32); }
  std::span<const std::uint8_t> nonce() const { return material.view().subspan(32, 12); }
};

Result<EnvelopeKeys> derive_envelope_keys(const SecretBytes& dek, const Envelope& e) {
  if (dek.size() != kInputKeySize) return make_error(ErrorCode::kInvalidArgument, "data key must be 32 bytes");
  Bytes info;
  put_bytes(info, as_bytes(kEnvelopeInfo));
  put_u8(info, 0);
  put_bytes(info, e.envelope_salt);
  put_bytes(info, e.object_id);
  EnvelopeKeys keys{SecretBytes(44)};
  BLOBSEAL_TRY_STATUS(crypto::hkdf_expand_sha512(dek.view(), info, keys.material.mutable_view()));
  return keys;
}

Status check_key_reference(const KeyReference& key) {
  if (key.provider.empty() || key.provider.size() > 255) return make_error(malformed("provider id must be 1..255 bytes"));
  if (key.key_id.empty() || key.key_id.size() > 255) return make_error(malformed("key id must be 1..255 bytes"));
  if (key.wrapped_dek.empty() || key.wrapped_dek.size() > kMaxWrappedKeySize)
    return make_error(malformed("wrapped data key must be 1..4096 bytes"));
  return {};
}

Status check_contents(const Envelope& e, const EnvelopeContents& c) {
  if (c.metadata.size() > kMaxMetadataEntries) return make_error(malformed("too many metadata entries"));
  for (const auto& [name, value] : c.metadata)
    if (name.size() > 0xFFFF || value.size() > 0xFFFFFFFFu) return make_error(malformed("metadata entry too large"));
  if (e.layout == Layout::kSingleStream) {
    if (!c.parts.empty()) return make_error(malformed("a single-stream object has no manifest"));
    if (e.length_recorded && e.plaintext_size > kMaxStreamPlaintext) return make_error(malformed("object too large"));
    return {};
  }
  if (!e.length_recorded) return make_error(malformed("a multipart object must record its length"));
  if (c.parts.empty() || c.parts.size() > kMaxParts) return make_error(malformed("a multipart object has 1..10000 parts"));
  std::uint64_t total = 0;
  std::uint64_t body = 0;  // expected_body_size() must not wrap either
  std::uint32_t previous = 0;
  for (const auto& part : c.parts) {
    if (part.part_number <= previous) return make_error(malformed("part numbers must be ascending and >= 1"));
    previous = part.part_number;
    std::uint64_t stream = ciphertext_size(part.plaintext_size);
    if (part.plaintext_size > kMaxStreamPlaintext || body + stream < body)
      return make_error(malformed("part too large"));
    total += part.plaintext_size;
    body += stream;
  }
  if (total != e.plaintext_size) return make_error(malformed("the recorded length is not the sum of the parts"));
  return {};
}

Bytes encode_contents(const EnvelopeContents& c) {
  Bytes out;
  put_u16(out, static_cast<std::uint16_t>(c.metadata.size()));
  for (const auto& [name, value] : c.metadata) {
    put_u16(out, static_cast<std::uint16_t>(name.size()));
    put_bytes(out, as_bytes(name));
    put_u32(out, static_cast<std::uint32_t>(value.size()));
    put_bytes(out, as_bytes(value));
  }
  put_u32(out, static_cast<std::uint32_t>(c.parts.size()));
  for (const auto& p : c.parts) {
    put_u32(out, p.part_number);
    put_u64(out, p.plaintext_size);
    put_bytes(out, p.salt);
    put_bytes(out, p.commitment);
  }
  return out;
}

Result<Bytes> assemble(const Envelope& e, const KeyReference& key) {
  BLOBSEAL_TRY_STATUS(check_key_reference(key));
  if (e.sealed_section.size() < crypto::kAesGcmTagSize) return make_error(malformed("missing sealed section"));
  std::size_t size = kEnvelopeFixedSize + 1 + key.provider.size() + 1 + key.key_id.size() + 4 + 2 +
                     key.wrapped_dek.size() + 4 + e.sealed_section.size();
  if (size > kMaxEnvelopeSize) return make_error(ErrorCode::kResourceExhausted, "envelope exceeds 16 MiB");
  Bytes out = fixed_header(e, static_cast<std::uint32_t>(size));
  out.reserve(size);
  put_u8(out, static_cast<std::uint8_t>(key.provider.size()));
  put_bytes(out, as_bytes(key.provider));
  put_u8(out, static_cast<std::uint8_t>(key.key_id.size()));
  put_bytes(out, as_bytes(key.key_id));
  put_u32(out, key.version);
  put_u16(out, static_cast<std::uint16_t>(key.wrapped_dek.size()));
  put_bytes(out, key.wrapped_dek);
  put_u32(out, static_cast<std::uint32_t>(e.sealed_section.size()));
  put_bytes(out, e.sealed_section);
  return out;
}

}  // namespace

ObjectId new_object_id() {
  ObjectId id{};
  crypto::random_bytes(id);
  return id;
}

Bytes wrap_associated_data(const Location& location, const ObjectId& object_id) {
  Bytes out;
  put_bytes(out, as_bytes(kWrapLabel));
  put_u8(out, 0);
  for (const std::string* field : {&location.tenant, &location.bucket, &location.key}) {
    put_u32(out, static_cast<std::uint32_t>(field->size()));
    put_bytes(out, as_bytes(*field));
  }
  put_bytes(out, object_id);
  return out;
}

Bytes stream_context(const ObjectId& object_id, std::uint32_t part_number) {
  Bytes out;
  put_bytes(out, as_bytes(kStreamLabel));
  put_u8(out, 0);
  put_bytes(out, object_id);
  put_u32(out, part_number);
  return out;
}

Result<Bytes> encode_envelope(const Envelope& input, const EnvelopeContents& contents, const SecretBytes& dek) {
  if (input.version != kFormatVersion || input.suite != kSuiteCobblestone256)
    return make_error(ErrorCode::kUnimplemented, "only format version 1, suite 1 can be written");
  BLOBSEAL_TRY_STATUS(check_contents(input, contents));
  Envelope e = input;
  crypto::random_bytes(e.envelope_salt);
  auto keys = BLOBSEAL_TRY(derive_envelope_keys(dek, e));
  auto aead = BLOBSEAL_TRY(crypto::AesGcm::create(keys.key()));
  Bytes plaintext = encode_contents(contents);
  e.sealed_section.assign(plaintext.size() + crypto::kAesGcmTagSize, 0);
  std::span<std::uint8_t> out(e.sealed_section);
  BLOBSEAL_TRY_STATUS(aead.seal(keys.nonce(), sealed_section_aad(e), plaintext, out.first(plaintext.size()),
                                out.subspan(plaintext.size()).first<crypto::kAesGcmTagSize>()));
  secure_zero(plaintext.data(), plaintext.size());
  return assemble(e, e.key);
}

Result<Bytes> reencode_envelope(const Envelope& envelope, const KeyReference& key) { return assemble(envelope, key); }

Result<std::size_t> envelope_size(ByteSpan first) {
  if (first.size() < 16) return make_error(ErrorCode::kDataLoss, "sealed object is shorter than an envelope header");
  if (as_string_view(first.first(8)) != kMagic) return make_error(malformed("not a blobseal sealed object (bad magic)"));
  if (first[8] != kFormatVersion)
    return make_error(ErrorCode::kUnimplemented, fmt::format("unsupported sealed format version {}", first[8]));
  std::uint32_t size = load_u32(first.data() + 12);
  if (size < kEnvelopeFixedSize || size > kMaxEnvelopeSize) return make_error(malformed("bad envelope size"));
  return size;
}

Result<ParsedEnvelope> parse_envelope(ByteSpan data) {
  std::size_t size = BLOBSEAL_TRY(envelope_size(data));
  if (data.size() < size) return make_error(ErrorCode::kDataLoss, "the envelope is cut short");
  ByteReader r(data.first(size));
  ParsedEnvelope parsed;
  Envelope& e = parsed.envelope;
  r.bytes(8);
  e.version = *r.u8();
  e.suite = *r.u8();
  if (e.suite != kSuiteCobblestone256)
    return make_error(ErrorCode::kUnimplemented, fmt::format("unsupported cipher suite {}", e.suite));
  std::uint8_t layout = *r.u8();
  if (layout > 1) return make_error(malformed(fmt::format("unknown layout {}", layout)));
  e.layout = static_cast<Layout>(layout);
  std::uint8_t flags = *r.u8();
  if ((flags & ~kFlagLengthRecorded) != 0) return make_error(malformed("unknown flags"));
  e.length_recorded = (flags & kFlagLengthRecorded) != 0;
  r.u32();
  auto id = r.bytes(kObjectIdSize);
  std::memcpy(e.object_id.data(), id->data(), kObjectIdSize);
  e.plaintext_size = *r.u64();
  if (!e.length_recorded && (e.plaintext_size != 0 || e.layout != Layout::kSingleStream))
    return make_error(malformed("an unrecorded length is only valid for a single stream"));
  auto salt = r.bytes(kSaltSize);
  std::memcpy(e.envelope_salt.data(), salt->data(), kSaltSize);

  auto provider_len = r.u8();
  auto provider = provider_len ? r.bytes(*provider_len) : std::nullopt;
  auto key_len = r.u8();
  auto key_id = key_len ? r.bytes(*key_len) : std::nullopt;
  auto version = r.u32();
  auto wrapped_len = r.u16();
  auto wrapped = wrapped_len ? r.bytes(*wrapped_len) : std::nullopt;
  auto sealed_len = r.u32();
  auto sealed = sealed_len ? r.bytes(*sealed_len) : std::nullopt;
  if (!r.ok() || !provider || !key_id || !version || !wrapped || !sealed)
    return make_error(malformed("fields run past the announced envelope size"));
  if (r.remaining() != 0) return make_error(malformed("bytes left over inside the envelope"));
  e.key.provider.assign(as_string_view(*provider));
  e.key.key_id.assign(as_string_view(*key_id));
  e.key.version = *version;
  e.key.wrapped_dek.assign(wrapped->begin(), wrapped->end());
  e.sealed_section.assign(sealed->begin(), sealed->end());
  BLOBSEAL_TRY_STATUS(check_key_reference(e.key));
  if (e.sealed_section.size() < crypto::kAesGcmTagSize) return make_error(malformed("sealed section too short"));
  parsed.encoded_size = size;
  return parsed;
}

Result<EnvelopeContents> open_envelope(const Envelope& e, const SecretBytes& dek) {
  // An Envelope need not come from parse_envelope(): without this, a short section underflows the length below.
  if (e.sealed_section.size() < crypto::kAesGcmTagSize)
    return make_error(ErrorCode::kDataLoss, "the envelope's sealed section is shorter than its tag");
  auto keys = BLOBSEAL_TRY(derive_envelope_keys(dek, e));
  auto aead = BLOBSEAL_TRY(crypto::AesGcm::create(keys.key()));
  std::size_t n = e.sealed_section.size() - crypto::kAesGcmTagSize;
  Bytes plaintext(n);
  ByteSpan sealed(e.sealed_section);
  if (!aead.open(keys.nonce(), sealed_section_aad(e), sealed.first(n), sealed.subspan(n), plaintext))
    return make_error(ErrorCode::kDataLoss,
                      "the envelope does not authenticate under this object's data key: it was altered");
  ByteReader r(plaintext);
  EnvelopeContents contents;
  auto count = r.u16();
  if (count && *count > kMaxMetadataEntries) return make_error(ErrorCode::kDataLoss, "too many metadata entries");
  for (std::uint16_t i = 0; count && i < *count && r.ok(); ++i) {
    auto name_len = r.u16();
    auto name = name_len ? r.bytes(*name_len) : std::nullopt;
    auto value_len = r.u32();
    auto value = value_len ? r.bytes(*value_len) : std::nullopt;
    if (!name || !value) break;
    contents.metadata.emplace_back(std::string(as_string_view(*name)), std::string(as_string_view(*value)));
  }
  auto parts = r.u32();
  if (parts && *parts > kMaxParts) return make_error(ErrorCode::kDataLoss, "too many parts in the manifest");
  for (std::uint32_t i = 0; parts && i < *parts && r.ok(); ++i) {
    PartRecord p;
    auto number = r.u32();
    auto size = r.u64();
    auto salt = r.bytes(kSaltSize);
    auto commitment = r.bytes(kCommitmentSize);
    if (!number || !size || !salt || !commitment) break;
    p.part_number = *number;
    p.plaintext_size = *size;
    std::memcpy(p.salt.data(), salt->data(), kSaltSize);
    std::memcpy(p.commitment.data(), commitment->data(), kCommitmentSize);
    contents.parts.push_back(p);
  }
  secure_zero(plaintext.data(), plaintext.size());
  if (!r.ok() || r.remaining() != 0) return make_error(ErrorCode::kDataLoss, "the envelope's sealed section is malformed");
  if (auto status = check_contents(e, contents); !status)
    return make_error(ErrorCode::kDataLoss, status.error().message());
  return contents;
}

std::optional<std::uint64_t> expected_body_size(const Envelope& e, const EnvelopeContents& contents) {
  if (e.layout == Layout::kSingleStream) {
    if (!e.length_recorded) return std::nullopt;
    return ciphertext_size(e.plaintext_size);
  }
  std::uint64_t total = 0;
  for (const auto& p : contents.parts) total += ciphertext_size(p.plaintext_size);
  return total;
}

const std::string* find_metadata(const Metadata& metadata, std::string_view name) {
  for (const auto& [n, v] : metadata)
    if (n == name) return &v;
  return nullptr;
}

}  // namespace blobseal::seal
