// The KMIP 1.x requests blobseal sends and the parts of the responses it reads (OASIS KMIP Specification 1.2, with
// the two KMIP 1.4 fields of Encrypt/Decrypt for authenticated encryption). Pure functions: TtlvItem in, TtlvItem or
// values out; the TLS transport is keys/kmip/kmip_client.h.
//
// Every request is one Request Message with one Batch Item. A response is accepted only when it is one Response
// Message with a Response Header, Batch Count 1, exactly one Batch Item, and (when the server names it) the same
// Operation; anything else is Unavailable ("the server answered something else"), never taken for success.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "keys/kmip/ttlv.h"

namespace blobseal::keys::kmip {

// Tags (KMIP 1.2 section 9.1.3.1; 0x4200FE/FF from KMIP 1.4).
namespace tag {
inline constexpr std::uint32_t kAttribute = 0x420008;
inline constexpr std::uint32_t kAttributeName = 0x42000A;
inline constexpr std::uint32_t kAttributeValue = 0x42000B;
inline constexpr std::uint32_t kBatchCount = 0x42000D;
inline constexpr std::uint32_t kBatchItem = 0x42000F;
inline constexpr std::uint32_t kBlockCipherMode = 0x420011;
inline constexpr std::uint32_t kCryptographicAlgorithm = 0x420028;
inline constexpr std::uint32_t kCryptographicLength = 0x42002A;
inline constexpr std::uint32_t kCryptographicParameters = 0x42002B;
inline constexpr std::uint32_t kCryptographicUsageMask = 0x42002C;
inline constexpr std::uint32_t kIvCounterNonce = 0x42003D;
inline constexpr std::uint32_t kName = 0x420053;
inline constexpr std::uint32_t kNameType = 0x420054;
inline constexpr std::uint32_t kNameValue = 0x420055;
inline constexpr std::uint32_t kObjectType = 0x420057;
inline constexpr std::uint32_t kOperation = 0x42005C;
inline constexpr std::uint32_t kPaddingMethod = 0x42005F;
inline constexpr std::uint32_t kProtocolVersion = 0x420069;
inline constexpr std::uint32_t kProtocolVersionMajor = 0x42006A;
inline constexpr std::uint32_t kProtocolVersionMinor = 0x42006B;
inline constexpr std::uint32_t kRequestHeader = 0x420077;
inline constexpr std::uint32_t kRequestMessage = 0x420078;
inline constexpr std::uint32_t kRequestPayload = 0x420079;
inline constexpr std::uint32_t kResponseHeader = 0x42007A;
inline constexpr std::uint32_t kResponseMessage = 0x42007B;
inline constexpr std::uint32_t kResponsePayload = 0x42007C;
inline constexpr std::uint32_t kResultMessage = 0x42007D;
inline constexpr std::uint32_t kResultReason = 0x42007E;
inline constexpr std::uint32_t kResultStatus = 0x42007F;
inline constexpr std::uint32_t kRevocationMessage = 0x420080;
inline constexpr std::uint32_t kRevocationReason = 0x420081;
inline constexpr std::uint32_t kRevocationReasonCode = 0x420082;
inline constexpr std::uint32_t kState = 0x42008D;
inline constexpr std::uint32_t kTemplateAttribute = 0x420091;
inline constexpr std::uint32_t kTimeStamp = 0x420092;
inline constexpr std::uint32_t kUniqueIdentifier = 0x420094;
inline constexpr std::uint32_t kData = 0x4200C2;
inline constexpr std::uint32_t kTagLength = 0x4200CE;
inline constexpr std::uint32_t kAuthenticatedEncryptionAdditionalData = 0x4200FE;
inline constexpr std::uint32_t kAuthenticatedEncryptionTag = 0x4200FF;
}  // namespace tag

enum class Operation : std::uint32_t {
  kCreate = 0x01,
  kLocate = 0x08,
  kGetAttributes = 0x0B,
  kActivate = 0x12,
  kRevoke = 0x13,
  kDestroy = 0x14,
  kDiscoverVersions = 0x1E,
  kEncrypt = 0x1F,
  kDecrypt = 0x20,
};
std::string_view to_string(Operation operation);

// Object State (KMIP 1.2 section 9.1.3.2.17).
enum class ObjectState : std::uint32_t {
  kPreActive = 1,
  kActive = 2,
  kDeactivated = 3,
  kCompromised = 4,
  kDestroyed = 5,
  kDestroyedCompromised = 6,
};
std::string_view to_string(ObjectState state);

// Result Reason (KMIP 1.2 section 9.1.3.2.29); the ones blobseal tells apart.
enum class ResultReason : std::uint32_t {
  kItemNotFound = 0x01,
  kResponseTooLarge = 0x02,
  kAuthenticationNotSuccessful = 0x03,
  kInvalidMessage = 0x04,
  kOperationNotSupported = 0x05,
  kMissingData = 0x06,
  kInvalidField = 0x07,
  kFeatureNotSupported = 0x08,
  kCryptographicFailure = 0x0A,
  kIllegalOperation = 0x0B,
  kPermissionDenied = 0x0C,
  kGeneralFailure = 0x100,
};
// "Item Not Found", ... ; "Result Reason 0x.." for a value not listed above.
std::string result_reason_name(std::uint32_t reason);

struct ProtocolVersion {
  std::int32_t major = 1;
  std::int32_t minor = 4;
  friend bool operator==(const ProtocolVersion&, const ProtocolVersion&) = default;
  friend auto operator<=>(const ProtocolVersion&, const ProtocolVersion&) = default;
};

// How a symmetric key encrypts in Encrypt/Decrypt.
enum class CipherMode {
  kAesGcm,        // Block Cipher Mode GCM, 16-byte tag, additional data authenticated (KMIP 1.4 fields)
  kAesCbcPkcs5,  // Block Cipher Mode CBC, Padding Method PKCS5
};

// A Request Message with one Batch Item.
TtlvItem request_message(ProtocolVersion version, Operation operation, TtlvItem payload);

// The Response Payload of a successful one-item response to `operation` (an empty structure when the server sent
// none). A failed Result Status becomes an Error: its code from the Result Reason (Item Not Found → NotFound,
// Permission Denied and Authentication Not Successful → PermissionDenied, Cryptographic Failure → DataLoss,
// Illegal Operation → FailedPrecondition, Operation/Feature Not Supported → Unimplemented, Invalid Message/Field
// and Missing Data → InvalidArgument, Response Too Large → ResourceExhausted, anything else → Internal), its
// message "KMIP <operation> failed: <reason>: <the server's Result Message>", and its reason() the reason's name
// without spaces ("CryptographicFailure", "GeneralFailure"...). A response that is not shaped as described
// above is Unavailable.
Result<TtlvItem> response_payload(const TtlvItem& response, Operation operation);

// Request payloads.
// Create: an AES-256 Symmetric Key with Cryptographic Usage Mask Encrypt|Decrypt and the Name `name`.
TtlvItem create_aes_key_payload(std::string_view name);
TtlvItem unique_identifier_payload(std::string_view unique_identifier);  // Activate, Destroy
TtlvItem get_attributes_payload(std::string_view unique_identifier, const std::vector<std::string>& names);
TtlvItem locate_by_name_payload(std::string_view name);
// Revoke with Revocation Reason Code "Cessation of Operation" (6).
TtlvItem revoke_payload(std::string_view unique_identifier, std::string_view message);
TtlvItem discover_versions_payload(const std::vector<ProtocolVersion>& versions);
// Encrypt/Decrypt. `additional_data` is sent only for GCM; `tag` only for Decrypt under GCM.
TtlvItem encrypt_payload(std::string_view unique_identifier, CipherMode mode, ByteSpan data, ByteSpan iv,
                         ByteSpan additional_data);
TtlvItem decrypt_payload(std::string_view unique_identifier, CipherMode mode, ByteSpan data, ByteSpan iv,
                         ByteSpan additional_data, ByteSpan tag);

// Response payload readers. Each fails with Unavailable naming the missing or mistyped field.
Result<std::string> read_unique_identifier(const TtlvItem& payload, Operation operation);
// Locate: every Unique Identifier, in order.
Result<std::vector<std::string>> read_located_identifiers(const TtlvItem& payload);
// Get Attributes: the State attribute, if the server returned one.
Result<std::optional<ObjectState>> read_state_attribute(const TtlvItem& payload);
Result<std::vector<ProtocolVersion>> read_protocol_versions(const TtlvItem& payload);

struct EncryptResult {
  Bytes data;
  std::optional<Bytes> iv;   // the IV/Counter/Nonce the server used, if it returned one
  std::optional<Bytes> tag;  // Authenticated Encryption Tag (GCM)
};
Result<EncryptResult> read_encrypt_response(const TtlvItem& payload);
// Decrypt: the Data (the caller wipes the payload afterwards).
Result<const TtlvItem*> read_decrypt_data(const TtlvItem& payload);

}  // namespace blobseal::keys::kmip
