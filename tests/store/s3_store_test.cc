// Tests of the upstream S3 store beyond the conformance suite, on the real upstream named by the environment:
// what lands upstream (the bytes given, nothing else), multipart bodies, answers the store must not trust, records
// that are missing, altered or moved (fail closed), foreign objects, long keys, orphans, conditional writes.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "core/bytes.h"
#include "list_model.h"
#include "s3_upstream.h"
#include "store/registry.h"
#include "store/s3/key_names.h"
#include "store/s3/object_record.h"
#include "test_sources.h"

namespace blobseal::store::testing {
namespace {

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto environment = upstream_environment();
    if (!environment) GTEST_SKIP() << "no upstream (BLOBSEAL_UPSTREAM_ENDPOINT): run through tests/upstream/with_upstream.sh";
    environment_ = *environment;
    under_test_ = std::make_unique<S3StoreUnderTest>(environment_);
    raw_ = std::make_unique<RawBucket>(environment_);
    auto store = S3Store::open_bucket(upstream_options(environment_, under_test_->prefix()));
    ASSERT_TRUE(store) << store.error().to_string();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    under_test_.reset();
  }

  Result<ObjectInfo> put(std::string_view key, const std::string& body, const std::string& header = "h") {
    StringSource source(body);
    PutOptions options;
    options.header = Bytes(header.begin(), header.end());
    return store_->put(key, source, options);
  }
  std::string read(std::string_view key) {
    auto object = store_->open(key);
    if (!object) return "<" + object.error().to_string() + ">";
    return read_body(**object);
  }
  const std::string& prefix() const { return under_test_->prefix(); }
  std::string record_name(std::string_view key) const { return prefix() + "k/" + s3::key_name(key); }
  std::vector<s3::ListedName> bodies() { return raw_->list_all(prefix() + "b/"); }
  void expect_no_upload_left() {
    auto uploads = raw_->bucket().list_uploads(prefix());
    if (!uploads && uploads.error().code() == ErrorCode::kUnimplemented) return;  // s3rver cannot list them
    ASSERT_TRUE(uploads) << uploads.error().to_string();
    EXPECT_TRUE(uploads->empty()) << "a multipart upload was left behind";
  }

  UpstreamEnvironment environment_;
  std::unique_ptr<S3StoreUnderTest> under_test_;
  std::unique_ptr<RawBucket> raw_;
  std::unique_ptr<S3Store> store_;
};

TEST_F(S3StoreTest, TheUpstreamHoldsExactlyTheBytesGivenAndNothingElse) {
  // The store writes what it is given: the body object is the body, byte for byte; the record holds the header
  // and metadata as given. (That what it is given is ciphertext is the engine's part, tested through the server.)
  std::string body = pattern_string(21, 300000);
  PutOptions options;
  options.header = bytes_of("the envelope");
  options.metadata = {{"m", "v"}};
  StringSource source(body);
  ASSERT_TRUE(store_->put("doc", source, options));
  auto listed = raw_->list_all(prefix());
  std::set<std::string> names;
  for (const auto& entry : listed) names.insert(entry.name);
  ASSERT_EQ(names.size(), 2u) << "one record and one body";
  EXPECT_TRUE(names.contains(record_name("doc")));
  auto body_objects = bodies();
  ASSERT_EQ(body_objects.size(), 1u);
  auto raw_body = raw_->bucket().get(body_objects[0].name, 1 << 20);
  ASSERT_TRUE(raw_body);
  EXPECT_TRUE(as_string_view(raw_body->second) == body);
  auto raw_record = raw_->bucket().get(record_name("doc"), 1 << 20);
  ASSERT_TRUE(raw_record);
  auto record = s3::decode_record(raw_record->second);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->header, bytes_of("the envelope"));
  EXPECT_EQ(record->metadata, options.metadata);
  EXPECT_EQ(record->body_size, body.size());
  EXPECT_EQ(prefix() + "b/" + record->body_id, body_objects[0].name);
}

TEST_F(S3StoreTest, LargeBodiesGoUpAsMultipartUploadsAndReadBackByRanges) {
  // 12 MiB with 5 MiB parts: three parts, the last shorter.
  const std::size_t size = (12u << 20) + 12345;
  PatternSource source(31, size);
  auto info = store_->put("big", source, {});
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->body_size, size);
  auto body_objects = bodies();
  ASSERT_EQ(body_objects.size(), 1u);
  EXPECT_EQ(body_objects[0].size, size);
  auto object = store_->open("big");
  ASSERT_TRUE(object);
  std::string whole = read_body(**object);
  EXPECT_TRUE(whole == pattern_string(31, size));
  // Reads that cross part boundaries, and the first byte alone (s3rver misreads "bytes=0-0").
  for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{(5u << 20) - 3}, std::uint64_t{size - 1}}) {
    std::uint8_t byte[7];
    std::size_t want = offset == 0 ? 1 : std::min<std::size_t>(7, size - offset);
    auto n = read_full_at((*object)->body(), offset, std::span(byte, want));
    ASSERT_TRUE(n);
    ASSERT_EQ(*n, want);
    for (std::size_t i = 0; i < want; ++i) EXPECT_EQ(byte[i], pattern_byte(31, offset + i));
  }
  expect_no_upload_left();
}

// Pattern bytes, recording the largest read asked of it: how much of the body the store held at once.
class MeasuredSource final : public ByteSource {
 public:
  MeasuredSource(std::uint64_t seed, std::uint64_t size) : inner_(seed, size) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    largest_ = std::max(largest_, out.size());
    return inner_.read(out);
  }
  std::size_t largest_read() const { return largest_; }

 private:
  PatternSource inner_;
  std::size_t largest_ = 0;
};

TEST_F(S3StoreTest, ABodyOfKnownSizeStreamsUpstreamWithoutBeingHeld) {
  for (std::uint64_t size : {std::uint64_t{3u << 20}, std::uint64_t{(16u << 20) + 5}}) {
    SCOPED_TRACE(size);
    MeasuredSource source(41, size);
    PutOptions options;
    options.body_size = size;
    auto info = store_->put("sized", source, options);
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(info->body_size, size);
    EXPECT_LE(source.largest_read(), 1u << 20) << "the store read the body in large pieces: it held them";
    auto object = store_->open("sized");
    ASSERT_TRUE(object);
    EXPECT_TRUE(read_body(**object) == pattern_string(41, size));
  }
  // The same without the size: one part (5 MiB here) is held at a time.
  MeasuredSource unsized(42, 12u << 20);
  ASSERT_TRUE(store_->put("unsized", unsized, {}));
  EXPECT_GE(unsized.largest_read(), 5u << 20);
  expect_no_upload_left();
}

TEST_F(S3StoreTest, ABodyOfAnotherSizeThanAnnouncedIsRefused) {
  ASSERT_TRUE(put("k", "the old body"));
  for (auto [actual, announced] : {std::pair<std::uint64_t, std::uint64_t>{3u << 20, (3u << 20) + 1},
                                   std::pair<std::uint64_t, std::uint64_t>{(3u << 20) + 1, 3u << 20},
                                   std::pair<std::uint64_t, std::uint64_t>{(12u << 20) - 1, 12u << 20},
                                   std::pair<std::uint64_t, std::uint64_t>{(12u << 20) + 1, 12u << 20},
                                   std::pair<std::uint64_t, std::uint64_t>{100, 101}}) {
    SCOPED_TRACE(fmt::format("{} bytes announced as {}", actual, announced));
    PatternSource source(43, actual);
    PutOptions options;
    options.body_size = announced;
    auto result = store_->put("k", source, options);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(read("k"), "the old body");
  }
  EXPECT_EQ(bodies().size(), 1u) << "the refused bodies were deleted";
  expect_no_upload_left();
}

TEST_F(S3StoreTest, ComposeAssemblesBodiesServerSide) {
  // Multipart parts as the engine stores them: every one but the last at least 5 MiB.
  std::vector<std::string> contents = {pattern_string(51, (5u << 20) + 1), pattern_string(52, 6u << 20),
                                       pattern_string(53, 100)};
  std::vector<ComposeSource> sources;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    auto info = put(fmt::format("part/{}", i), contents[i]);
    ASSERT_TRUE(info);
    sources.push_back({info->key, info->generation});
  }
  PutOptions options;
  options.header = bytes_of("manifest envelope");
  bool finalized = false;
  options.finalize_header = [&]() -> Result<Bytes> {
    finalized = true;
    return bytes_of("final envelope");
  };
  auto composed = store_->compose("whole", sources, options);
  ASSERT_TRUE(composed) << composed.error().to_string();
  EXPECT_TRUE(finalized);
  EXPECT_EQ(composed->body_size, contents[0].size() + contents[1].size() + contents[2].size());
  EXPECT_TRUE(read("whole") == contents[0] + contents[1] + contents[2]);
  if (environment_.kind == "rgw") {
    // Assembled upstream, as a three-part multipart object: the ETag says so.
    auto record = s3::decode_record(raw_->bucket().get(record_name("whole"), 1 << 20).value().second);
    ASSERT_TRUE(record);
    EXPECT_TRUE(record->body_etag.ends_with("-3")) << record->body_etag;
  }
  EXPECT_EQ(store_->head("whole")->header, bytes_of("final envelope"));
  for (std::size_t i = 0; i < contents.size(); ++i) EXPECT_TRUE(read(fmt::format("part/{}", i)) == contents[i]);
  expect_no_upload_left();

  // A source that changed since its generation was taken is refused, and nothing is written.
  ASSERT_TRUE(put("part/1", pattern_string(54, 6u << 20)));
  auto stale = store_->compose("stale", sources, {});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->head("stale").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->compose("absent", {{"no-such-part", ""}}, {}).error().code(), ErrorCode::kNotFound);

  // Bodies too small to be upstream parts are streamed instead (the default composition), with the same result.
  ASSERT_TRUE(put("small/0", "abc"));
  ASSERT_TRUE(put("small/1", ""));
  ASSERT_TRUE(put("small/2", "def"));
  auto small = store_->compose("small", {{"small/0", ""}, {"small/1", ""}, {"small/2", ""}}, {});
  ASSERT_TRUE(small) << small.error().to_string();
  EXPECT_EQ(read("small"), "abcdef");
}

TEST_F(S3StoreTest, AFailingBodyLeavesNoUploadAndNoBody) {
  StringSource failing(pattern_string(4, 12u << 20), 11u << 20);
  auto result = store_->put("never", failing, {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(bodies().empty());
  expect_no_upload_left();
}

TEST_F(S3StoreTest, ReplacedAndRemovedBodiesAreDeletedOnceNoReaderIsLeft) {
  ASSERT_TRUE(put("k", "first body"));
  {
    auto open = store_->open("k");
    ASSERT_TRUE(open);
    ASSERT_TRUE(put("k", "second body"));
    EXPECT_EQ(bodies().size(), 2u) << "the first body is still being read";
    EXPECT_EQ(read_body(**open), "first body");
  }
  EXPECT_EQ(bodies().size(), 1u) << "the first body went with its last reader";
  ASSERT_TRUE(store_->remove("k"));
  EXPECT_TRUE(bodies().empty());
  EXPECT_TRUE(raw_->list_all(prefix() + "k/").empty());
}

TEST_F(S3StoreTest, AMissingOrAlteredRecordFailsClosed) {
  ASSERT_TRUE(put("victim", "secret body", "envelope"));
  ASSERT_TRUE(put("other", "other body", "other envelope"));
  // Altered: one byte of the record flipped.
  auto raw = raw_->bucket().get(record_name("victim"), 1 << 20);
  ASSERT_TRUE(raw);
  Bytes altered = raw->second;
  altered[altered.size() / 2] ^= 0x20;
  ASSERT_TRUE(raw_->bucket().put(record_name("victim"), altered));
  EXPECT_EQ(store_->head("victim").error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(store_->open("victim").error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(store_->list({}).error().code(), ErrorCode::kDataLoss);
  // Moved: another key's (valid) record put under this name is refused, never served as this key.
  auto other = raw_->bucket().get(record_name("other"), 1 << 20);
  ASSERT_TRUE(other);
  ASSERT_TRUE(raw_->bucket().put(record_name("victim"), other->second));
  EXPECT_EQ(store_->head("victim").error().code(), ErrorCode::kDataLoss);
  // Missing body: the record stays, its body goes.
  auto record = s3::decode_record(other->second);
  ASSERT_TRUE(record);
  ASSERT_TRUE(raw_->bucket().remove(prefix() + "b/" + record->body_id));
  auto object = store_->open("other");
  ASSERT_TRUE(object);
  std::uint8_t byte[4];
  auto n = (*object)->body().read_at(0, byte);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ErrorCode::kDataLoss);
  // Missing record: the object is simply absent.
  ASSERT_TRUE(raw_->bucket().remove(record_name("other")));
  EXPECT_EQ(store_->head("other").error().code(), ErrorCode::kNotFound);
}

TEST_F(S3StoreTest, ABodyReplacedUnderAnOpenObjectIsNeverMixedIn) {
  ASSERT_TRUE(put("pinned", pattern_string(5, 100000)));
  auto object = store_->open("pinned");
  ASSERT_TRUE(object);
  // Someone rewrites the body object in place (bodies are immutable for the store: this is tampering).
  auto listed = bodies();
  ASSERT_EQ(listed.size(), 1u);
  ASSERT_TRUE(raw_->bucket().put(listed[0].name, as_bytes(pattern_string(6, 100000))));
  std::uint8_t buffer[100];
  auto n = (*object)->body().read_at(500, buffer);
  if (environment_.kind == "s3rver") {
    GTEST_SKIP() << "s3rver ignores If-Match on GET: nothing pins the read";
  }
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ErrorCode::kDataLoss);
}

TEST_F(S3StoreTest, ForeignObjectsUnderThePrefixAreNotListed) {
  ASSERT_TRUE(put("a", "x"));
  ASSERT_TRUE(raw_->bucket().put(prefix() + "k/NOT-A-NAME", as_bytes("junk")));
  ASSERT_TRUE(raw_->bucket().put(prefix() + "k/0", as_bytes("junk")));
  ASSERT_TRUE(raw_->bucket().put(prefix() + "elsewhere", as_bytes("junk")));
  auto listed = store_->list({});
  ASSERT_TRUE(listed) << listed.error().to_string();
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].key, "a");
}

TEST_F(S3StoreTest, LongKeysSharingALongPrefixListInKeyOrder) {
  // Keys over 450 bytes are named by a hash after their first 450 bytes: the lister sorts those groups.
  std::set<std::string> keys;
  std::string base(470, 'p');
  for (const char* tail : {"", "a", "b", "ab", "/x", "/y", "zz", "\xc3\xa9"}) keys.insert(base + tail);
  keys.insert(std::string(470, 'o'));
  keys.insert(std::string(470, 'q'));
  keys.insert(base.substr(0, 449));
  keys.insert(base.substr(0, 450));
  keys.insert(base.substr(0, 451));
  for (const auto& key : keys) ASSERT_TRUE(put(key, key.substr(440)));
  for (const auto& key : keys) EXPECT_EQ(read(key), key.substr(440));
  for (std::size_t max_keys : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{1000}}) {
    for (const char* delimiter : {"", "/"}) {
      for (const std::string& start_after : {std::string(), base, base + "a", base.substr(0, 450)}) {
        ListRequest request{std::string(440, 'p'), delimiter, start_after, max_keys};
        ModelPage expected_all = model_list(keys, ListRequest{request.prefix, delimiter, start_after, 1000});
        ModelPage collected;
        for (int page = 0; page < 100; ++page) {
          auto result = store_->list(request);
          ASSERT_TRUE(result) << result.error().to_string();
          ModelPage actual = to_model_page(*result);
          ASSERT_EQ(actual, model_list(keys, request)) << describe(request);
          collected.keys.insert(collected.keys.end(), actual.keys.begin(), actual.keys.end());
          collected.common_prefixes.insert(collected.common_prefixes.end(), actual.common_prefixes.begin(),
                                           actual.common_prefixes.end());
          if (!actual.truncated) break;
          request.start_after = actual.next_start_after;
        }
        EXPECT_EQ(collected.keys, expected_all.keys);
        EXPECT_EQ(collected.common_prefixes, expected_all.common_prefixes);
      }
    }
  }
}

TEST_F(S3StoreTest, OrphanBodiesAreRemovedAndLiveOnesKept) {
  ASSERT_TRUE(put("live", "live body"));
  // An interrupted put: a body whose record never came.
  std::string orphan = prefix() + "b/" + std::string(32, 'a');
  ASSERT_TRUE(raw_->bucket().put(orphan, as_bytes("orphan"), {{"x-amz-meta-blobseal-record", record_name("never")}}));
  auto young = store_->remove_orphans(std::chrono::hours(1));
  ASSERT_TRUE(young);
  EXPECT_EQ(*young, 0u) << "too young to judge";
  auto removed = store_->remove_orphans(std::chrono::seconds(0));
  ASSERT_TRUE(removed) << removed.error().to_string();
  EXPECT_EQ(*removed, 1u);
  EXPECT_EQ(bodies().size(), 1u);
  EXPECT_EQ(read("live"), "live body");
}

TEST_F(S3StoreTest, ReadinessAsksTheUpstream) {
  EXPECT_TRUE(store_->check_upstream());
  EXPECT_TRUE(store_->upstream_up());
  auto options = upstream_options(environment_, prefix());
  options.conditional_writes = S3StoreOptions::ConditionalWrites::kOff;
  auto store = S3Store::open_bucket(std::move(options));
  ASSERT_TRUE(store);
  // A bucket that does not exist is not ready either.
  auto missing = upstream_options(environment_, prefix());
  missing.bucket = "blobseal-no-such-bucket";
  auto refused = S3Store::open_bucket(std::move(missing));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason(), "NoSuchBucket");
}

TEST_F(S3StoreTest, TwoNodesCompareAndSwapThroughTheUpstream) {
  // Two store instances share nothing in process (as two blobseal nodes): only the upstream's conditional PUT keeps
  // their increments from overwriting each other, and only the replaced-body grace period keeps a node's read of a
  // body the other node has just replaced from failing (leases are per process).
  if (!store_->conditional_writes()) GTEST_SKIP() << "this upstream ignores conditional writes: racy between nodes";
  auto graced_node = [&] {
    S3StoreOptions options = upstream_options(environment_, prefix());
    options.replaced_body_grace = std::chrono::seconds(120);
    return S3Store::open_bucket(std::move(options));
  };
  auto node_a = graced_node();
  auto node_b = graced_node();
  ASSERT_TRUE(node_a && node_b);
  std::vector<S3Store*> nodes{node_a->get(), node_b->get()};
  ASSERT_TRUE(put("counter", "0"));
  constexpr int kThreadsPerNode = 2, kIncrements = 10;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (S3Store* node : nodes) {
    for (int t = 0; t < kThreadsPerNode; ++t) {
      threads.emplace_back([&, node] {
        for (int done = 0; done < kIncrements;) {
          auto object = node->open("counter");
          ASSERT_TRUE(object) << object.error().to_string();
          std::string text = read_body(**object);
          int value = 0;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
          ASSERT_TRUE(ec == std::errc() && end == text.data() + text.size())
              << "a read lost its body to the other node's swap: " << text.substr(0, 300);
          StringSource body(std::to_string(value + 1));
          PutOptions put_options;
          put_options.if_generation_match = (*object)->info().generation;
          auto result = node->put("counter", body, put_options);
          if (result) {
            ++done;
          } else {
            ASSERT_EQ(result.error().code(), ErrorCode::kFailedPrecondition) << result.error().to_string();
            ++conflicts;
          }
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(read("counter"), std::to_string(2 * kThreadsPerNode * kIncrements));
  EXPECT_GT(conflicts.load(), 0) << "the nodes never raced: the test proved nothing";
  // Every replaced body waits out its grace: none is due yet.
  EXPECT_EQ((*node_a)->pending_body_deletions() + (*node_b)->pending_body_deletions(),
            static_cast<std::size_t>(2 * kThreadsPerNode * kIncrements));
}

TEST_F(S3StoreTest, AReplacedBodyOutlivesItsRecordForTheGracePeriodThenGoes) {
  S3StoreOptions options = upstream_options(environment_, prefix());
  options.replaced_body_grace = std::chrono::seconds(2);
  auto store = S3Store::open_bucket(std::move(options));
  ASSERT_TRUE(store);
  S3Store& node = **store;
  auto put_on = [&](std::string_view key, const std::string& text) {
    StringSource body(text);
    PutOptions put_options;
    put_options.header = Bytes{'h'};
    return node.put(key, body, put_options);
  };
  ASSERT_TRUE(put_on("k", "first body"));
  // Another node opened the object before the swap (leases are per process: this one knows nothing of it).
  auto reader = store_->open("k");
  ASSERT_TRUE(reader);
  ASSERT_TRUE(put_on("k", "second body"));
  EXPECT_EQ(bodies().size(), 2u) << "the replaced body went before its grace period was over";
  EXPECT_EQ(node.pending_body_deletions(), 1u);
  EXPECT_EQ(read_body(**reader), "first body") << "the other node's read failed";
  reader->reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  ASSERT_TRUE(put_on("other", "x"));  // a later write deletes what is due
  EXPECT_EQ(node.pending_body_deletions(), 0u);
  EXPECT_EQ(bodies().size(), 2u) << "expected the current bodies of k and other only";
  EXPECT_EQ(read("k"), "second body");
}

TEST_F(S3StoreTest, ConditionalWritesAreDetected) {
  if (environment_.kind == "rgw") {
    EXPECT_TRUE(store_->conditional_writes()) << "Ceph RGW honours If-Match on PUT";
  }
  if (environment_.kind == "s3rver") {
    EXPECT_FALSE(store_->conditional_writes()) << "s3rver ignores If-Match on PUT";
  }
  EXPECT_TRUE(raw_->list_all(prefix() + "probe/").empty()) << "the probe cleans up after itself";
}

TEST_F(S3StoreTest, HttpsIsVerifiedAgainstTheConfiguredCa) {
  if (environment_.tls_endpoint.empty()) GTEST_SKIP() << "this upstream offers no HTTPS endpoint";
  auto options = upstream_options(environment_, prefix());
  options.endpoint = environment_.tls_endpoint;
  options.ca_file = environment_.ca_file;
  auto store = S3Store::open_bucket(std::move(options));
  ASSERT_TRUE(store) << store.error().to_string();
  StringSource body(pattern_string(61, 3u << 20));
  ASSERT_TRUE((*store)->put("over-tls", body, {}));
  auto object = (*store)->open("over-tls");
  ASSERT_TRUE(object);
  EXPECT_TRUE(read_body(**object) == pattern_string(61, 3u << 20));

  // The system's CAs do not know the test CA: refused, and not retried as if the network had failed.
  auto untrusted = upstream_options(environment_, prefix());
  untrusted.endpoint = environment_.tls_endpoint;
  auto refused = S3Store::open_bucket(std::move(untrusted));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(refused.error().reason(), "UpstreamTlsError");

  auto unverified = upstream_options(environment_, prefix());
  unverified.endpoint = environment_.tls_endpoint;
  unverified.verify_tls = false;
  EXPECT_TRUE(S3Store::open_bucket(std::move(unverified)));
}

TEST_F(S3StoreTest, TheRegistryBuildsItFromConfiguration) {
  StoreRegistry registry;
  register_builtin_stores(registry);
  StoreConfig config{{"endpoint", environment_.endpoint}, {"bucket", environment_.bucket},
                     {"prefix", prefix()},                {"access_key", environment_.access_key},
                     {"secret_key", environment_.secret_key}, {"region", environment_.region}};
  auto store = registry.create("s3", config);
  ASSERT_TRUE(store) << store.error().to_string();
  StringSource body(std::string("via the registry"));
  ASSERT_TRUE((*store)->put("r", body, {}));
  EXPECT_EQ(read("r"), "via the registry");

  config["secret_key"] = "wrong-secret-key";
  auto refused = registry.create("s3", config);
  if (environment_.kind != "s3rver") {  // s3rver does not check signatures
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  }
  config["secret_key"] = environment_.secret_key;
  config["colour"] = "blue";
  EXPECT_EQ(registry.create("s3", config).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace blobseal::store::testing

