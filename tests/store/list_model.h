// A brute-force model of ListObjectsV2 (the semantics in src/store/local/key_listing.h), written as plainly as
// possible: filter every key, roll keys up into common prefixes, sort, cut the page. Tests compare a store's
// listing with it.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "store/object_store.h"

namespace blobseal::store::testing {

struct ModelPage {
  std::vector<std::string> keys;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_start_after;

  bool operator==(const ModelPage&) const = default;
};

// The page a store must return for `request` over `keys`; a page holds at most `page_cap` items.
ModelPage model_list(const std::set<std::string>& keys, const ListRequest& request, std::size_t page_cap = 1000);

// The same fields of a store's result, for comparison.
ModelPage to_model_page(const ListResult& result);

// Human-readable, for failure messages (bytes outside printable ASCII escaped).
std::string describe(const ModelPage& page);
std::string describe(const ListRequest& request);
std::string escape(std::string_view bytes);

}  // namespace blobseal::store::testing
