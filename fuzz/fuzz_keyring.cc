// Fuzzes the local key manager's parsers of operator-supplied and stored input (src/keys/local/keyring_file.h,
// src/keys/local/local_keyring.h): the keyring file's text, key material in base64 (the keyring's "material" and
// BLOB_KEY), and unwrap of a wrapped data key read from an envelope.
//
// Input: byte 0 chooses the mode (low bit).
//   mode 0, file:   the rest is a keyring file. Properties: a failure is FailedPrecondition; a parsed keyring obeys
//                   the file rules (default key present, valid names, ascending unique versions, 32-byte material,
//                   a consistent version state) and serialize_keyring() gives text that parses back to the same
//                   keyring.
//   mode 1, unwrap: u8 length, then that many bytes of BLOB_KEY text; then a tamper (kind, position, value), then
//                   associated data. decode_key_material agrees with core's from_base64; with a valid key, a data
//                   key wrapped under it unwraps only when neither the wrapped bytes nor the associated data changed.
#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "core/error.h"
#include "fuzz_common.h"
#include "keys/key_manager.h"
#include "keys/local/keyring_file.h"
#include "keys/local/local_keyring.h"

namespace blobseal::fuzz {
namespace {

namespace local = keys::local;

std::string describe(const Error& e) { return e.to_string(); }

bool same_version(const local::KeyVersionEntry& a, const local::KeyVersionEntry& b) {
  return a.version == b.version && a.created_unix == b.created_unix && a.retired_unix == b.retired_unix &&
         a.material.size() == b.material.size() &&
         std::equal(a.material.view().begin(), a.material.view().end(), b.material.view().begin());
}

void check_keyring(const local::KeyringContents& c) {
  FUZZ_CHECK(c.find(c.default_key) != nullptr, "the default key is missing");
  FUZZ_CHECK(!c.keys.empty(), "");
  for (const auto& [name, key] : c.keys) {
    FUZZ_CHECK(local::validate_key_name(name).has_value(), "invalid key name accepted");
    FUZZ_CHECK(!key.versions.empty(), "a key without versions");
    const local::KeyVersionEntry* current = key.current();
    std::uint32_t previous = 0;
    for (const auto& v : key.versions) {
      FUZZ_CHECK(v.version > previous, "versions not ascending and unique");
      previous = v.version;
      FUZZ_CHECK(v.material.size() == 32, "material is not 32 bytes");
      FUZZ_CHECK(key.find(v.version) == &v, "find() does not find a listed version");
      for (unsigned window : {0u, 1u, 2u, c.dual_read_versions}) {
        keys::KeyVersionState state = key.state_of(v, window);
        FUZZ_CHECK((state == keys::KeyVersionState::kRetired) == v.retired_unix.has_value(), "");
        FUZZ_CHECK((state == keys::KeyVersionState::kCurrent) == (&v == current), "current() and state_of disagree");
        if (window == 0 && !v.retired_unix) FUZZ_CHECK(state != keys::KeyVersionState::kExpired, "");
      }
    }
    FUZZ_CHECK(key.find(0) == nullptr, "");
  }
}

void fuzz_file(ByteSpan text) {
  auto parsed = local::parse_keyring(text, "fuzz.keyring");
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code() == ErrorCode::kFailedPrecondition, describe(parsed.error()));
    return;
  }
  check_keyring(*parsed);
  SecretBytes serialized = local::serialize_keyring(*parsed);
  auto again = local::parse_keyring(serialized.view(), "serialized");
  FUZZ_CHECK(again.has_value(), describe(again.error()));
  FUZZ_CHECK(again->default_key == parsed->default_key && again->dual_read_versions == parsed->dual_read_versions &&
                 again->keys.size() == parsed->keys.size(),
             "a serialized keyring parses to another keyring");
  for (const auto& [name, key] : parsed->keys) {
    const local::KeyEntry* other = again->find(name);
    FUZZ_CHECK(other != nullptr && other->versions.size() == key.versions.size(), "a key was lost in serialization");
    for (std::size_t i = 0; i < key.versions.size(); ++i)
      FUZZ_CHECK(same_version(key.versions[i], other->versions[i]), "a version changed in serialization");
  }
}

void fuzz_unwrap(InputReader& in) {
  std::string_view text = as_string_view(in.bytes(in.u8()));
  std::uint8_t kind = in.u8() % 4;  // 0 intact, 1 flip a wrapped byte, 2 cut the wrapped key, 3 change the AAD
  std::uint32_t position = in.u32();
  std::uint8_t value = in.u8();
  ByteSpan associated_data = in.rest();

  auto material = local::decode_key_material(text);
  auto reference = from_base64(text);
  if (material) {
    FUZZ_CHECK(reference && reference->size() == 32 &&
                   std::equal(reference->begin(), reference->end(), material->view().begin()),
               "decode_key_material and from_base64 disagree");
  } else {
    FUZZ_CHECK(material.error().code() == ErrorCode::kInvalidArgument, describe(material.error()));
    FUZZ_CHECK(!reference || reference->size() != 32, "from_base64 decodes 32 bytes that decode_key_material refuses");
  }

  auto keyring = keys::LocalKeyring::from_blob_key(text);
  FUZZ_CHECK(keyring.has_value() == material.has_value(), "BLOB_KEY and keyring material are decoded differently");
  if (!keyring) return;
  static const SecretBytes dek = fixed_dek();
  auto wrapped = (*keyring)->wrap(dek, associated_data);
  FUZZ_CHECK(wrapped.has_value(), describe(wrapped.error()));
  keys::WrappedKey changed = *wrapped;
  Bytes aad(associated_data.begin(), associated_data.end());
  std::size_t at = position % changed.ciphertext.size();
  switch (kind) {
    case 1: changed.ciphertext[at] ^= static_cast<std::uint8_t>(value | 1); break;
    case 2: changed.ciphertext.resize(at); break;
    case 3:
      if (aad.empty() || (value & 1)) aad.insert(aad.begin() + static_cast<std::ptrdiff_t>(aad.empty() ? 0 : position % aad.size()), value);
      else aad.erase(aad.begin() + static_cast<std::ptrdiff_t>(position % aad.size()));
      break;
    default: break;
  }
  auto unwrapped = (*keyring)->unwrap(changed, aad);
  if (kind == 0) {
    FUZZ_CHECK(unwrapped.has_value(), describe(unwrapped.error()));
    FUZZ_CHECK(std::equal(dek.view().begin(), dek.view().end(), unwrapped->view().begin()) && unwrapped->size() == 32,
               "unwrap returned another key");
  } else {
    FUZZ_CHECK(!unwrapped && unwrapped.error().code() == ErrorCode::kDataLoss, "a tampered wrapped key unwrapped");
  }
  // An unknown key or version read from an envelope is an error naming it, never a crash.
  keys::WrappedKey unknown = *wrapped;
  unknown.key_id.assign(text.begin(), text.end());
  unknown.version = position;
  auto refused = (*keyring)->unwrap(unknown, aad);
  if (unknown.key_id != keys::kBlobKeyId || unknown.version != 1)
    FUZZ_CHECK(!refused && refused.error().code() == ErrorCode::kNotFound, "unwrap under an unknown key");
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal;
  fuzz::InputReader in(ByteSpan(data, size));
  if (in.u8() & 1) fuzz::fuzz_unwrap(in);
  else fuzz::fuzz_file(in.rest());
  return 0;
}
