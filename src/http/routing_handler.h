// Dispatches requests by exact path to mounted handlers (/health, /ready, /metrics), and everything else to a
// fallback handler (the S3 front end). Not a router: no patterns, no methods.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "http/handler.h"

namespace blobseal::http {

class RoutingHandler final : public Handler {
 public:
  // `fallback` must outlive this object.
  explicit RoutingHandler(Handler& fallback) : fallback_(fallback) {}

  // Sends requests whose path (the target before '?', compared byte for byte, still percent-encoded) equals `path`
  // to `handler`, which must outlive this object. Mount everything before the server runs: mount() is not
  // synchronised with handle(). A later mount of the same path replaces the earlier one.
  void mount(std::string path, Handler& handler);

  void handle(Request& request, ResponseWriter& response) override;
  bool respond_inline(Request& request, ResponseWriter& response) override;

 private:
  Handler& route(const Request& request);

  Handler& fallback_;
  std::map<std::string, Handler*, std::less<>> routes_;
};

}  // namespace blobseal::http
