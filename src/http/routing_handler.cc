#include "http/routing_handler.h"

namespace blobseal::http {

void RoutingHandler::mount(std::string path, Handler& handler) { routes_[std::move(path)] = &handler; }

Handler& RoutingHandler::route(const Request& request) {
  auto it = routes_.find(request.path());
  return it == routes_.end() ? fallback_ : *it->second;
}

void RoutingHandler::handle(Request& request, ResponseWriter& response) { route(request).handle(request, response); }

bool RoutingHandler::respond_inline(Request& request, ResponseWriter& response) {
  return route(request).respond_inline(request, response);
}

}  // namespace blobseal::http
