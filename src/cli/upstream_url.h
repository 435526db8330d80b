// The --upstream URL of serve and of the store commands.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace blobseal::cli {

// Splits an --upstream URL into the s3 store's endpoint, bucket and prefix settings. InvalidArgument, naming the
// problem, for anything else than http(s)://HOST[:PORT]/BUCKET[/PREFIX].
struct UpstreamUrl {
  std::string endpoint;  // scheme://host[:port]
  std::string bucket;
  std::string prefix;    // "" or ending with '/'
};
Result<UpstreamUrl> parse_upstream_url(std::string_view url);

}  // namespace blobseal::cli
