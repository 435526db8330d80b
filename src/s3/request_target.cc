#include "s3/request_target.h"

#include <algorithm>

#include "net/sigv4_signer.h"

namespace blobseal::s3 {

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  return net::percent_decode(text, plus_is_space);
}

Result<QueryParameters> QueryParameters::parse(std::string_view raw) {
  QueryParameters query;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view item = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto name = percent_decode(item.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>("") : percent_decode(item.substr(eq + 1), true);
    if (!name || !value) return make_error(ErrorCode::kInvalidArgument, "malformed query string", "InvalidArgument");
    query.parameters_.emplace_back(std::move(*name), std::move(*value));
  }
  return query;
}

bool QueryParameters::has(std::string_view name) const {
  return std::any_of(parameters_.begin(), parameters_.end(), [&](const auto& p) { return p.first == name; });
}

std::optional<std::string> QueryParameters::get(std::string_view name) const {
  for (const auto& [n, v] : parameters_)
    if (n == name) return v;
  return std::nullopt;
}

Result<RequestTarget> resolve_target(std::string_view raw_path, std::string_view host,
                                     const std::vector<std::string>& virtual_host_suffixes) {
  if (raw_path.empty() || raw_path.front() != '/')
    return make_error(ErrorCode::kInvalidArgument, "the request path must start with '/'", "InvalidURI");
  auto path = percent_decode(raw_path, false);
  if (!path) return make_error(ErrorCode::kInvalidArgument, "malformed escape in the request path", "InvalidURI");
  RequestTarget target;
  std::string hostname = lower(host.substr(0, host.rfind(':') == std::string_view::npos || host.back() == ']'
                                                   ? host.size()
                                                   : host.rfind(':')));
  for (const auto& suffix : virtual_host_suffixes) {
    std::string dotted = "." + lower(suffix);
    if (hostname.size() > dotted.size() && hostname.ends_with(dotted)) {
      target.bucket = hostname.substr(0, hostname.size() - dotted.size());
      target.key = path->substr(1);
      target.virtual_hosted = true;
      return target;
    }
  }
  std::string_view rest = std::string_view(*path).substr(1);
  auto slash = rest.find('/');
  target.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) target.key = std::string(rest.substr(slash + 1));
  return target;
}

}  // namespace blobseal::s3
