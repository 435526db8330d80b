#include "admin/admin_handler.h"

#include <nlohmann/json.hpp>

namespace blobseal::admin {

AdminHandler::AdminHandler(obs::Metrics& metrics, std::vector<ReadinessCheck> checks)
    : metrics_(metrics), checks_(std::move(checks)) {}

bool AdminHandler::serves(std::string_view path) {
  return path == "/health" || path == "/ready" || path == "/metrics";
}

void AdminHandler::handle(http::Request& request, http::ResponseWriter& response) {
  std::string_view method = request.method();
  if (method != "GET" && method != "HEAD") {
    (void)http::respond(response, 405, "text/plain", "method not allowed\n", {{"Allow", "GET, HEAD"}});
    return;
  }
  std::string_view path = request.path();
  if (path == "/health") {
    (void)http::respond(response, 200, "application/json", R"({"status":"ok"})" "\n");
    return;
  }
  if (path == "/ready") {
    nlohmann::json body{{"status", "ready"}};
    bool ready = true;
    for (const auto& check : checks_) {
      Status status = check.probe();
      if (status) {
        body["checks"][check.name] = "ok";
      } else {
        ready = false;
        // The error's code only: messages may name paths or key ids.
        body["checks"][check.name] = std::string(to_string(status.error().code()));
      }
    }
    if (!ready) body["status"] = "not ready";
    (void)http::respond(response, ready ? 200 : 503, "application/json", body.dump() + "\n");
    return;
  }
  (void)http::respond(response, 200, obs::Metrics::kContentType, metrics_.render());
}

}  // namespace blobseal::admin
