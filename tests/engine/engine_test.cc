// The engine over the real local store and the real keyring: round trips, ranges, copy without re-encryption,
// rewrap after rotation, relocation and tampering on disk refused, failed puts leave the old object.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "engine_fixture.h"

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "engine/engine.h"
#include "keys/local/local_keyring.h"
#include "store/local/local_store.h"
#include "store/registry.h"

namespace fs = std::filesystem;
using namespace blobseal;

namespace {

using engine::test::random_string;

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string data, std::size_t fail_after = SIZE_MAX)
      : data_(std::move(data)), fail_after_(fail_after) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (pos_ >= fail_after_) return make_error(ErrorCode::kUnavailable, "client went away");
    std::size_t n = std::min({out.size(), data_.size() - pos_, fail_after_ - pos_});
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  std::size_t fail_after_;
  std::size_t pos_ = 0;
};

class EngineTest : public engine::test::EngineFixture {
 protected:
  EngineTest() : EngineFixture("blobseal-engine-") {}
};

const engine::Location kA{"acme", "photos", "2026/a.jpg"};
const engine::Location kB{"acme", "photos", "2026/b.jpg"};

TEST_F(EngineTest, RoundTripsAndRangesAcrossChunkShapes) {
  std::mt19937_64 rng(1234);
  for (std::size_t size : {0ul, 1ul, 16384ul, 16385ul, 3 * 16384ul, 1000003ul}) {
    std::string data = random_string(size, static_cast<std::uint32_t>(size));
    auto summary = put(kA, data);
    ASSERT_TRUE(summary) << summary.error().to_string();
    EXPECT_EQ(summary->size, size);
    EXPECT_EQ(read(kA), data);
    for (int i = 0; i < 50 && size > 0; ++i) {
      std::uint64_t pos = rng() % size, count = rng() % (size - pos + 1);
      ASSERT_EQ(read(kA, pos, count), data.substr(pos, count)) << "size " << size << " range " << pos << "+" << count;
    }
    auto object = engine_->open(kA);
    StringSink sink;
    EXPECT_EQ(object->read(size, 1, sink).error().code(), ErrorCode::kOutOfRange);
  }
}

TEST_F(EngineTest, HeadCarriesSealedMetadataAndTheMd5Etag) {
  engine::PutOptions options;
  options.metadata = {{"content-type", "image/jpeg"}, {"x-amz-meta-camera", "x100"}};
  std::string data = random_string(70000, 9);
  ASSERT_TRUE(put(kA, data, options));
  auto head = engine_->head(kA);
  ASSERT_TRUE(head) << head.error().to_string();
  crypto::Digest md5(crypto::Digest::Algorithm::kMd5);
  md5.update(as_bytes(data));
  EXPECT_EQ(head->etag(), to_hex(md5.finish()));
  EXPECT_EQ(*seal::find_metadata(head->metadata, "content-type"), "image/jpeg");
  EXPECT_EQ(*seal::find_metadata(head->metadata, "x-amz-meta-camera"), "x100");
  EXPECT_EQ(head->key_reference.provider, "local");
  // Listing reports the plaintext size without unwrapping anything.
  auto page = engine_->list(engine::Location{"acme", "photos", ""}, {});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "2026/a.jpg");
  EXPECT_EQ(page->objects[0].size, 70000u);
  // ...and the ETag, from the store metadata sealed under the index key (S3 listings show it).
  EXPECT_EQ(page->objects[0].etag(), head->etag());
}

TEST_F(EngineTest, CopyRewrapsForTheNewNameWithoutReencryptingTheBody) {
  std::string data = random_string(100000, 4);
  ASSERT_TRUE(put(kA, data));
  auto copied = engine_->copy(kA, kB, seal::Metadata{{"content-type", "text/plain"}});
  ASSERT_TRUE(copied) << copied.error().to_string();
  EXPECT_EQ(read(kB), data);
  EXPECT_EQ(stored_body("photos/2026/a.jpg"), stored_body("photos/2026/b.jpg")) << "the body was re-encrypted";
  auto head = engine_->head(kB);
  EXPECT_EQ(*seal::find_metadata(head->metadata, "content-type"), "text/plain");
  EXPECT_TRUE(head->etag().has_value());
  // Deleting the source leaves the copy readable.
  ASSERT_TRUE(engine_->remove(kA));
  EXPECT_EQ(read(kB), data);
}

TEST_F(EngineTest, ASealedObjectMovedToAnotherNameOnDiskIsRefused) {
  ASSERT_TRUE(put(kA, random_string(50000, 5)));
  // Move the sealed object at the storage level, header and body as they are: what an attacker with disk access,
  // or a confused operator, can do.
  auto info = store_->head("photos/2026/a.jpg");
  ASSERT_TRUE(info);
  store::PutOptions raw;
  raw.header = info->header;
  ASSERT_TRUE(store_->copy("photos/2026/a.jpg", "photos/2026/b.jpg", raw));
  auto moved = engine_->open(kB);
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code(), ErrorCode::kDataLoss) << moved.error().to_string();
  // Another tenant or bucket with the same key is just as foreign.
  ASSERT_TRUE(store_->copy("photos/2026/a.jpg", "other/2026/a.jpg", raw));
  auto other_bucket = engine_->open(engine::Location{"acme", "other", "2026/a.jpg"});
  ASSERT_FALSE(other_bucket);
  EXPECT_EQ(other_bucket.error().code(), ErrorCode::kDataLoss);
  EXPECT_FALSE(engine_->open(engine::Location{"globex", "photos", "2026/a.jpg"}));
  EXPECT_TRUE(engine_->open(kA)) << "the original still opens";
}

TEST_F(EngineTest, TamperedBodyIsRefusedAndNothingUnverifiedIsReleased) {
  std::string data = random_string(5 * 16384, 6);
  ASSERT_TRUE(put(kA, data));
  auto info = store_->head("photos/2026/a.jpg");
  std::string body = stored_body("photos/2026/a.jpg");
  body[56 + 3 * 16400 + 10] ^= 1;  // inside chunk 3
  StringSource tampered(body);
  store::PutOptions raw;
  raw.header = info->header;
  ASSERT_TRUE(store_->put("photos/2026/a.jpg", tampered, raw));
  auto object = engine_->open(kA);
  ASSERT_TRUE(object) << "the envelope is intact; the damage shows when chunk 3 is read";
  StringSink sink;
  auto status = object->read(0, data.size(), sink);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kDataLoss);
  EXPECT_LE(sink.out.size(), 3 * 16384u);
  EXPECT_EQ(sink.out, data.substr(0, sink.out.size()));
  EXPECT_FALSE(engine_->verify(kA));
  auto report = engine_->verify_all("");
  ASSERT_TRUE(report);
  ASSERT_EQ(report->issues.size(), 1u);
  EXPECT_EQ(report->issues[0].bucket, "photos");
  EXPECT_EQ(report->issues[0].key, "2026/a.jpg");
  EXPECT_EQ(report->issues[0].error.code(), ErrorCode::kDataLoss);
}

TEST_F(EngineTest, TruncatedOrExtendedBodyIsRefusedBeforeDecrypting) {
  std::string data = random_string(40000, 7);
  ASSERT_TRUE(put(kA, data));
  auto info = store_->head("photos/2026/a.jpg");
  std::string body = stored_body("photos/2026/a.jpg");
  for (std::string damaged : {body.substr(0, body.size() - 1), body + "x", body.substr(0, 56 + 16400)}) {
    StringSource source(damaged);
    store::PutOptions raw;
    raw.header = info->header;
    ASSERT_TRUE(store_->put("photos/2026/a.jpg", source, raw));
    auto object = engine_->open(kA);
    ASSERT_FALSE(object);
    EXPECT_EQ(object.error().code(), ErrorCode::kDataLoss) << object.error().to_string();
  }
}

TEST_F(EngineTest, RewrapAfterRotationRewritesOnlyTheEnvelope) {
  std::string data = random_string(90000, 8);
  ASSERT_TRUE(put(kA, data));
  std::string body_before = stored_body("photos/2026/a.jpg");
  EXPECT_EQ(engine_->head(kA)->key_reference.version, 1u);
  auto version = keyring_->rotate("default");
  ASSERT_TRUE(version) << version.error().to_string();
  EXPECT_EQ(*version, 2u);
  // New objects use the new version at once; old ones still read.
  ASSERT_TRUE(put(kB, "new"));
  EXPECT_EQ(engine_->head(kB)->key_reference.version, 2u);
  EXPECT_EQ(read(kA), data);
  auto rewrapped = engine_->rewrap(kA);
  ASSERT_TRUE(rewrapped) << rewrapped.error().to_string();
  EXPECT_TRUE(*rewrapped);
  EXPECT_FALSE(*engine_->rewrap(kA)) << "already current";
  EXPECT_EQ(engine_->head(kA)->key_reference.version, 2u);
  EXPECT_EQ(stored_body("photos/2026/a.jpg"), body_before) << "rewrap touched the data";
  // With version 1 retired, the rewrapped object still reads; nothing needs version 1.
  ASSERT_TRUE(keyring_->retire("default", 1));
  EXPECT_EQ(read(kA), data);
}

TEST_F(EngineTest, ARetiredKeyVersionIsRefusedWithItsNameAndVersion) {
  ASSERT_TRUE(put(kA, "sealed under version 1"));
  ASSERT_TRUE(keyring_->rotate("default"));
  ASSERT_TRUE(keyring_->retire("default", 1));
  auto object = engine_->open(kA);
  ASSERT_FALSE(object);
  EXPECT_EQ(object.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(object.error().reason(), engine::kKeyDisabledReason);
  EXPECT_NE(object.error().message().find("\"default\""), std::string::npos) << object.error().message();
  EXPECT_NE(object.error().message().find("version 1"), std::string::npos) << object.error().message();
}

TEST_F(EngineTest, AnObjectUnderADestroyedKeyVersionExistsButNeverOpens) {
  ASSERT_TRUE(put(kA, "sealed under version 1"));
  ASSERT_TRUE(keyring_->rotate("default"));
  ASSERT_TRUE(keyring_->retire("default", 1));
  ASSERT_TRUE(keyring_->destroy("default", 1));
  // The key manager says NotFound (the version is gone); the object is there all the same, and must never be
  // mistaken for a missing one (S3 NoSuchKey, or a removal during blobseal rewrap).
  auto object = engine_->open(kA);
  ASSERT_FALSE(object);
  EXPECT_EQ(object.error().code(), ErrorCode::kFailedPrecondition) << object.error().to_string();
  EXPECT_EQ(object.error().reason(), engine::kKeyNotFoundReason);
  EXPECT_NE(object.error().message().find("key \"default\" version 1 was destroyed"), std::string::npos)
      << object.error().message();
  auto rewrapped = engine_->rewrap(kA);
  ASSERT_FALSE(rewrapped);
  EXPECT_EQ(rewrapped.error().reason(), engine::kKeyNotFoundReason);
  auto head = engine_->head(kA);  // the metadata is sealed under the same data key
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().reason(), engine::kKeyNotFoundReason);
  auto page = engine_->list(engine::Location{kA.tenant, kA.bucket, ""}, {});
  ASSERT_TRUE(page) << page.error().to_string();
  ASSERT_EQ(page->objects.size(), 1u) << "the object is still listed";
}

TEST_F(EngineTest, AFailedPutLeavesTheOldObjectAndNoLitter) {
  std::string old_data = random_string(30000, 10);
  ASSERT_TRUE(put(kA, old_data));
  StringSource failing(random_string(2 << 20, 11), 1 << 20);
  auto result = engine_->put(kA, failing, {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(read(kA), old_data);
  auto page = engine_->list(engine::Location{"acme", "photos", ""}, {});
  ASSERT_EQ(page->objects.size(), 1u);
  auto* local = dynamic_cast<store::LocalStore*>(store_.get());
  ASSERT_NE(local, nullptr);
  auto orphans = local->orphan_data_files();
  ASSERT_TRUE(orphans);
  EXPECT_TRUE(orphans->empty()) << "a failed put left a data file behind";
}

TEST_F(EngineTest, ConditionalPutOnlyIfAbsent) {
  engine::PutOptions only_if_absent;
  only_if_absent.if_generation_match = "";
  ASSERT_TRUE(put(kA, "first", only_if_absent));
  auto second = put(kA, "second", only_if_absent);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(read(kA), "first");
}

}  // namespace
