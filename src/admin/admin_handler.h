// The operator's endpoints: /health (the process answers), /ready (the key manager and the store answer, so a load
// balancer may send traffic), /metrics (Prometheus text exposition). They need no credentials and reveal nothing
// about objects: /ready names the failing dependency, never a key or a path.
#pragma once

#include <functional>

#include "core/error.h"
#include "http/handler.h"
#include "obs/metrics.h"

namespace blobseal::admin {

struct ReadinessCheck {
  std::string name;                // "keys", "store"
  std::function<Status()> probe;   // ok when the dependency answers
};

class AdminHandler final : public http::Handler {
 public:
  AdminHandler(obs::Metrics& metrics, std::vector<ReadinessCheck> checks);
  // Answers GET/HEAD of /health, /ready and /metrics; 405 for other methods.
  void handle(http::Request& request, http::ResponseWriter& response) override;

  // True when `path` is one this handler answers.
  static bool serves(std::string_view path);

 private:
  obs::Metrics& metrics_;
  std::vector<ReadinessCheck> checks_;
};

}  // namespace blobseal::admin
