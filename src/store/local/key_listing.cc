#include "store/local/key_listing.h"

#include <algorithm>

namespace blobseal::store::local {

std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string next(prefix);
  while (!next.empty() && static_cast<unsigned char>(next.back()) == 0xFF) next.pop_back();
  if (next.empty()) return std::nullopt;
  next.back() = static_cast<char>(static_cast<unsigned char>(next.back()) + 1);
  return next;
}

namespace {

// Collects items into a result, noticing when one more than the page holds exists.
class PageBuilder {
 public:
  explicit PageBuilder(std::size_t max_items) : max_items_(max_items) {}

  // False (and the page is marked truncated) when the page is already full.
  bool add_object(ObjectInfo info) {
    if (!make_room()) return false;
    last_ = info.key;
    result_.objects.push_back(std::move(info));
    return true;
  }
  bool add_common_prefix(std::string common) {
    if (!make_room()) return false;
    last_ = common;
    result_.common_prefixes.push_back(std::move(common));
    return true;
  }
  std::size_t room() const { return max_items_ - items_; }
  ListResult finish() && { return std::move(result_); }

 private:
  bool make_room() {
    if (items_ == max_items_) {
      result_.truncated = true;
      result_.next_start_after = last_;
      return false;
    }
    ++items_;
    return true;
  }

  std::size_t max_items_;
  std::size_t items_ = 0;
  std::string last_;
  ListResult result_;
};

}  // namespace

Result<ListResult> list_keys(const ListRequest& request, const IndexScan& scan) {
  const std::string& prefix = request.prefix;
  const std::string& delimiter = request.delimiter;
  const std::string& start_after = request.start_after;
  PageBuilder page(std::min(request.max_keys, kMaxListKeys));
  if (page.room() == 0) return std::move(page).finish();

  KeyRange range;
  range.upper = prefix_successor(prefix);
  if (start_after >= prefix) {
    range.lower = start_after;
    range.lower_inclusive = false;
  } else {
    range.lower = prefix;
    range.lower_inclusive = true;
  }

  for (;;) {
    if (range.upper && range.lower >= *range.upper) return std::move(page).finish();
    // One row more than the page has room for tells whether the listing is truncated.
    const std::size_t limit = page.room() + 1;
    std::size_t rows = 0;
    bool page_full = false;
    std::optional<std::string> passed_prefix;  // set when the scan stopped at a common prefix's first key
    BLOBSEAL_TRY_STATUS(scan(range, limit, [&](ObjectInfo&& info) {
      ++rows;
      std::string_view rest = std::string_view(info.key).substr(prefix.size());
      std::size_t at = delimiter.empty() ? std::string_view::npos : rest.find(delimiter);
      if (at == std::string_view::npos) {
        range.lower = info.key;
        range.lower_inclusive = false;
        page_full = !page.add_object(std::move(info));
        return !page_full;
      }
      std::string common = prefix;
      common.append(rest.substr(0, at + delimiter.size()));
      // Items never sort at or before start_after: a common prefix that does is passed over with its keys.
      if (common > start_after) page_full = !page.add_common_prefix(common);
      passed_prefix = std::move(common);
      return false;
    }));
    if (page_full) return std::move(page).finish();
    if (passed_prefix) {
      // Seek past every key of the common prefix in one step.
      auto next = prefix_successor(*passed_prefix);
      if (!next) return std::move(page).finish();
      range.lower = std::move(*next);
      range.lower_inclusive = true;
      continue;
    }
    if (rows < limit) return std::move(page).finish();
  }
}

}  // namespace blobseal::store::local
