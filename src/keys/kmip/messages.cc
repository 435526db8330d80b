#include "keys/kmip/messages.h"

#include <fmt/format.h>

namespace blobseal::keys::kmip {

namespace {

constexpr std::uint32_t kObjectTypeSymmetricKey = 2;
constexpr std::uint32_t kAlgorithmAes = 3;
constexpr std::int32_t kUsageEncrypt = 0x04;
constexpr std::int32_t kUsageDecrypt = 0x08;
constexpr std::uint32_t kNameTypeText = 1;
constexpr std::uint32_t kModeCbc = 1;
constexpr std::uint32_t kModeGcm = 9;
constexpr std::uint32_t kPaddingPkcs5 = 3;
constexpr std::int32_t kGcmTagLength = 16;
constexpr std::uint32_t kRevocationCessationOfOperation = 6;
constexpr std::uint32_t kResultSuccess = 0;

tl::unexpected<Error> bad_response(Operation operation, std::string_view what) {
  return make_error(ErrorCode::kUnavailable,
                    fmt::format("KMIP server sent an unusable {} response: {}", to_string(operation), what),
                    "KmipBadResponse");
}

TtlvItem attribute(std::string_view name, TtlvItem value) {
  value.tag = tag::kAttributeValue;
  return TtlvItem::structure(tag::kAttribute,
                             {TtlvItem::text(tag::kAttributeName, name), std::move(value)});
}

TtlvItem name_value(std::string_view name) {
  return TtlvItem::structure(0, {TtlvItem::text(tag::kNameValue, name),
                                 TtlvItem::enumeration(tag::kNameType, kNameTypeText)});
}

TtlvItem cryptographic_parameters(CipherMode mode) {
  std::vector<TtlvItem> items;
  if (mode == CipherMode::kAesGcm) {
    items.push_back(TtlvItem::enumeration(tag::kBlockCipherMode, kModeGcm));
    items.push_back(TtlvItem::enumeration(tag::kCryptographicAlgorithm, kAlgorithmAes));
    items.push_back(TtlvItem::integer32(tag::kTagLength, kGcmTagLength));
  } else {
    items.push_back(TtlvItem::enumeration(tag::kBlockCipherMode, kModeCbc));
    items.push_back(TtlvItem::enumeration(tag::kPaddingMethod, kPaddingPkcs5));
    items.push_back(TtlvItem::enumeration(tag::kCryptographicAlgorithm, kAlgorithmAes));
  }
  return TtlvItem::structure(tag::kCryptographicParameters, std::move(items));
}

// Server text goes into error messages: printable ASCII only, bounded.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 300)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (text.size() > 300) out += "...";
  return out;
}

const TtlvItem* find_typed(const TtlvItem& parent, std::uint32_t wanted, TtlvType type) {
  const TtlvItem* item = parent.find(wanted);
  return item != nullptr && item->type == type ? item : nullptr;
}

ErrorCode code_for(std::uint32_t reason) {
  switch (static_cast<ResultReason>(reason)) {
    case ResultReason::kItemNotFound: return ErrorCode::kNotFound;
    case ResultReason::kAuthenticationNotSuccessful:
    case ResultReason::kPermissionDenied: return ErrorCode::kPermissionDenied;
    case ResultReason::kCryptographicFailure: return ErrorCode::kDataLoss;
    case ResultReason::kIllegalOperation: return ErrorCode::kFailedPrecondition;
    case ResultReason::kOperationNotSupported:
    case ResultReason::kFeatureNotSupported: return ErrorCode::kUnimplemented;
    case ResultReason::kInvalidMessage:
    case ResultReason::kInvalidField:
    case ResultReason::kMissingData: return ErrorCode::kInvalidArgument;
    case ResultReason::kResponseTooLarge: return ErrorCode::kResourceExhausted;
    default: return ErrorCode::kInternal;
  }
}

}  // namespace

std::string_view to_string(Operation operation) {
  switch (operation) {
    case Operation::kCreate: return "Create";
    case Operation::kLocate: return "Locate";
    case Operation::kGetAttributes: return "Get Attributes";
    case Operation::kActivate: return "Activate";
    case Operation::kRevoke: return "Revoke";
    case Operation::kDestroy: return "Destroy";
    case Operation::kDiscoverVersions: return "Discover Versions";
    case Operation::kEncrypt: return "Encrypt";
    case Operation::kDecrypt: return "Decrypt";
  }
  return "unknown operation";
}

std::string_view to_string(ObjectState state) {
  switch (state) {
    case ObjectState::kPreActive: return "Pre-Active";
    case ObjectState::kActive: return "Active";
    case ObjectState::kDeactivated: return "Deactivated";
    case ObjectState::kCompromised: return "Compromised";
    case ObjectState::kDestroyed: return "Destroyed";
    case ObjectState::kDestroyedCompromised: return "Destroyed Compromised";
  }
  return "unknown state";
}

std::string result_reason_name(std::uint32_t reason) {
  switch (static_cast<ResultReason>(reason)) {
    case ResultReason::kItemNotFound: return "Item Not Found";
    case ResultReason::kResponseTooLarge: return "Response Too Large";
    case ResultReason::kAuthenticationNotSuccessful: return "Authentication Not Successful";
    case ResultReason::kInvalidMessage: return "Invalid Message";
    case ResultReason::kOperationNotSupported: return "Operation Not Supported";
    case ResultReason::kMissingData: return "Missing Data";
    case ResultReason::kInvalidField: return "Invalid Field";
    case ResultReason::kFeatureNotSupported: return "Feature Not Supported";
    case ResultReason::kCryptographicFailure: return "Cryptographic Failure";
    case ResultReason::kIllegalOperation: return "Illegal Operation";
    case ResultReason::kPermissionDenied: return "Permission Denied";
    case ResultReason::kGeneralFailure: return "General Failure";
  }
  return fmt::format("Result Reason 0x{:X}", reason);
}

TtlvItem request_message(ProtocolVersion version, Operation operation, TtlvItem payload) {
  payload.tag = tag::kRequestPayload;
  payload.type = TtlvType::kStructure;
  TtlvItem header = TtlvItem::structure(
      tag::kRequestHeader,
      {TtlvItem::structure(tag::kProtocolVersion, {TtlvItem::integer32(tag::kProtocolVersionMajor, version.major),
                                                   TtlvItem::integer32(tag::kProtocolVersionMinor, version.minor)}),
       TtlvItem::integer32(tag::kBatchCount, 1)});
  TtlvItem batch_item = TtlvItem::structure(
      tag::kBatchItem,
      {TtlvItem::enumeration(tag::kOperation, static_cast<std::uint32_t>(operation)), std::move(payload)});
  return TtlvItem::structure(tag::kRequestMessage, {std::move(header), std::move(batch_item)});
}

Result<TtlvItem> response_payload(const TtlvItem& response, Operation operation) {
  if (response.tag != tag::kResponseMessage || response.type != TtlvType::kStructure)
    return bad_response(operation, fmt::format("not a Response Message (tag {:06X})", response.tag));
  const TtlvItem* header = find_typed(response, tag::kResponseHeader, TtlvType::kStructure);
  if (header == nullptr) return bad_response(operation, "no Response Header");
  const TtlvItem* count = find_typed(*header, tag::kBatchCount, TtlvType::kInteger);
  if (count == nullptr || count->integer != 1) return bad_response(operation, "Batch Count is not 1");
  const TtlvItem* item = nullptr;
  for (const auto& child : response.items) {
    if (child.tag != tag::kBatchItem) continue;
    if (item != nullptr) return bad_response(operation, "more than one Batch Item");
    if (child.type != TtlvType::kStructure) return bad_response(operation, "Batch Item is not a Structure");
    item = &child;
  }
  if (item == nullptr) return bad_response(operation, "no Batch Item");
  if (const TtlvItem* op = item->find(tag::kOperation);
      op != nullptr && (op->type != TtlvType::kEnumeration || op->integer != static_cast<std::int64_t>(operation)))
    return bad_response(operation, fmt::format("the Batch Item is for operation {}", op->integer));
  const TtlvItem* status = find_typed(*item, tag::kResultStatus, TtlvType::kEnumeration);
  if (status == nullptr) return bad_response(operation, "no Result Status");
  if (status->integer != kResultSuccess) {
    const TtlvItem* reason = find_typed(*item, tag::kResultReason, TtlvType::kEnumeration);
    const TtlvItem* message = find_typed(*item, tag::kResultMessage, TtlvType::kTextString);
    std::uint32_t reason_value =
        reason != nullptr ? static_cast<std::uint32_t>(reason->integer) : static_cast<std::uint32_t>(0);
    std::string reason_name = reason != nullptr ? result_reason_name(reason_value) : "no Result Reason";
    std::string status_text = status->integer == 1 ? "" : fmt::format(" (Result Status {})", status->integer);
    std::string text = fmt::format("KMIP {} failed{}: {}", to_string(operation), status_text, reason_name);
    if (message != nullptr && !message->bytes.empty()) text += ": " + printable(message->text_value());
    std::string compact;
    for (char c : reason_name)
      if (c != ' ') compact.push_back(c);
    // Pending or undone (asynchronous servers) is not something blobseal waits for: retry later.
    ErrorCode code = status->integer == 1 ? code_for(reason_value) : ErrorCode::kUnavailable;
    return make_error(code, std::move(text), std::move(compact));
  }
  const TtlvItem* payload = item->find(tag::kResponsePayload);
  if (payload == nullptr) return TtlvItem::structure(tag::kResponsePayload);
  if (payload->type != TtlvType::kStructure) return bad_response(operation, "Response Payload is not a Structure");
  return *payload;
}

TtlvItem create_aes_key_payload(std::string_view name) {
  TtlvItem name_attribute = name_value(name);
  std::vector<TtlvItem> attributes;
  attributes.push_back(attribute("Cryptographic Algorithm", TtlvItem::enumeration(0, kAlgorithmAes)));
  attributes.push_back(attribute("Cryptographic Length", TtlvItem::integer32(0, 256)));
  attributes.push_back(attribute("Cryptographic Usage Mask", TtlvItem::integer32(0, kUsageEncrypt | kUsageDecrypt)));
  attributes.push_back(attribute("Name", std::move(name_attribute)));
  return TtlvItem::structure(
      tag::kRequestPayload,
      {TtlvItem::enumeration(tag::kObjectType, kObjectTypeSymmetricKey),
       TtlvItem::structure(tag::kTemplateAttribute, std::move(attributes))});
}

TtlvItem unique_identifier_payload(std::string_view unique_identifier) {
  return TtlvItem::structure(tag::kRequestPayload, {TtlvItem::text(tag::kUniqueIdentifier, unique_identifier)});
}

TtlvItem get_attributes_payload(std::string_view unique_identifier, const std::vector<std::string>& names) {
  TtlvItem payload = unique_identifier_payload(unique_identifier);
  for (const auto& name : names) payload.items.push_back(TtlvItem::text(tag::kAttributeName, name));
  return payload;
}

TtlvItem locate_by_name_payload(std::string_view name) {
  return TtlvItem::structure(tag::kRequestPayload, {attribute("Name", name_value(name))});
}

TtlvItem revoke_payload(std::string_view unique_identifier, std::string_view message) {
  TtlvItem reason = TtlvItem::structure(
      tag::kRevocationReason, {TtlvItem::enumeration(tag::kRevocationReasonCode, kRevocationCessationOfOperation)});
  if (!message.empty()) reason.items.push_back(TtlvItem::text(tag::kRevocationMessage, message));
  return TtlvItem::structure(tag::kRequestPayload,
                             {TtlvItem::text(tag::kUniqueIdentifier, unique_identifier), std::move(reason)});
}

TtlvItem discover_versions_payload(const std::vector<ProtocolVersion>& versions) {
  TtlvItem payload = TtlvItem::structure(tag::kRequestPayload);
  for (const auto& v : versions)
    payload.items.push_back(TtlvItem::structure(
        tag::kProtocolVersion, {TtlvItem::integer32(tag::kProtocolVersionMajor, v.major),
                                TtlvItem::integer32(tag::kProtocolVersionMinor, v.minor)}));
  return payload;
}

TtlvItem encrypt_payload(std::string_view unique_identifier, CipherMode mode, ByteSpan data, ByteSpan iv,
                         ByteSpan additional_data) {
  TtlvItem payload = TtlvItem::structure(
      tag::kRequestPayload,
      {TtlvItem::text(tag::kUniqueIdentifier, unique_identifier), cryptographic_parameters(mode),
       TtlvItem::byte_string(tag::kData, data), TtlvItem::byte_string(tag::kIvCounterNonce, iv)});
  if (mode == CipherMode::kAesGcm)
    payload.items.push_back(TtlvItem::byte_string(tag::kAuthenticatedEncryptionAdditionalData, additional_data));
  return payload;
}

TtlvItem decrypt_payload(std::string_view unique_identifier, CipherMode mode, ByteSpan data, ByteSpan iv,
                         ByteSpan additional_data, ByteSpan auth_tag) {
  TtlvItem payload = encrypt_payload(unique_identifier, mode, data, iv, additional_data);
  if (mode == CipherMode::kAesGcm)
    payload.items.push_back(TtlvItem::byte_string(tag::kAuthenticatedEncryptionTag, auth_tag));
  return payload;
}

Result<std::string> read_unique_identifier(const TtlvItem& payload, Operation operation) {
  const TtlvItem* uid = find_typed(payload, tag::kUniqueIdentifier, TtlvType::kTextString);
  if (uid == nullptr || uid->bytes.empty()) return bad_response(operation, "no Unique Identifier");
  return std::string(uid->text_value());
}

Result<std::vector<std::string>> read_located_identifiers(const TtlvItem& payload) {
  std::vector<std::string> out;
  for (const auto& item : payload.items) {
    if (item.tag != tag::kUniqueIdentifier) continue;
    if (item.type != TtlvType::kTextString || item.bytes.empty())
      return bad_response(Operation::kLocate, "a Unique Identifier that is not a non-empty Text String");
    out.emplace_back(item.text_value());
  }
  return out;
}

Result<std::optional<ObjectState>> read_state_attribute(const TtlvItem& payload) {
  for (const auto& item : payload.items) {
    if (item.tag != tag::kAttribute || item.type != TtlvType::kStructure) continue;
    const TtlvItem* name = find_typed(item, tag::kAttributeName, TtlvType::kTextString);
    if (name == nullptr || name->text_value() != "State") continue;
    const TtlvItem* value = find_typed(item, tag::kAttributeValue, TtlvType::kEnumeration);
    if (value == nullptr || value->integer < 1 || value->integer > 6)
      return bad_response(Operation::kGetAttributes, "a State attribute that is not a known State");
    return std::optional<ObjectState>(static_cast<ObjectState>(value->integer));
  }
  return std::optional<ObjectState>();
}

Result<std::vector<ProtocolVersion>> read_protocol_versions(const TtlvItem& payload) {
  std::vector<ProtocolVersion> out;
  for (const auto& item : payload.items) {
    if (item.tag != tag::kProtocolVersion) continue;
    const TtlvItem* major = item.type == TtlvType::kStructure
                                ? find_typed(item, tag::kProtocolVersionMajor, TtlvType::kInteger)
                                : nullptr;
    const TtlvItem* minor = item.type == TtlvType::kStructure
                                ? find_typed(item, tag::kProtocolVersionMinor, TtlvType::kInteger)
                                : nullptr;
    if (major == nullptr || minor == nullptr)
      return bad_response(Operation::kDiscoverVersions, "a malformed Protocol Version");
    out.push_back({static_cast<std::int32_t>(major->integer), static_cast<std::int32_t>(minor->integer)});
  }
  return out;
}

Result<EncryptResult> read_encrypt_response(const TtlvItem& payload) {
  const TtlvItem* data = find_typed(payload, tag::kData, TtlvType::kByteString);
  if (data == nullptr) return bad_response(Operation::kEncrypt, "no Data");
  EncryptResult out;
  out.data = data->bytes;
  if (const TtlvItem* iv = payload.find(tag::kIvCounterNonce)) {
    if (iv->type != TtlvType::kByteString) return bad_response(Operation::kEncrypt, "IV/Counter/Nonce mistyped");
    out.iv = iv->bytes;
  }
  if (const TtlvItem* t = payload.find(tag::kAuthenticatedEncryptionTag)) {
    if (t->type != TtlvType::kByteString)
      return bad_response(Operation::kEncrypt, "Authenticated Encryption Tag mistyped");
    out.tag = t->bytes;
  }
  return out;
}

Result<const TtlvItem*> read_decrypt_data(const TtlvItem& payload) {
  const TtlvItem* data = find_typed(payload, tag::kData, TtlvType::kByteString);
  if (data == nullptr) return bad_response(Operation::kDecrypt, "no Data");
  return data;
}

}  // namespace blobseal::keys::kmip
