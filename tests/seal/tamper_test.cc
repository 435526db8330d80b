// The tamper matrix over whole sealed objects (envelope + body), sealed and opened with the engine's recipe and the
// real local keyring: every byte of the envelope; the salt, commitment, tags and ciphertext of the first, a middle
// and the last chunk; truncation at every chunk boundary and mid-chunk; appended bytes and chunks; swapped,
// duplicated and spliced chunks and parts (same data key, other object id, other part number, older attempt).
// Every case is refused with its documented code, and a sink checks that every byte released before the refusal
// is verified plaintext, ending on a chunk boundary.
#include <random>

#include <gtest/gtest.h>

#include "test_support.h"

namespace blobseal::seal {
namespace {

using test::CheckingSink;
using test::code_of;
using test::random_bytes_seeded;
using test::SealedObject;
using test::Sealer;

const Location kLocation{"acme", "photos", "2026/a.jpg"};

// What a damaged body should do.
struct BodyCase {
  std::string name;
  Bytes body;
  bool refused_at_open = false;  // the body size no longer matches what the envelope requires
  // The plaintext intervals [begin, end) carried by damaged chunks or streams: a read touching one must fail, a read
  // elsewhere must succeed. None when the damage carries no plaintext (an empty final chunk, an empty part): then
  // only verify_all() and the streaming decryptor must notice.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> bad;
  // For the streaming decryptor over a single-stream body: the most plaintext it may release.
  std::uint64_t stream_bad_begin = 0;

  bool touches(std::uint64_t pos, std::uint64_t count) const {
    for (auto [b, e] : bad)
      if (count > 0 && pos < e && pos + count > b) return true;
    return false;
  }
  // The first damaged plaintext offset at or after `pos` (or ~0 when there is none).
  std::uint64_t first_bad_from(std::uint64_t pos) const {
    std::uint64_t first = ~0ULL;
    for (auto [b, e] : bad)
      if (e > pos) first = std::min(first, std::max(b, pos));
    return first;
  }
};

Bytes flipped(const Bytes& b, std::size_t i, std::uint8_t mask = 0x01) {
  Bytes out = b;
  out[i] ^= mask;
  return out;
}

Bytes replaced(const Bytes& b, std::size_t offset, ByteSpan with) {
  Bytes out = b;
  std::copy(with.begin(), with.end(), out.begin() + static_cast<std::ptrdiff_t>(offset));
  return out;
}

Bytes concat(ByteSpan a, ByteSpan b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Size of sealed chunk k of a stream holding n plaintext bytes.
std::size_t sealed_size(std::uint64_t k, std::uint64_t n) {
  return k < n / kChunkSize ? kSealedChunkSize : static_cast<std::size_t>(n % kChunkSize) + kTagSize;
}

ByteSpan chunk_of(const Bytes& stream, std::uint64_t k, std::uint64_t n) {
  return ByteSpan(stream).subspan(chunk_offset(k), sealed_size(k, n));
}

class TamperTest : public ::testing::Test {
 protected:
  // Reads [pos, pos + count) and checks the outcome against the case.
  void check_range(SealedReader& reader, const SealedObject& o, const BodyCase& c, std::uint64_t pos,
                   std::uint64_t count) {
    SCOPED_TRACE(::testing::Message() << "range " << pos << "+" << count);
    CheckingSink sink(o.plaintext, pos);
    auto status = reader.read(pos, count, sink);
    EXPECT_FALSE(sink.violated()) << sink.violation();
    bool touches = c.touches(pos, count);
    if (status) {
      EXPECT_FALSE(touches) << "a read over damaged chunks succeeded";
      EXPECT_EQ(sink.received(), count);
      return;
    }
    EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss) << status.error().to_string();
    EXPECT_TRUE(touches || c.bad.empty()) << "a read away from the damage failed: " << status.error().to_string();
    std::uint64_t stop = pos + sink.received();
    EXPECT_LE(stop, c.first_bad_from(pos)) << "released bytes from a damaged chunk";
    EXPECT_TRUE(stop == pos || boundaries_.count(stop)) << "stopped mid-chunk at " << stop;
  }

  void check_case(const SealedObject& o, const Bytes& envelope, const BodyCase& c, bool run_stream_decryptor) {
    SCOPED_TRACE(c.name);
    boundaries_ = test::chunk_boundaries(o.stream_sizes);
    for (auto [batch, access] : {std::pair{std::size_t{1}, test::BodyAccess::kInPlace},
                                 std::pair{kDefaultBatchChunks, test::BodyAccess::kInPlace},
                                 std::pair{kDefaultBatchChunks, test::BodyAccess::kCopied}}) {
      SCOPED_TRACE(::testing::Message() << "batch " << batch
                                        << (access == test::BodyAccess::kCopied ? ", body copied" : ", body in place"));
      auto opened = sealer_.open(o.location, envelope, c.body, batch, access);
      if (c.refused_at_open) {
        ASSERT_FALSE(opened) << "a body of the wrong size was accepted";
        EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss) << opened.error().to_string();
        continue;
      }
      ASSERT_TRUE(opened) << opened.error().to_string();
      SealedReader& reader = *(*opened)->reader;
      ASSERT_EQ(reader.size(), o.plaintext.size());
      std::uint64_t size = reader.size();
      std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = {{0, size}};
      for (auto [b, e] : c.bad) {
        ranges.emplace_back(0, b);
        ranges.emplace_back(e, size - e);
        ranges.emplace_back(b, 1);
        ranges.emplace_back(e - 1, 1);
        ranges.emplace_back(b - std::min<std::uint64_t>(b, 5000), 10000);
      }
      std::mt19937_64 rng(c.body.size() * 31 + batch + static_cast<std::size_t>(access));
      for (int i = 0; i < 12; ++i) {
        std::uint64_t pos = rng() % (size + 1);
        ranges.emplace_back(pos, rng() % (size - pos + 1));
      }
      for (auto [pos, count] : ranges) check_range(reader, o, c, pos, std::min(count, size - pos));
      auto scrub = reader.verify_all();
      ASSERT_FALSE(scrub) << "verify_all() passed a damaged body";
      EXPECT_EQ(scrub.error().code(), ErrorCode::kDataLoss);
    }
    if (run_stream_decryptor) {
      CheckingSink sink(o.plaintext, 0);
      auto decryptor = StreamDecryptor::create(o.dek.view(), stream_context(o.object_id, 0), sink, 2);
      ASSERT_TRUE(decryptor);
      Status status;
      for (std::size_t pos = 0; pos < c.body.size() && status; pos += 5000)
        status = decryptor->update(ByteSpan(c.body).subspan(pos, std::min<std::size_t>(5000, c.body.size() - pos)));
      if (status) status = decryptor->finish();
      ASSERT_FALSE(status) << "the streaming decryptor accepted a damaged stream";
      EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
      EXPECT_FALSE(sink.violated()) << sink.violation();
      EXPECT_LE(sink.received(), c.stream_bad_begin);
      EXPECT_EQ(sink.received() % kChunkSize, 0u) << "the decryptor released part of a chunk";
    }
  }

  Sealer sealer_;
  std::set<std::uint64_t> boundaries_;
};

// ---- The envelope, byte by byte -----------------------------------------------------------------------------------

// The codes a flipped envelope byte may produce, by field (docs/FORMAT.md, "The envelope"; keys/key_manager.h).
std::set<ErrorCode> allowed_codes(const Bytes& env, std::size_t i) {
  using E = ErrorCode;
  const std::set<E> any_refusal = {E::kInvalidArgument, E::kDataLoss, E::kNotFound, E::kFailedPrecondition};
  if (i < 8) return {E::kInvalidArgument};                  // magic
  if (i == 8 || i == 9) return {E::kUnimplemented};          // version, suite
  if (i == 10 || i == 11) return {E::kInvalidArgument, E::kDataLoss};  // layout, flags: malformed, or not what was sealed
  if (i < 16) return {E::kInvalidArgument, E::kDataLoss};   // envelope size: fields do not fit, or cut short
  if (i < 32) return {E::kDataLoss};                         // object id: the wrap's AAD no longer matches
  if (i < 64) return {E::kDataLoss};                         // length, envelope salt: the sealed section's AAD/keys
  std::size_t p = 64;
  auto field = [&](std::size_t length_bytes, std::size_t length) {
    std::size_t start = p;
    p += length_bytes + length;
    return std::pair{start, start + length_bytes};
  };
  auto provider = field(1, env[64]);
  auto key_id = field(1, env[p]);
  std::size_t version = p;
  p += 4;
  auto wrapped = field(2, load_u16(env.data() + p));
  auto sealed = field(4, load_u32(env.data() + p));
  // A changed length shifts every later field; whatever it then reads, the envelope must be refused.
  if (i == provider.first || i == key_id.first || (i >= wrapped.first && i < wrapped.second) ||
      (i >= sealed.first && i < sealed.second))
    return any_refusal;
  if (i < key_id.first) return {E::kFailedPrecondition};  // provider id: another key manager
  if (i < version) return {E::kNotFound};                  // key id: no such key
  if (i < wrapped.first) return {E::kNotFound};            // key version: no such version
  if (i < sealed.first) return {E::kDataLoss};             // wrapped data key: does not unwrap
  return {E::kDataLoss};                                   // sealed section
}

TEST_F(TamperTest, EveryEnvelopeByteIsCovered) {
  Bytes plain = random_bytes_seeded(3 * kChunkSize + 10, 1);
  std::vector<SealedObject> objects;
  objects.push_back(sealer_.seal_single(kLocation, plain));
  objects.push_back(sealer_.seal_multipart(kLocation, plain, {kChunkSize + 5, 0, 2 * kChunkSize + 5}));
  objects.push_back(sealer_.seal_single(kLocation, {}));
  for (const auto& o : objects) {
    ASSERT_TRUE(sealer_.open(o.location, o.envelope, o.body)) << "the intact object opens";
    for (std::size_t i = 0; i < o.envelope.size(); ++i) {
      for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
        auto opened = sealer_.open(o.location, flipped(o.envelope, i, mask), o.body);
        ASSERT_FALSE(opened) << "envelope byte " << i << " ^ " << int(mask) << " went unnoticed";
        auto allowed = allowed_codes(o.envelope, i);
        EXPECT_TRUE(allowed.count(opened.error().code()))
            << "envelope byte " << i << " ^ " << int(mask) << ": " << opened.error().to_string();
      }
    }
    for (std::size_t n = 0; n < o.envelope.size(); ++n) {
      auto opened = sealer_.open(o.location, ByteSpan(o.envelope).first(n), o.body);
      ASSERT_FALSE(opened) << "an envelope cut to " << n << " bytes opened";
      EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss) << n << ": " << opened.error().to_string();
    }
  }
}

TEST_F(TamperTest, AnotherObjectsEnvelopeDoesNotOpenThisBody) {
  // Same location, same size: an envelope from an earlier or later version of the object, paired with this body.
  Bytes plain = random_bytes_seeded(2 * kChunkSize + 99, 2);
  SealedObject a = sealer_.seal_single(kLocation, plain);
  SealedObject b = sealer_.seal_single(kLocation, random_bytes_seeded(plain.size(), 3));
  BodyCase c{"envelope of B, body of A", a.body, false, {{0, plain.size()}}, 0};
  check_case(b, b.envelope, c, false);
}

// ---- A single-stream body ------------------------------------------------------------------------------------------

class SingleStreamTamper : public TamperTest {
 protected:
  // 5 full chunks and a short one: chunk 0 is the first, 2 a middle one, 5 the last.
  static constexpr std::uint64_t kSize = 5 * kChunkSize + 777;
  static constexpr std::uint64_t kChunks = 6;

  void SetUp() override {
    object_ = sealer_.seal_single(kLocation, random_bytes_seeded(kSize, 4));
    ObjectId other_id = new_object_id();
    twin_ = Sealer::seal_stream(object_.dek, other_id, 0, object_.plaintext);                  // same key, other object
    other_part_ = Sealer::seal_stream(object_.dek, object_.object_id, 1, object_.plaintext);   // same object, part 1
    resealed_ = Sealer::seal_stream(object_.dek, object_.object_id, 0, object_.plaintext);     // same context, new salt
  }

  std::uint64_t chunk_start(std::uint64_t k) const { return k * kChunkSize; }
  std::uint64_t chunk_end(std::uint64_t k) const { return std::min(kSize, (k + 1) * kChunkSize); }

  static BodyCase at_read(std::string name, Bytes body, std::uint64_t begin, std::uint64_t end) {
    return BodyCase{std::move(name), std::move(body), false, {{begin, end}}, begin};
  }
  static BodyCase at_open(std::string name, Bytes body, std::uint64_t stream_bad_begin) {
    return BodyCase{std::move(name), std::move(body), true, {}, stream_bad_begin};
  }

  std::vector<BodyCase> read_time_cases() const {
    const Bytes& body = object_.body;
    std::vector<BodyCase> cases;
    for (std::size_t i = 0; i < kSaltSize; ++i)
      cases.push_back(at_read("salt byte " + std::to_string(i), flipped(body, i), 0, kSize));
    for (std::size_t i = kSaltSize; i < kStreamHeaderSize; ++i)
      cases.push_back(at_read("commitment byte " + std::to_string(i), flipped(body, i), 0, kSize));
    for (std::uint64_t k : {0u, 2u, 5u}) {
      std::size_t start = chunk_offset(k), n = sealed_size(k, kSize);
      for (std::size_t j = n - kTagSize; j < n; ++j)
        cases.push_back(at_read("chunk " + std::to_string(k) + " tag byte " + std::to_string(j - (n - kTagSize)),
                                flipped(body, start + j, 0x80), chunk_start(k), chunk_end(k)));
      for (std::size_t j : {std::size_t{0}, std::size_t{1}, (n - kTagSize) / 2, n - kTagSize - 1})
        cases.push_back(at_read("chunk " + std::to_string(k) + " ciphertext byte " + std::to_string(j),
                                flipped(body, start + j), chunk_start(k), chunk_end(k)));
    }
    auto swap = [&](std::uint64_t a, std::uint64_t b) {
      Bytes out = replaced(body, chunk_offset(a), chunk_of(body, b, kSize));
      return replaced(out, chunk_offset(b), chunk_of(body, a, kSize));
    };
    BodyCase swapped = at_read("chunks 1 and 3 swapped", swap(1, 3), chunk_start(1), chunk_end(1));
    swapped.bad.emplace_back(chunk_start(3), chunk_end(3));
    cases.push_back(swapped);
    swapped = at_read("chunks 0 and 4 swapped", swap(0, 4), 0, chunk_end(0));
    swapped.bad.emplace_back(chunk_start(4), chunk_end(4));
    cases.push_back(swapped);
    cases.push_back(at_read("chunk 0 duplicated over chunk 1",
                            replaced(body, chunk_offset(1), chunk_of(body, 0, kSize)), chunk_start(1), chunk_end(1)));
    cases.push_back(at_read("chunk 2 from the same key's other object",
                            replaced(body, chunk_offset(2), chunk_of(twin_, 2, kSize)), chunk_start(2), chunk_end(2)));
    cases.push_back(at_read("chunk 2 from part 1 of the same object",
                            replaced(body, chunk_offset(2), chunk_of(other_part_, 2, kSize)), chunk_start(2),
                            chunk_end(2)));
    cases.push_back(at_read("chunk 2 from another sealing of the same stream",
                            replaced(body, chunk_offset(2), chunk_of(resealed_, 2, kSize)), chunk_start(2),
                            chunk_end(2)));
    cases.push_back(at_read("last chunk from the same key's other object",
                            replaced(body, chunk_offset(5), chunk_of(twin_, 5, kSize)), chunk_start(5), kSize));
    cases.push_back(at_read("the whole stream of the same key's other object", twin_, 0, kSize));
    cases.push_back(at_read("the whole stream sealed as part 1", other_part_, 0, kSize));
    cases.push_back(at_read("header of another sealing of the same stream",
                            replaced(body, 0, ByteSpan(resealed_).first(kStreamHeaderSize)), 0, kSize));
    return cases;
  }

  std::vector<BodyCase> size_cases() const {
    const Bytes& body = object_.body;
    std::vector<BodyCase> cases;
    std::vector<std::size_t> cuts = {0, 1, 23, 24, 55, 56, 57, body.size() - 1, body.size() - kTagSize,
                                     body.size() - kTagSize - 1};
    for (std::uint64_t k = 1; k <= kChunks - 1; ++k) cuts.push_back(chunk_offset(k));  // every chunk boundary
    for (std::uint64_t k = 0; k < kChunks; ++k) cuts.push_back(chunk_offset(k) + sealed_size(k, kSize) / 2);
    for (std::size_t cut : cuts) {
      std::uint64_t complete = cut < kStreamHeaderSize ? 0 : (cut - kStreamHeaderSize) / kSealedChunkSize;
      cases.push_back(at_open("truncated to " + std::to_string(cut) + " bytes", Bytes(body.begin(), body.begin() + cut),
                              std::min(kSize, complete * kChunkSize)));
    }
    std::uint64_t last = chunk_start(kChunks - 1);
    cases.push_back(at_open("one byte appended", concat(body, Bytes{0}), last));
    cases.push_back(at_open("a tag's worth appended", concat(body, Bytes(kTagSize, 0)), last));
    cases.push_back(at_open("chunk 0 appended", concat(body, chunk_of(body, 0, kSize)), last));
    cases.push_back(at_open("the other object's last chunk appended", concat(body, chunk_of(twin_, 5, kSize)), last));
    cases.push_back(at_open("the other object's stream appended", concat(body, twin_), last));
    Bytes dropped = body;  // chunk 3 removed: the rest shifts down
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(chunk_offset(3)),
                  dropped.begin() + static_cast<std::ptrdiff_t>(chunk_offset(4)));
    cases.push_back(at_open("chunk 3 removed", dropped, chunk_start(3)));
    Bytes inserted = body;
    Bytes extra(chunk_of(twin_, 3, kSize).begin(), chunk_of(twin_, 3, kSize).end());
    inserted.insert(inserted.begin() + static_cast<std::ptrdiff_t>(chunk_offset(3)), extra.begin(), extra.end());
    cases.push_back(at_open("a chunk inserted before chunk 3", inserted, chunk_start(3)));
    return cases;
  }

  SealedObject object_;
  Bytes twin_, other_part_, resealed_;
};

TEST_F(SingleStreamTamper, DamageIsFoundWhenTheDamagedChunksAreRead) {
  auto cases = read_time_cases();
  EXPECT_EQ(cases.size(), 24u + 32u + 3 * (16u + 4u) + 10u);
  for (const auto& c : cases) check_case(object_, object_.envelope, c, true);
}

TEST_F(SingleStreamTamper, TruncationAndExtensionAreRefusedBeforeAnyDecryption) {
  for (const auto& c : size_cases()) check_case(object_, object_.envelope, c, true);
}

TEST_F(SingleStreamTamper, WithoutARecordedLengthTheFinalChunkProvesTheSize) {
  // A stream written to a pipe (blobseal encrypt > out): the envelope does not record the length, so opening
  // decrypts the final chunk. Truncation and extension are refused at open; so is damage to the header or the
  // final chunk.
  SealedObject piped = sealer_.seal_single(kLocation, object_.plaintext, /*length_recorded=*/false);
  ASSERT_TRUE(sealer_.open(kLocation, piped.envelope, piped.body));
  object_ = std::move(piped);
  twin_ = Sealer::seal_stream(object_.dek, new_object_id(), 0, object_.plaintext);
  for (auto c : size_cases()) check_case(object_, object_.envelope, c, true);
  const Bytes& body = object_.body;
  std::size_t last = chunk_offset(5), n = sealed_size(5, kSize);
  for (std::size_t i : {std::size_t{0}, std::size_t{30}, last, last + n / 2, last + n - 1})
    check_case(object_, object_.envelope, at_open("byte " + std::to_string(i), flipped(body, i), i < 56 ? 0 : chunk_start(5)),
               true);
  // Damage in an earlier chunk shows at read time, as with a recorded length.
  check_case(object_, object_.envelope,
             at_read("chunk 2 ciphertext", flipped(body, chunk_offset(2) + 7), chunk_start(2), chunk_end(2)), true);
}

// ---- Objects of exactly N x 16 KiB: the empty final chunk -----------------------------------------------------------

TEST_F(TamperTest, TheEmptyFinalChunkOfAWholeChunkObject) {
  for (std::uint64_t n : {0u, 1u, 3u}) {
    SCOPED_TRACE(::testing::Message() << n << " x 16 KiB");
    std::uint64_t size = n * kChunkSize;
    SealedObject o = sealer_.seal_single(kLocation, random_bytes_seeded(size, 5 + n));
    std::size_t final_chunk = chunk_offset(n);
    ASSERT_EQ(o.body.size(), final_chunk + kTagSize);
    for (std::size_t j = 0; j < kTagSize; ++j) {
      // The empty final chunk carries no plaintext: with the length recorded in the envelope a range read never
      // needs it, but the scrub and the streaming decryptor do check it.
      BodyCase c{"final empty chunk tag byte " + std::to_string(j), flipped(o.body, final_chunk + j), false, {}, size};
      check_case(o, o.envelope, c, true);
    }
    // Without a recorded length, the final chunk is what proves the size: refused at open.
    SealedObject piped = sealer_.seal_single(kLocation, o.plaintext, false);
    auto opened = sealer_.open(kLocation, piped.envelope, flipped(piped.body, final_chunk + 3));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
    // Dropping the empty final chunk makes the last full chunk look final: refused at open either way.
    Bytes cut(o.body.begin(), o.body.begin() + final_chunk);
    EXPECT_EQ(code_of(sealer_.open(kLocation, o.envelope, cut)), ErrorCode::kDataLoss);
    EXPECT_EQ(code_of(sealer_.open(kLocation, piped.envelope, Bytes(piped.body.begin(), piped.body.begin() + final_chunk))),
              ErrorCode::kDataLoss);
  }
}

// ---- A multipart body ----------------------------------------------------------------------------------------------

class MultipartTamper : public TamperTest {
 protected:
  // Parts 1..4: two full chunks and 100 bytes; empty; one full chunk; 5000 bytes.
  void SetUp() override {
    sizes_ = {2 * kChunkSize + 100, 0, kChunkSize, 5000};
    std::uint64_t total = 0;
    for (auto s : sizes_) total += s;
    object_ = sealer_.seal_multipart(kLocation, random_bytes_seeded(total, 6), sizes_);
    for (std::size_t s = 0, start = 0; s < sizes_.size(); start += sizes_[s], ++s) starts_.push_back(start);
    starts_.push_back(total);
  }

  ByteSpan stream(std::size_t s) const {
    std::uint64_t end = s + 1 < sizes_.size() ? object_.stream_offsets[s + 1] : object_.body.size();
    return ByteSpan(object_.body).subspan(object_.stream_offsets[s], end - object_.stream_offsets[s]);
  }
  Bytes with_stream(std::size_t s, ByteSpan replacement) const {
    EXPECT_EQ(replacement.size(), stream(s).size());
    return replaced(object_.body, object_.stream_offsets[s], replacement);
  }
  BodyCase bad_part(std::string name, Bytes body, std::size_t s) const {
    if (starts_[s] == starts_[s + 1]) return BodyCase{std::move(name), std::move(body), false, {}, 0};
    return BodyCase{std::move(name), std::move(body), false, {{starts_[s], starts_[s + 1]}}, 0};
  }

  std::vector<std::uint64_t> sizes_;
  std::vector<std::uint64_t> starts_;  // plaintext offset of each part, and the total
  SealedObject object_;
};

TEST_F(MultipartTamper, DamageInAnyPartIsFoundWhenThePartIsRead) {
  const Bytes& body = object_.body;
  std::vector<BodyCase> cases;
  for (std::size_t s = 0; s < sizes_.size(); ++s) {
    std::size_t at = object_.stream_offsets[s];
    for (std::size_t i : {std::size_t{0}, kSaltSize - 1, kSaltSize, kStreamHeaderSize - 1})
      cases.push_back(bad_part("part " + std::to_string(s + 1) + " header byte " + std::to_string(i),
                               flipped(body, at + i), s));
    std::uint64_t last = sizes_[s] / kChunkSize;
    for (std::uint64_t k : {std::uint64_t{0}, last}) {
      std::size_t chunk = at + chunk_offset(k), n = sealed_size(k, sizes_[s]);
      std::uint64_t begin = starts_[s] + k * kChunkSize, end = std::min(starts_[s + 1], begin + kChunkSize);
      for (std::size_t j : {std::size_t{0}, n / 2, n - 1})
        cases.push_back(BodyCase{"part " + std::to_string(s + 1) + " chunk " + std::to_string(k) + " byte " +
                                     std::to_string(j),
                                 flipped(body, chunk + j), false,
                                 begin == end ? std::vector<std::pair<std::uint64_t, std::uint64_t>>{}
                                              : std::vector<std::pair<std::uint64_t, std::uint64_t>>{{begin, end}},
                                 0});
    }
  }
  // The middle chunk of part 1.
  cases.push_back(BodyCase{"part 1 chunk 1 tag", flipped(body, object_.stream_offsets[0] + chunk_offset(1) + 16390),
                           false, {{kChunkSize, 2 * kChunkSize}}, 0});
  for (const auto& c : cases) check_case(object_, object_.envelope, c, false);
}

TEST_F(MultipartTamper, PartsCannotBeSwappedSplicedOrReplayed) {
  const Bytes& body = object_.body;
  std::vector<BodyCase> cases;
  // Parts 1 and 3 swapped: the total size is unchanged, every stream before part 4 is now misplaced.
  Bytes swapped(body.begin(), body.begin());
  for (std::size_t s : {2u, 1u, 0u, 3u}) swapped.insert(swapped.end(), stream(s).begin(), stream(s).end());
  cases.push_back(BodyCase{"parts 1 and 3 swapped", swapped, false, {{0, starts_[1]}, {starts_[2], starts_[3]}}, 0});

  // An older attempt of part 3: same key, object and part number, another salt and plaintext.
  Bytes older = Sealer::seal_stream(object_.dek, object_.object_id, 3, random_bytes_seeded(sizes_[2], 7));
  cases.push_back(bad_part("an older attempt of part 3", with_stream(2, older), 2));
  // The same plaintext re-sealed for part 3: still not the attempt the manifest names.
  Bytes resealed = Sealer::seal_stream(object_.dek, object_.object_id, 3,
                                       ByteSpan(object_.plaintext).subspan(starts_[2], sizes_[2]));
  cases.push_back(bad_part("part 3 re-sealed with the same plaintext", with_stream(2, resealed), 2));
  // Part 3 of another object under the same data key.
  ObjectId other = new_object_id();
  Bytes foreign = Sealer::seal_stream(object_.dek, other, 3, ByteSpan(object_.plaintext).subspan(starts_[2], sizes_[2]));
  cases.push_back(bad_part("part 3 of another object under the same key", with_stream(2, foreign), 2));
  // Part 4's stream sealed as part 3 would be (same object, wrong part number).
  Bytes renumbered = Sealer::seal_stream(object_.dek, object_.object_id, 3, ByteSpan(object_.plaintext).subspan(starts_[3]));
  cases.push_back(bad_part("part 4 sealed under part number 3", with_stream(3, renumbered), 3));
  // A chunk of part 1 spliced over the chunk of part 3 (both full chunks).
  cases.push_back(BodyCase{"part 1 chunk 0 over part 3 chunk 0",
                           replaced(body, object_.stream_offsets[2] + kStreamHeaderSize,
                                    stream(0).subspan(kStreamHeaderSize, kSealedChunkSize)),
                           false, {{starts_[2], starts_[3]}}, 0});
  // The empty part replaced by another empty stream: carries no plaintext, so only the scrub sees it.
  Bytes empty_attempt = Sealer::seal_stream(object_.dek, object_.object_id, 2, {});
  cases.push_back(BodyCase{"the empty part 2 replayed", with_stream(1, empty_attempt), false, {}, 0});
  for (const auto& c : cases) check_case(object_, object_.envelope, c, false);

  // Another multipart object with the same part sizes under another key, paired with this envelope.
  SealedObject other_object = sealer_.seal_multipart(kLocation, random_bytes_seeded(object_.plaintext.size(), 8), sizes_);
  check_case(object_, object_.envelope,
             BodyCase{"another object's body", other_object.body, false, {{0, starts_[1]}, {starts_[2], starts_[4]}}, 0},
             false);
}

TEST_F(MultipartTamper, DroppedAddedOrCutPartsAreRefusedAtOpen) {
  const Bytes& body = object_.body;
  std::vector<std::pair<std::string, Bytes>> bodies;
  for (std::size_t s = 1; s < sizes_.size(); ++s)
    bodies.emplace_back("cut at the start of part " + std::to_string(s + 1),
                        Bytes(body.begin(), body.begin() + object_.stream_offsets[s]));
  for (std::size_t s = 0; s < sizes_.size(); ++s) {
    std::size_t mid = object_.stream_offsets[s] + stream(s).size() / 2;
    bodies.emplace_back("cut in the middle of part " + std::to_string(s + 1), Bytes(body.begin(), body.begin() + mid));
  }
  bodies.emplace_back("empty body", Bytes{});
  bodies.emplace_back("one byte short", Bytes(body.begin(), body.end() - 1));
  bodies.emplace_back("one byte appended", concat(body, Bytes{1}));
  Bytes extra_part = Sealer::seal_stream(object_.dek, object_.object_id, 5, as_bytes("more"));
  bodies.emplace_back("a part 5 appended", concat(body, extra_part));
  bodies.emplace_back("part 3's last chunk appended",
                      concat(body, stream(2).subspan(chunk_offset(1), kTagSize)));
  for (std::size_t drop = 0; drop < sizes_.size(); ++drop) {
    Bytes without;
    for (std::size_t s = 0; s < sizes_.size(); ++s)
      if (s != drop) without.insert(without.end(), stream(s).begin(), stream(s).end());
    bodies.emplace_back("part " + std::to_string(drop + 1) + " dropped", without);
  }
  Bytes doubled = body;
  doubled.insert(doubled.end(), stream(3).begin(), stream(3).end());
  bodies.emplace_back("part 4 replayed twice", doubled);
  for (const auto& [name, b] : bodies) {
    SCOPED_TRACE(name);
    auto opened = sealer_.open(kLocation, object_.envelope, b);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss) << opened.error().to_string();
  }
}

}  // namespace
}  // namespace blobseal::seal
