// Where an S3 request points: bucket and key from a path-style ("/bucket/key") or virtual-hosted-style
// ("bucket.s3.example.com" + "/key") request, and its query parameters, percent-decoded once.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace blobseal::s3 {

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as S3 does in query strings). nullopt on a
// malformed escape. Any byte may result, NUL included; callers validate keys afterwards.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

class QueryParameters {
 public:
  // Parses "a=1&b&c=x%20y". InvalidArgument on a malformed escape.
  static Result<QueryParameters> parse(std::string_view raw);

  bool has(std::string_view name) const;
  std::optional<std::string> get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return parameters_; }

 private:
  std::vector<std::pair<std::string, std::string>> parameters_;
};

struct RequestTarget {
  std::string bucket;  // empty for service-level requests (ListBuckets)
  std::string key;     // empty for bucket-level requests
  bool virtual_hosted = false;
};

// `raw_path` is the request path as received (percent-encoded); `host` the Host header. A host that ends with
// ".<suffix>" for one of `virtual_host_suffixes` names the bucket; otherwise the first path segment does.
Result<RequestTarget> resolve_target(std::string_view raw_path, std::string_view host,
                                     const std::vector<std::string>& virtual_host_suffixes);

}  // namespace blobseal::s3
