#include "http/routing_handler.h"

namespace blobseal::http {

void RoutingHandler::mount(std::string path, Handler& handler) { routes_[std::move(path)] = &handler; }

void RoutingHandler::handle(Request& request, ResponseWriter& response) {
  auto it = routes_.find(request.path());
  (it == routes_.end() ? fallback_ : *it->second).handle(request, response);
}

}  // namespace blobseal::http
