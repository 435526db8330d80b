// ListObjectsV2 semantics over an ordered key index: prefix, delimiter, start_after, max_keys and pagination,
// computed with bounded range scans, never by reading the whole keyspace. Pure: the index is reached through a
// scan callback, so the walk is tested without a database.
//
// The result of a request is the ordered sequence of items, each a key or a common prefix:
// - every key that starts with `prefix` and sorts after `start_after` is considered, in byte-wise order;
// - with a delimiter, a key whose remainder after `prefix` contains it stands for its common prefix,
//   `prefix + remainder up to and including the first delimiter`, which appears once however many keys share it;
// - every item returned sorts strictly after `start_after`: a common prefix that does not (because start_after lies
//   inside it, or is it) is skipped with all its keys, so paging with next_start_after never repeats an item;
// - at most max_keys items (each common prefix counts one), capped at kMaxListKeys as S3 caps a page at 1000;
// - `truncated` exactly when another item exists, and then next_start_after is the last item returned.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "store/object_store.h"

namespace blobseal::store::local {

inline constexpr std::size_t kMaxListKeys = 1000;

// The keys a scan reads: from `lower` (inclusive or not) up to `upper` (exclusive; unbounded when absent).
struct KeyRange {
  std::string lower;
  bool lower_inclusive = true;
  std::optional<std::string> upper;
};

// The smallest byte string greater than every string that starts with `prefix`: drop trailing 0xFF bytes, then
// increment the last byte. nullopt when no such string exists (empty prefix, or only 0xFF bytes): the range is
// unbounded above.
std::optional<std::string> prefix_successor(std::string_view prefix);

// Called for each row of a scan, in order; returns false to stop the scan there.
using RowVisitor = std::function<bool(ObjectInfo&& row)>;
// Visits, in byte-wise key order, at most `limit` objects whose keys lie in `range`, reading each row only when
// the previous visit asked for more.
using IndexScan = std::function<Status(const KeyRange& range, std::size_t limit, const RowVisitor& visit)>;

// Runs one list request. A scan reads at most max_keys + 1 rows, and stops at the first key of a common prefix
// to seek past all the others, so the work done depends on the page, not on how many keys the store or a common
// prefix holds.
Result<ListResult> list_keys(const ListRequest& request, const IndexScan& scan);

}  // namespace blobseal::store::local
