// A KeyManager decorator that measures and audits every call of the one it wraps, whatever the provider:
//   kms_calls_total{provider,operation,status}          status: "ok" or the error's code ("unavailable", ...)
//   kms_call_duration_seconds{provider,operation}       a histogram, including failed calls
//   kms_unwraps_by_key_version_total{provider,key,version}  successful unwraps, so an operator sees when an old key
//                                                        version is no longer read (docs/KEY_ROTATION.md)
// and one audit record (action "KmsGenerateDataKey", "KmsWrap" or "KmsUnwrap") per failed wrap or unwrap, with the
// key and version concerned and the error's code; never key material.
#pragma once

#include <memory>

#include "keys/key_manager.h"
#include "obs/audit.h"
#include "obs/metrics.h"

namespace blobseal::obs {

class InstrumentedKeyManager final : public keys::KeyManager {
 public:
  // `metrics` and `audit` must outlive this object.
  InstrumentedKeyManager(std::unique_ptr<keys::KeyManager> inner, Metrics& metrics, AuditSink& audit);
  ~InstrumentedKeyManager() override;

  std::string id() const override { return inner_->id(); }
  Result<keys::DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<keys::WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                std::string_view key_id = {}) override;
  Result<SecretBytes> unwrap(const keys::WrappedKey& wrapped, ByteSpan associated_data) override;
  Result<bool> needs_rewrap(const keys::WrappedKey& wrapped) override;
  Result<std::vector<keys::KeyInfo>> describe() override;
  Status health() override;

  keys::KeyManager& inner() { return *inner_; }

 private:
  class Series;
  std::unique_ptr<keys::KeyManager> inner_;
  std::unique_ptr<Series> series_;
  AuditSink& audit_;
};

}  // namespace blobseal::obs
