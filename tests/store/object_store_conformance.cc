// The conformance suite (see object_store_conformance.h), part 1: objects — put, open, head, replace, conditions,
// copy, remove, open objects outliving their key, threads. Each test starts from an empty store.
#include "object_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "test_sources.h"

namespace blobseal::store::testing {

void ObjectStoreConformance::SetUp() {
  under_test_ = GetParam().make();
  auto store = under_test_->create_empty();
  ASSERT_TRUE(store) << store.error().to_string();
  store_ = std::move(*store);
}

void ObjectStoreConformance::TearDown() {
  store_.reset();
  under_test_.reset();
}

Result<ObjectInfo> ObjectStoreConformance::put(std::string_view key, const std::string& body,
                                               const std::string& header,
                                               const std::map<std::string, std::string>& metadata,
                                               std::optional<std::string> if_generation_match) {
  StringSource source(body);
  PutOptions options;
  options.header = Bytes(header.begin(), header.end());
  options.metadata = metadata;
  options.if_generation_match = std::move(if_generation_match);
  return store_->put(key, source, options);
}

std::string ObjectStoreConformance::read(std::string_view key) {
  auto object = store_->open(key);
  if (!object) return "<" + object.error().to_string() + ">";
  return read_body(**object);
}

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- put, open, head --------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, PutThenOpenReturnsTheSameBytesAtEverySize) {
  // 0 and 1 byte, the edges of the 1 MiB write buffer, and 5 MiB.
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{(1 << 20) - 1}, std::size_t{1 << 20},
                           std::size_t{(1 << 20) + 1}, std::size_t{5 << 20}}) {
    SCOPED_TRACE(size);
    std::string key = fmt::format("sizes/{}", size);
    std::string body = pattern_string(size, size);
    std::int64_t before = now_ns();
    auto info = put(key, body, "header-" + key);
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(info->key, key);
    EXPECT_EQ(info->body_size, size);
    EXPECT_FALSE(info->generation.empty());
    EXPECT_GE(info->modified_unix_ns, before - 2'000'000'000);
    EXPECT_LE(info->modified_unix_ns, now_ns() + 2'000'000'000);

    auto object = store_->open(key);
    ASSERT_TRUE(object) << object.error().to_string();
    EXPECT_EQ((*object)->body().size(), size);
    EXPECT_EQ((*object)->info().body_size, size);
    EXPECT_EQ((*object)->info().generation, info->generation);
    EXPECT_EQ((*object)->info().header, bytes_of("header-" + key));
    EXPECT_TRUE(read_body(**object) == body) << "body differs at size " << size;
  }
}

TEST_P(ObjectStoreConformance, ShortReadsFromTheSourceAreAssembled) {
  std::string body = pattern_string(7, 3 << 20);
  StringSource source(body, SIZE_MAX, 4093);
  PutOptions options;
  auto info = store_->put("short-reads", source, options);
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->body_size, body.size());
  EXPECT_TRUE(read("short-reads") == body);
}

TEST_P(ObjectStoreConformance, RangedReadsAtAnyOffset) {
  const std::size_t size = 5 << 20;
  std::string body = pattern_string(99, size);
  ASSERT_TRUE(put("ranged", body));
  auto object = store_->open("ranged");
  ASSERT_TRUE(object);
  RandomAccessSource& source = (*object)->body();
  ASSERT_EQ(source.size(), size);
  struct Case {
    std::uint64_t offset;
    std::size_t length;
  };
  for (Case c : {Case{0, 1}, Case{0, 100}, Case{12345, 1}, Case{(1 << 20) - 10, 20}, Case{size / 2, 300000},
                 Case{size - 1, 1}, Case{size - 100, 100}}) {
    std::string out(c.length, '\0');
    auto n = read_full_at(source, c.offset, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    ASSERT_TRUE(n) << n.error().to_string();
    ASSERT_EQ(*n, c.length) << "offset " << c.offset;
    EXPECT_TRUE(out == body.substr(c.offset, c.length)) << "offset " << c.offset;
  }
  // At and past the end: fewer bytes, then none.
  std::string out(100, '\0');
  auto tail = read_full_at(source, size - 40, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
  ASSERT_TRUE(tail);
  EXPECT_EQ(*tail, 40u);
  EXPECT_EQ(out.substr(0, 40), body.substr(size - 40));
  auto past = source.read_at(size, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
  ASSERT_TRUE(past);
  EXPECT_EQ(*past, 0u);
  auto far = source.read_at(size * 3, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
  ASSERT_TRUE(far);
  EXPECT_EQ(*far, 0u);
}

TEST_P(ObjectStoreConformance, HeadDescribesWhatPutStored) {
  std::map<std::string, std::string> metadata{{"content-type", "image/jpeg"}, {"x-owner", "ops"}};
  auto info = put("photos/a.jpg", "jpeg bytes", "envelope", metadata);
  ASSERT_TRUE(info);
  auto head = store_->head("photos/a.jpg");
  ASSERT_TRUE(head) << head.error().to_string();
  EXPECT_EQ(head->key, "photos/a.jpg");
  EXPECT_EQ(head->body_size, 10u);
  EXPECT_EQ(head->generation, info->generation);
  EXPECT_EQ(head->modified_unix_ns, info->modified_unix_ns);
  EXPECT_EQ(head->header, bytes_of("envelope"));
  EXPECT_EQ(head->metadata, metadata);
}

TEST_P(ObjectStoreConformance, MetadataAndHeaderArePreservedExactly) {
  std::map<std::string, std::string> metadata{
      {"empty", ""},
      {"utf8-名前", "värde ✓ 😀"},
      {"binary", std::string("\x00\x01\xff\xfe", 4)},
      {"large", pattern_string(5, 64 << 10)},
      {"", "an empty name"},
  };
  std::string header = pattern_string(6, 100000);
  ASSERT_TRUE(put("meta", "body", header, metadata));
  auto head = store_->head("meta");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->metadata, metadata);
  EXPECT_EQ(head->header, bytes_of(header));
  auto object = store_->open("meta");
  ASSERT_TRUE(object);
  EXPECT_EQ((*object)->info().metadata, metadata);
  auto listed = store_->list({"meta", "", "", 10});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].metadata, metadata);
  EXPECT_EQ(listed->objects[0].header, bytes_of(header));
  EXPECT_EQ(listed->objects[0].body_size, 4u);

  // No metadata at all, and an empty header, are values too.
  ASSERT_TRUE(put("bare", "body", "", {}));
  auto bare = store_->head("bare");
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->metadata.empty());
  EXPECT_TRUE(bare->header.empty());
}

// ---- replace and conditions -------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, PutReplacesTheWholeObject) {
  auto first = put("doc", pattern_string(1, 200000), "h1", {{"v", "1"}});
  ASSERT_TRUE(first);
  auto second = put("doc", "short", "h2", {{"w", "2"}});
  ASSERT_TRUE(second);
  EXPECT_NE(first->generation, second->generation);
  EXPECT_EQ(read("doc"), "short");
  auto head = store_->head("doc");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->body_size, 5u);
  EXPECT_EQ(head->header, bytes_of("h2"));
  EXPECT_EQ(head->metadata, (std::map<std::string, std::string>{{"w", "2"}}));
  auto listed = store_->list({"", "", "", 1000});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->objects.size(), 1u);
}

TEST_P(ObjectStoreConformance, IfGenerationMatchIsCompareAndSwap) {
  // "" means only if absent.
  auto created = put("cas", "one", "h", {}, "");
  ASSERT_TRUE(created) << created.error().to_string();
  auto again = put("cas", "two", "h", {}, "");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(read("cas"), "one");

  // The current generation replaces; a stale one is refused and changes nothing.
  auto replaced = put("cas", "three", "h", {}, created->generation);
  ASSERT_TRUE(replaced) << replaced.error().to_string();
  auto stale = put("cas", "four", "h", {}, created->generation);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(read("cas"), "three");
  EXPECT_EQ(store_->head("cas")->generation, replaced->generation);

  // A generation on an absent key never matches.
  auto absent = put("cas-absent", "x", "h", {}, replaced->generation);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->head("cas-absent").error().code(), ErrorCode::kNotFound);
}

TEST_P(ObjectStoreConformance, FinalizeHeaderRunsAfterTheBodyAndItsErrorAbortsThePut) {
  std::string body = pattern_string(3, 2 << 20);
  StringSource source(body);
  PutOptions options;
  options.header = bytes_of("provisional");
  bool called = false;
  options.finalize_header = [&]() -> Result<Bytes> {
    called = true;
    EXPECT_TRUE(source.at_end()) << "finalize_header ran before the body was read to its end";
    return bytes_of("final");
  };
  auto info = store_->put("finalized", source, options);
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_TRUE(called);
  EXPECT_EQ(info->header, bytes_of("final"));
  EXPECT_EQ(store_->head("finalized")->header, bytes_of("final"));

  StringSource second(std::string("replacement"));
  options.finalize_header = []() -> Result<Bytes> { return make_error(ErrorCode::kInternal, "sealing failed"); };
  auto failed = store_->put("finalized", second, options);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kInternal);
  EXPECT_TRUE(read("finalized") == body);
  EXPECT_EQ(store_->head("finalized")->header, bytes_of("final"));
}

TEST_P(ObjectStoreConformance, FinalizeMetadataReplacesTheMetadataAndIsListed) {
  std::string body = pattern_string(5, 100000);
  StringSource source(body);
  PutOptions options;
  options.metadata = {{"etag", "provisional"}};
  options.finalize_metadata = [&]() -> Result<std::map<std::string, std::string>> {
    EXPECT_TRUE(source.at_end()) << "finalize_metadata ran before the body was read to its end";
    return std::map<std::string, std::string>{{"etag", "final"}};
  };
  auto info = store_->put("meta-finalized", source, options);
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->metadata.at("etag"), "final");
  EXPECT_EQ(store_->head("meta-finalized")->metadata.at("etag"), "final");
  ListRequest request;
  request.prefix = "meta-finalized";
  auto listed = store_->list(request);
  ASSERT_TRUE(listed) << listed.error().to_string();
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].metadata.at("etag"), "final");

  StringSource second(std::string("replacement"));
  options.finalize_metadata = []() -> Result<std::map<std::string, std::string>> {
    return make_error(ErrorCode::kInternal, "no listing key");
  };
  ASSERT_FALSE(store_->put("meta-finalized", second, options));
  EXPECT_TRUE(read("meta-finalized") == body);
}

TEST_P(ObjectStoreConformance, AFailingBodyLeavesTheOldObject) {
  ASSERT_TRUE(put("k", "old content"));
  StringSource failing(pattern_string(4, 3 << 20), (3 << 20) / 2);
  auto result = store_->put("k", failing, {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(read("k"), "old content");
  StringSource failing_new(pattern_string(4, 100), 50);
  ASSERT_FALSE(store_->put("never", failing_new, {}));
  EXPECT_EQ(store_->head("never").error().code(), ErrorCode::kNotFound);
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].key, "k");
}

TEST_P(ObjectStoreConformance, ReplaceHeaderKeepsTheBodyByteForByte) {
  std::string body = pattern_string(8, 1 << 20);
  auto info = put("rewrap", body, "old envelope", {{"a", "1"}});
  ASSERT_TRUE(info);
  auto open_before = store_->open("rewrap");
  ASSERT_TRUE(open_before);

  auto replaced = store_->replace_header("rewrap", info->generation, bytes_of("new envelope"), {{"b", "2"}});
  ASSERT_TRUE(replaced) << replaced.error().to_string();
  EXPECT_NE(replaced->generation, info->generation);
  EXPECT_EQ(replaced->header, bytes_of("new envelope"));
  EXPECT_EQ(replaced->body_size, body.size());
  auto head = store_->head("rewrap");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->generation, replaced->generation);
  EXPECT_EQ(head->header, bytes_of("new envelope"));
  EXPECT_EQ(head->metadata, (std::map<std::string, std::string>{{"b", "2"}}));
  EXPECT_EQ(head->body_size, body.size());
  EXPECT_TRUE(read("rewrap") == body);
  EXPECT_TRUE(read_body(**open_before) == body);

  // The old generation no longer matches; nothing changes.
  auto stale = store_->replace_header("rewrap", info->generation, bytes_of("stale"), {});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->head("rewrap")->header, bytes_of("new envelope"));

  auto absent = store_->replace_header("absent", replaced->generation, bytes_of("x"), {});
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), ErrorCode::kNotFound);
}

// ---- copy and remove --------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, CopyMakesAnIndependentObjectWithTheSameBody) {
  std::string body = pattern_string(10, 3 << 20);
  auto source = put("src", body, "source envelope", {{"s", "1"}});
  ASSERT_TRUE(source);
  PutOptions options;
  options.header = bytes_of("destination envelope");
  options.metadata = {{"d", "2"}};
  auto copied = store_->copy("src", "dst", options);
  ASSERT_TRUE(copied) << copied.error().to_string();
  EXPECT_EQ(copied->key, "dst");
  EXPECT_EQ(copied->body_size, body.size());
  EXPECT_NE(copied->generation, source->generation);
  auto dst = store_->head("dst");
  ASSERT_TRUE(dst);
  EXPECT_EQ(dst->header, bytes_of("destination envelope"));
  EXPECT_EQ(dst->metadata, options.metadata);
  EXPECT_TRUE(read("dst") == body);
  // The source is untouched.
  auto src = store_->head("src");
  ASSERT_TRUE(src);
  EXPECT_EQ(src->generation, source->generation);
  EXPECT_EQ(src->header, bytes_of("source envelope"));

  // Replacing or removing either one leaves the other.
  ASSERT_TRUE(put("src", "new source"));
  EXPECT_TRUE(read("dst") == body);
  ASSERT_TRUE(store_->remove("dst"));
  EXPECT_EQ(read("src"), "new source");
}

TEST_P(ObjectStoreConformance, CopyOntoItselfAndOverAnExistingDestination) {
  std::string body = pattern_string(11, 70000);
  auto first = put("self", body, "v1");
  ASSERT_TRUE(first);
  PutOptions options;
  options.header = bytes_of("v2");
  auto onto_itself = store_->copy("self", "self", options);
  ASSERT_TRUE(onto_itself) << onto_itself.error().to_string();
  EXPECT_NE(onto_itself->generation, first->generation);
  EXPECT_EQ(store_->head("self")->header, bytes_of("v2"));
  EXPECT_TRUE(read("self") == body);

  ASSERT_TRUE(put("other", "other body"));
  auto over = store_->copy("self", "other", options);
  ASSERT_TRUE(over);
  EXPECT_TRUE(read("other") == body);

  PutOptions only_if_absent;
  only_if_absent.if_generation_match = "";
  auto refused = store_->copy("self", "other", only_if_absent);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  PutOptions matching;
  matching.if_generation_match = over->generation;
  matching.header = bytes_of("v3");
  ASSERT_TRUE(store_->copy("self", "other", matching));
  EXPECT_EQ(store_->head("other")->header, bytes_of("v3"));
}

TEST_P(ObjectStoreConformance, RemoveDeletesAndThenReportsNotFound) {
  ASSERT_TRUE(put("gone", "bytes"));
  ASSERT_TRUE(put("kept", "bytes"));
  ASSERT_TRUE(store_->remove("gone"));
  EXPECT_EQ(store_->head("gone").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->open("gone").error().code(), ErrorCode::kNotFound);
  auto again = store_->remove("gone");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].key, "kept");
  // The key can be used again.
  ASSERT_TRUE(put("gone", "back"));
  EXPECT_EQ(read("gone"), "back");
}

TEST_P(ObjectStoreConformance, AbsentKeysAreNotFoundEverywhere) {
  EXPECT_EQ(store_->open("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->head("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->remove("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->replace_header("nope", "0", {}, {}).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->copy("nope", "dest", {}).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->head("dest").error().code(), ErrorCode::kNotFound);
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->objects.empty());
  EXPECT_FALSE(listed->truncated);
}

TEST_P(ObjectStoreConformance, AnOpenObjectKeepsReadingItsBytesAfterReplaceAndRemove) {
  std::string old_body = pattern_string(12, 2 << 20);
  ASSERT_TRUE(put("live", old_body, "old"));
  auto open_old = store_->open("live");
  ASSERT_TRUE(open_old);
  ASSERT_TRUE(put("live", "new body", "new"));
  EXPECT_EQ(read("live"), "new body");
  EXPECT_TRUE(read_body(**open_old) == old_body);
  EXPECT_EQ((*open_old)->info().header, bytes_of("old"));

  auto open_new = store_->open("live");
  ASSERT_TRUE(open_new);
  ASSERT_TRUE(store_->remove("live"));
  EXPECT_EQ(read_body(**open_new), "new body");
  EXPECT_TRUE(read_body(**open_old) == old_body);
}

// ---- threads ----------------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, ConcurrentWritersAndReadersSeeWholeObjects) {
  // Each body is pattern (seed) of a size, both named in the header: a reader checks it got exactly one version.
  constexpr int kWriters = 3, kReaders = 3, kRounds = 25, kKeys = 3;
  std::atomic<bool> failed{false};
  std::atomic<int> reads{0};
  auto writer = [&](int id) {
    std::mt19937 rng(id);
    for (int round = 0; round < kRounds && !failed; ++round) {
      std::uint64_t seed = static_cast<std::uint64_t>(id) * 1000 + round;
      std::size_t size = rng() % (300 << 10);
      std::string key = fmt::format("c{}", rng() % kKeys);
      PatternSource source(seed, size);
      PutOptions options;
      std::string header = fmt::format("{} {}", seed, size);
      options.header = Bytes(header.begin(), header.end());
      if (!store_->put(key, source, options)) failed = true;
    }
  };
  std::atomic<int> writers_done{0};
  auto reader = [&](int id) {
    std::mt19937 rng(100 + id);
    while (writers_done < kWriters && !failed) {
      auto object = store_->open(fmt::format("c{}", rng() % kKeys));
      if (!object) {
        if (object.error().code() != ErrorCode::kNotFound) failed = true;
        continue;
      }
      std::string header(as_string_view((*object)->info().header));
      std::uint64_t seed = 0;
      std::size_t size = 0;
      if (std::sscanf(header.c_str(), "%lu %zu", &seed, &size) != 2 || (*object)->body().size() != size ||
          read_body(**object) != pattern_string(seed, size)) {
        ADD_FAILURE() << "a reader saw a body that does not match its header " << header;
        failed = true;
      }
      ++reads;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) threads.emplace_back([&, i] { writer(i); ++writers_done; });
  for (int i = 0; i < kReaders; ++i) threads.emplace_back(reader, i);
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed);
  EXPECT_GT(reads, 0);
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->objects.size(), static_cast<std::size_t>(kKeys));
}

TEST_P(ObjectStoreConformance, ConcurrentCompareAndSwapLosesNoUpdate) {
  // Several threads increment a counter object with if_generation_match; every successful swap counts once.
  if (!under_test_->atomic_object_replacement())
    GTEST_SKIP() << "this upstream can pair one write's body with another's ETag (s3rver): CAS cannot be exact";
  constexpr int kThreads = 4, kIncrements = 15;
  ASSERT_TRUE(put("counter", "0", "h", {}, ""));
  std::atomic<int> conflicts{0};
  // A body read that fails after its open (an upstream under load; seen on Ceph RGW under ASan) is not a lost
  // update: it is counted, reported below, and the increment starts over from a fresh open.
  std::atomic<int> unreadable{0};
  std::mutex unreadable_mu;
  std::string unreadable_example;
  auto increment = [&] {
    for (int done = 0; done < kIncrements;) {
      auto object = store_->open("counter");
      ASSERT_TRUE(object) << object.error().to_string();
      std::string body = read_body(**object);
      int value = 0;
      auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), value);
      if (ec != std::errc() || end != body.data() + body.size()) {
        std::lock_guard lock(unreadable_mu);
        unreadable_example = body.substr(0, 300);
        ASSERT_LT(++unreadable, kThreads * kIncrements) << "the counter keeps failing to read: " << unreadable_example;
        continue;
      }
      auto result = put("counter", std::to_string(value + 1), "h", {}, (*object)->info().generation);
      if (result) {
        ++done;
      } else {
        ASSERT_EQ(result.error().code(), ErrorCode::kFailedPrecondition) << result.error().to_string();
        ++conflicts;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(increment);
  for (auto& t : threads) t.join();
  EXPECT_EQ(read("counter"), std::to_string(kThreads * kIncrements));
  if (unreadable > 0)
    std::printf("[   note   ] %d counter reads failed after their open and were retried, e.g. %s\n", unreadable.load(),
                unreadable_example.c_str());
}

}  // namespace

}  // namespace blobseal::store::testing
