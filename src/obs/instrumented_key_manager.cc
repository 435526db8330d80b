#include "obs/instrumented_key_manager.h"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

namespace blobseal::obs {

namespace {
using Clock = std::chrono::steady_clock;

// Key-manager calls are network round trips for most providers: from 100 µs to tens of seconds.
const prometheus::Histogram::BucketBoundaries kBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

// "integrity failure" → "integrity_failure": label values and audit codes without spaces.
std::string code_name(ErrorCode code) {
  std::string name(to_string(code));
  for (char& c : name)
    if (c == ' ') c = '_';
  return name;
}

std::string status_label(const Status& status) { return status ? "ok" : code_name(status.error().code()); }
}  // namespace

class InstrumentedKeyManager::Series {
 public:
  Series(Metrics& metrics, std::string provider)
      : provider_(std::move(provider)),
        calls_(prometheus::BuildCounter()
                   .Name("kms_calls_total")
                   .Help("Key manager calls by provider, operation and result (ok, or the error's code)")
                   .Register(metrics.registry())),
        durations_(prometheus::BuildHistogram()
                       .Name("kms_call_duration_seconds")
                       .Help("Key manager call latency by provider and operation, failed calls included")
                       .Register(metrics.registry())),
        unwraps_(prometheus::BuildCounter()
                     .Name("kms_unwraps_by_key_version_total")
                     .Help("Data keys unwrapped, by the key and key version that wrapped them")
                     .Register(metrics.registry())) {}

  void record(std::string_view operation, const Status& status, Clock::duration elapsed) {
    std::string op(operation);
    calls_.Add({{"provider", provider_}, {"operation", op}, {"status", status_label(status)}}).Increment();
    durations_.Add({{"provider", provider_}, {"operation", op}}, kBuckets)
        .Observe(std::chrono::duration<double>(elapsed).count());
  }

  void record_unwrap(const keys::WrappedKey& wrapped) {
    unwraps_.Add({{"provider", provider_}, {"key", wrapped.key_id}, {"version", std::to_string(wrapped.version)}})
        .Increment();
  }

 private:
  std::string provider_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& unwraps_;
};

InstrumentedKeyManager::InstrumentedKeyManager(std::unique_ptr<keys::KeyManager> inner, Metrics& metrics,
                                               AuditSink& audit)
    : inner_(std::move(inner)), series_(std::make_unique<Series>(metrics, inner_->id())), audit_(audit) {}

InstrumentedKeyManager::~InstrumentedKeyManager() = default;

namespace {
// Times `call`, records it, and audits a failure of a wrap or unwrap.
template <typename Call>
auto measured(std::string_view operation, Call&& call, const std::function<void(const Status&, Clock::duration)>& done) {
  auto started = Clock::now();
  auto result = call();
  Status status = result ? Status() : Status(make_error(result.error()));
  done(status, Clock::now() - started);
  return result;
}

AuditEvent failure_event(std::string_view action, const Error& error, std::string_view key_id,
                         std::optional<std::uint32_t> version) {
  AuditEvent event;
  event.time = std::chrono::system_clock::now();
  event.action = std::string(action);
  event.error_code = error.reason().empty() ? code_name(error.code()) : error.reason();
  if (!key_id.empty()) event.key_id = std::string(key_id);
  event.key_version = version;
  return event;
}
}  // namespace

Result<keys::DataKey> InstrumentedKeyManager::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  return measured("generate_data_key", [&] { return inner_->generate_data_key(associated_data, key_id); },
                  [&](const Status& status, Clock::duration elapsed) {
                    series_->record("generate_data_key", status, elapsed);
                    if (!status) audit_.record(failure_event("KmsGenerateDataKey", status.error(), key_id, {}));
                  });
}

Result<keys::WrappedKey> InstrumentedKeyManager::wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                                      std::string_view key_id) {
  return measured("wrap", [&] { return inner_->wrap(data_key, associated_data, key_id); },
                  [&](const Status& status, Clock::duration elapsed) {
                    series_->record("wrap", status, elapsed);
                    if (!status) audit_.record(failure_event("KmsWrap", status.error(), key_id, {}));
                  });
}

Result<SecretBytes> InstrumentedKeyManager::unwrap(const keys::WrappedKey& wrapped, ByteSpan associated_data) {
  return measured("unwrap", [&] { return inner_->unwrap(wrapped, associated_data); },
                  [&](const Status& status, Clock::duration elapsed) {
                    series_->record("unwrap", status, elapsed);
                    if (status) series_->record_unwrap(wrapped);
                    else audit_.record(failure_event("KmsUnwrap", status.error(), wrapped.key_id, wrapped.version));
                  });
}

Result<bool> InstrumentedKeyManager::needs_rewrap(const keys::WrappedKey& wrapped) {
  return measured("needs_rewrap", [&] { return inner_->needs_rewrap(wrapped); },
                  [&](const Status& status, Clock::duration elapsed) { series_->record("needs_rewrap", status, elapsed); });
}

Result<std::vector<keys::KeyInfo>> InstrumentedKeyManager::describe() {
  return measured("describe", [&] { return inner_->describe(); },
                  [&](const Status& status, Clock::duration elapsed) { series_->record("describe", status, elapsed); });
}

Status InstrumentedKeyManager::health() {
  auto started = Clock::now();
  Status status = inner_->health();
  series_->record("health", status, Clock::now() - started);
  return status;
}

}  // namespace blobseal::obs
