// The envelope codec (docs/FORMAT.md, "The envelope"): the byte layout field by field, the sealed section checked
// with an independent decryption, every parser refusal with its documented code, rewrap without the data key, the
// limits, and the byte strings that bind a stream to its object and part and a data key to its location.
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"
#include "test_support.h"

namespace blobseal::seal {
namespace {

using test::code_of;

ObjectId id_from(std::uint64_t seed) {
  ObjectId id{};
  Bytes b = test::random_bytes_seeded(id.size(), seed);
  std::copy(b.begin(), b.end(), id.begin());
  return id;
}

PartRecord part(std::uint32_t number, std::uint64_t size, std::uint64_t seed) {
  PartRecord p;
  p.part_number = number;
  p.plaintext_size = size;
  Bytes b = test::random_bytes_seeded(kSaltSize + kCommitmentSize, seed);
  std::copy_n(b.begin(), kSaltSize, p.salt.begin());
  std::copy_n(b.begin() + kSaltSize, kCommitmentSize, p.commitment.begin());
  return p;
}

Envelope single(std::uint64_t size) {
  Envelope e;
  e.layout = Layout::kSingleStream;
  e.object_id = id_from(1);
  e.plaintext_size = size;
  e.key = {"local", "photos-key", 7, test::random_bytes_seeded(60, 2)};
  return e;
}

Envelope multipart(const std::vector<PartRecord>& parts) {
  Envelope e = single(0);
  e.layout = Layout::kMultipart;
  for (const auto& p : parts) e.plaintext_size += p.plaintext_size;
  return e;
}

SecretBytes dek_from(std::uint64_t seed) { return SecretBytes(test::random_bytes_seeded(32, seed)); }

Bytes encode_ok(const Envelope& e, const EnvelopeContents& c, const SecretBytes& dek) {
  auto encoded = encode_envelope(e, c, dek);
  EXPECT_TRUE(encoded) << encoded.error().to_string();
  return encoded ? *encoded : Bytes{};
}

bool operator_eq(const PartRecord& a, const PartRecord& b) {
  return a.part_number == b.part_number && a.plaintext_size == b.plaintext_size && a.salt == b.salt &&
         a.commitment == b.commitment;
}

// ---- Layout -------------------------------------------------------------------------------------------------------

TEST(Envelope, ByteLayoutIsTheOneFormatMdDescribes) {
  SecretBytes dek = dek_from(3);
  std::vector<PartRecord> parts = {part(1, 5 << 20, 4), part(3, 0, 5), part(9, 123, 6)};
  Envelope e = multipart(parts);
  EnvelopeContents contents{{{"content-type", "image/jpeg"}, {"x-amz-meta-a", "b"}}, parts};
  Bytes b = encode_ok(e, contents, dek);
  ASSERT_GE(b.size(), kEnvelopeFixedSize);

  EXPECT_EQ(as_string_view(ByteSpan(b).first(8)), "BLOBSEAL");
  EXPECT_EQ(b[8], 1) << "format version";
  EXPECT_EQ(b[9], 1) << "suite";
  EXPECT_EQ(b[10], 1) << "layout: multipart";
  EXPECT_EQ(b[11], 0x01) << "flags: length recorded";
  EXPECT_EQ(load_u32(b.data() + 12), b.size()) << "envelope size, this field included";
  EXPECT_TRUE(std::equal(e.object_id.begin(), e.object_id.end(), b.begin() + 16));
  EXPECT_EQ(load_u64(b.data() + 32), e.plaintext_size);

  ByteReader r(ByteSpan(b).subspan(64));
  EXPECT_EQ(r.u8(), 5);
  EXPECT_EQ(as_string_view(*r.bytes(5)), "local");
  EXPECT_EQ(r.u8(), 10);
  EXPECT_EQ(as_string_view(*r.bytes(10)), "photos-key");
  EXPECT_EQ(r.u32(), 7u);
  EXPECT_EQ(r.u16(), 60);
  auto wrapped = r.bytes(60);
  ASSERT_TRUE(wrapped);
  EXPECT_TRUE(std::equal(wrapped->begin(), wrapped->end(), e.key.wrapped_dek.begin()));
  auto sealed_len = r.u32();
  ASSERT_TRUE(sealed_len);
  auto sealed = r.bytes(*sealed_len);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(r.remaining(), 0u) << "nothing follows the sealed section";

  // The sealed section, opened independently: key and nonce from HKDF-Expand-SHA-512(DEK, label || 0 || salt ||
  // object id), AAD = bytes [0, 12) || [16, 64).
  Bytes info;
  put_bytes(info, as_bytes("blobseal.dev/envelope@v1"));
  put_u8(info, 0);
  put_bytes(info, ByteSpan(b).subspan(40, 24));
  put_bytes(info, e.object_id);
  Bytes keys(44);
  ASSERT_TRUE(crypto::hkdf_expand_sha512(dek.view(), info, keys));
  Bytes aad(b.begin(), b.begin() + 12);
  aad.insert(aad.end(), b.begin() + 16, b.begin() + 64);
  auto gcm = crypto::AesGcm::create(ByteSpan(keys).first(32));
  ASSERT_TRUE(gcm);
  std::size_t n = sealed->size() - 16;
  Bytes plain(n);
  ASSERT_TRUE(gcm->open(ByteSpan(keys).subspan(32, 12), aad, sealed->first(n), sealed->subspan(n), plain));

  Bytes expected;
  put_u16(expected, 2);
  for (auto [name, value] : {std::pair<std::string, std::string>{"content-type", "image/jpeg"}, {"x-amz-meta-a", "b"}}) {
    put_u16(expected, static_cast<std::uint16_t>(name.size()));
    put_bytes(expected, as_bytes(name));
    put_u32(expected, static_cast<std::uint32_t>(value.size()));
    put_bytes(expected, as_bytes(value));
  }
  put_u32(expected, 3);
  for (const auto& p : parts) {
    put_u32(expected, p.part_number);
    put_u64(expected, p.plaintext_size);
    put_bytes(expected, p.salt);
    put_bytes(expected, p.commitment);
  }
  EXPECT_EQ(plain, expected);
}

TEST(Envelope, ASingleStreamWithoutARecordedLengthClearsTheFlagAndTheLength) {
  Envelope e = single(999);
  e.length_recorded = false;
  Bytes b = encode_ok(e, {}, dek_from(4));
  EXPECT_EQ(b[10], 0);
  EXPECT_EQ(b[11], 0);
  EXPECT_EQ(load_u64(b.data() + 32), 0u);
  auto parsed = parse_envelope(b);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->envelope.length_recorded);
  EXPECT_TRUE(open_envelope(parsed->envelope, dek_from(4)));
}

// ---- Round trips --------------------------------------------------------------------------------------------------

TEST(Envelope, RoundTripsEveryFieldAndTheContents) {
  SecretBytes dek = dek_from(5);
  std::string big(65536, 'v');
  Metadata metadata = {{"", ""}, {"dup", "1"}, {"dup", "2"}, {std::string("n\0ul", 4), std::string("\0\xff", 2)},
                       {"big", big}};
  std::vector<PartRecord> parts = {part(1, 100, 7), part(2, 0, 8), part(10000, 16384, 9)};
  for (bool is_multipart : {false, true}) {
    Envelope e = is_multipart ? multipart(parts) : single(123456789);
    EnvelopeContents contents{metadata, is_multipart ? parts : std::vector<PartRecord>{}};
    Bytes b = encode_ok(e, contents, dek);
    Bytes with_body = b;
    with_body.insert(with_body.end(), {1, 2, 3});  // the envelope may be followed by the body
    auto parsed = parse_envelope(with_body);
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ(parsed->encoded_size, b.size());
    const Envelope& p = parsed->envelope;
    EXPECT_EQ(p.version, kFormatVersion);
    EXPECT_EQ(p.suite, kSuiteCobblestone256);
    EXPECT_EQ(p.layout, e.layout);
    EXPECT_TRUE(p.length_recorded);
    EXPECT_EQ(p.object_id, e.object_id);
    EXPECT_EQ(p.plaintext_size, e.plaintext_size);
    EXPECT_EQ(p.key.provider, "local");
    EXPECT_EQ(p.key.key_id, "photos-key");
    EXPECT_EQ(p.key.version, 7u);
    EXPECT_EQ(p.key.wrapped_dek, e.key.wrapped_dek);
    EXPECT_EQ(envelope_size(ByteSpan(b).first(16)).value(), b.size());

    auto opened = open_envelope(p, dek);
    ASSERT_TRUE(opened) << opened.error().to_string();
    EXPECT_EQ(opened->metadata, metadata);
    ASSERT_EQ(opened->parts.size(), contents.parts.size());
    for (std::size_t i = 0; i < parts.size() && is_multipart; ++i) EXPECT_TRUE(operator_eq(opened->parts[i], parts[i]));
    EXPECT_EQ(expected_body_size(p, *opened),
              is_multipart ? ciphertext_size(100) + ciphertext_size(0) + ciphertext_size(16384)
                           : ciphertext_size(123456789));
  }
}

TEST(Envelope, EveryEncodingHasAFreshSaltAndSealedSection) {
  SecretBytes dek = dek_from(6);
  Envelope e = single(10);
  Bytes a = encode_ok(e, {}, dek), b = encode_ok(e, {}, dek);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_FALSE(std::equal(a.begin() + 40, a.begin() + 64, b.begin() + 40)) << "envelope salt repeated";
  EXPECT_FALSE(std::equal(a.end() - 16, a.end(), b.end() - 16)) << "sealed section repeated";
  EXPECT_TRUE(open_envelope(parse_envelope(a)->envelope, dek));
  EXPECT_TRUE(open_envelope(parse_envelope(b)->envelope, dek));
}

TEST(Envelope, RewrapChangesOnlyTheKeyReferenceAndNeedsNoKey) {
  SecretBytes dek = dek_from(7);
  Bytes original = encode_ok(single(4242), {{{"etag", "x"}}, {}}, dek);
  auto parsed = parse_envelope(original);
  ASSERT_TRUE(parsed);
  KeyReference rotated{"local", "photos-key", 8, test::random_bytes_seeded(300, 10)};
  auto rewrapped = reencode_envelope(parsed->envelope, rotated);
  ASSERT_TRUE(rewrapped) << rewrapped.error().to_string();
  auto again = parse_envelope(*rewrapped);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->envelope.key.version, 8u);
  EXPECT_EQ(again->envelope.key.wrapped_dek, rotated.wrapped_dek);
  EXPECT_EQ(again->envelope.sealed_section, parsed->envelope.sealed_section) << "sealed section kept byte for byte";
  EXPECT_TRUE(std::equal(original.begin(), original.begin() + 12, rewrapped->begin()));
  EXPECT_TRUE(std::equal(original.begin() + 16, original.begin() + 64, rewrapped->begin() + 16));
  EXPECT_EQ(load_u32(rewrapped->data() + 12), rewrapped->size());
  auto contents = open_envelope(again->envelope, dek);
  ASSERT_TRUE(contents) << "the sealed section does not cover the key reference";
  EXPECT_EQ(contents->metadata, (Metadata{{"etag", "x"}}));
  EXPECT_EQ(code_of(reencode_envelope(parsed->envelope, KeyReference{"", "k", 1, {1}})), ErrorCode::kInvalidArgument);
}

// ---- What open_envelope authenticates ---------------------------------------------------------------------------

TEST(Envelope, EveryPublicFieldTheDekOwnerAssertsIsAuthenticated) {
  SecretBytes dek = dek_from(8);
  std::vector<PartRecord> parts = {part(1, 100, 11), part(2, 50, 12)};
  Bytes b = encode_ok(multipart(parts), {{}, parts}, dek);
  Envelope good = parse_envelope(b)->envelope;
  ASSERT_TRUE(open_envelope(good, dek));

  std::vector<std::pair<const char*, Envelope>> altered;
  Envelope e = good;
  e.plaintext_size += 1;
  altered.emplace_back("plaintext length", e);
  e = good;
  e.object_id[15] ^= 1;
  altered.emplace_back("object id", e);
  e = good;
  e.envelope_salt[0] ^= 1;
  altered.emplace_back("envelope salt", e);
  e = good;
  e.layout = Layout::kSingleStream;
  altered.emplace_back("layout", e);
  e = good;
  e.sealed_section[3] ^= 1;
  altered.emplace_back("sealed section", e);
  e = good;
  e.sealed_section.back() ^= 1;
  altered.emplace_back("sealed section tag", e);
  for (const auto& [what, envelope] : altered) {
    auto opened = open_envelope(envelope, dek);
    ASSERT_FALSE(opened) << what;
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss) << what;
  }
  EXPECT_EQ(code_of(open_envelope(good, dek_from(9))), ErrorCode::kDataLoss) << "another data key";

  // A single stream has no manifest to cross-check the length against: the sealed section alone must cover it.
  Envelope one = parse_envelope(encode_ok(single(5000), {}, dek))->envelope;
  ASSERT_TRUE(open_envelope(one, dek));
  for (std::uint64_t size : {std::uint64_t{0}, std::uint64_t{4999}, std::uint64_t{5001}, std::uint64_t{1} << 40}) {
    Envelope resized = one;
    resized.plaintext_size = size;
    EXPECT_EQ(code_of(open_envelope(resized, dek)), ErrorCode::kDataLoss) << size;
  }
  Envelope unrecorded = one;
  unrecorded.length_recorded = false;
  unrecorded.plaintext_size = 0;
  EXPECT_EQ(code_of(open_envelope(unrecorded, dek)), ErrorCode::kDataLoss) << "the length flag";
  EXPECT_EQ(code_of(open_envelope(good, SecretBytes(16))), ErrorCode::kInvalidArgument);
}

TEST(Envelope, AHandBuiltEnvelopeWithoutASealedSectionIsRefusedNotACrash) {
  // open_envelope takes an Envelope value, which need not come from parse_envelope.
  Envelope e = single(1);
  for (std::size_t n : {0u, 1u, 15u}) {
    e.sealed_section.assign(n, 0);
    EXPECT_EQ(code_of(open_envelope(e, dek_from(10))), ErrorCode::kDataLoss) << n << " bytes";
  }
  e.sealed_section.assign(16, 0);
  EXPECT_EQ(code_of(open_envelope(e, dek_from(10))), ErrorCode::kDataLoss) << "a bare wrong tag";
}

// ---- Parser refusals ----------------------------------------------------------------------------------------------

class EnvelopeParsing : public ::testing::Test {
 protected:
  void SetUp() override { good_ = encode_ok(single(777), {{{"k", "v"}}, {}}, dek_from(11)); }
  Bytes with(std::size_t offset, std::uint8_t value) {
    Bytes b = good_;
    b[offset] = value;
    return b;
  }
  Bytes good_;
};

TEST_F(EnvelopeParsing, TheGoodOneParses) { ASSERT_TRUE(parse_envelope(good_)); }

TEST_F(EnvelopeParsing, BadMagicIsInvalidArgument) {
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(code_of(parse_envelope(with(i, good_[i] ^ 0x20))), ErrorCode::kInvalidArgument);
}

TEST_F(EnvelopeParsing, UnknownVersionOrSuiteIsUnimplemented) {
  for (std::uint8_t v : {0, 2, 255}) {
    auto r = parse_envelope(with(8, v));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(r.error().message().find("version"), std::string::npos) << r.error().message();
    EXPECT_EQ(code_of(envelope_size(ByteSpan(with(8, v)).first(16))), ErrorCode::kUnimplemented);
    auto s = parse_envelope(with(9, v));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(s.error().message().find("suite"), std::string::npos) << s.error().message();
  }
}

TEST_F(EnvelopeParsing, UnknownLayoutOrFlagsAreInvalidArguments) {
  for (std::uint8_t layout : {2, 3, 128, 255}) EXPECT_EQ(code_of(parse_envelope(with(10, layout))), ErrorCode::kInvalidArgument);
  for (std::uint8_t flags : {2, 3, 0x80, 0xff}) EXPECT_EQ(code_of(parse_envelope(with(11, flags))), ErrorCode::kInvalidArgument);
  // Flag clear but a length present, and a multipart object without a recorded length.
  EXPECT_EQ(code_of(parse_envelope(with(11, 0))), ErrorCode::kInvalidArgument);
  Bytes b = with(11, 0);
  std::fill(b.begin() + 32, b.begin() + 40, 0);
  b[10] = 1;
  EXPECT_EQ(code_of(parse_envelope(b)), ErrorCode::kInvalidArgument);
}

TEST_F(EnvelopeParsing, TheAnnouncedSizeMustMatchTheFieldsExactly) {
  std::uint32_t size = static_cast<std::uint32_t>(good_.size());
  for (std::uint32_t bad : {0u, 63u, 64u, size - 1, kMaxEnvelopeSize + 1, ~0u}) {
    Bytes b = good_;
    store_u32(b.data() + 12, bad);
    b.resize(std::max<std::size_t>(b.size(), std::min<std::uint32_t>(bad, kMaxEnvelopeSize + 1)), 0);
    auto r = parse_envelope(b);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad << ": " << r.error().to_string();
  }
  // One byte more than the fields need, even with the byte present, is refused.
  Bytes longer = good_;
  store_u32(longer.data() + 12, size + 1);
  longer.push_back(0);
  EXPECT_EQ(code_of(parse_envelope(longer)), ErrorCode::kInvalidArgument);
}

TEST_F(EnvelopeParsing, TruncationIsDataLoss) {
  for (std::size_t n : {std::size_t{0}, std::size_t{15}, std::size_t{16}, std::size_t{64}, good_.size() - 1}) {
    auto r = parse_envelope(ByteSpan(good_).first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code(), ErrorCode::kDataLoss) << n << ": " << r.error().to_string();
  }
  EXPECT_EQ(code_of(envelope_size(ByteSpan(good_).first(15))), ErrorCode::kDataLoss);
}

TEST_F(EnvelopeParsing, EmptyOrOverlongKeyReferenceFieldsAreRefused) {
  // provider length 0: the key reference is rebuilt by hand around a zero-length provider.
  Bytes b(good_.begin(), good_.begin() + 64);
  put_u8(b, 0);
  put_u8(b, 1);
  put_u8(b, 'k');
  put_u32(b, 1);
  put_u16(b, 1);
  put_u8(b, 9);
  put_u32(b, 16);
  put_bytes(b, Bytes(16, 0));
  store_u32(b.data() + 12, static_cast<std::uint32_t>(b.size()));
  EXPECT_EQ(code_of(parse_envelope(b)), ErrorCode::kInvalidArgument);
  // A sealed section shorter than a tag.
  Bytes c(good_.begin(), good_.begin() + 64);
  put_u8(c, 1);
  put_u8(c, 'p');
  put_u8(c, 1);
  put_u8(c, 'k');
  put_u32(c, 1);
  put_u16(c, 1);
  put_u8(c, 9);
  put_u32(c, 15);
  put_bytes(c, Bytes(15, 0));
  store_u32(c.data() + 12, static_cast<std::uint32_t>(c.size()));
  EXPECT_EQ(code_of(parse_envelope(c)), ErrorCode::kInvalidArgument);
}

TEST_F(EnvelopeParsing, RandomBytesNeverCrashTheParser) {
  std::mt19937_64 rng(12);
  for (int i = 0; i < 3000; ++i) {
    Bytes b = good_;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    b.resize(rng() % 3 == 0 ? rng() % (b.size() + 1) : b.size());
    auto r = parse_envelope(b);
    if (r) (void)open_envelope(r->envelope, dek_from(11));  // must not crash either; may succeed if nothing changed
  }
}

// ---- Encoder refusals ---------------------------------------------------------------------------------------------

TEST(EnvelopeEncoding, RefusesWhatTheFormatCannotHold) {
  SecretBytes dek = dek_from(13);
  auto code = [&](const Envelope& e, const EnvelopeContents& c) { return code_of(encode_envelope(e, c, dek)); };
  Envelope e = single(1);
  e.version = 2;
  EXPECT_EQ(code(e, {}), ErrorCode::kUnimplemented);
  e = single(1);
  e.suite = 2;
  EXPECT_EQ(code(e, {}), ErrorCode::kUnimplemented);

  EXPECT_EQ(code(single(1), {{}, {part(1, 1, 1)}}), ErrorCode::kInvalidArgument) << "single stream with a manifest";
  EXPECT_EQ(code(multipart({}), {}), ErrorCode::kInvalidArgument) << "multipart without parts";
  Envelope unrecorded = multipart({part(1, 1, 1)});
  unrecorded.length_recorded = false;
  EXPECT_EQ(code(unrecorded, {{}, {part(1, 1, 1)}}), ErrorCode::kInvalidArgument);
  for (auto parts : {std::vector<PartRecord>{part(0, 1, 1)}, std::vector<PartRecord>{part(2, 1, 1), part(1, 1, 2)},
                     std::vector<PartRecord>{part(3, 1, 1), part(3, 1, 2)}})
    EXPECT_EQ(code(multipart(parts), {{}, parts}), ErrorCode::kInvalidArgument) << "part numbers";
  Envelope wrong_total = multipart({part(1, 10, 1)});
  wrong_total.plaintext_size = 11;
  EXPECT_EQ(code(wrong_total, {{}, {part(1, 10, 1)}}), ErrorCode::kInvalidArgument);
  std::vector<PartRecord> too_many;
  for (std::uint32_t i = 1; i <= kMaxParts + 1; ++i) too_many.push_back(part(i, 0, i));
  EXPECT_EQ(code(multipart(too_many), {{}, too_many}), ErrorCode::kInvalidArgument);
  too_many.pop_back();
  EXPECT_FALSE(code(multipart(too_many), {{}, too_many})) << "10,000 parts fit";

  Metadata many(kMaxMetadataEntries + 1, {"n", "v"});
  EXPECT_EQ(code(single(1), {many, {}}), ErrorCode::kInvalidArgument);
  many.pop_back();
  EXPECT_FALSE(code(single(1), {many, {}})) << "1,024 entries fit";
  EXPECT_EQ(code(single(1), {{{std::string(65536, 'n'), "v"}}, {}}), ErrorCode::kInvalidArgument) << "name > u16";

  auto with_key = [&](KeyReference key) {
    Envelope k = single(1);
    k.key = std::move(key);
    return code(k, {});
  };
  EXPECT_EQ(with_key({"", "k", 1, {1}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(with_key({std::string(256, 'p'), "k", 1, {1}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(with_key({"p", "", 1, {1}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(with_key({"p", std::string(256, 'k'), 1, {1}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(with_key({"p", "k", 1, {}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(with_key({"p", "k", 1, Bytes(4097, 1)}), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(with_key({std::string(255, 'p'), std::string(255, 'k'), ~0u, Bytes(4096, 1)})) << "the maxima fit";

  // 17 MiB of metadata: over the 16 MiB envelope limit.
  Metadata huge(17, {"n", std::string(1 << 20, 'v')});
  EXPECT_EQ(code(single(1), {huge, {}}), ErrorCode::kResourceExhausted);
  EXPECT_EQ(code(single(1), {}), std::nullopt);
  EXPECT_EQ(code_of(encode_envelope(single(1), {}, SecretBytes(31))), ErrorCode::kInvalidArgument);
}

// ---- Helpers ------------------------------------------------------------------------------------------------------

TEST(Envelope, ExpectedBodySize) {
  Envelope e = single(40000);
  EXPECT_EQ(expected_body_size(e, {}), ciphertext_size(40000));
  e.length_recorded = false;
  EXPECT_EQ(expected_body_size(e, {}), std::nullopt) << "derived from the body instead";
  std::vector<PartRecord> parts = {part(1, 0, 1), part(2, 16384, 2), part(3, 1, 3)};
  EXPECT_EQ(expected_body_size(multipart(parts), {{}, parts}), 72u + (56 + 16400 + 16) + 73u);
}

TEST(Envelope, FindMetadataReturnsTheFirstMatchOrNull) {
  Metadata m = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  ASSERT_NE(find_metadata(m, "a"), nullptr);
  EXPECT_EQ(*find_metadata(m, "a"), "1");
  EXPECT_EQ(*find_metadata(m, "b"), "2");
  EXPECT_EQ(find_metadata(m, "A"), nullptr) << "names compare as given";
  EXPECT_EQ(find_metadata({}, "a"), nullptr);
}

TEST(Envelope, ObjectIdsAreRandom) {
  std::set<ObjectId> ids;
  for (int i = 0; i < 100; ++i) ids.insert(new_object_id());
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.count(ObjectId{}), 0u);
}

TEST(StreamContext, IsLabelObjectIdAndBigEndianPartNumber) {
  ObjectId id = id_from(14);
  Bytes expected;
  put_bytes(expected, as_bytes("blobseal.dev/v1"));
  put_u8(expected, 0);
  put_bytes(expected, id);
  put_u32(expected, 0x01020304);
  EXPECT_EQ(stream_context(id, 0x01020304), expected);
  std::set<Bytes> contexts;
  for (std::uint32_t p : {0u, 1u, 2u, 256u, 10000u}) contexts.insert(stream_context(id, p));
  contexts.insert(stream_context(id_from(15), 1));
  EXPECT_EQ(contexts.size(), 6u);
}

TEST(WrapAssociatedData, IsLabelLengthPrefixedLocationAndObjectId) {
  ObjectId id = id_from(16);
  Bytes expected;
  put_bytes(expected, as_bytes("blobseal.dev/dek@v1"));
  put_u8(expected, 0);
  for (std::string_view field : {"acme", "photos", "2026/a.jpg"}) {
    put_u32(expected, static_cast<std::uint32_t>(field.size()));
    put_bytes(expected, as_bytes(field));
  }
  put_bytes(expected, id);
  EXPECT_EQ(wrap_associated_data({"acme", "photos", "2026/a.jpg"}, id), expected);
}

TEST(WrapAssociatedData, NamesEveryFieldUnambiguously) {
  // The binding that makes a relocated object fail to unwrap (tests/engine moves objects on disk; here, the bytes):
  // any change of tenant, bucket, key or object id, and any shift of a boundary between fields, changes the AAD.
  ObjectId id = id_from(17);
  std::set<Bytes> seen;
  const std::vector<Location> locations = {
      {"acme", "photos", "a.jpg"}, {"acme2", "photos", "a.jpg"}, {"acme", "photos2", "a.jpg"},
      {"acme", "photos", "a.jpg2"}, {"acm", "ephotos", "a.jpg"}, {"acme", "photo", "sa.jpg"},
      {"", "acmephotos", "a.jpg"}, {"acmephotos", "", "a.jpg"}, {"", "", "acmephotosa.jpg"},
      {"photos", "acme", "a.jpg"}, {"", "file", ""},                {"", "file", "ctx"},
  };
  for (const auto& l : locations) seen.insert(wrap_associated_data(l, id));
  seen.insert(wrap_associated_data(locations[0], id_from(18)));
  EXPECT_EQ(seen.size(), locations.size() + 1);
}

}  // namespace
}  // namespace blobseal::seal
