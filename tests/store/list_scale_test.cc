// Listing at scale: 200,000 keys in the local store's index, paged through in order, and single list calls whose
// time and memory do not grow with the keyspace.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>

#include <fmt/format.h>

#include "store/local/local_store.h"
#include "test_sources.h"

// Counts the bytes C++ code allocates on this thread while counting is on (SQLite allocates with malloc and is
// measured with its own counters below).
namespace {
thread_local bool counting_allocations = false;
thread_local std::size_t allocated_bytes = 0;
}  // namespace

void* operator new(std::size_t size) {
  if (counting_allocations) allocated_bytes += size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace blobseal::store {
namespace {

using testing::TemporaryDirectory;
using Clock = std::chrono::steady_clock;

constexpr int kGroups = 100;
constexpr int kKeys = 200000;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct CallCost {
  double milliseconds;
  std::size_t cxx_bytes;     // allocated by C++ code during the call (result included)
  std::int64_t sqlite_peak;  // SQLite's peak memory during the call above what it held before; -1 if unknown
};

CallCost measure_list(LocalStore& store, const ListRequest& request, ListResult* out = nullptr) {
  sqlite3_int64 current = 0, peak = 0;
  bool sqlite_counts = sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &current, &peak, 1) == SQLITE_OK && current > 0;
  allocated_bytes = 0;
  counting_allocations = true;
  auto start = Clock::now();
  auto result = store.list(request);
  double ms = milliseconds_since(start);
  counting_allocations = false;
  sqlite3_int64 after = 0, after_peak = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &after, &after_peak, 0);
  EXPECT_TRUE(result) << result.error().to_string();
  if (out != nullptr && result) *out = std::move(*result);
  return {ms, allocated_bytes, sqlite_counts ? after_peak - current : -1};
}

double median_list_ms(LocalStore& store, const ListRequest& request, int runs = 15) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) times.push_back(measure_list(store, request).milliseconds);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

TEST(ListScale, TwoHundredThousandKeysPageInOrderAndOnePageCostsTheSameAnywhere) {
  TemporaryDirectory dir("list-scale");
  auto opened = LocalStore::open_directory(dir.path() / "store");
  ASSERT_TRUE(opened) << opened.error().to_string();
  LocalStore& store = **opened;

  // "a/<group>/<n>" and "z/<group>/<n>" around ten needles "m/needle-<i>".
  std::vector<std::string> keys;
  keys.reserve(kKeys);
  for (int i = 0; i < kKeys - 10; ++i)
    keys.push_back(fmt::format("{}/{:02}/{:06}", i % 2 == 0 ? 'a' : 'z', (i / 2) % kGroups, i));
  for (int i = 0; i < 10; ++i) keys.push_back(fmt::format("m/needle-{}", i));
  auto start = Clock::now();
  ASSERT_TRUE(store.index_empty_objects_for_testing(keys));
  double insert_ms = milliseconds_since(start);
  std::sort(keys.begin(), keys.end());

  // Every key, in order, a page of 1,000 at a time.
  start = Clock::now();
  ListRequest request;
  request.max_keys = 1000;
  std::size_t seen = 0, pages = 0;
  for (;;) {
    auto page = store.list(request);
    ASSERT_TRUE(page) << page.error().to_string();
    ++pages;
    ASSERT_LE(page->objects.size(), 1000u);
    for (const auto& info : page->objects) {
      ASSERT_LT(seen, keys.size());
      ASSERT_EQ(info.key, keys[seen]) << "at position " << seen;
      ++seen;
    }
    if (!page->truncated) break;
    ASSERT_EQ(page->next_start_after, page->objects.back().key);
    request.start_after = page->next_start_after;
  }
  double paging_ms = milliseconds_since(start);
  EXPECT_EQ(seen, keys.size());
  EXPECT_EQ(pages, 200u);

  // A prefix that matches 10 keys among 200,000.
  ListResult needles;
  CallCost narrow = measure_list(store, {"m/needle-", "", "", 1000}, &needles);
  ASSERT_EQ(needles.objects.size(), 10u);
  EXPECT_FALSE(needles.truncated);
  double narrow_ms = median_list_ms(store, {"m/needle-", "", "", 1000});

  // One page of 1,000 at the start and at the end of the keyspace.
  CallCost first_page = measure_list(store, {"", "", "", 1000});
  CallCost last_page = measure_list(store, {"", "", keys[keys.size() - 1001], 1000});
  double first_ms = median_list_ms(store, {"", "", "", 1000});
  double last_ms = median_list_ms(store, {"", "", keys[keys.size() - 1001], 1000});

  // Delimited: 100 common prefixes under "a/", each holding 1,000 keys, in one page.
  ListResult groups;
  CallCost grouped = measure_list(store, {"a/", "/", "", 1000}, &groups);
  EXPECT_EQ(groups.common_prefixes.size(), static_cast<std::size_t>(kGroups));
  EXPECT_TRUE(groups.objects.empty());
  EXPECT_EQ(groups.common_prefixes.front(), "a/00/");
  EXPECT_FALSE(groups.truncated);

  std::printf("[ scale    ] insert %d keys %.0f ms; page through them %.0f ms (%zu pages, %.2f ms/page)\n", kKeys,
              insert_ms, paging_ms, pages, paging_ms / pages);
  std::printf("[ scale    ] 10-key prefix %.3f ms, %zu B C++, %lld B SQLite peak\n", narrow_ms, narrow.cxx_bytes,
              static_cast<long long>(narrow.sqlite_peak));
  std::printf("[ scale    ] 1000-key page: first %.2f ms (%zu B), last %.2f ms (%zu B); 100 prefixes %.2f ms (%zu B)\n",
              first_ms, first_page.cxx_bytes, last_ms, last_page.cxx_bytes, grouped.milliseconds, grouped.cxx_bytes);

  // Memory: what a call allocates is its page, not the keyspace (200,000 keys would be megabytes).
  EXPECT_LT(narrow.cxx_bytes, 64u << 10);
  EXPECT_LT(first_page.cxx_bytes, 1u << 20);
  EXPECT_LT(last_page.cxx_bytes, 1u << 20);
  EXPECT_LT(grouped.cxx_bytes, 256u << 10) << "passing a common prefix must not read its keys";
  if (narrow.sqlite_peak >= 0) {
    EXPECT_LT(narrow.sqlite_peak, 1 << 20);
  }
  // Time: the narrow call is far cheaper than a full page, and a page costs about the same anywhere.
  EXPECT_LT(narrow_ms, first_ms);
  EXPECT_LT(narrow_ms, 25.0);
  EXPECT_LT(last_ms, 3 * first_ms + 5.0);
  EXPECT_LT(first_ms, 3 * last_ms + 5.0);
  EXPECT_LT(grouped.milliseconds, 10 * first_ms + 20.0) << "100 groups of 1,000 keys are 100 seeks, not 100,000 rows";
}

}  // namespace
}  // namespace blobseal::store
