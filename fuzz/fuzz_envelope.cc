// Fuzzes the envelope codec (src/seal/envelope.h): envelope_size, parse_envelope, reencode_envelope and
// open_envelope, with the data key fixed (fuzz_common.h).
//
// Input: byte 0 chooses the mode (low bit).
//   mode 0, raw:    the rest is an envelope (trailing bytes allowed), as read from storage. Properties: a parsed
//                   envelope re-encodes to exactly the bytes it was parsed from, envelope_size agrees with the
//                   parse; when the sealed section opens under the fixed key its contents obey the format's rules
//                   and survive a re-seal.
//   mode 1, sealed: u8 layout, u8 flags, u64 plaintext length, 24-byte envelope salt, then the plaintext of a sealed
//                   section. The harness seals that plaintext under the fixed key exactly as FORMAT.md says, so the
//                   sealed-section parser behind the tag is reached with arbitrary content. Properties: a failure
//                   is DataLoss; a success obeys the rules and survives a re-seal.
#include <cstdint>
#include <cstring>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"
#include "fuzz_common.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"

namespace blobseal::fuzz {
namespace {

using seal::Envelope;
using seal::EnvelopeContents;
using seal::Layout;

std::string describe(const Error& e) { return e.to_string(); }

bool same_contents(const EnvelopeContents& a, const EnvelopeContents& b) {
  if (a.metadata != b.metadata || a.parts.size() != b.parts.size()) return false;
  for (std::size_t i = 0; i < a.parts.size(); ++i) {
    const auto& p = a.parts[i];
    const auto& q = b.parts[i];
    if (p.part_number != q.part_number || p.plaintext_size != q.plaintext_size || p.salt != q.salt ||
        p.commitment != q.commitment)
      return false;
  }
  return true;
}

// The rules of FORMAT.md that an opened envelope must satisfy.
void check_opened(const Envelope& e, const EnvelopeContents& c) {
  FUZZ_CHECK(c.metadata.size() <= seal::kMaxMetadataEntries, "");
  if (e.layout == Layout::kSingleStream) {
    FUZZ_CHECK(c.parts.empty(), "single stream with a manifest");
    if (e.length_recorded) {
      auto body = seal::expected_body_size(e, c);
      FUZZ_CHECK(body.has_value(), "");
      // The body size must not wrap: a stream holds at most 2^38 chunks.
      FUZZ_CHECK(*body > e.plaintext_size, "body size wrapped for length " + std::to_string(e.plaintext_size));
      FUZZ_CHECK(seal::plaintext_size(*body) == e.plaintext_size, "body size does not map back to the length");
    } else {
      FUZZ_CHECK(!seal::expected_body_size(e, c).has_value(), "");
    }
    return;
  }
  FUZZ_CHECK(e.length_recorded, "multipart without a recorded length");
  FUZZ_CHECK(!c.parts.empty() && c.parts.size() <= seal::kMaxParts, "");
  std::uint64_t total = 0;
  std::uint32_t previous = 0;
  for (const auto& p : c.parts) {
    FUZZ_CHECK(p.part_number > previous, "part numbers not ascending");
    previous = p.part_number;
    FUZZ_CHECK(total + p.plaintext_size >= total, "sum of part lengths wrapped");
    total += p.plaintext_size;
    FUZZ_CHECK(seal::plaintext_size(seal::ciphertext_size(p.plaintext_size)) == p.plaintext_size,
               "a part length no stream can hold: " + std::to_string(p.plaintext_size));
  }
  FUZZ_CHECK(total == e.plaintext_size, "recorded length is not the sum of the parts");
  auto body = seal::expected_body_size(e, c);
  FUZZ_CHECK(body.has_value() && *body >= total, "");
}

// Re-seals opened contents with encode_envelope and checks they come back unchanged.
void check_reseal(const Envelope& e, const EnvelopeContents& c, const SecretBytes& dek) {
  auto encoded = seal::encode_envelope(e, c, dek);
  FUZZ_CHECK(encoded.has_value(), describe(encoded.error()));
  auto parsed = seal::parse_envelope(*encoded);
  FUZZ_CHECK(parsed.has_value(), describe(parsed.error()));
  FUZZ_CHECK(parsed->encoded_size == encoded->size(), "");
  auto reopened = seal::open_envelope(parsed->envelope, dek);
  FUZZ_CHECK(reopened.has_value(), describe(reopened.error()));
  FUZZ_CHECK(same_contents(c, *reopened), "contents changed through a re-seal");
}

void fuzz_raw(ByteSpan input, const SecretBytes& dek) {
  auto announced = seal::envelope_size(input.first(std::min<std::size_t>(input.size(), 16)));
  auto parsed = seal::parse_envelope(input);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code() != ErrorCode::kInternal, describe(parsed.error()));
    return;
  }
  FUZZ_CHECK(announced.has_value() && *announced == parsed->encoded_size, "envelope_size disagrees with the parse");
  FUZZ_CHECK(parsed->encoded_size <= input.size() && parsed->encoded_size >= seal::kEnvelopeFixedSize, "");
  const Envelope& e = parsed->envelope;
  auto again = seal::reencode_envelope(e, e.key);
  FUZZ_CHECK(again.has_value(), describe(again.error()));
  FUZZ_CHECK(ByteSpan(*again).size() == parsed->encoded_size &&
                 std::equal(again->begin(), again->end(), input.begin()),
             "a parsed envelope does not re-encode to its own bytes");
  auto contents = seal::open_envelope(e, dek);
  if (!contents) {
    FUZZ_CHECK(contents.error().code() == ErrorCode::kDataLoss, describe(contents.error()));
    return;
  }
  check_opened(e, *contents);
  check_reseal(e, *contents, dek);
}

// Seals `plaintext` as the sealed section of `e`, as FORMAT.md specifies (independently of envelope.cc).
Bytes seal_section(const Envelope& e, ByteSpan plaintext, const SecretBytes& dek) {
  Bytes info;
  put_bytes(info, as_bytes("blobseal.dev/envelope@v1"));
  put_u8(info, 0);
  put_bytes(info, e.envelope_salt);
  put_bytes(info, e.object_id);
  std::array<std::uint8_t, 44> keys{};
  FUZZ_CHECK(crypto::hkdf_expand_sha512(dek.view(), info, keys).has_value(), "");
  Bytes aad;
  put_bytes(aad, as_bytes("BLOBSEAL"));
  put_u8(aad, e.version);
  put_u8(aad, e.suite);
  put_u8(aad, static_cast<std::uint8_t>(e.layout));
  put_u8(aad, e.length_recorded ? 1 : 0);
  put_bytes(aad, e.object_id);
  put_u64(aad, e.plaintext_size);
  put_bytes(aad, e.envelope_salt);
  auto aead = crypto::AesGcm::create(std::span(keys).first(32));
  FUZZ_CHECK(aead.has_value(), "");
  Bytes sealed(plaintext.size() + crypto::kAesGcmTagSize);
  std::span<std::uint8_t> out(sealed);
  FUZZ_CHECK(aead->seal(std::span(keys).subspan(32, 12), aad, plaintext, out.first(plaintext.size()),
                        out.subspan(plaintext.size()).first<crypto::kAesGcmTagSize>())
                 .has_value(),
             "");
  return sealed;
}

void fuzz_sealed(InputReader& in, const SecretBytes& dek) {
  Envelope e;
  e.layout = (in.u8() & 1) ? Layout::kMultipart : Layout::kSingleStream;
  e.length_recorded = (in.u8() & 1) != 0;
  std::uint64_t length = in.u64();
  e.plaintext_size = e.length_recorded ? length : 0;
  ByteSpan salt = in.bytes(seal::kSaltSize);
  std::memcpy(e.envelope_salt.data(), salt.data(), salt.size());
  std::memcpy(e.object_id.data(), kFixedObjectId.data(), kFixedObjectId.size());
  e.key = {"local", "default", 1, Bytes(60, 0xA5)};
  e.sealed_section = seal_section(e, in.rest(), dek);

  auto encoded = seal::reencode_envelope(e, e.key);
  FUZZ_CHECK(encoded.has_value(), describe(encoded.error()));
  auto parsed = seal::parse_envelope(*encoded);
  if (!parsed) {
    // Only an unrecorded length on a multipart object is malformed at this level.
    FUZZ_CHECK(!e.length_recorded && e.layout == Layout::kMultipart, describe(parsed.error()));
    return;
  }
  auto contents = seal::open_envelope(parsed->envelope, dek);
  if (!contents) {
    FUZZ_CHECK(contents.error().code() == ErrorCode::kDataLoss, describe(contents.error()));
    return;
  }
  check_opened(parsed->envelope, *contents);
  check_reseal(parsed->envelope, *contents, dek);
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal;
  static const SecretBytes dek = fuzz::fixed_dek();
  fuzz::InputReader in(ByteSpan(data, size));
  if (in.u8() & 1) fuzz::fuzz_sealed(in, dek);
  else fuzz::fuzz_raw(in.rest(), dek);
  return 0;
}
