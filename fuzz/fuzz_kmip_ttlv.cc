// Fuzzes the KMIP TTLV decoder and the response reader (src/keys/kmip/ttlv.h, messages.h): every byte of a KMIP
// response comes from a server over the network, and the client must survive a hostile or broken one.
//
// Input: byte 0 chooses the operation the response is read as (mod 9); the rest is the message.
// Properties:
//  - decode_ttlv fails only with InvalidArgument or ResourceExhausted, and what it accepts re-encodes to exactly
//    the input (one encoding per message: lengths, padding and Booleans are strict);
//  - ttlv_message_size on the first 8 bytes of an accepted Structure gives the input's size (the stream framing
//    agrees with the decoder);
//  - response_payload fails only with the codes messages.h documents, and a payload it returns is a Structure;
//    the payload readers never crash;
//  - nothing crashes, leaks or reads out of bounds (ASan), whatever the lengths say.
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "keys/kmip/messages.h"
#include "keys/kmip/ttlv.h"

namespace blobseal::fuzz {
namespace {

using keys::kmip::Operation;

constexpr Operation kOperations[] = {Operation::kCreate,  Operation::kLocate,  Operation::kGetAttributes,
                                     Operation::kActivate, Operation::kRevoke, Operation::kDestroy,
                                     Operation::kDiscoverVersions, Operation::kEncrypt, Operation::kDecrypt};

bool documented(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kDataLoss:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kUnimplemented:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kInternal:
    case ErrorCode::kUnavailable: return true;
    default: return false;
  }
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal;
  using namespace blobseal::keys::kmip;
  if (size < 1 || size > (1u << 20)) return 0;
  Operation operation = fuzz::kOperations[data[0] % 9];
  ByteSpan message(data + 1, size - 1);

  TtlvLimits limits;
  limits.max_total_size = 1 << 16;
  limits.max_items = 512;
  auto decoded = decode_ttlv(message, limits);
  if (!decoded) {
    ErrorCode code = decoded.error().code();
    FUZZ_CHECK(code == ErrorCode::kInvalidArgument || code == ErrorCode::kResourceExhausted,
               decoded.error().to_string());
    return 0;
  }
  auto encoded = encode_ttlv(*decoded);
  FUZZ_CHECK(encoded.has_value(), encoded ? std::string() : encoded.error().to_string());
  FUZZ_CHECK(encoded->size() == message.size() && std::equal(encoded->begin(), encoded->end(), message.begin()),
             "an accepted message does not re-encode to its bytes");
  if (decoded->type == TtlvType::kStructure) {
    auto framed = ttlv_message_size(message.first(kTtlvHeaderSize), limits);
    FUZZ_CHECK(framed.has_value() && *framed == message.size(), "framing disagrees with the decoder");
  }

  auto payload = response_payload(*decoded, operation);
  if (!payload) {
    FUZZ_CHECK(fuzz::documented(payload.error().code()), payload.error().to_string());
    return 0;
  }
  FUZZ_CHECK(payload->type == TtlvType::kStructure, "a payload that is not a Structure");
  (void)read_unique_identifier(*payload, operation);
  (void)read_located_identifiers(*payload);
  (void)read_state_attribute(*payload);
  (void)read_protocol_versions(*payload);
  (void)read_encrypt_response(*payload);
  (void)read_decrypt_data(*payload);
  (void)describe_ttlv(*payload);
  return 0;
}
