// The non-virtual helpers of the handler boundary (handler.h): target splitting, header lookup, respond().
#include <strings.h>

#include "http/handler.h"

namespace blobseal::http {

namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string_view Request::path() const {
  std::string_view t = target();
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
  std::string_view t = target();
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const Header& h : headers())
    if (equals_ignore_case(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

Status respond(ResponseWriter& response, int status, std::string_view content_type, std::string_view body,
               const std::vector<Header>& extra_headers) {
  response.set_status(status);
  if (!content_type.empty()) response.add_header("Content-Type", std::string(content_type));
  for (const Header& h : extra_headers) response.add_header(h.name, h.value);
  BLOBSEAL_TRY_STATUS(response.send_headers(body.size()));
  if (!body.empty()) {
    BLOBSEAL_TRY_STATUS(response.body_sink().write(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(body.data()), body.size())));
  }
  return response.finish();
}

}  // namespace blobseal::http
