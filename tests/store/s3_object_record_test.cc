// The upstream store's object records (store/s3/object_record.h): exact round trip, corruption refused.
#include <gtest/gtest.h>

#include "store/s3/object_record.h"

namespace blobseal::store::s3 {
namespace {

ObjectRecord sample() {
  ObjectRecord record;
  record.key = std::string("photos/\0a.jpg", 13);
  record.revision.fill(7);
  record.body_id = "0123456789abcdef0123456789abcdef";
  record.body_etag = "9b2cf535f27731c974343645a3985328-3";
  record.body_size = 17ull << 30;
  record.modified_unix_ns = -5;
  record.header = Bytes{0, 1, 2, 255};
  record.metadata = {{"", "empty name"}, {"binary", std::string("\0\xff", 2)}, {"k", ""}};
  return record;
}

TEST(S3ObjectRecord, RoundTripsEveryField) {
  ObjectRecord record = sample();
  auto encoded = encode_record(record);
  ASSERT_TRUE(encoded);
  auto decoded = decode_record(*encoded);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(decoded->key, record.key);
  EXPECT_EQ(decoded->revision, record.revision);
  EXPECT_EQ(decoded->body_id, record.body_id);
  EXPECT_EQ(decoded->body_etag, record.body_etag);
  EXPECT_EQ(decoded->body_size, record.body_size);
  EXPECT_EQ(decoded->modified_unix_ns, record.modified_unix_ns);
  EXPECT_EQ(decoded->header, record.header);
  EXPECT_EQ(decoded->metadata, record.metadata);
}

TEST(S3ObjectRecord, EmptyBodyHasNoBodyObject) {
  ObjectRecord record;
  record.key = "k";
  auto decoded = decode_record(encode_record(record).value());
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->body_id.empty());
  EXPECT_EQ(decoded->body_size, 0u);
}

TEST(S3ObjectRecord, AnyChangedTruncatedOrExtendedRecordIsDataLoss) {
  Bytes encoded = encode_record(sample()).value();
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    Bytes altered = encoded;
    altered[i] ^= 0x01;
    auto decoded = decode_record(altered);
    ASSERT_FALSE(decoded) << "byte " << i;
    EXPECT_EQ(decoded.error().code(), ErrorCode::kDataLoss);
  }
  for (std::size_t size = 0; size < encoded.size(); ++size) {
    auto decoded = decode_record(ByteSpan(encoded).first(size));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code(), ErrorCode::kDataLoss);
  }
  Bytes extended = encoded;
  extended.push_back(0);
  EXPECT_EQ(decode_record(extended).error().code(), ErrorCode::kDataLoss);
}

TEST(S3ObjectRecord, LimitsAreResourceExhausted) {
  ObjectRecord record = sample();
  record.header.assign(kMaxRecordHeaderBytes + 1, 0);
  EXPECT_EQ(encode_record(record).error().code(), ErrorCode::kResourceExhausted);
  record = sample();
  record.metadata["big"] = std::string(kMaxRecordMetadataItemBytes + 1, 'v');
  EXPECT_EQ(encode_record(record).error().code(), ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace blobseal::store::s3
