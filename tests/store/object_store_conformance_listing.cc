// The conformance suite, part 3: listing (ListObjectsV2 semantics) against a brute-force model.
#include <algorithm>
#include <random>
#include <set>

#include "list_model.h"
#include "object_store_conformance.h"
#include "test_sources.h"

namespace blobseal::store::testing {

namespace {

// ---- listing ----------------------------------------------------------------------------------------------------

// A few hundred keys over a small alphabet, so that prefixes, delimiters and case variants collide often.
std::set<std::string> random_keys(std::mt19937& rng, std::size_t count) {
  static const std::vector<std::string> kPieces = {
      "a", "A", "b", "B", "ab", "Ab", "é", "É", "日本", "😀", "/", "/", "-", ".", "~", "z", "Z", "0", "\x7f", "ß", "SS"};
  std::set<std::string> keys;
  while (keys.size() < count) {
    std::string key;
    std::size_t pieces = 1 + rng() % 6;
    for (std::size_t i = 0; i < pieces; ++i) key += kPieces[rng() % kPieces.size()];
    keys.insert(key);
  }
  return keys;
}

ListRequest random_request(std::mt19937& rng, const std::vector<std::string>& keys) {
  auto some_key = [&] { return keys[rng() % keys.size()]; };
  auto cut = [&](const std::string& s) { return s.substr(0, rng() % (s.size() + 1)); };
  static const std::vector<std::string> kDelimiters = {"", "", "/", "/", "é", "b", "//", "😀"};
  static const std::vector<std::size_t> kMaxKeys = {0, 1, 2, 3, 5, 17, 1000, 5000};
  ListRequest request;
  switch (rng() % 5) {
    case 0: request.prefix = ""; break;
    case 1: request.prefix = cut(some_key()); break;  // may end inside a multi-byte character
    case 2: request.prefix = some_key(); break;
    case 3: request.prefix = std::vector<std::string>{"a", "A", "é", "日", "\xff", "zz", "a/", "/"}[rng() % 8]; break;
    default: request.prefix = cut(some_key()).substr(0, 2); break;
  }
  request.delimiter = kDelimiters[rng() % kDelimiters.size()];
  switch (rng() % 5) {
    case 0: case 1: request.start_after = ""; break;
    case 2: request.start_after = some_key(); break;
    case 3: request.start_after = cut(some_key()); break;
    default: request.start_after = request.prefix + std::string(1, "/aAé\xff"[rng() % 5]); break;
  }
  request.max_keys = kMaxKeys[rng() % kMaxKeys.size()];
  return request;
}

TEST_P(ObjectStoreConformance, ListingMatchesABruteForceModel) {
  std::mt19937 rng(20261123);
  std::set<std::string> keys = random_keys(rng, 300);
  for (const std::string& key : keys) ASSERT_TRUE(put(key, "", "h", {{"k", key}})) << escape(key);
  std::vector<std::string> key_list(keys.begin(), keys.end());

  // Single pages of random requests.
  for (int i = 0; i < 600; ++i) {
    ListRequest request = random_request(rng, key_list);
    auto result = store_->list(request);
    ASSERT_TRUE(result) << describe(request) << ": " << result.error().to_string();
    ModelPage expected = model_list(keys, request);
    ModelPage actual = to_model_page(*result);
    ASSERT_EQ(actual, expected) << describe(request) << "\n expected " << describe(expected) << "\n actual   "
                                << describe(actual);
    for (const auto& info : result->objects) ASSERT_EQ(info.metadata.at("k"), info.key);
  }

  // Whole listings, paged by next_start_after, equal the unpaged model.
  for (int i = 0; i < 60; ++i) {
    ListRequest request = random_request(rng, key_list);
    request.max_keys = 1 + rng() % 40;
    ListRequest everything = request;
    everything.max_keys = 1000;
    ModelPage expected = model_list(keys, everything);
    ModelPage collected;
    for (int page = 0;; ++page) {
      ASSERT_LT(page, 1000) << "paging does not end: " << describe(request);
      auto result = store_->list(request);
      ASSERT_TRUE(result);
      ModelPage actual = to_model_page(*result);
      ASSERT_EQ(actual, model_list(keys, request)) << describe(request);
      collected.keys.insert(collected.keys.end(), actual.keys.begin(), actual.keys.end());
      collected.common_prefixes.insert(collected.common_prefixes.end(), actual.common_prefixes.begin(),
                                       actual.common_prefixes.end());
      if (!actual.truncated) break;
      request.start_after = actual.next_start_after;
    }
    EXPECT_EQ(collected.keys, expected.keys) << describe(everything);
    EXPECT_EQ(collected.common_prefixes, expected.common_prefixes) << describe(everything);
  }
}

TEST_P(ObjectStoreConformance, ListingOrderIsByteWise) {
  // Byte order, not code-point collation or case folding: "B" < "a" < "b" < "é" (0xC3) < "😀" (0xF0).
  std::vector<std::string> keys = {"b", "a", "B", "\xC3\xA9", "\xF0\x9F\x98\x80", "a/", "a0", "a-", "~"};
  for (const auto& key : keys) ASSERT_TRUE(put(key, ""));
  std::sort(keys.begin(), keys.end(), [](const std::string& x, const std::string& y) {
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end(),
                                        [](char p, char q) { return static_cast<unsigned char>(p) < static_cast<unsigned char>(q); });
  });
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  std::vector<std::string> actual;
  for (const auto& info : listed->objects) actual.push_back(info.key);
  EXPECT_EQ(actual, keys);
}

TEST_P(ObjectStoreConformance, ListingWithDelimiterGroupsLikeS3) {
  for (const char* key : {"photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "photos/top.jpg",
                          "photos.txt", "videos/x.mp4", "readme"})
    ASSERT_TRUE(put(key, ""));
  auto top = store_->list({"", "/", "", 1000});
  ASSERT_TRUE(top);
  EXPECT_EQ(to_model_page(*top), (ModelPage{{"photos.txt", "readme"}, {"photos/", "videos/"}, false, ""}));

  auto photos = store_->list({"photos/", "/", "", 1000});
  ASSERT_TRUE(photos);
  EXPECT_EQ(to_model_page(*photos), (ModelPage{{"photos/top.jpg"}, {"photos/2024/", "photos/2025/"}, false, ""}));

  // One item per page: a common prefix counts once, and continuing after it skips all its keys.
  std::vector<std::string> items;
  ListRequest request{"photos/", "/", "", 1};
  for (;;) {
    auto page = store_->list(request);
    ASSERT_TRUE(page);
    for (const auto& p : page->common_prefixes) items.push_back(p);
    for (const auto& o : page->objects) items.push_back(o.key);
    if (!page->truncated) break;
    EXPECT_EQ(page->next_start_after, items.back());
    request.start_after = page->next_start_after;
  }
  EXPECT_EQ(items, (std::vector<std::string>{"photos/2024/", "photos/2025/", "photos/top.jpg"}));
}

}  // namespace

}  // namespace blobseal::store::testing
