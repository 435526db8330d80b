// Fuzzes the read side of the sealed format (src/seal/cobblestone.h, src/seal/sealed_reader.h): StreamDecryptor,
// StreamReader and SealedReader, with the data key fixed (fuzz_common.h) so that seeds sealed by
// tools/make_seed_corpus.cc get past the key commitment and the tags.
//
// Input: byte 0 chooses the mode (mod 4), byte 1 the batch size (1..4 chunks); then, by mode:
//   0 stream:    u32 split seed, then a body-only Cobblestone stream (context stream_context(kFixedObjectId, 0)).
//                StreamDecryptor is fed in pieces chosen by the seed and compared with a one-shot decryption and
//                with StreamReader over the same bytes placed at an offset inside a larger source: same verdict,
//                same plaintext, and never a byte that did not verify.
//   1 object:    u64 range seed, then envelope || body as `blobseal encrypt` writes it. Parse, open with the fixed
//                key, SealedReader: verify_all, a full read and a random range must agree.
//   2 roundtrip: parameters of a single stream the harness seals itself (length, write splits, salt, an optional
//                tamper: bit flip, truncation, extension, deletion; an optional failing sink), then decrypts: the
//                untampered stream gives back its plaintext exactly; a tampered one is refused and whatever
//                plaintext came out before the refusal is the true plaintext.
//   3 object roundtrip: the same for a whole object (single stream or 1..4 parts, metadata) through
//                encode_envelope, parse_envelope, open_envelope and SealedReader, tampering the envelope or body.
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"
#include "fuzz_common.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"
#include "seal/sealed_reader.h"

namespace blobseal::fuzz {
namespace {

using seal::kChunkSize;

std::string describe(const Error& e) { return e.to_string(); }

const SecretBytes& dek() {
  static const SecretBytes key = fixed_dek();
  return key;
}

const Bytes& body_context() {
  static const Bytes context = seal::stream_context(kFixedObjectId, 0);
  return context;
}

// Sizes of the pieces a stream is written or fed in: mostly large, sometimes tiny (a header split byte by byte),
// sometimes one byte either side of a chunk boundary.
std::size_t piece_size(SplitMix& rng) {
  switch (rng.next() % 8) {
    case 0: return 1 + rng.upto(15);
    case 1: return 1 + rng.upto(99);
    case 2: return seal::kSealedChunkSize - 1 + rng.upto(2);
    case 3: return kChunkSize - 1 + rng.upto(2);
    default: return 1 + rng.upto(70000);
  }
}

struct Decrypted {
  std::optional<Error> error;
  Bytes out;
  std::uint64_t plaintext_bytes = 0;
};

// Feeds `ciphertext` to a StreamDecryptor in pieces drawn from `seed` (one piece when seed is 0), then finishes.
Decrypted decrypt_stream(ByteSpan ciphertext, ByteSpan context, std::size_t batch, std::uint64_t seed,
                         std::uint64_t sink_limit = UINT64_MAX) {
  CollectingSink sink(sink_limit);
  auto decryptor = seal::StreamDecryptor::create(dek().view(), context, sink, batch);
  FUZZ_CHECK(decryptor.has_value(), describe(decryptor.error()));
  SplitMix rng(seed);
  Decrypted result;
  ByteSpan rest = ciphertext;
  while (!rest.empty()) {
    std::size_t n = seed == 0 ? rest.size() : piece_size(rng);
    n = std::min(n, rest.size());
    auto status = decryptor->update(rest.first(n));
    rest = rest.subspan(n);
    if (!status) {
      result.error = status.error();
      break;
    }
  }
  auto finished = decryptor->finish();
  if (result.error) {
    // After an error every call fails the same way; never a clean end.
    FUZZ_CHECK(!finished && finished.error().code() == result.error->code(), "a failed stream finished cleanly");
    auto again = decryptor->update(ciphertext.first(std::min<std::size_t>(ciphertext.size(), 1)));
    FUZZ_CHECK(!again, "a failed stream accepted more input");
  } else if (!finished) {
    result.error = finished.error();
  } else {
    auto twice = decryptor->finish();
    FUZZ_CHECK(!twice, "finish() succeeded twice");
  }
  result.out = std::move(sink.out);
  result.plaintext_bytes = decryptor->plaintext_bytes();
  return result;
}

// Reads all of a stream at [offset, offset + length) of `source` with StreamReader, verifying every chunk.
struct ReaderVerdict {
  bool opened = false;
  bool verified = false;  // every chunk, the final one included
  Bytes out;
};

ReaderVerdict read_stream(RandomAccessSource& source, std::uint64_t offset, std::uint64_t length, ByteSpan context,
                          std::size_t batch, SplitMix& rng, ByteSpan reference) {
  ReaderVerdict verdict;
  auto reader = seal::StreamReader::open(source, offset, length, dek().view(), context, batch);
  if (!reader) {
    FUZZ_CHECK(reader.error().code() == ErrorCode::kDataLoss, describe(reader.error()));
    return verdict;
  }
  verdict.opened = true;
  std::uint64_t size = reader->plaintext_size();
  FUZZ_CHECK(seal::ciphertext_size(size) == length, "plaintext size does not match the stream length");

  // A random range first (a fresh reader allocates its buffers on the first read).
  std::uint64_t pos = rng.upto(size);
  std::uint64_t count = rng.upto(std::min<std::uint64_t>(size - pos, 3 * kChunkSize));
  CollectingSink range;
  auto status = reader->read(pos, count, range);
  if (status) FUZZ_CHECK(range.out.size() == count, "a range read returned the wrong number of bytes");
  else FUZZ_CHECK(status.error().code() == ErrorCode::kDataLoss && range.out.size() < count, describe(status.error()));
  // Bytes released before a failure were verified too.
  if (pos + range.out.size() <= reference.size())
    FUZZ_CHECK(std::equal(range.out.begin(), range.out.end(), reference.begin() + static_cast<std::ptrdiff_t>(pos)),
               "a range read released bytes that are not the plaintext");
  // Past the end is OutOfRange, not a crash.
  CollectingSink past;
  auto beyond = reader->read(size, 1, past);
  FUZZ_CHECK(!beyond && beyond.error().code() == ErrorCode::kOutOfRange && past.out.empty(), "read past the end");

  // read_into over a small range.
  std::uint64_t small_pos = rng.upto(size);
  Bytes small(static_cast<std::size_t>(std::min<std::uint64_t>(size - small_pos, rng.upto(100))));
  if (reader->read_into(small_pos, small) && small_pos + small.size() <= reference.size())
    FUZZ_CHECK(std::equal(small.begin(), small.end(), reference.begin() + static_cast<std::ptrdiff_t>(small_pos)),
               "read_into returned bytes that are not the plaintext");

  CollectingSink all;
  auto whole = reader->read(0, size, all);
  FUZZ_CHECK(prefix_compatible(all.out, reference), "a full read released bytes that are not the plaintext");
  if (whole) {
    FUZZ_CHECK(all.out.size() == size, "");
    verdict.verified = reader->authenticate_length().has_value();
  } else {
    FUZZ_CHECK(whole.error().code() == ErrorCode::kDataLoss && all.out.size() < size, describe(whole.error()));
  }
  verdict.out = std::move(all.out);
  return verdict;
}

// Places `stream` at a random offset inside a larger blob.
struct Embedded {
  Bytes blob;
  std::uint64_t offset = 0;
};
Embedded embed(ByteSpan stream, SplitMix& rng) {
  Embedded e;
  e.offset = rng.upto(40);
  e.blob.assign(static_cast<std::size_t>(e.offset), 0xEE);
  e.blob.insert(e.blob.end(), stream.data(), stream.data() + stream.size());
  e.blob.insert(e.blob.end(), static_cast<std::size_t>(rng.upto(40)), 0xDD);
  return e;
}

// Mode 0: arbitrary bytes as a body-only stream.
void fuzz_stream(InputReader& in, std::size_t batch) {
  std::uint64_t seed = in.u32();
  ByteSpan ciphertext = in.rest();
  Decrypted split = decrypt_stream(ciphertext, body_context(), batch, seed);
  // One-shot with a batch larger than any seed's chunk count (the default of 32 behaves the same on inputs this
  // size, and its 1 MiB of buffers would be most of the run time under ASan).
  Decrypted whole = decrypt_stream(ciphertext, body_context(), 5, 0);
  FUZZ_CHECK(split.error.has_value() == whole.error.has_value(), "the verdict depends on how the input is split");
  FUZZ_CHECK(prefix_compatible(split.out, whole.out), "two decryptions released different plaintext");
  if (!whole.error) {
    FUZZ_CHECK(split.out == whole.out, "");
    FUZZ_CHECK(seal::plaintext_size(ciphertext.size()) == whole.out.size(), "decrypted size is not the stream's");
    FUZZ_CHECK(whole.plaintext_bytes == whole.out.size() && split.plaintext_bytes == split.out.size(), "");
  } else {
    FUZZ_CHECK(whole.error->code() == ErrorCode::kDataLoss, describe(*whole.error));
    FUZZ_CHECK(split.error->code() == ErrorCode::kDataLoss, describe(*split.error));
  }

  SplitMix rng(seed ^ 0x5eed);
  Embedded embedded = embed(ciphertext, rng);
  SpanSource source(embedded.blob);
  ReaderVerdict reader =
      read_stream(source, embedded.offset, ciphertext.size(), body_context(), batch, rng, whole.out);
  // The random-access reader and the streaming decryptor accept exactly the same streams.
  FUZZ_CHECK(reader.verified == !whole.error.has_value(), "StreamReader and StreamDecryptor disagree");
  if (reader.verified) FUZZ_CHECK(reader.out == whole.out, "StreamReader and StreamDecryptor output differ");
}

struct ObjectVerdict {
  bool opened = false;
  bool verified = false;
  std::uint64_t size = 0;
  Bytes out;
  std::optional<seal::EnvelopeContents> contents;
};

// Parses, opens and reads envelope || body. `reference` is the true plaintext when known (else empty).
ObjectVerdict read_object(ByteSpan object, std::size_t batch, SplitMix& rng, ByteSpan reference) {
  ObjectVerdict verdict;
  auto parsed = seal::parse_envelope(object);
  if (!parsed) return verdict;
  auto contents = seal::open_envelope(parsed->envelope, dek());
  if (!contents) {
    FUZZ_CHECK(contents.error().code() == ErrorCode::kDataLoss, describe(contents.error()));
    return verdict;
  }
  verdict.contents = *contents;
  SpanSource body(object.subspan(parsed->encoded_size));
  auto reader = seal::SealedReader::open(parsed->envelope, *contents, dek(), body, batch);
  if (!reader) {
    FUZZ_CHECK(reader.error().code() == ErrorCode::kDataLoss, describe(reader.error()));
    return verdict;
  }
  verdict.opened = true;
  std::uint64_t size = reader->size();
  verdict.size = size;
  if (parsed->envelope.length_recorded) FUZZ_CHECK(size == parsed->envelope.plaintext_size, "");

  std::uint64_t pos = rng.upto(size);
  std::uint64_t count = rng.upto(std::min<std::uint64_t>(size - pos, 3 * kChunkSize));
  CollectingSink range;
  auto status = reader->read(pos, count, range);
  if (status) FUZZ_CHECK(range.out.size() == count, "a range read returned the wrong number of bytes");
  else FUZZ_CHECK(status.error().code() == ErrorCode::kDataLoss && range.out.size() < count, describe(status.error()));
  if (pos + range.out.size() <= reference.size())
    FUZZ_CHECK(std::equal(range.out.begin(), range.out.end(), reference.begin() + static_cast<std::ptrdiff_t>(pos)),
               "a range read released bytes that are not the plaintext");
  CollectingSink past;
  auto beyond = reader->read(size, 1, past);
  FUZZ_CHECK(!beyond && beyond.error().code() == ErrorCode::kOutOfRange && past.out.empty(), "read past the end");

  CollectingSink all;
  auto whole = reader->read(0, size, all);
  FUZZ_CHECK(prefix_compatible(all.out, reference), "a full read released bytes that are not the plaintext");
  auto verified = reader->verify_all();
  if (verified) FUZZ_CHECK(whole.has_value(), "verify_all passed but a full read failed");
  if (whole) {
    FUZZ_CHECK(all.out.size() == size, "");
    if (status && pos + count <= size)
      FUZZ_CHECK(std::equal(range.out.begin(), range.out.end(), all.out.begin() + static_cast<std::ptrdiff_t>(pos)),
                 "a range read and a full read disagree");
  }
  verdict.verified = verified.has_value();
  verdict.out = std::move(all.out);
  return verdict;
}

// Mode 1: arbitrary bytes as envelope || body.
void fuzz_object(InputReader& in, std::size_t batch) {
  SplitMix rng(in.u64());
  read_object(in.rest(), batch, rng, {});
}

// A plaintext length near the interesting sizes: k whole chunks plus 0..16384 bytes.
std::size_t pick_length(InputReader& in) {
  std::size_t chunks = in.u8() % 4;
  return chunks * kChunkSize + in.u16() % (kChunkSize + 1);
}

Bytes make_plaintext(std::size_t length, ByteSpan pattern) {
  Bytes out(length);
  for (std::size_t i = 0; i < length; ++i)
    out[i] = pattern.empty() ? static_cast<std::uint8_t>(i * 131 + (i >> 8)) : pattern[i % pattern.size()] ^ (i >> 10);
  return out;
}

// Writes `plaintext` through `encryptor` in pieces drawn from `rng`.
void write_pieces(seal::StreamEncryptor& encryptor, ByteSpan plaintext, SplitMix& rng) {
  while (!plaintext.empty()) {
    std::size_t n = std::min<std::size_t>(plaintext.size(), piece_size(rng));
    auto status = encryptor.write(plaintext.first(n));
    FUZZ_CHECK(status.has_value(), describe(status.error()));
    plaintext = plaintext.subspan(n);
  }
  auto status = encryptor.finish();
  FUZZ_CHECK(status.has_value(), describe(status.error()));
  FUZZ_CHECK(!encryptor.finish(), "finish() succeeded twice");
}

struct Tamper {
  std::uint8_t kind = 0;  // 0 none, 1 flip, 2 truncate, 3 extend, 4 delete
  std::uint32_t position = 0;
  std::uint8_t value = 0;
};

Tamper read_tamper(InputReader& in) {
  Tamper t;
  t.kind = in.u8() % 5;
  t.position = in.u32();
  t.value = in.u8();
  return t;
}

Bytes tampered_copy(const Tamper& t, Bytes data, std::size_t from = 0) {
  if (data.size() <= from) return data;
  std::size_t span = data.size() - from;
  std::size_t at = from + t.position % span;
  switch (t.kind) {
    case 1: data[at] ^= static_cast<std::uint8_t>(t.value | 1); break;
    case 2: data.resize(at); break;
    case 3: data.insert(data.begin() + static_cast<std::ptrdiff_t>(at), 1 + t.value % 17, t.value); break;
    case 4: data.erase(data.begin() + static_cast<std::ptrdiff_t>(at),
                       data.begin() + static_cast<std::ptrdiff_t>(std::min(data.size(), at + 1 + t.value))); break;
    default: break;
  }
  return data;
}

// Mode 2: a stream the harness seals, optionally tampered, decrypted three ways.
void fuzz_stream_roundtrip(InputReader& in, std::size_t batch) {
  std::size_t write_batch = in.u8() % 4 + 1;
  std::size_t length = pick_length(in);
  std::uint64_t seed = in.u32();
  Tamper tamper = read_tamper(in);
  std::uint8_t sink_mode = in.u8();
  seal::Salt salt{};
  ByteSpan salt_bytes = in.bytes(salt.size());
  std::memcpy(salt.data(), salt_bytes.data(), salt_bytes.size());
  Bytes plaintext = make_plaintext(length, in.rest());

  CollectingSink sealed;
  auto encryptor = seal::StreamEncryptor::create(dek().view(), body_context(), sealed, salt, write_batch);
  FUZZ_CHECK(encryptor.has_value(), describe(encryptor.error()));
  SplitMix rng(seed);
  write_pieces(*encryptor, plaintext, rng);
  FUZZ_CHECK(sealed.out.size() == seal::ciphertext_size(length), "sealed size is not ciphertext_size()");
  FUZZ_CHECK(encryptor->plaintext_bytes() == length, "");
  FUZZ_CHECK(std::equal(salt.begin(), salt.end(), sealed.out.begin()), "the stream does not start with its salt");

  Bytes stream = tampered_copy(tamper, sealed.out);
  bool changed = stream != sealed.out;

  // A sink that gives up part way (sink_mode odd) must fail the stream with its own error.
  std::uint64_t limit = (sink_mode & 1) ? rng.upto(length) : UINT64_MAX;
  Decrypted split = decrypt_stream(stream, body_context(), batch, seed | 1, limit);
  FUZZ_CHECK(prefix_compatible(split.out, plaintext) && split.out.size() <= plaintext.size(),
             "released plaintext that is not the sealed plaintext");
  if (!changed && limit >= length) {
    FUZZ_CHECK(!split.error, describe(*split.error));
    FUZZ_CHECK(split.out == plaintext, "round trip changed the plaintext");
  } else {
    FUZZ_CHECK(split.error.has_value(), changed ? "a tampered stream decrypted" : "a failing sink went unnoticed");
    if (changed && limit >= length) FUZZ_CHECK(split.error->code() == ErrorCode::kDataLoss, describe(*split.error));
  }

  Embedded embedded = embed(stream, rng);
  SpanSource source(embedded.blob);
  ReaderVerdict reader = read_stream(source, embedded.offset, stream.size(), body_context(), batch, rng, plaintext);
  FUZZ_CHECK(reader.verified == !changed, changed ? "StreamReader accepted a tampered stream"
                                                  : "StreamReader refused an intact stream");
  if (reader.verified) FUZZ_CHECK(reader.out == plaintext, "StreamReader changed the plaintext");
}

// Mode 3: an object the harness seals (single stream or multipart), optionally tampered, read back.
void fuzz_object_roundtrip(InputReader& in, std::size_t batch) {
  std::uint8_t shape = in.u8();
  bool multipart = shape & 1;
  bool recorded = multipart || (shape & 2) == 0;
  std::size_t parts = multipart ? 1 + (shape >> 2) % 4 : 1;
  std::vector<std::uint32_t> numbers;
  std::vector<std::size_t> lengths;
  std::uint32_t number = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    number = multipart ? number + 1 + in.u8() % 3 : 0;
    numbers.push_back(number);
    lengths.push_back(pick_length(in) / (multipart ? 2 : 1));
  }
  seal::Metadata metadata;
  std::size_t entries = in.u8() % 4;
  for (std::size_t i = 0; i < entries; ++i) {
    ByteSpan name = in.bytes(in.u8() % 12);
    ByteSpan value = in.bytes(in.u8() % 40);
    metadata.emplace_back(std::string(as_string_view(name)), std::string(as_string_view(value)));
  }
  Tamper tamper = read_tamper(in);
  bool tamper_envelope = in.u8() & 1;
  SplitMix rng(in.u32());
  ByteSpan pattern = in.rest();

  seal::ObjectId id{};
  std::memcpy(id.data(), kFixedObjectId.data(), id.size());
  Bytes plaintext;
  CollectingSink body;
  seal::EnvelopeContents contents;
  contents.metadata = metadata;
  for (std::size_t i = 0; i < parts; ++i) {
    Bytes part = make_plaintext(lengths[i], pattern.subspan(std::min(pattern.size(), i)));
    auto encryptor = seal::begin_stream(dek(), id, numbers[i], body, 1 + rng.upto(3));
    FUZZ_CHECK(encryptor.has_value(), describe(encryptor.error()));
    write_pieces(*encryptor, part, rng);
    if (multipart) contents.parts.push_back(seal::part_record(numbers[i], *encryptor));
    plaintext.insert(plaintext.end(), part.begin(), part.end());
  }
  seal::Envelope envelope;
  envelope.layout = multipart ? seal::Layout::kMultipart : seal::Layout::kSingleStream;
  envelope.length_recorded = recorded;
  envelope.object_id = id;
  envelope.plaintext_size = recorded ? plaintext.size() : 0;
  envelope.key = {"local", "default", 1, Bytes(60, 0xA5)};
  auto encoded = seal::encode_envelope(envelope, contents, dek());
  FUZZ_CHECK(encoded.has_value(), describe(encoded.error()));
  auto expected_body = seal::expected_body_size(envelope, contents);
  if (recorded) FUZZ_CHECK(expected_body == body.out.size(), "expected_body_size is not the sealed body size");

  Bytes object = *encoded;
  object.insert(object.end(), body.out.begin(), body.out.end());
  Bytes tampered = tampered_copy(tamper, object, tamper_envelope ? 0 : encoded->size());
  bool changed = tampered != object;

  ObjectVerdict verdict = read_object(tampered, batch, rng, plaintext);
  if (!changed) {
    FUZZ_CHECK(verdict.opened && verdict.verified, "an intact object did not open");
    FUZZ_CHECK(verdict.size == plaintext.size() && verdict.out == plaintext, "round trip changed the plaintext");
  } else {
    // Whatever got through is the true plaintext and the true metadata. Only the key reference (the wrapping
    // authenticates it, not the sealed section) may change without the read failing.
    if (verdict.contents) FUZZ_CHECK(verdict.contents->metadata == metadata, "tampered metadata was accepted");
    if (verdict.verified) {
      FUZZ_CHECK(tamper_envelope, "a tampered body verified");
      FUZZ_CHECK(verdict.out == plaintext, "a tampered object decrypted to other plaintext");
    }
  }
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal::fuzz;
  InputReader in(blobseal::ByteSpan(data, size));
  std::uint8_t mode = in.u8() % 4;
  std::size_t batch = in.u8() % 4 + 1;
  switch (mode) {
    case 0: fuzz_stream(in, batch); break;
    case 1: fuzz_object(in, batch); break;
    case 2: fuzz_stream_roundtrip(in, batch); break;
    default: fuzz_object_roundtrip(in, batch); break;
  }
  return 0;
}
