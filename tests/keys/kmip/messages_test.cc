// KMIP requests and responses: byte-for-byte against messages PyKMIP 0.10 encodes (an independent implementation),
// and every malformed or failed response turned into the documented error.
#include "keys/kmip/messages.h"

#include <gtest/gtest.h>

#include "core/bytes.h"

namespace blobseal::keys::kmip {
namespace {

Bytes hex(std::string_view text) {
  auto bytes = from_hex(text);
  EXPECT_TRUE(bytes.has_value());
  return bytes.value_or(Bytes{});
}

// PyKMIP: RequestMessage(RequestHeader(ProtocolVersion(1, 2), BatchCount(1)),
//                        [RequestBatchItem(Operation.ACTIVATE, ActivateRequestPayload(UniqueIdentifier("1")))])
constexpr std::string_view kPyKmipActivateRequest =
    "42007801000000704200770100000038420069010000002042006a0200000004000000010000000042006b020000000400000002000000"
    "0042000d0200000004000000010000000042000f010000002842005c050000000400000012000000004200790100000010420094070000"
    "00013100000000000000";
// PyKMIP: the answer to it when object 7 does not exist (Time Stamp 0x5F000000).
constexpr std::string_view kPyKmipItemNotFoundResponse =
    "42007b01000000b042007a0100000048420069010000002042006a0200000004000000010000000042006b020000000400000002000000"
    "004200920900000008000000005f00000042000d0200000004000000010000000042000f010000005842005c0500000004000000120000"
    "000042007f0500000004000000010000000042007e0500000004000000010000000042007d070000001a436f756c64206e6f74206c6f63"
    "617465206f626a6563743a2037000000000000";

TtlvItem response(std::vector<TtlvItem> batch_items, std::int32_t batch_count = 1) {
  TtlvItem header = TtlvItem::structure(
      tag::kResponseHeader,
      {TtlvItem::structure(tag::kProtocolVersion, {TtlvItem::integer32(tag::kProtocolVersionMajor, 1),
                                                   TtlvItem::integer32(tag::kProtocolVersionMinor, 4)}),
       TtlvItem::date_time(tag::kTimeStamp, 0x5F000000), TtlvItem::integer32(tag::kBatchCount, batch_count)});
  TtlvItem message = TtlvItem::structure(tag::kResponseMessage, {header});
  for (auto& item : batch_items) message.items.push_back(std::move(item));
  return message;
}

TtlvItem batch_item(Operation operation, std::uint32_t status, std::optional<std::uint32_t> reason = {},
                    std::string_view message = {}, std::optional<TtlvItem> payload = {}) {
  TtlvItem item = TtlvItem::structure(
      tag::kBatchItem, {TtlvItem::enumeration(tag::kOperation, static_cast<std::uint32_t>(operation)),
                        TtlvItem::enumeration(tag::kResultStatus, status)});
  if (reason) item.items.push_back(TtlvItem::enumeration(tag::kResultReason, *reason));
  if (!message.empty()) item.items.push_back(TtlvItem::text(tag::kResultMessage, message));
  if (payload) item.items.push_back(*payload);
  return item;
}

TEST(KmipMessages, RequestMatchesPyKmipEncoding) {
  auto encoded = encode_ttlv(request_message({1, 2}, Operation::kActivate, unique_identifier_payload("1")));
  ASSERT_TRUE(encoded.has_value());
  EXPECT_EQ(to_hex(*encoded), kPyKmipActivateRequest);
}

TEST(KmipMessages, PyKmipFailureBecomesNotFoundWithTheServerMessage) {
  auto decoded = decode_ttlv(hex(kPyKmipItemNotFoundResponse));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
  auto payload = response_payload(*decoded, Operation::kActivate);
  ASSERT_FALSE(payload.has_value());
  EXPECT_EQ(payload.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(payload.error().message(), "KMIP Activate failed: Item Not Found: Could not locate object: 7");
  EXPECT_EQ(payload.error().reason(), "ItemNotFound");
}

TEST(KmipMessages, SuccessReturnsThePayload) {
  TtlvItem payload = TtlvItem::structure(tag::kResponsePayload, {TtlvItem::text(tag::kUniqueIdentifier, "42")});
  auto result = response_payload(response({batch_item(Operation::kCreate, 0, {}, {}, payload)}), Operation::kCreate);
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  auto uid = read_unique_identifier(*result, Operation::kCreate);
  ASSERT_TRUE(uid.has_value());
  EXPECT_EQ(*uid, "42");
  // No payload at all: an empty one.
  auto empty = response_payload(response({batch_item(Operation::kRevoke, 0)}), Operation::kRevoke);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->items.empty());
}

TEST(KmipMessages, ResultReasonsMapToErrorCodes) {
  struct Case {
    std::uint32_t reason;
    ErrorCode code;
    const char* name;
  };
  for (const Case& c : {Case{0x01, ErrorCode::kNotFound, "ItemNotFound"},
                        Case{0x03, ErrorCode::kPermissionDenied, "AuthenticationNotSuccessful"},
                        Case{0x0C, ErrorCode::kPermissionDenied, "PermissionDenied"},
                        Case{0x0A, ErrorCode::kDataLoss, "CryptographicFailure"},
                        Case{0x0B, ErrorCode::kFailedPrecondition, "IllegalOperation"},
                        Case{0x05, ErrorCode::kUnimplemented, "OperationNotSupported"},
                        Case{0x07, ErrorCode::kInvalidArgument, "InvalidField"},
                        Case{0x02, ErrorCode::kResourceExhausted, "ResponseTooLarge"},
                        Case{0x100, ErrorCode::kInternal, "GeneralFailure"},
                        Case{0x77, ErrorCode::kInternal, "ResultReason0x77"}}) {
    auto result = response_payload(response({batch_item(Operation::kDecrypt, 1, c.reason, "why")}),
                                   Operation::kDecrypt);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), c.code) << c.name << ": " << result.error().to_string();
    EXPECT_EQ(result.error().reason(), c.name);
    EXPECT_NE(result.error().message().find("KMIP Decrypt failed"), std::string::npos);
  }
  // Pending or undone: not waited for.
  auto pending = response_payload(response({batch_item(Operation::kCreate, 2)}), Operation::kCreate);
  ASSERT_FALSE(pending.has_value());
  EXPECT_EQ(pending.error().code(), ErrorCode::kUnavailable);
}

TEST(KmipMessages, ServerMessagesAreSanitisedAndBounded) {
  std::string noisy = "line\nbreak\x01" + std::string(1000, 'x');
  auto result = response_payload(response({batch_item(Operation::kLocate, 1, 0x01, noisy)}), Operation::kLocate);
  ASSERT_FALSE(result.has_value());
  const std::string& message = result.error().message();
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(message.find('\x01'), std::string::npos);
  EXPECT_LT(message.size(), 400u);
}

TEST(KmipMessages, MisshapenResponsesAreUnavailable) {
  auto refused = [](const TtlvItem& message, Operation operation, std::string_view part) {
    auto result = response_payload(message, operation);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable) << result.error().to_string();
    EXPECT_NE(result.error().message().find(part), std::string::npos) << result.error().message();
  };
  refused(TtlvItem::structure(tag::kRequestMessage), Operation::kCreate, "not a Response Message");
  refused(TtlvItem::structure(tag::kResponseMessage), Operation::kCreate, "no Response Header");
  refused(response({}), Operation::kCreate, "no Batch Item");
  refused(response({batch_item(Operation::kCreate, 0), batch_item(Operation::kCreate, 0)}, 2), Operation::kCreate,
          "Batch Count is not 1");
  refused(response({batch_item(Operation::kCreate, 0), batch_item(Operation::kCreate, 0)}), Operation::kCreate,
          "more than one Batch Item");
  refused(response({batch_item(Operation::kDestroy, 0)}), Operation::kCreate, "for operation 20");
  TtlvItem no_status = batch_item(Operation::kCreate, 0);
  no_status.items.pop_back();
  refused(response({no_status}), Operation::kCreate, "no Result Status");
  TtlvItem bad_payload = batch_item(Operation::kCreate, 0);
  bad_payload.items.push_back(TtlvItem::text(tag::kResponsePayload, "x"));
  refused(response({bad_payload}), Operation::kCreate, "Response Payload is not a Structure");
}

TEST(KmipMessages, CreatePayloadAsksForAnAes256EncryptDecryptKeyWithItsName) {
  TtlvItem payload = create_aes_key_payload("blobseal:k:v1");
  std::string text = describe_ttlv(payload);
  for (std::string_view part : {"420057 Enumeration 2", "\"Cryptographic Algorithm\"", "42000B Enumeration 3",
                                "\"Cryptographic Length\"", "42000B Integer 256", "\"Cryptographic Usage Mask\"",
                                "42000B Integer 12", "\"Name\"", "420055 Text String \"blobseal:k:v1\"",
                                "420054 Enumeration 1"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " missing in\n" << text;
}

TEST(KmipMessages, GcmRequestsCarryTheAuthenticatedEncryptionFields) {
  Bytes data(32, 1), iv(12, 2), aad{3, 4}, auth_tag(16, 5);
  TtlvItem encrypt = encrypt_payload("9", CipherMode::kAesGcm, data, iv, aad);
  EXPECT_NE(encrypt.find(tag::kAuthenticatedEncryptionAdditionalData), nullptr);
  EXPECT_EQ(encrypt.find(tag::kAuthenticatedEncryptionTag), nullptr);
  const TtlvItem* parameters = encrypt.find(tag::kCryptographicParameters);
  ASSERT_NE(parameters, nullptr);
  ASSERT_NE(parameters->find(tag::kBlockCipherMode), nullptr);
  EXPECT_EQ(parameters->find(tag::kBlockCipherMode)->integer, 9);  // GCM
  ASSERT_NE(parameters->find(tag::kTagLength), nullptr);
  EXPECT_EQ(parameters->find(tag::kTagLength)->integer, 16);
  TtlvItem decrypt = decrypt_payload("9", CipherMode::kAesGcm, data, iv, aad, auth_tag);
  ASSERT_NE(decrypt.find(tag::kAuthenticatedEncryptionTag), nullptr);
  EXPECT_EQ(decrypt.find(tag::kAuthenticatedEncryptionTag)->bytes, auth_tag);

  TtlvItem cbc = encrypt_payload("9", CipherMode::kAesCbcPkcs5, data, Bytes(16, 2), aad);
  EXPECT_EQ(cbc.find(tag::kAuthenticatedEncryptionAdditionalData), nullptr);
  EXPECT_EQ(cbc.find(tag::kCryptographicParameters)->find(tag::kPaddingMethod)->integer, 3);  // PKCS5
}

TEST(KmipMessages, ResponseReadersRefuseMissingOrMistypedFields) {
  TtlvItem empty = TtlvItem::structure(tag::kResponsePayload);
  EXPECT_FALSE(read_unique_identifier(empty, Operation::kCreate).has_value());
  EXPECT_FALSE(read_encrypt_response(empty).has_value());
  EXPECT_FALSE(read_decrypt_data(empty).has_value());
  TtlvItem wrong = TtlvItem::structure(tag::kResponsePayload, {TtlvItem::integer32(tag::kUniqueIdentifier, 1)});
  EXPECT_FALSE(read_located_identifiers(wrong).has_value());
  TtlvItem state = TtlvItem::structure(
      tag::kResponsePayload,
      {TtlvItem::structure(tag::kAttribute, {TtlvItem::text(tag::kAttributeName, "State"),
                                             TtlvItem::enumeration(tag::kAttributeValue, 9)})});
  EXPECT_FALSE(read_state_attribute(state).has_value());
  state.items[0].items[1].integer = 3;
  auto read = read_state_attribute(state);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, ObjectState::kDeactivated);
}

}  // namespace
}  // namespace blobseal::keys::kmip
