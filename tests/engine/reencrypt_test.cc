// Re-encryption under fresh data keys (Engine::reencrypt_stored) over the real local store and the real keyring:
// what clients see is kept byte for byte (content, metadata, tags, ETag, last-modified, multipart parts), while the
// data key, the wrapped key and every ciphertext byte change; selection, dry runs, concurrent writers, tampering.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <thread>

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

// Forwards to a real store; runs `before_conditional_put` once, just before the first conditional put of
// `watched_key`: a client's write landing while the object is being re-encrypted.
class InterposingStore final : public store::ObjectStore {
 public:
  explicit InterposingStore(store::ObjectStore& inner) : inner_(inner) {}
  std::string watched_key;
  std::function<void()> before_conditional_put;

  Result<store::ObjectInfo> put(std::string_view key, ByteSource& body, const store::PutOptions& options) override {
    if (key == watched_key && options.if_generation_match && before_conditional_put) {
      auto hook = std::move(before_conditional_put);
      before_conditional_put = nullptr;
      hook();
    }
    return inner_.put(key, body, options);
  }
  Result<std::unique_ptr<store::StoredObject>> open(std::string_view key) override { return inner_.open(key); }
  Result<store::ObjectInfo> head(std::string_view key) override { return inner_.head(key); }
  Result<store::ObjectInfo> replace_header(std::string_view key, std::string_view expected_generation,
                                           const Bytes& header,
                                           const std::map<std::string, std::string>& metadata) override {
    return inner_.replace_header(key, expected_generation, header, metadata);
  }
  Result<store::ObjectInfo> copy(std::string_view source, std::string_view destination,
                                 const store::PutOptions& options) override {
    return inner_.copy(source, destination, options);
  }
  Result<store::ObjectInfo> compose(std::string_view destination, const std::vector<store::ComposeSource>& sources,
                                    const store::PutOptions& options) override {
    return inner_.compose(destination, sources, options);
  }
  Status remove(std::string_view key) override { return inner_.remove(key); }
  Result<store::ListResult> list(const store::ListRequest& request) override { return inner_.list(request); }

 private:
  store::ObjectStore& inner_;
};

class ReencryptTest : public engine::test::EngineFixture {
 protected:
  ReencryptTest() : EngineFixture("blobseal-reencrypt-") {}
  void SetUp() override {
    EngineFixture::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(engine_->create_bucket("acme", "docs"));
  }
  void TearDown() override {
    EngineFixture::TearDown();
    interposer_.reset();
  }
  store::ObjectStore& engine_store() override {
    interposer_ = std::make_unique<InterposingStore>(*store_);
    return *interposer_;
  }

  // The envelope as stored, with its sealed section opened under the data key the keyring unwraps.
  struct Opened {
    seal::Envelope envelope;
    seal::EnvelopeContents contents;
    SecretBytes dek;
  };
  Opened open_envelope(const engine::Location& at) {
    auto info = store_->head(engine::Engine::storage_key(at));
    EXPECT_TRUE(info);
    auto parsed = seal::parse_envelope(info->header);
    EXPECT_TRUE(parsed);
    const auto& key = parsed->envelope.key;
    auto dek = keyring_->unwrap({key.provider, key.key_id, key.version, key.wrapped_dek},
                                seal::wrap_associated_data(at, parsed->envelope.object_id));
    EXPECT_TRUE(dek) << dek.error().to_string();
    auto contents = seal::open_envelope(parsed->envelope, *dek);
    EXPECT_TRUE(contents) << contents.error().to_string();
    return Opened{parsed->envelope, *contents, std::move(*dek)};
  }

  // Fraction of positions where two equally long byte strings agree: ~1/256 for unrelated ciphertexts.
  static double agreement(const std::string& a, const std::string& b) {
    EXPECT_EQ(a.size(), b.size());
    std::size_t same = 0, n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) same += a[i] == b[i];
    return n == 0 ? 0.0 : static_cast<double>(same) / static_cast<double>(n);
  }

  Result<std::optional<engine::ReencryptOutcome>> reencrypt(const engine::Location& at,
                                                            const engine::ReencryptSelection& selection = {},
                                                            bool dry_run = false) {
    return engine_->reencrypt_stored(engine::Engine::storage_key(at), selection, dry_run);
  }

  // The objects a selection picks, by storage key (a dry run over every object).
  std::set<std::string> selected(const engine::ReencryptSelection& selection) {
    std::set<std::string> keys;
    auto page = store_->list({});
    EXPECT_TRUE(page);
    for (const auto& info : page->objects) {
      auto outcome = engine_->reencrypt_stored(info.key, selection, true);
      EXPECT_TRUE(outcome) << info.key << ": " << outcome.error().to_string();
      if (outcome && *outcome) {
        EXPECT_EQ(**outcome, engine::ReencryptOutcome::kSelected);
        keys.insert(info.key);
      }
    }
    return keys;
  }

  std::unique_ptr<InterposingStore> interposer_;
};

const engine::Location kA{"acme", "photos", "2026/a.jpg"};
const engine::Location kB{"acme", "photos", "2026/b.jpg"};

TEST_F(ReencryptTest, ObjectReadsBackIdenticallyUnderAFreshDataKeyAndNewCiphertext) {
  std::string data = random_string(5 * 16384 + 777, 1);
  engine::PutOptions options;
  options.metadata = {{"content-type", "image/jpeg"},
                      {"x-amz-meta-camera", "x100"},
                      {"x-amz-tagging", "project=apollo&class=secret"},
                      {"content-disposition", "attachment; filename=\"a.jpg\""}};
  ASSERT_TRUE(put(kA, data, options));
  auto before = engine_->head(kA);
  ASSERT_TRUE(before);
  auto listed_before = engine_->list(engine::Location{"acme", "photos", ""}, {});
  ASSERT_TRUE(listed_before);
  Opened old = open_envelope(kA);
  std::string body_before = stored_body("photos/2026/a.jpg");
  ASSERT_TRUE(keyring_->rotate("default"));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a rewritten last-modified would show

  auto outcome = reencrypt(kA);
  ASSERT_TRUE(outcome) << outcome.error().to_string();
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, engine::ReencryptOutcome::kReencrypted);

  // What a client sees.
  EXPECT_EQ(read(kA), data);
  EXPECT_EQ(read(kA, 16380, 20000), data.substr(16380, 20000));
  auto after = engine_->head(kA);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->metadata, before->metadata) << "metadata, tags and ETag";
  EXPECT_EQ(after->etag(), before->etag());
  EXPECT_EQ(after->size, before->size);
  EXPECT_EQ(after->modified_unix_ns, before->modified_unix_ns) << "a re-encryption is not a client write";
  auto listed_after = engine_->list(engine::Location{"acme", "photos", ""}, {});
  ASSERT_TRUE(listed_after);
  ASSERT_EQ(listed_after->objects.size(), 1u);
  EXPECT_EQ(listed_after->objects[0].etag(), listed_before->objects[0].etag());
  EXPECT_EQ(listed_after->objects[0].modified_unix_ns, listed_before->objects[0].modified_unix_ns);

  // What changed underneath: the data key, its wrapping (under the current version), the object id, every byte.
  Opened now = open_envelope(kA);
  EXPECT_FALSE(std::ranges::equal(now.dek.view(), old.dek.view())) << "the data key was reused";
  EXPECT_NE(now.envelope.key.wrapped_dek, old.envelope.key.wrapped_dek);
  EXPECT_EQ(now.envelope.key.version, 2u);
  EXPECT_EQ(now.envelope.key.key_id, old.envelope.key.key_id);
  EXPECT_NE(now.envelope.object_id, old.envelope.object_id);
  std::string body_after = stored_body("photos/2026/a.jpg");
  ASSERT_EQ(body_after.size(), body_before.size());
  EXPECT_LT(agreement(body_before, body_after), 0.02) << "the ciphertext did not change completely";
  EXPECT_NE(body_before.substr(0, 56), body_after.substr(0, 56)) << "the stream header (salt) was reused";
  // The old data key opens nothing of the new object.
  auto stale = seal::open_envelope(now.envelope, old.dek);
  EXPECT_FALSE(stale);
  EXPECT_TRUE(engine_->verify(kA));
}

TEST_F(ReencryptTest, MultipartObjectKeepsItsPartsEtagAndRanges) {
  std::string part1 = random_string(engine::kMinPartSize + 5, 2), part2 = random_string(100003, 3);
  std::string data = part1 + part2;
  engine::PutOptions options;
  options.metadata = {{"content-type", "video/mp4"}, {"x-amz-tagging", "a=b"}};
  auto upload = engine_->create_multipart(kA, options);
  ASSERT_TRUE(upload) << upload.error().to_string();
  std::vector<engine::CompletedPart> completed;
  // Part numbers 3 and 7: the manifest's numbers, not positions, are what each stream is bound to.
  for (auto [number, content] : {std::pair<std::uint32_t, std::string*>{3, &part1}, {7, &part2}}) {
    SpanSource source(as_bytes(*content));
    auto part = engine_->upload_part(kA, *upload, number, source);
    ASSERT_TRUE(part) << part.error().to_string();
    completed.push_back({number, part->etag});
  }
  auto done = engine_->complete_multipart(kA, *upload, completed);
  ASSERT_TRUE(done) << done.error().to_string();
  auto before = engine_->head(kA);
  ASSERT_TRUE(before);
  ASSERT_TRUE(before->etag()->ends_with("-2"));
  Opened old = open_envelope(kA);
  std::string body_before = stored_body("photos/2026/a.jpg");

  auto outcome = reencrypt(kA);
  ASSERT_TRUE(outcome) << outcome.error().to_string();
  ASSERT_EQ(**outcome, engine::ReencryptOutcome::kReencrypted);

  EXPECT_EQ(read(kA), data);
  // Across the part boundary, and each part by its position (S3's partNumber).
  EXPECT_EQ(read(kA, part1.size() - 100, 300), data.substr(part1.size() - 100, 300));
  auto object = engine_->open(kA);
  ASSERT_TRUE(object);
  ASSERT_EQ(object->part_count(), 2u);
  EXPECT_EQ(object->part_range(1), (std::pair<std::uint64_t, std::uint64_t>{0, part1.size()}));
  EXPECT_EQ(object->part_range(2), (std::pair<std::uint64_t, std::uint64_t>{part1.size(), part2.size()}));
  StringSink second;
  ASSERT_TRUE(object->read(part1.size(), part2.size(), second));
  EXPECT_EQ(second.out, part2);
  auto after = engine_->head(kA);
  EXPECT_EQ(after->metadata, before->metadata);
  EXPECT_EQ(after->etag(), before->etag()) << "md5-of-md5s-N";
  EXPECT_EQ(after->modified_unix_ns, before->modified_unix_ns);

  Opened now = open_envelope(kA);
  EXPECT_EQ(now.envelope.layout, seal::Layout::kMultipart);
  ASSERT_EQ(now.contents.parts.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(now.contents.parts[i].part_number, old.contents.parts[i].part_number);
    EXPECT_EQ(now.contents.parts[i].plaintext_size, old.contents.parts[i].plaintext_size);
    EXPECT_NE(now.contents.parts[i].salt, old.contents.parts[i].salt) << "part " << i;
  }
  EXPECT_FALSE(std::ranges::equal(now.dek.view(), old.dek.view()));
  EXPECT_LT(agreement(body_before, stored_body("photos/2026/a.jpg")), 0.02);
  EXPECT_TRUE(engine_->verify(kA));
}

TEST_F(ReencryptTest, SelectorsSelectExactlyWhatTheySay) {
  ASSERT_TRUE(keyring_->add_key("other"));
  ASSERT_TRUE(put({"acme", "photos", "2026/a.jpg"}, "a"));                         // default v1
  ASSERT_TRUE(put({"acme", "photos", "2025/b.jpg"}, "b"));                         // default v1
  ASSERT_TRUE(put({"acme", "docs", "2026/c.txt"}, "c"));                           // default v1
  engine::PutOptions other;
  other.key_id = "other";
  ASSERT_TRUE(put({"acme", "docs", "2026/d.txt"}, "d", other));                    // other v1
  const std::string cli_text = "e";  // outlives the source that reads it
  SpanSource cli_body(as_bytes(cli_text));
  ASSERT_TRUE(engine_->put({"", "", "2026/e.txt"}, cli_body));                      // the CLI namespace, default v1
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(keyring_->rotate("default"));
  ASSERT_TRUE(put({"acme", "photos", "2026/f.jpg"}, "f"));                         // default v2, sealed later

  using Keys = std::set<std::string>;
  const Keys all{"photos/2026/a.jpg", "photos/2025/b.jpg", "docs/2026/c.txt", "docs/2026/d.txt", "/2026/e.txt",
                 "photos/2026/f.jpg"};
  EXPECT_EQ(selected({}), all) << "no selector: every object (and no internal record)";
  engine::ReencryptSelection s;
  s.bucket = "photos";
  EXPECT_EQ(selected(s), (Keys{"photos/2026/a.jpg", "photos/2025/b.jpg", "photos/2026/f.jpg"}));
  s.prefix = "2026/";
  EXPECT_EQ(selected(s), (Keys{"photos/2026/a.jpg", "photos/2026/f.jpg"}));
  s = {};
  s.bucket = "";
  EXPECT_EQ(selected(s), (Keys{"/2026/e.txt"}));
  s = {};
  s.prefix = "2026/";
  EXPECT_EQ(selected(s), (Keys{"photos/2026/a.jpg", "docs/2026/c.txt", "docs/2026/d.txt", "/2026/e.txt",
                               "photos/2026/f.jpg"}));
  s = {};
  s.key_id = "other";
  EXPECT_EQ(selected(s), (Keys{"docs/2026/d.txt"}));
  s.key_id = "default";
  s.key_version = 1;
  EXPECT_EQ(selected(s), (Keys{"photos/2026/a.jpg", "photos/2025/b.jpg", "docs/2026/c.txt", "/2026/e.txt"}));
  s.key_version = 2;
  EXPECT_EQ(selected(s), (Keys{"photos/2026/f.jpg"}));
  s = {};
  s.sealed_before_unix_ns = now.count();
  EXPECT_EQ(selected(s),
            (Keys{"photos/2026/a.jpg", "photos/2025/b.jpg", "docs/2026/c.txt", "docs/2026/d.txt", "/2026/e.txt"}));
  // Combined: every selector must hold.
  s.bucket = "docs";
  s.key_id = "default";
  EXPECT_EQ(selected(s), (Keys{"docs/2026/c.txt"}));

  // A re-encryption counts as sealing: once done, the object is no longer "sealed before" the incident, so a
  // second run with the same selector has nothing left to do; and its new wrap is under the current version.
  s = {};
  s.sealed_before_unix_ns = now.count();
  s.key_id = "default";
  s.key_version = 1;
  for (const auto& key : selected(s)) {
    auto outcome = engine_->reencrypt_stored(key, s);
    ASSERT_TRUE(outcome) << outcome.error().to_string();
    EXPECT_EQ(**outcome, engine::ReencryptOutcome::kReencrypted);
  }
  EXPECT_EQ(selected(s), Keys{});
  s = {};
  s.key_id = "default";
  s.key_version = 2;
  EXPECT_EQ(selected(s), (Keys{"photos/2026/a.jpg", "photos/2025/b.jpg", "docs/2026/c.txt", "/2026/e.txt",
                               "photos/2026/f.jpg"}));
  EXPECT_EQ(read({"acme", "docs", "2026/d.txt"}), "d");
}

TEST_F(ReencryptTest, DryRunWritesNothing) {
  ASSERT_TRUE(put(kA, random_string(40000, 4)));
  auto info = store_->head("photos/2026/a.jpg");
  std::string body = stored_body("photos/2026/a.jpg");
  auto outcome = reencrypt(kA, {}, true);
  ASSERT_TRUE(outcome) << outcome.error().to_string();
  EXPECT_EQ(**outcome, engine::ReencryptOutcome::kSelected);
  auto now = store_->head("photos/2026/a.jpg");
  EXPECT_EQ(now->generation, info->generation);
  EXPECT_EQ(now->header, info->header);
  EXPECT_EQ(now->metadata, info->metadata);
  EXPECT_EQ(stored_body("photos/2026/a.jpg"), body);
}

TEST_F(ReencryptTest, AnObjectReplacedDuringTheRunKeepsTheNewContent) {
  ASSERT_TRUE(put(kA, random_string(100000, 5)));
  std::string replacement = random_string(70000, 6);
  // Another writer (a second engine on the same store, as another node would be) replaces the object while this
  // one is sealing it again.
  engine::Engine client(*store_, *keyring_);
  interposer_->watched_key = "photos/2026/a.jpg";
  interposer_->before_conditional_put = [&] {
    SpanSource source(as_bytes(replacement));
    ASSERT_TRUE(client.put(kA, source));
  };
  auto outcome = reencrypt(kA);
  ASSERT_TRUE(outcome) << outcome.error().to_string();
  EXPECT_EQ(**outcome, engine::ReencryptOutcome::kReplacedMeanwhile);
  EXPECT_FALSE(interposer_->before_conditional_put) << "the replacement did not happen during the re-encryption";
  EXPECT_TRUE(read(kA) == replacement) << "the re-encryption overwrote a newer object with the older content";
  // The client's object is as the client wrote it: sealed under its own fresh data key.
  EXPECT_TRUE(engine_->verify(kA));
}

TEST_F(ReencryptTest, AnEnvelopeOnlyChangeDuringTheRunIsReencryptedFromTheNewState) {
  ASSERT_TRUE(put(kA, "the old data key wraps this"));
  Opened old = open_envelope(kA);
  engine::Engine client(*store_, *keyring_);
  interposer_->watched_key = "photos/2026/a.jpg";
  // A tag change rewrites the envelope under the same (suspected) data key: it must not count as done.
  interposer_->before_conditional_put = [&] {
    ASSERT_TRUE(client.update_metadata(kA, [](seal::Metadata& metadata) -> Status {
      metadata.emplace_back("x-amz-tagging", "changed=during-run");
      return {};
    }));
  };
  auto outcome = reencrypt(kA);
  ASSERT_TRUE(outcome) << outcome.error().to_string();
  EXPECT_EQ(**outcome, engine::ReencryptOutcome::kReencrypted);
  Opened now = open_envelope(kA);
  EXPECT_FALSE(std::ranges::equal(now.dek.view(), old.dek.view())) << "the suspected data key is still in use";
  EXPECT_EQ(*seal::find_metadata(now.contents.metadata, "x-amz-tagging"), "changed=during-run") << "the tag was lost";
  EXPECT_EQ(read(kA), "the old data key wraps this");
}

TEST_F(ReencryptTest, ATamperedObjectFailsPreciselyAndIsLeftUntouched) {
  std::string data = random_string(5 * 16384, 7);
  ASSERT_TRUE(put(kA, data));
  auto info = store_->head("photos/2026/a.jpg");
  std::string body = stored_body("photos/2026/a.jpg");
  body[56 + 3 * 16400 + 10] ^= 1;  // inside chunk 3
  SpanSource tampered(as_bytes(body));
  store::PutOptions raw;
  raw.header = info->header;
  raw.metadata = info->metadata;
  auto damaged = store_->put("photos/2026/a.jpg", tampered, raw);
  ASSERT_TRUE(damaged);

  auto outcome = reencrypt(kA);
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kDataLoss) << outcome.error().to_string();
  EXPECT_NE(outcome.error().message().find("chunk 3"), std::string::npos) << outcome.error().to_string();
  auto now = store_->head("photos/2026/a.jpg");
  EXPECT_EQ(now->generation, damaged->generation) << "the damaged object was replaced";
  EXPECT_EQ(now->header, info->header);
  EXPECT_EQ(stored_body("photos/2026/a.jpg"), body);
  auto* local = dynamic_cast<store::LocalStore*>(store_.get());
  ASSERT_NE(local, nullptr);
  auto orphans = local->orphan_data_files();
  ASSERT_TRUE(orphans);
  EXPECT_TRUE(orphans->empty()) << "the aborted re-encryption left a data file behind";
}

TEST_F(ReencryptTest, RemovedObjectsAndInternalRecordsAreNotReencrypted) {
  auto gone = reencrypt(kB);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
  auto bucket_record = engine_->reencrypt_stored(".blobseal/buckets/photos", {});
  ASSERT_TRUE(bucket_record);
  EXPECT_FALSE(*bucket_record);
}

}  // namespace
