#include "list_model.h"

#include <algorithm>

#include <fmt/format.h>

namespace blobseal::store::testing {

ModelPage model_list(const std::set<std::string>& keys, const ListRequest& request, std::size_t page_cap) {
  struct Item {
    std::string name;
    bool is_prefix;
  };
  std::vector<Item> items;
  for (const std::string& key : keys) {  // std::set<std::string> iterates in byte-wise order
    if (key.compare(0, request.prefix.size(), request.prefix) != 0) continue;
    if (key <= request.start_after) continue;
    std::string rest = key.substr(request.prefix.size());
    std::size_t at = request.delimiter.empty() ? std::string::npos : rest.find(request.delimiter);
    if (at == std::string::npos) {
      items.push_back({key, false});
      continue;
    }
    std::string common = request.prefix + rest.substr(0, at + request.delimiter.size());
    if (common <= request.start_after) continue;
    if (!items.empty() && items.back().is_prefix && items.back().name == common) continue;
    items.push_back({common, true});
  }
  ModelPage page;
  std::size_t cap = std::min(request.max_keys, page_cap);
  for (std::size_t i = 0; i < items.size() && i < cap; ++i)
    (items[i].is_prefix ? page.common_prefixes : page.keys).push_back(items[i].name);
  if (items.size() > cap && cap > 0) {
    page.truncated = true;
    page.next_start_after = items[cap - 1].name;
  }
  return page;
}

ModelPage to_model_page(const ListResult& result) {
  ModelPage page;
  for (const auto& info : result.objects) page.keys.push_back(info.key);
  page.common_prefixes = result.common_prefixes;
  page.truncated = result.truncated;
  page.next_start_after = result.next_start_after;
  return page;
}

std::string escape(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7F && c != '\\') out.push_back(static_cast<char>(c));
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

std::string describe(const ModelPage& page) {
  std::string out = "keys [";
  for (const auto& k : page.keys) out += escape(k) + " ";
  out += "] prefixes [";
  for (const auto& p : page.common_prefixes) out += escape(p) + " ";
  out += fmt::format("] truncated={} next={}", page.truncated, escape(page.next_start_after));
  return out;
}

std::string describe(const ListRequest& request) {
  return fmt::format("prefix={} delimiter={} start_after={} max_keys={}", escape(request.prefix),
                     escape(request.delimiter), escape(request.start_after), request.max_keys);
}

}  // namespace blobseal::store::testing
