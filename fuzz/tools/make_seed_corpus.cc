// Writes the generated seeds of the fuzz targets' corpora: real sealed streams, envelopes and objects under the
// fixed fuzzing key (fuzz_common.h), keyrings, and a few edge cases derived from them, each in the input layout
// its target documents. Run from the repository root after a fuzz build:
//
//   build/fuzz/fuzz/make_seed_corpus fuzz/corpus
//
// Files are named gen-*; hand-written seeds and crash reproducers live next to them under other names. Envelope
// salts are random, so a rerun changes the envelope bytes but not what the seeds cover.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/bytes.h"
#include "fuzz_common.h"
#include "keys/local/keyring_file.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"

namespace blobseal::fuzz {
namespace {

namespace fs = std::filesystem;

fs::path g_root;

void write(const std::string& target, const std::string& name, ByteSpan bytes) {
  fs::path dir = g_root / target;
  fs::create_directories(dir);
  if (bytes.size() > 64 * 1024) {
    std::fprintf(stderr, "%s/%s is %zu bytes, over the 64 KiB seed limit\n", target.c_str(), name.c_str(), bytes.size());
    std::exit(1);
  }
  std::ofstream out(dir / ("gen-" + name), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s/%s\n", target.c_str(), name.c_str());
    std::exit(1);
  }
}

Bytes concat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (ByteSpan p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes pattern(std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return out;
}

seal::Salt salt_of(std::uint8_t seed) {
  seal::Salt salt{};
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<std::uint8_t>(seed + i);
  return salt;
}

seal::ObjectId fixed_id() {
  seal::ObjectId id{};
  std::memcpy(id.data(), kFixedObjectId.data(), id.size());
  return id;
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().to_string().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

// One Cobblestone stream of `plaintext` with a fixed salt.
struct Sealed {
  Bytes bytes;
  seal::PartRecord record;
};
Sealed seal_stream(ByteSpan plaintext, std::uint32_t part_number, std::uint8_t salt_seed) {
  CollectingSink sink;
  static const SecretBytes dek = fixed_dek();
  Bytes context = seal::stream_context(fixed_id(), part_number);
  auto encryptor = must(seal::StreamEncryptor::create(dek.view(), context, sink, salt_of(salt_seed)), "encryptor");
  if (!encryptor.write(plaintext) || !encryptor.finish()) std::exit(1);
  Sealed s;
  s.bytes = std::move(sink.out);
  s.record.part_number = part_number;
  s.record.plaintext_size = plaintext.size();
  s.record.salt = encryptor.salt();
  s.record.commitment = encryptor.commitment();
  return s;
}

// envelope || body of an object under the fixed key.
Bytes seal_object(const std::vector<std::size_t>& part_sizes, bool multipart, bool recorded, seal::Metadata metadata,
                  Bytes* envelope_only = nullptr) {
  static const SecretBytes dek = fixed_dek();
  seal::EnvelopeContents contents;
  contents.metadata = std::move(metadata);
  Bytes body;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < part_sizes.size(); ++i) {
    std::uint32_t number = multipart ? static_cast<std::uint32_t>(i + 1) : 0;
    Sealed s = seal_stream(pattern(part_sizes[i]), number, static_cast<std::uint8_t>(i * 40));
    body.insert(body.end(), s.bytes.begin(), s.bytes.end());
    if (multipart) contents.parts.push_back(s.record);
    total += part_sizes[i];
  }
  seal::Envelope e;
  e.layout = multipart ? seal::Layout::kMultipart : seal::Layout::kSingleStream;
  e.length_recorded = recorded;
  e.object_id = fixed_id();
  e.plaintext_size = recorded ? total : 0;
  e.key = {"local", "default", 1, Bytes(60, 0xA5)};
  Bytes envelope = must(seal::encode_envelope(e, contents, dek), "encode_envelope");
  if (envelope_only) *envelope_only = envelope;
  return concat({envelope, body});
}

// The plaintext of a sealed section (FORMAT.md), for fuzz_envelope's mode 1.
Bytes section_plaintext(const seal::Metadata& metadata, const std::vector<seal::PartRecord>& parts) {
  Bytes out;
  put_u16(out, static_cast<std::uint16_t>(metadata.size()));
  for (const auto& [name, value] : metadata) {
    put_u16(out, static_cast<std::uint16_t>(name.size()));
    put_bytes(out, as_bytes(name));
    put_u32(out, static_cast<std::uint32_t>(value.size()));
    put_bytes(out, as_bytes(value));
  }
  put_u32(out, static_cast<std::uint32_t>(parts.size()));
  for (const auto& p : parts) {
    put_u32(out, p.part_number);
    put_u64(out, p.plaintext_size);
    put_bytes(out, p.salt);
    put_bytes(out, p.commitment);
  }
  return out;
}

void envelope_seeds() {
  const std::string t = "fuzz_envelope";
  const seal::Metadata meta = {{"content-type", "text/plain"}, {"x-amz-meta-empty", ""}};
  Bytes single, multi, unrecorded;
  Bytes object = seal_object({100}, false, true, meta, &single);
  seal_object({20000, 0, 5}, true, true, {{"etag", "\"abc-3\""}}, &multi);
  seal_object({10}, false, false, {}, &unrecorded);
  Bytes raw = {0x00};
  write(t, "single", concat({raw, single}));
  write(t, "multipart", concat({raw, multi}));
  write(t, "unrecorded", concat({raw, unrecorded}));
  write(t, "with-body", concat({raw, object}));
  // Edge cases: a bad version, a bad suite, a size field that runs past the input, a truncated envelope.
  Bytes bad = single;
  bad[8] = 2;
  write(t, "version-2", concat({raw, bad}));
  bad = single;
  bad[9] = 7;
  write(t, "suite-7", concat({raw, bad}));
  bad = single;
  store_u32(bad.data() + 12, 16u << 20);
  write(t, "size-16mib", concat({raw, bad}));
  write(t, "truncated", concat({raw, ByteSpan(single).first(70)}));

  // Mode 1: sealed-section plaintexts, sealed by the harness.
  auto header = [](std::uint8_t layout, std::uint8_t flags, std::uint64_t length) {
    Bytes h = {0x01, layout, flags};
    put_u64(h, length);
    put_bytes(h, salt_of(9));
    return h;
  };
  write(t, "section-single", concat({header(0, 1, 100), section_plaintext(meta, {})}));
  std::vector<seal::PartRecord> parts = {seal_stream(pattern(7), 1, 1).record, seal_stream(pattern(9), 4, 2).record};
  write(t, "section-multipart", concat({header(1, 1, 16), section_plaintext({{"a", "b"}}, parts)}));
  write(t, "section-unrecorded", concat({header(0, 0, 0), section_plaintext({}, {})}));
  write(t, "section-empty", header(0, 1, 0));
}

void sealed_reader_seeds() {
  const std::string t = "fuzz_sealed_reader";
  // Mode 0: body-only streams. mode, batch, u32 split seed, stream.
  auto stream = [](std::size_t n, std::uint8_t batch, std::uint32_t seed) {
    Bytes prefix = {0x00, batch};
    put_u32(prefix, seed);
    return concat({prefix, seal_stream(pattern(n), 0, 77).bytes});
  };
  write(t, "stream-empty", stream(0, 0, 0));
  write(t, "stream-100", stream(100, 1, 12345));
  write(t, "stream-one-chunk", stream(16384, 0, 99));
  write(t, "stream-two-chunks", stream(16384 + 10, 2, 7));
  write(t, "stream-three-chunks", stream(2 * 16384 + 1000, 3, 4242));
  Bytes cut = stream(16384, 0, 1);
  cut.resize(cut.size() - 16);  // the empty final chunk removed: a stream that ends on a full chunk
  write(t, "stream-missing-final", cut);
  Bytes header_only = stream(0, 0, 1);
  header_only.resize(2 + 4 + 56);
  write(t, "stream-header-only", header_only);

  // Mode 1: envelope || body. mode, batch, u64 range seed, object.
  auto object = [](Bytes sealed, std::uint8_t batch, std::uint64_t seed) {
    Bytes prefix = {0x01, batch};
    put_u64(prefix, seed);
    return concat({prefix, sealed});
  };
  write(t, "object-single", object(seal_object({1000}, false, true, {{"content-type", "a/b"}}), 0, 1));
  write(t, "object-empty", object(seal_object({0}, false, true, {}), 1, 2));
  write(t, "object-unrecorded", object(seal_object({16384}, false, false, {}), 0, 3));
  write(t, "object-multipart", object(seal_object({3000, 0, 17000}, true, true, {{"etag", "x"}}), 2, 4));
  write(t, "object-two-chunks", object(seal_object({20000}, false, true, {}), 3, 5));

  // Mode 2: stream round trip. mode, batch, write batch, u8 chunks, u16 extra, u32 seed, tamper (kind, u32 pos,
  // value), sink mode, salt (24), pattern.
  auto roundtrip = [](std::uint8_t chunks, std::uint16_t extra, std::uint8_t tamper, std::uint32_t pos,
                      std::uint8_t sink) {
    Bytes b = {0x02, 1, 2, chunks};
    put_u16(b, extra);
    put_u32(b, 31337);
    put_u8(b, tamper);
    put_u32(b, pos);
    put_u8(b, 0x40);
    put_u8(b, sink);
    put_bytes(b, salt_of(5));
    put_bytes(b, as_bytes("pattern bytes"));
    return b;
  };
  write(t, "roundtrip-intact", roundtrip(1, 500, 0, 0, 0));
  write(t, "roundtrip-flip", roundtrip(2, 0, 1, 16500, 0));
  write(t, "roundtrip-truncate", roundtrip(1, 16384, 2, 16456, 0));
  write(t, "roundtrip-extend", roundtrip(0, 10, 3, 60, 0));
  write(t, "roundtrip-delete", roundtrip(3, 100, 4, 40000, 0));
  write(t, "roundtrip-sink-fails", roundtrip(2, 1, 0, 0, 1));

  // Mode 3: object round trip. mode, batch, shape, per part (u8 number step, u8 chunks, u16 extra), u8 entries,
  // per entry (u8 name length, name, u8 value length, value), tamper, u8 envelope?, u32 seed, pattern.
  auto object_roundtrip = [](std::uint8_t shape, std::size_t parts, std::uint8_t tamper, std::uint8_t envelope) {
    bool multipart = shape & 1;
    Bytes b = {0x03, 0, shape};
    for (std::size_t i = 0; i < parts; ++i) {
      if (multipart) put_u8(b, static_cast<std::uint8_t>(i));
      put_u8(b, static_cast<std::uint8_t>(i % 2));
      put_u16(b, static_cast<std::uint16_t>(1000 * i + 10));
    }
    put_u8(b, 1);
    put_u8(b, 4);
    put_bytes(b, as_bytes("name"));
    put_u8(b, 5);
    put_bytes(b, as_bytes("value"));
    put_u8(b, tamper);
    put_u32(b, 100);
    put_u8(b, 0x10);
    put_u8(b, envelope);
    put_u32(b, 2024);
    put_bytes(b, as_bytes("object pattern"));
    return b;
  };
  write(t, "object-roundtrip-single", object_roundtrip(0, 1, 0, 0));
  write(t, "object-roundtrip-unrecorded", object_roundtrip(2, 1, 0, 0));
  write(t, "object-roundtrip-multipart", object_roundtrip(1 | (2 << 2), 3, 0, 0));
  write(t, "object-roundtrip-envelope-flip", object_roundtrip(1 | (1 << 2), 2, 1, 1));
  write(t, "object-roundtrip-body-truncate", object_roundtrip(0, 1, 2, 0));
}

void keyring_seeds() {
  const std::string t = "fuzz_keyring";
  keys::local::KeyringContents contents;
  contents.default_key = "default";
  contents.dual_read_versions = 2;
  auto version = [](std::uint32_t v, std::optional<std::int64_t> retired, std::uint8_t seed) {
    keys::local::KeyVersionEntry e;
    e.version = v;
    e.created_unix = 1763800000 + v;
    e.retired_unix = retired;
    std::array<std::uint8_t, 32> material{};
    for (std::size_t i = 0; i < material.size(); ++i) material[i] = static_cast<std::uint8_t>(seed * 31 + i);
    e.material = SecretBytes(material);
    return e;
  };
  keys::local::KeyEntry main_key;
  main_key.versions.push_back(version(1, 1763900000, 1));
  main_key.versions.push_back(version(2, std::nullopt, 2));
  main_key.versions.push_back(version(3, std::nullopt, 3));
  keys::local::KeyEntry other;
  other.versions.push_back(version(7, std::nullopt, 4));
  contents.keys.emplace("default", std::move(main_key));
  contents.keys.emplace("tenant-a.backup_2", std::move(other));
  SecretBytes text = keys::local::serialize_keyring(contents);
  Bytes file = {0x00};
  write(t, "keyring", concat({file, text.view()}));

  const std::string key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  auto minimal = [&](std::string body) { return concat({file, as_bytes(body)}); };
  write(t, "minimal", minimal(R"({"format":"blobseal-keyring/v1","default_key":"k","keys":{"k":{"versions":[{"version":1,"material":")" + key + R"("}]}}})"));
  write(t, "bad-format", minimal(R"({"format":"blobseal-keyring/v2","default_key":"k","keys":{}})"));
  write(t, "duplicate-version", minimal(R"({"format":"blobseal-keyring/v1","default_key":"k","keys":{"k":{"versions":[{"version":1,"material":")" + key + R"("},{"version":1,"material":")" + key + R"("}]}}})"));
  write(t, "all-retired", minimal(R"({"format":"blobseal-keyring/v1","default_key":"k","dual_read_versions":1,"keys":{"k":{"versions":[{"version":4294967295,"created":-1,"retired":0,"material":")" + key + R"("}]}}})"));
  write(t, "short-material", minimal(R"({"format":"blobseal-keyring/v1","default_key":"k","keys":{"k":{"versions":[{"version":1,"material":"AAAA"}]}}})"));
  write(t, "syntax-error", minimal(R"({"format":"blobseal-keyring/v1",)"));

  // Mode 1: u8 length, BLOB_KEY text, tamper kind, u32 position, value, associated data.
  auto unwrap = [&](std::string blob_key, std::uint8_t kind) {
    Bytes b = {0x01, static_cast<std::uint8_t>(blob_key.size())};
    put_bytes(b, as_bytes(blob_key));
    put_u8(b, kind);
    put_u32(b, 17);
    put_u8(b, 0x21);
    put_bytes(b, seal::wrap_associated_data({"tenant", "bucket", "photos/a.jpg"}, fixed_id()));
    return b;
  };
  write(t, "unwrap-intact", unwrap(key, 0));
  write(t, "unwrap-flip", unwrap(" " + key + "\n", 1));
  write(t, "unwrap-cut", unwrap(key, 2));
  write(t, "unwrap-aad", unwrap(key, 3));
  write(t, "unwrap-bad-key", unwrap("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==", 0));
}

}  // namespace
}  // namespace blobseal::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_ROOT (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  blobseal::fuzz::g_root = argv[1];
  blobseal::fuzz::envelope_seeds();
  blobseal::fuzz::sealed_reader_seeds();
  blobseal::fuzz::keyring_seeds();
  return 0;
}
