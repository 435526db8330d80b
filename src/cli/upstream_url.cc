#include "cli/upstream_url.h"

#include <fmt/format.h>

namespace blobseal::cli {

Result<UpstreamUrl> parse_upstream_url(std::string_view url) {
  // A URL with user information is not echoed: it may hold a secret.
  auto at = url.find('@');
  std::string shown = at == std::string_view::npos ? std::string(url) : "***" + std::string(url.substr(at));
  auto invalid = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--upstream {:?}: {}; expected http(s)://HOST[:PORT]/BUCKET[/PREFIX]", shown, why));
  };
  std::string_view rest = url;
  std::string scheme;
  if (rest.starts_with("http://")) scheme = "http";
  else if (rest.starts_with("https://")) scheme = "https";
  else return invalid("the scheme must be http or https");
  rest.remove_prefix(scheme.size() + 3);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.empty()) return invalid("the host is missing");
  if (authority.find('@') != std::string_view::npos)
    return invalid("credentials do not belong in the URL (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  if (authority.find_first_of("?#") != std::string_view::npos) return invalid("query and fragment are not allowed");
  if (slash == std::string_view::npos) return invalid("the bucket is missing");
  std::string_view path = rest.substr(slash + 1);
  if (path.find_first_of("?#") != std::string_view::npos) return invalid("query and fragment are not allowed");
  auto bucket_end = path.find('/');
  std::string_view bucket = path.substr(0, bucket_end);
  if (bucket.empty()) return invalid("the bucket is missing");
  UpstreamUrl out;
  out.endpoint = scheme + "://" + std::string(authority);
  out.bucket = std::string(bucket);
  if (bucket_end != std::string_view::npos) {
    out.prefix = std::string(path.substr(bucket_end + 1));
    if (!out.prefix.empty() && out.prefix.back() != '/') out.prefix += '/';
  }
  return out;
}

}  // namespace blobseal::cli
