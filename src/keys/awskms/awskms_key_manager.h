// The "awskms" key manager: key-encryption keys held by AWS KMS, reached over its JSON API (POST /,
// Content-Type application/x-amz-json-1.1, X-Amz-Target TrentService.<Operation>) signed with SigV4 for service "kms"
// by the project's signer and HTTP client (net/). The keys never leave KMS: data keys are made by GenerateDataKey,
// wrapped by Encrypt, unwrapped by Decrypt and moved between keys by ReEncrypt.
//
// Keys and versions. A key is a KMS key named by its key ARN, key id, alias ("alias/blobseal") or alias ARN, exactly
// as configured; WrappedKey::key_id records that string. Prefer a key ARN: Decrypt is called with the recorded key id
// and KMS refuses it (IncorrectKeyException) when an alias has since been pointed at another key.
// KMS rotates a key's backing material itself and decrypts under every past backing version transparently, so
// blobseal sees no KMS versions. WrappedKey::version is instead a *generation* that the operator configures (1 by
// default): it is bound into the encryption context, and data keys of an older generation need a rewrap (ReEncrypt
// to the same key, which puts them under the key's newest backing material, e.g. after RotateKeyOnDemand). Every
// generation from 1 to the current one stays readable; a higher one is unknown (NotFound).
// Rotation to a new KMS key: configure the new key as current (set_keys(), no restart) and list the old one among
// the readable keys. New wraps use the new key; data keys under a listed old key still unwrap and report
// needs_rewrap; once the old key is removed from the list, unwrap refuses it with FailedPrecondition naming it.
//
// Binding: every wrap carries the encryption context
//   {"blobseal:aad": base64(associated data), "blobseal:generation": "<generation>"}
// and unwrap sends the same, so a data key moved to another object, or relabelled with another generation, fails
// to decrypt (InvalidCiphertextException → DataLoss). The encryption context is not secret: KMS writes it to
// CloudTrail in clear, so object locations (tenant, bucket, key) are visible there.
//
// Errors: AccessDeniedException and refused signatures or tokens → PermissionDenied; InvalidCiphertextException and
// IncorrectKeyException → DataLoss; NotFoundException → NotFound; DisabledException, KMSInvalidStateException →
// FailedPrecondition; ThrottlingException and HTTP 5xx are retried with backoff (bounded), then Unavailable; a KMS
// that cannot be reached is Unavailable. No secret (secret access key, session token, data key) appears in an error
// message; data keys travel in SecretBytes and the request and response texts that held them are zeroized.
// Every method is safe to call from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret_bytes.h"
#include "keys/key_manager.h"
#include "keys/registry.h"

namespace blobseal::keys {

inline constexpr std::string_view kAwsKmsProviderId = "awskms";

// Which KMS keys the manager uses; changeable at run time (AwsKmsKeyManager::set_keys).
struct AwsKmsKeys {
  // The current key: new data keys are wrapped under it. Required.
  std::string key_id;
  // The current generation (>= 1), recorded as WrappedKey::version.
  std::uint32_t generation = 1;
  // Older keys whose data keys still unwrap (the current key always does). A key in neither place is refused.
  std::vector<std::string> readable_keys;
};

struct AwsKmsKeyManagerOptions {
  AwsKmsKeys keys;
  // scheme://host[:port]; empty: https://kms.<region>.amazonaws.com. Set for a VPC endpoint, FIPS endpoint, or the
  // tests' KMS emulator.
  std::string endpoint;
  std::string region;  // required: it is part of the SigV4 scope
  std::string access_key;
  SecretBytes secret_key;
  std::string session_token;  // temporary credentials: sent (and signed) as X-Amz-Security-Token
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{10000};  // idle timeout of one exchange
  // Attempts per call (the first included) for transport failures, HTTP 5xx and ThrottlingException.
  int max_attempts = 4;
  std::chrono::milliseconds backoff_base{100};   // cap of the first retry's delay (full jitter, doubling)
  std::chrono::milliseconds backoff_max{2000};   // cap of any one delay
  bool verify_tls = true;
  std::string ca_file;
};

class AwsKmsKeyManager final : public KeyManager {
 public:
  // Validates the options; does not contact KMS, so a KMS that is down at start-up shows in health() and in failing
  // calls, not here. InvalidArgument for a missing key id, region or credentials, or a malformed endpoint.
  static Result<std::unique_ptr<AwsKmsKeyManager>> open(AwsKmsKeyManagerOptions options);
  ~AwsKmsKeyManager() override;
  AwsKmsKeyManager(const AwsKmsKeyManager&) = delete;
  AwsKmsKeyManager& operator=(const AwsKmsKeyManager&) = delete;

  // KeyManager. An empty key_id means the current key. generate_data_key and wrap accept only the current key: for
  // another key they answer NotFound when KMS does not know it, FailedPrecondition when it exists.
  std::string id() const override;
  Result<DataKey> generate_data_key(ByteSpan associated_data, std::string_view key_id = {}) override;
  Result<WrappedKey> wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id = {}) override;
  // FailedPrecondition naming the key when it is neither current nor readable (NotFound when KMS does not know it);
  // NotFound for a generation above the current one.
  Result<SecretBytes> unwrap(const WrappedKey& wrapped, ByteSpan associated_data) override;
  // True unless `wrapped` is under the current key and generation.
  Result<bool> needs_rewrap(const WrappedKey& wrapped) override;
  // The current key (generations 1..current, the last one current) and the readable keys, with KMS's creation
  // dates; a readable key that KMS no longer has, or that is not enabled, shows as retired.
  Result<std::vector<KeyInfo>> describe() override;
  // DescribeKey of the current key, one attempt: OK when KMS answers and the key is Enabled.
  Status health() override;

  // Rewrap inside KMS (ReEncrypt): moves a wrapped data key to the current key and generation without the data key
  // leaving KMS. The same checks as unwrap apply to the source.
  Result<WrappedKey> reencrypt(const WrappedKey& wrapped, ByteSpan associated_data);

  // Makes `keys` the current selection, for every call that starts afterwards. InvalidArgument for an empty key id
  // or generation 0.
  Status set_keys(AwsKmsKeys keys);
  AwsKmsKeys keys() const;

 private:
  class Impl;
  explicit AwsKmsKeyManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The registry's factory for "awskms". Settings: key_id (required), generation (1), readable_keys (comma-separated),
// region (else AWS_REGION, else AWS_DEFAULT_REGION), endpoint, access_key + secret_key [+ session_token] (else
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the shared credentials file
// AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile `profile` or AWS_PROFILE or "default"),
// connect_timeout_ms (5000), timeout_ms (10000), max_attempts (4), backoff_base_ms (100), backoff_max_ms (2000),
// verify_tls (true), ca_file.
Result<std::unique_ptr<KeyManager>> create_awskms_key_manager(const KeyManagerConfig& config);

}  // namespace blobseal::keys
