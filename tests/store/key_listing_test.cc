// The listing walk alone (src/store/local/key_listing.h), over an in-memory ordered index: thousands of random
// requests against the brute-force model, and proof that each list call reads a bounded number of rows.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "list_model.h"
#include "store/local/key_listing.h"

namespace blobseal::store::local {
namespace {

using testing::describe;
using testing::model_list;
using testing::ModelPage;
using testing::to_model_page;

TEST(PrefixSuccessor, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(prefix_successor("a"), "b");
  EXPECT_EQ(prefix_successor("photos/"), "photos0");
  EXPECT_EQ(prefix_successor("a\xff"), "b");
  EXPECT_EQ(prefix_successor("a\xff\xff"), "b");
  EXPECT_EQ(prefix_successor("\xfe"), "\xff");
  EXPECT_EQ(prefix_successor("\xc3\xa9"), "\xc3\xaa");
  EXPECT_EQ(prefix_successor(std::string("\x00", 1)), std::string("\x01", 1));
  EXPECT_EQ(prefix_successor(""), std::nullopt);
  EXPECT_EQ(prefix_successor("\xff"), std::nullopt);
  EXPECT_EQ(prefix_successor("\xff\xff"), std::nullopt);
}

TEST(PrefixSuccessor, BoundsExactlyTheStringsWithThePrefix) {
  std::mt19937 rng(5);
  const std::string alphabet("\x00\x01" "a\x7f\x80\xfe\xff", 7);
  for (int i = 0; i < 20000; ++i) {
    std::string prefix, s;
    for (std::size_t n = rng() % 4; n > 0; --n) prefix += alphabet[rng() % alphabet.size()];
    for (std::size_t n = rng() % 5; n > 0; --n) s += alphabet[rng() % alphabet.size()];
    auto upper = prefix_successor(prefix);
    bool has_prefix = s.compare(0, prefix.size(), prefix) == 0;
    bool in_range = s >= prefix && (!upper || s < *upper);
    ASSERT_EQ(has_prefix, in_range) << testing::escape(prefix) << " " << testing::escape(s);
  }
}

// An ordered in-memory index that counts what listing reads from it.
class MapIndex {
 public:
  explicit MapIndex(const std::set<std::string>& keys) {
    for (const auto& key : keys) rows_[key].key = key;
  }

  IndexScan scan() {
    return [this](const KeyRange& range, std::size_t limit, const RowVisitor& visit) -> Status {
      ++scans;
      max_limit = std::max(max_limit, limit);
      auto it = range.lower_inclusive ? rows_.lower_bound(range.lower) : rows_.upper_bound(range.lower);
      for (std::size_t n = 0; it != rows_.end() && n < limit; ++it, ++n) {
        if (range.upper && it->first >= *range.upper) break;
        ++rows_read;
        ObjectInfo row = it->second;
        if (!visit(std::move(row))) break;
      }
      return {};
    };
  }

  std::size_t scans = 0;
  std::size_t rows_read = 0;
  std::size_t max_limit = 0;

 private:
  std::map<std::string, ObjectInfo> rows_;
};

TEST(ListKeys, MatchesTheModelOnRandomKeysAndRequests) {
  std::mt19937 rng(77);
  const std::vector<std::string> pieces = {"a", "b", "/", "é", "\xff", "-", "A", "//", std::string(1, '\0')};
  std::set<std::string> keys;
  while (keys.size() < 400) {
    std::string key;
    for (std::size_t n = 1 + rng() % 6; n > 0; --n) key += pieces[rng() % pieces.size()];
    keys.insert(key);
  }
  std::vector<std::string> key_list(keys.begin(), keys.end());
  MapIndex index(keys);
  const std::vector<std::string> delimiters = {"", "/", "//", "é", "a", std::string(1, '\0')};
  for (int i = 0; i < 6000; ++i) {
    ListRequest request;
    const std::string& some = key_list[rng() % key_list.size()];
    request.prefix = rng() % 3 == 0 ? "" : some.substr(0, rng() % (some.size() + 1));
    request.delimiter = delimiters[rng() % delimiters.size()];
    const std::string& other = key_list[rng() % key_list.size()];
    switch (rng() % 4) {
      case 0: request.start_after = ""; break;
      case 1: request.start_after = other; break;
      case 2: request.start_after = other.substr(0, rng() % (other.size() + 1)); break;
      default: request.start_after = request.prefix + pieces[rng() % pieces.size()]; break;
    }
    request.max_keys = std::vector<std::size_t>{0, 1, 2, 3, 10, 1000, 100000}[rng() % 7];
    auto result = list_keys(request, index.scan());
    ASSERT_TRUE(result);
    ModelPage expected = model_list(keys, request);
    ASSERT_EQ(to_model_page(*result), expected)
        << describe(request) << "\n expected " << describe(expected) << "\n actual " << describe(to_model_page(*result));
  }
}

TEST(ListKeys, APageIsCappedAt1000Items) {
  std::set<std::string> keys;
  for (int i = 0; i < 2500; ++i) keys.insert(fmt::format("k{:05}", i));
  MapIndex index(keys);
  auto result = list_keys({"", "", "", 100000}, index.scan());
  ASSERT_TRUE(result);
  EXPECT_EQ(result->objects.size(), kMaxListKeys);
  EXPECT_TRUE(result->truncated);
  EXPECT_EQ(result->next_start_after, "k00999");
  EXPECT_LE(index.max_limit, kMaxListKeys + 1);
}

TEST(ListKeys, WorkDependsOnThePageNotOnTheKeyspace) {
  // 100 directories of 1,000 keys each. A delimited page of 10 directories must not read their 10,000 keys: each
  // common prefix is passed with one seek.
  std::set<std::string> keys;
  for (int d = 0; d < 100; ++d)
    for (int k = 0; k < 1000; ++k) keys.insert(fmt::format("dir{:03}/file{:04}", d, k));
  MapIndex index(keys);
  auto page = list_keys({"", "/", "", 10}, index.scan());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->common_prefixes.size(), 10u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_start_after, "dir009/");
  EXPECT_LE(index.rows_read, 11u) << "rows read for a page of 10 common prefixes";
  EXPECT_LE(index.scans, 11u);

  // Continuing after a common prefix skips it without reading its keys.
  MapIndex second(keys);
  auto next = list_keys({"", "/", "dir009/", 10}, second.scan());
  ASSERT_TRUE(next);
  EXPECT_EQ(next->common_prefixes.front(), "dir010/");
  EXPECT_LE(second.rows_read, 12u);  // one row to learn that the first key belongs to dir009/

  // A prefix matching 10 keys among 100,000 reads those 10 and learns in the same scan that no more exist.
  MapIndex third(keys);
  auto narrow = list_keys({"dir042/file000", "", "", 1000}, third.scan());
  ASSERT_TRUE(narrow);
  EXPECT_EQ(narrow->objects.size(), 10u);
  EXPECT_LE(third.rows_read, 10u);
  EXPECT_EQ(third.scans, 1u);
}

}  // namespace
}  // namespace blobseal::store::local
