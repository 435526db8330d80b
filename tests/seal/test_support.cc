#include "test_support.h"

#include <openssl/sha.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"
#include "keys/local/local_keyring.h"

namespace blobseal::seal::test {

Bytes sha512(ByteSpan data) {
  Bytes out(SHA512_DIGEST_LENGTH);
  static const std::uint8_t empty = 0;
  SHA512(data.empty() ? &empty : data.data(), data.size(), out.data());
  return out;
}

Bytes random_bytes_seeded(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) store_u64(b.data() + i, rng());
  for (; i < n; ++i) b[i] = static_cast<std::uint8_t>(rng());
  return b;
}

namespace {

Bytes inflate_zlib(ByteSpan compressed) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw std::runtime_error("inflateInit failed");
  Bytes out;
  std::uint8_t buf[1 << 16];
  z.next_in = const_cast<Bytef*>(compressed.data());
  z.avail_in = static_cast<uInt>(compressed.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = buf;
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      throw std::runtime_error("bad zlib stream in a test vector");
    }
    out.insert(out.end(), buf, buf + (sizeof buf - z.avail_out));
  }
  inflateEnd(&z);
  return out;
}

Bytes hex(const nlohmann::json& t, const char* field) {
  auto b = from_hex(t.at(field).get<std::string>());
  if (!b) throw std::runtime_error(std::string("bad hex in ") + field);
  return *b;
}

// Raw mode (c2sp_chunked_encryption.md): chunks of 16400 bytes after the 56-byte header, nonce = base nonce XOR
// big-endian index, empty AAD; stops at the first chunk that does not verify.
Bytes raw_mode_prefix(const Bytes& aead_key, const Bytes& base_nonce, const Bytes& ct) {
  Bytes out;
  if (ct.size() <= kStreamHeaderSize) return out;
  auto gcm = crypto::AesGcm::create(aead_key);
  if (!gcm) throw std::runtime_error("bad aeadKey");
  std::size_t pos = kStreamHeaderSize;
  for (std::uint64_t index = 0; pos < ct.size(); ++index) {
    std::size_t n = std::min(kSealedChunkSize, ct.size() - pos);
    if (n < kTagSize) break;
    Bytes nonce = base_nonce;
    for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<std::uint8_t>(index >> (8 * i));
    Bytes plain(n - kTagSize);
    ByteSpan chunk(ct.data() + pos, n);
    if (!gcm->open(nonce, {}, chunk.first(n - kTagSize), chunk.subspan(n - kTagSize), plain)) break;
    out.insert(out.end(), plain.begin(), plain.end());
    pos += n;
  }
  return out;
}

std::vector<std::pair<std::uint64_t, Bytes>> raw_mode_chunks(const Bytes& aead_key, const Bytes& base_nonce,
                                                             const Bytes& ct) {
  std::vector<std::pair<std::uint64_t, Bytes>> out;
  auto size = plaintext_size(ct.size());
  if (!size) return out;
  auto gcm = crypto::AesGcm::create(aead_key);
  if (!gcm) throw std::runtime_error("bad aeadKey");
  for (std::uint64_t index = 0; index * kChunkSize <= *size; ++index) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunkSize, *size - index * kChunkSize));
    std::size_t pos = chunk_offset(index);
    Bytes nonce = base_nonce;
    for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<std::uint8_t>(index >> (8 * i));
    Bytes plain(n);
    ByteSpan chunk(ct.data() + pos, n + kTagSize);
    if (gcm->open(nonce, {}, chunk.first(n), chunk.subspan(n), plain)) out.emplace_back(index * kChunkSize, plain);
  }
  return out;
}

const nlohmann::json& vector_file() {
  static const nlohmann::json file = [] {
    std::string path =
        std::string(BLOBSEAL_VECTORS_DIR) + "/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    auto parsed = nlohmann::json::parse(in);
    for (const auto& group : parsed.at("testGroups"))
      if (group.at("aead") != "AEAD_AES_256_GCM" || group.at("sha") != "SHA-512")
        throw std::runtime_error("unexpected Cobblestone instantiation in the vectors");
    return parsed;
  }();
  return file;
}

const nlohmann::json& vector_json(int id) {
  for (const auto& group : vector_file().at("testGroups"))
    for (const auto& t : group.at("tests"))
      if (t.at("tcId") == id) return t;
  throw std::runtime_error("no Cobblestone vector " + std::to_string(id));
}

CobblestoneVector load_vector(const nlohmann::json& t) {
  CobblestoneVector v;
  v.id = t.at("tcId");
  v.comment = t.value("comment", "");
  for (const auto& f : t.at("flags")) v.flags.insert(f.get<std::string>());
  std::string result = t.at("result");
  if (result != "valid" && result != "invalid") throw std::runtime_error("unexpected result " + result);
  v.valid = result == "valid";
  v.key = hex(t, "key");
  v.context = hex(t, "ctx");
  v.ciphertext = inflate_zlib(hex(t, "ct"));
  if (t.contains("aeadKey")) v.aead_key = hex(t, "aeadKey");
  if (t.contains("baseNonce")) v.base_nonce = hex(t, "baseNonce");
  if (t.contains("msgLength")) v.msg_length = t.at("msgLength").get<std::uint64_t>();
  if (t.contains("msgSha512")) v.msg_sha512 = hex(t, "msgSha512");
  if (v.aead_key && v.base_nonce) {
    v.verified_prefix = raw_mode_prefix(*v.aead_key, *v.base_nonce, v.ciphertext);
    v.verified_chunks = raw_mode_chunks(*v.aead_key, *v.base_nonce, v.ciphertext);
  }
  return v;
}

}  // namespace

ByteSpan CobblestoneVector::allowed_plaintext() const {
  if (valid || has("PartialPlaintext")) return verified_prefix;
  return {};
}

std::string CobblestoneVector::describe() const {
  std::string out = fmt::format("tcId {} ({}) {}", id, comment, valid ? "valid" : "invalid");
  for (const auto& f : flags) out += " " + f;
  return out;
}

const std::vector<CobblestoneVectorInfo>& cobblestone_index() {
  static const std::vector<CobblestoneVectorInfo> index = [] {
    std::vector<CobblestoneVectorInfo> out;
    for (const auto& group : vector_file().at("testGroups"))
      for (const auto& t : group.at("tests")) {
        CobblestoneVectorInfo info;
        info.id = t.at("tcId");
        info.valid = t.at("result") == "valid";
        for (const auto& f : t.at("flags")) info.flags.insert(f.get<std::string>());
        info.has_raw_mode_keys = t.contains("aeadKey") && t.contains("baseNonce");
        out.push_back(std::move(info));
      }
    return out;
  }();
  return index;
}

const CobblestoneVector& cobblestone_vector(int id) {
  static std::map<int, CobblestoneVector> loaded;
  auto it = loaded.find(id);
  if (it == loaded.end()) it = loaded.emplace(id, load_vector(vector_json(id))).first;
  return it->second;
}

// ---- CheckingSink ----------------------------------------------------------------------------------------------

Status CheckingSink::write(std::span<const std::uint8_t> data) {
  ++writes_;
  largest_write_ = std::max(largest_write_, data.size());
  std::size_t done = 0;
  while (done < data.size() && !violation_) {
    std::uint64_t at = start_ + received_ + done;
    // The segment holding `at`: the last one starting at or before it.
    auto it = std::upper_bound(segments_.begin(), segments_.end(), at,
                               [](std::uint64_t p, const auto& segment) { return p < segment.first; });
    if (it == segments_.begin() || at - std::prev(it)->first >= std::prev(it)->second.size()) {
      violation_ = fmt::format("released a byte at plaintext offset {}, which no verified chunk holds", at);
      break;
    }
    ByteSpan expected = std::prev(it)->second.subspan(at - std::prev(it)->first);
    std::size_t n = std::min(expected.size(), data.size() - done);
    if (std::memcmp(expected.data(), data.data() + done, n) != 0) {
      violation_ = fmt::format("released a wrong byte in [{}, {})", at, at + n);
      break;
    }
    done += n;
  }
  if (keep_) bytes_.insert(bytes_.end(), data.begin(), data.end());
  received_ += data.size();
  return {};
}

std::set<std::uint64_t> chunk_boundaries(const std::vector<std::uint64_t>& stream_sizes) {
  std::set<std::uint64_t> out{0};
  std::uint64_t start = 0;
  for (std::uint64_t n : stream_sizes) {
    for (std::uint64_t k = 0; k * kChunkSize <= n; ++k) out.insert(start + k * kChunkSize);
    out.insert(start + n);
    start += n;
  }
  return out;
}

// ---- Sealer ----------------------------------------------------------------------------------------------------

Sealer::Sealer() {
  Bytes kek(32);
  crypto::random_bytes(kek);
  auto keyring = keys::LocalKeyring::from_blob_key(to_base64(kek));
  secure_zero(kek.data(), kek.size());
  if (!keyring) throw std::runtime_error(keyring.error().to_string());
  keys_ = std::move(*keyring);
}

Bytes Sealer::seal_stream(const SecretBytes& dek, const ObjectId& object_id, std::uint32_t part_number,
                          ByteSpan plaintext, PartRecord* record) {
  StringSink sink;
  auto encryptor = begin_stream(dek, object_id, part_number, sink);
  if (!encryptor) throw std::runtime_error(encryptor.error().to_string());
  if (!encryptor->write(plaintext) || !encryptor->finish()) throw std::runtime_error("sealing failed");
  if (record != nullptr) *record = part_record(part_number, *encryptor);
  return Bytes(sink.out.begin(), sink.out.end());
}

SealedObject Sealer::seal_single(const Location& location, Bytes plaintext, bool length_recorded,
                                 std::size_t batch_chunks) {
  SealedObject o;
  o.location = location;
  o.object_id = new_object_id();
  auto data_key = keys_->generate_data_key(wrap_associated_data(location, o.object_id));
  if (!data_key) throw std::runtime_error(data_key.error().to_string());
  o.dek = std::move(data_key->plaintext);

  StringSink sink;
  auto encryptor = begin_stream(o.dek, o.object_id, 0, sink, batch_chunks);
  if (!encryptor) throw std::runtime_error(encryptor.error().to_string());
  if (!encryptor->write(plaintext) || !encryptor->finish()) throw std::runtime_error("sealing failed");
  o.body.assign(sink.out.begin(), sink.out.end());

  Envelope envelope;
  envelope.layout = Layout::kSingleStream;
  envelope.object_id = o.object_id;
  envelope.length_recorded = length_recorded;
  envelope.plaintext_size = length_recorded ? encryptor->plaintext_bytes() : 0;
  envelope.key = {data_key->wrapped.provider, data_key->wrapped.key_id, data_key->wrapped.version,
                  data_key->wrapped.ciphertext};
  auto encoded = encode_envelope(envelope, EnvelopeContents{{{"content-type", "application/octet-stream"}}, {}}, o.dek);
  if (!encoded) throw std::runtime_error(encoded.error().to_string());
  o.envelope = std::move(*encoded);
  o.stream_sizes = {plaintext.size()};
  o.stream_offsets = {0};
  o.plaintext = std::move(plaintext);
  return o;
}

SealedObject Sealer::seal_multipart(const Location& location, Bytes plaintext,
                                    const std::vector<std::uint64_t>& part_sizes,
                                    std::vector<std::uint32_t> part_numbers) {
  if (part_numbers.empty())
    for (std::size_t i = 0; i < part_sizes.size(); ++i) part_numbers.push_back(static_cast<std::uint32_t>(i + 1));
  SealedObject o;
  o.location = location;
  o.object_id = new_object_id();
  auto data_key = keys_->generate_data_key(wrap_associated_data(location, o.object_id));
  if (!data_key) throw std::runtime_error(data_key.error().to_string());
  o.dek = std::move(data_key->plaintext);

  std::uint64_t pos = 0;
  for (std::size_t i = 0; i < part_sizes.size(); ++i) {
    PartRecord record;
    o.stream_offsets.push_back(o.body.size());
    Bytes stream = seal_stream(o.dek, o.object_id, part_numbers[i],
                               ByteSpan(plaintext).subspan(pos, part_sizes[i]), &record);
    o.body.insert(o.body.end(), stream.begin(), stream.end());
    o.parts.push_back(record);
    o.stream_sizes.push_back(part_sizes[i]);
    pos += part_sizes[i];
  }
  if (pos != plaintext.size()) throw std::runtime_error("part sizes do not add up to the plaintext");

  Envelope envelope;
  envelope.layout = Layout::kMultipart;
  envelope.object_id = o.object_id;
  envelope.length_recorded = true;
  envelope.plaintext_size = pos;
  envelope.key = {data_key->wrapped.provider, data_key->wrapped.key_id, data_key->wrapped.version,
                  data_key->wrapped.ciphertext};
  auto encoded = encode_envelope(envelope, EnvelopeContents{{{"etag", "\"abc-3\""}}, o.parts}, o.dek);
  if (!encoded) throw std::runtime_error(encoded.error().to_string());
  o.envelope = std::move(*encoded);
  o.plaintext = std::move(plaintext);
  return o;
}

Result<std::unique_ptr<OpenedObject>> Sealer::open(const Location& location, ByteSpan envelope, ByteSpan body,
                                                   std::size_t batch_chunks, BodyAccess access) {
  auto opened = std::make_unique<OpenedObject>();
  auto parsed = BLOBSEAL_TRY(parse_envelope(envelope));
  opened->envelope = std::move(parsed.envelope);
  const Envelope& e = opened->envelope;
  if (e.key.provider != keys_->id())
    return make_error(ErrorCode::kFailedPrecondition, "sealed by another key manager");
  keys::WrappedKey wrapped{e.key.provider, e.key.key_id, e.key.version, e.key.wrapped_dek};
  auto dek = BLOBSEAL_TRY(keys_->unwrap(wrapped, wrap_associated_data(location, e.object_id)));
  opened->contents = BLOBSEAL_TRY(open_envelope(e, dek));
  if (access == BodyAccess::kInPlace) opened->body = std::make_unique<SpanSource>(body);
  else opened->body = std::make_unique<CopyingSource>(body);
  opened->reader.emplace(BLOBSEAL_TRY(SealedReader::open(e, opened->contents, dek, *opened->body, batch_chunks)));
  return opened;
}

}  // namespace blobseal::seal::test
