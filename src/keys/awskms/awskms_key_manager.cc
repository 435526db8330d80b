#include "keys/awskms/awskms_key_manager.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "crypto/primitives.h"
#include "net/http_client.h"

namespace blobseal::keys {

namespace {

using nlohmann::json;

constexpr std::string_view kContextAad = "blobseal:aad";
constexpr std::string_view kContextGeneration = "blobseal:generation";
constexpr std::size_t kMaxCiphertextBlob = 6144;  // KMS's limit on CiphertextBlob
constexpr std::size_t kMaxResponse = 1 << 20;

// Key ids and KMS messages reach our messages quoted and bounded: a WrappedKey read from a damaged envelope, or an
// error body, may hold anything.
std::string quote(std::string_view text, std::size_t limit = 200) {
  std::string out = "\"";
  for (char c : text.substr(0, limit)) out.push_back(c >= 0x20 && c < 0x7f && c != '"' ? c : '?');
  if (text.size() > limit) out += "...";
  return out + "\"";
}

void wipe(std::string& text) {
  secure_zero(text.data(), text.size());
  text.clear();
}

void wipe(Bytes& bytes) {
  secure_zero(bytes.data(), bytes.size());
  bytes.clear();
}

// Zeroizes the string member `name` of a JSON object (a base64 data key) in place.
void wipe_member(json& object, std::string_view name) {
  if (!object.is_object()) return;
  auto it = object.find(name);
  if (it != object.end() && it->is_string()) wipe(it->get_ref<std::string&>());
}

json encryption_context(ByteSpan associated_data, std::uint32_t generation) {
  json context = json::object();
  context[std::string(kContextAad)] = to_base64(associated_data);
  context[std::string(kContextGeneration)] = std::to_string(generation);
  return context;
}

// A failed KMS call: the mapped Error, plus KMS's own error type for callers that tell cases apart.
ErrorCode code_of(std::string_view type) {
  static constexpr std::string_view kDenied[] = {
      "AccessDeniedException",       "InvalidSignatureException",        "IncompleteSignatureException",
      "UnrecognizedClientException", "InvalidClientTokenId",             "ExpiredTokenException",
      "MissingAuthenticationToken",  "MissingAuthenticationTokenException", "SignatureDoesNotMatch",
      "AccessDenied"};
  static constexpr std::string_view kUnavailable[] = {"KMSInternalException", "DependencyTimeoutException",
                                                      "KeyUnavailableException", "ServiceUnavailable",
                                                      "ThrottlingException"};
  static constexpr std::string_view kInvalid[] = {"ValidationException", "InvalidGrantTokenException",
                                                  "InvalidArnException", "SerializationException",
                                                  "InvalidGrantIdException"};
  auto in = [&](const auto& list) { return std::find(std::begin(list), std::end(list), type) != std::end(list); };
  if (in(kDenied)) return ErrorCode::kPermissionDenied;
  if (type == "InvalidCiphertextException" || type == "IncorrectKeyException") return ErrorCode::kDataLoss;
  if (type == "NotFoundException") return ErrorCode::kNotFound;
  if (type == "DisabledException" || type == "KMSInvalidStateException" || type == "InvalidKeyUsageException")
    return ErrorCode::kFailedPrecondition;
  if (in(kUnavailable)) return ErrorCode::kUnavailable;
  if (in(kInvalid)) return ErrorCode::kInvalidArgument;
  return ErrorCode::kInternal;
}

struct KmsErrorBody {
  std::string type;     // "NotFoundException" (any "namespace#" prefix removed)
  std::string message;
};

KmsErrorBody parse_error_body(std::string_view body) {
  KmsErrorBody out;
  try {
    json parsed = json::parse(body);
    if (parsed.is_object()) {
      if (auto it = parsed.find("__type"); it != parsed.end() && it->is_string()) out.type = it->get<std::string>();
      for (const char* name : {"message", "Message"})
        if (auto it = parsed.find(name); it != parsed.end() && it->is_string()) {
          out.message = it->get<std::string>();
          break;
        }
    }
  } catch (const json::exception&) {
    // Not JSON (a proxy's HTML page): no type.
  }
  if (auto hash = out.type.rfind('#'); hash != std::string::npos) out.type.erase(0, hash + 1);
  if (auto colon = out.type.find(':'); colon != std::string::npos) out.type.erase(colon);
  return out;
}

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  crypto::random_bytes(std::span(reinterpret_cast<std::uint8_t*>(&value), sizeof value));
  return value;
}

struct DescribedKey {
  std::string arn;
  std::string state;  // KeyState: Enabled, Disabled, PendingDeletion...
  std::int64_t created_unix = 0;
};

}  // namespace

class AwsKmsKeyManager::Impl {
 public:
  Impl(AwsKmsKeyManagerOptions options, std::unique_ptr<net::HttpClient> client)
      : options_(std::move(options)),
        client_(std::move(client)),
        keys_(std::make_shared<const AwsKmsKeys>(options_.keys)) {
    retry_.max_attempts = options_.max_attempts;
    retry_.base_delay = options_.backoff_base;
    retry_.max_delay = options_.backoff_max;
  }

  const std::string& endpoint() const { return client_->options().endpoint; }

  std::shared_ptr<const AwsKmsKeys> keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
  }
  void set_keys(AwsKmsKeys keys) {
    auto next = std::make_shared<const AwsKmsKeys>(std::move(keys));
    std::lock_guard lock(mutex_);
    keys_ = std::move(next);
  }

  // One KMS operation: `body` is the request's JSON text. Transport failures and HTTP 5xx are retried by the HTTP
  // client, ThrottlingException (HTTP 400) here, with the same backoff; `single_attempt` disables both (health).
  // The response text is zeroized once parsed: Decrypt's and GenerateDataKey's hold a data key.
  Result<json> call(std::string_view operation, const std::string& body, bool single_attempt = false) {
    net::Request request;
    request.method = "POST";
    request.target = "/";
    request.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                       {"X-Amz-Target", fmt::format("TrentService.{}", operation)}};
    request.body = as_bytes(body);
    request.idempotent = true;  // every operation used here may be repeated harmlessly
    if (single_attempt) request.max_attempts = 1;
    const int attempts = single_attempt ? 1 : std::max(1, options_.max_attempts);
    for (int attempt = 1;; ++attempt) {
      auto response = client_->send(request, kMaxResponse);
      if (!response)
        return make_error(response.error().with_context(fmt::format("AWS KMS {} at {}", operation, endpoint())));
      if (response->ok()) {
        json parsed;
        bool valid = true;
        try {
          parsed = json::parse(response->body);
        } catch (const json::exception&) {
          valid = false;
        }
        wipe(response->body);
        if (!valid || !parsed.is_object())
          return make_error(ErrorCode::kInternal,
                            fmt::format("AWS KMS {} at {}: the answer is not a JSON object", operation, endpoint()));
        return parsed;
      }
      KmsErrorBody failure = parse_error_body(response->body);
      wipe(response->body);
      std::string what =
          fmt::format("AWS KMS {} at {} answered HTTP {}{}{}{}", operation, endpoint(), response->status,
                      failure.type.empty() ? "" : " ", failure.type,
                      failure.message.empty() ? "" : ": " + quote(failure.message, 300));
      if (failure.type == "ThrottlingException") {
        if (attempt < attempts) {
          std::this_thread::sleep_for(net::backoff_delay(retry_, attempt, random_u64()));
          continue;
        }
        return make_error(ErrorCode::kUnavailable, fmt::format("{} (throttled; gave up after {} attempts)", what, attempt),
                          failure.type);
      }
      if (response->status >= 500)
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("{} (after {} attempts)", what, response->attempts), failure.type);
      return make_error(code_of(failure.type), what, failure.type);
    }
  }

  Result<DescribedKey> describe_key(const std::string& key_id, bool single_attempt = false) {
    json request = {{"KeyId", key_id}};
    json answer = BLOBSEAL_TRY(call("DescribeKey", request.dump(), single_attempt));
    DescribedKey out;
    auto metadata = answer.find("KeyMetadata");
    if (metadata == answer.end() || !metadata->is_object())
      return make_error(ErrorCode::kInternal,
                        fmt::format("AWS KMS DescribeKey at {}: the answer has no KeyMetadata", endpoint()));
    if (auto it = metadata->find("Arn"); it != metadata->end() && it->is_string()) out.arn = it->get<std::string>();
    if (auto it = metadata->find("KeyState"); it != metadata->end() && it->is_string()) {
      out.state = it->get<std::string>();
    } else if (auto enabled = metadata->find("Enabled"); enabled != metadata->end() && enabled->is_boolean()) {
      out.state = enabled->get<bool>() ? "Enabled" : "Disabled";
    }
    if (auto it = metadata->find("CreationDate"); it != metadata->end() && it->is_number())
      out.created_unix = static_cast<std::int64_t>(it->get<double>());
    return out;
  }

  // Why `key_id` (neither current nor readable) cannot be used: NotFound when KMS does not know it, otherwise
  // FailedPrecondition naming it.
  Error refused_key(const std::string& key_id, const AwsKmsKeys& keys, bool for_wrap) {
    auto described = describe_key(key_id);
    if (!described) {
      if (described.error().code() == ErrorCode::kNotFound)
        return Error(ErrorCode::kNotFound,
                     fmt::format("unknown key {}: AWS KMS at {} has no such key ({})", quote(key_id), endpoint(),
                                 described.error().message()));
      return described.error().with_context(fmt::format("checking key {}", quote(key_id)));
    }
    if (for_wrap)
      return Error(ErrorCode::kFailedPrecondition,
                   fmt::format("key {} is not the current key (current: {}): new data keys are wrapped only under "
                               "the current key",
                               quote(key_id), quote(keys.key_id)));
    return Error(ErrorCode::kFailedPrecondition,
                 fmt::format("key {} is no longer readable: it is neither the current key ({}) nor listed in "
                             "readable_keys; list it there again to read data keys wrapped under it",
                             quote(key_id), quote(keys.key_id)));
  }

  static bool readable(const AwsKmsKeys& keys, std::string_view key_id) {
    return key_id == keys.key_id ||
           std::find(keys.readable_keys.begin(), keys.readable_keys.end(), key_id) != keys.readable_keys.end();
  }

  // The checks shared by unwrap and reencrypt, before KMS is asked to decrypt.
  Status check_source(const WrappedKey& wrapped, const AwsKmsKeys& keys) {
    if (wrapped.provider != kAwsKmsProviderId)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("the data key was wrapped by key manager {}, not \"awskms\"",
                                    quote(wrapped.provider)));
    if (!readable(keys, wrapped.key_id)) return make_error(refused_key(wrapped.key_id, keys, false));
    if (wrapped.version == 0 || wrapped.version > keys.generation)
      return make_error(ErrorCode::kNotFound,
                        fmt::format("key {} has no generation (version) {}: the current generation is {}",
                                    quote(wrapped.key_id), wrapped.version, keys.generation));
    if (wrapped.ciphertext.empty() || wrapped.ciphertext.size() > kMaxCiphertextBlob)
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("wrapped data key under key {} has an impossible size ({} bytes): the envelope "
                                    "is damaged",
                                    quote(wrapped.key_id), wrapped.ciphertext.size()));
    return {};
  }

  // The key a wrap goes under: the current one. Refuses any other (see refused_key).
  Result<std::string> wrap_key(std::string_view key_id, const AwsKmsKeys& keys) {
    if (key_id.empty() || key_id == keys.key_id) return keys.key_id;
    return make_error(refused_key(std::string(key_id), keys, true));
  }

  Error decrypt_error(const Error& e, const WrappedKey& wrapped, std::string_view doing) {
    if (e.code() == ErrorCode::kDataLoss)
      return Error(ErrorCode::kDataLoss,
                   fmt::format("wrapped data key does not authenticate under key {} generation {}: the object was "
                               "altered or moved to another location ({})",
                               quote(wrapped.key_id), wrapped.version, e.message()),
                   e.reason());
    if (e.code() == ErrorCode::kNotFound)
      return Error(ErrorCode::kNotFound,
                   fmt::format("key {} is unknown to AWS KMS ({})", quote(wrapped.key_id), e.message()), e.reason());
    return e.with_context(fmt::format("{} under key {} generation {}", doing, quote(wrapped.key_id), wrapped.version));
  }

  Result<Bytes> read_blob(json& answer, std::string_view operation) {
    auto it = answer.find("CiphertextBlob");
    std::optional<Bytes> blob;
    if (it != answer.end() && it->is_string()) blob = from_base64(it->get_ref<const std::string&>());
    if (!blob || blob->empty() || blob->size() > kMaxCiphertextBlob)
      return make_error(ErrorCode::kInternal,
                        fmt::format("AWS KMS {} at {}: the answer has no valid CiphertextBlob", operation, endpoint()));
    return std::move(*blob);
  }

  // Takes the base64 Plaintext out of `answer` as a 32-byte data key, zeroizing every copy.
  Result<SecretBytes> read_plaintext(json& answer, std::string_view operation) {
    auto it = answer.find("Plaintext");
    std::optional<Bytes> plain;
    if (it != answer.end() && it->is_string()) plain = from_base64(it->get_ref<const std::string&>());
    wipe_member(answer, "Plaintext");
    if (!plain || plain->size() != kDataKeySize) {
      if (plain) wipe(*plain);
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("AWS KMS {} at {} returned no {}-byte data key", operation, endpoint(),
                                    kDataKeySize));
    }
    SecretBytes out(*plain);
    wipe(*plain);
    return out;
  }

 private:
  const AwsKmsKeyManagerOptions options_;
  std::unique_ptr<net::HttpClient> client_;
  net::RetryPolicy retry_;
  mutable std::mutex mutex_;  // guards keys_
  std::shared_ptr<const AwsKmsKeys> keys_;
};

AwsKmsKeyManager::AwsKmsKeyManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AwsKmsKeyManager::~AwsKmsKeyManager() = default;

namespace {

Status validate_keys(const AwsKmsKeys& keys) {
  if (keys.key_id.empty())
    return make_error(ErrorCode::kInvalidArgument, "key manager \"awskms\": key_id (a KMS key ARN or alias) is required");
  if (keys.generation == 0)
    return make_error(ErrorCode::kInvalidArgument, "key manager \"awskms\": generation must be 1 or more");
  for (const auto& key : keys.readable_keys)
    if (key.empty())
      return make_error(ErrorCode::kInvalidArgument, "key manager \"awskms\": readable_keys holds an empty key id");
  return {};
}

}  // namespace

Result<std::unique_ptr<AwsKmsKeyManager>> AwsKmsKeyManager::open(AwsKmsKeyManagerOptions options) {
  BLOBSEAL_TRY_STATUS(validate_keys(options.keys));
  if (options.region.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "key manager \"awskms\": no region (set region, AWS_REGION or AWS_DEFAULT_REGION)");
  if (options.access_key.empty() || options.secret_key.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "key manager \"awskms\": no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, use "
                      "the shared credentials file, or set access_key and secret_key)");
  if (options.max_attempts < 1 || options.max_attempts > 20)
    return make_error(ErrorCode::kInvalidArgument, "key manager \"awskms\": max_attempts must be from 1 to 20");
  net::ClientOptions client;
  client.endpoint =
      options.endpoint.empty() ? fmt::format("https://kms.{}.amazonaws.com", options.region) : options.endpoint;
  client.connect_timeout = options.connect_timeout;
  client.read_timeout = options.timeout;
  client.verify_tls = options.verify_tls;
  client.ca_file = options.ca_file;
  client.retry.max_attempts = options.max_attempts;
  client.retry.base_delay = options.backoff_base;
  client.retry.max_delay = options.backoff_max;
  net::Credentials credentials;
  credentials.access_key = options.access_key;
  credentials.secret_key = options.secret_key.clone();
  credentials.session_token = options.session_token;
  credentials.region = options.region;
  credentials.service = "kms";
  client.credentials = std::move(credentials);
  auto http = net::HttpClient::create(std::move(client));
  if (!http) return make_error(http.error().with_context("key manager \"awskms\": endpoint"));
  return std::unique_ptr<AwsKmsKeyManager>(
      new AwsKmsKeyManager(std::make_unique<Impl>(std::move(options), std::move(*http))));
}

std::string AwsKmsKeyManager::id() const { return std::string(kAwsKmsProviderId); }

Result<DataKey> AwsKmsKeyManager::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  auto keys = impl_->keys();
  std::string key = BLOBSEAL_TRY(impl_->wrap_key(key_id, *keys));
  json request = {{"KeyId", key},
                  {"KeySpec", "AES_256"},
                  {"EncryptionContext", encryption_context(associated_data, keys->generation)}};
  auto answer = impl_->call("GenerateDataKey", request.dump());
  if (!answer)
    return make_error(answer.error().with_context(fmt::format("generating a data key under key {}", quote(key))));
  auto plaintext = impl_->read_plaintext(*answer, "GenerateDataKey");
  if (!plaintext) return make_error(plaintext.error());
  Bytes blob = BLOBSEAL_TRY(impl_->read_blob(*answer, "GenerateDataKey"));
  return DataKey{std::move(*plaintext),
                 WrappedKey{std::string(kAwsKmsProviderId), key, keys->generation, std::move(blob)}};
}

Result<WrappedKey> AwsKmsKeyManager::wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                          std::string_view key_id) {
  if (data_key.size() != kDataKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a data key is {} bytes, not {}", kDataKeySize, data_key.size()));
  auto keys = impl_->keys();
  std::string key = BLOBSEAL_TRY(impl_->wrap_key(key_id, *keys));
  json request = {{"KeyId", key},
                  {"Plaintext", to_base64(data_key.view())},
                  {"EncryptionContext", encryption_context(associated_data, keys->generation)}};
  std::string body = request.dump();
  wipe_member(request, "Plaintext");
  auto answer = impl_->call("Encrypt", body);
  wipe(body);
  if (!answer) return make_error(answer.error().with_context(fmt::format("wrapping under key {}", quote(key))));
  Bytes blob = BLOBSEAL_TRY(impl_->read_blob(*answer, "Encrypt"));
  return WrappedKey{std::string(kAwsKmsProviderId), key, keys->generation, std::move(blob)};
}

Result<SecretBytes> AwsKmsKeyManager::unwrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  auto keys = impl_->keys();
  BLOBSEAL_TRY_STATUS(impl_->check_source(wrapped, *keys));
  json request = {{"KeyId", wrapped.key_id},
                  {"CiphertextBlob", to_base64(wrapped.ciphertext)},
                  {"EncryptionContext", encryption_context(associated_data, wrapped.version)}};
  auto answer = impl_->call("Decrypt", request.dump());
  if (!answer) return make_error(impl_->decrypt_error(answer.error(), wrapped, "unwrapping"));
  return impl_->read_plaintext(*answer, "Decrypt");
}

Result<bool> AwsKmsKeyManager::needs_rewrap(const WrappedKey& wrapped) {
  if (wrapped.provider != kAwsKmsProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"awskms\"",
                                  quote(wrapped.provider)));
  auto keys = impl_->keys();
  if (wrapped.version == 0 || wrapped.version > keys->generation)
    return make_error(ErrorCode::kNotFound,
                      fmt::format("key {} has no generation (version) {}: the current generation is {}",
                                  quote(wrapped.key_id), wrapped.version, keys->generation));
  if (wrapped.key_id == keys->key_id) return wrapped.version != keys->generation;
  if (Impl::readable(*keys, wrapped.key_id)) return true;
  // Neither current nor readable: NotFound when KMS has no such key; otherwise it needs a rewrap that unwrap will
  // refuse until the key is listed as readable again.
  Error refused = impl_->refused_key(wrapped.key_id, *keys, false);
  if (refused.code() == ErrorCode::kFailedPrecondition) return true;
  return make_error(std::move(refused));
}

Result<std::vector<KeyInfo>> AwsKmsKeyManager::describe() {
  auto keys = impl_->keys();
  std::vector<KeyInfo> out;
  auto versions = [&](std::int64_t created, bool current, bool retired) {
    std::vector<KeyVersionInfo> list;
    for (std::uint32_t g = 1; g <= keys->generation; ++g) {
      KeyVersionInfo version;
      version.version = g;
      version.created_unix = created;
      version.state = retired                                  ? KeyVersionState::kRetired
                      : current && g == keys->generation       ? KeyVersionState::kCurrent
                                                               : KeyVersionState::kActive;
      list.push_back(version);
    }
    return list;
  };
  DescribedKey current = BLOBSEAL_TRY(impl_->describe_key(keys->key_id));
  out.push_back(KeyInfo{keys->key_id, true, versions(current.created_unix, true, current.state != "Enabled")});
  for (const auto& name : keys->readable_keys) {
    if (name == keys->key_id) continue;
    auto described = impl_->describe_key(name);
    if (!described && described.error().code() != ErrorCode::kNotFound) return make_error(described.error());
    bool retired = !described || described->state != "Enabled";
    out.push_back(KeyInfo{name, false, versions(described ? described->created_unix : 0, false, retired)});
  }
  return out;
}

Status AwsKmsKeyManager::health() {
  auto keys = impl_->keys();
  auto described = impl_->describe_key(keys->key_id, true);
  if (!described) return make_error(described.error().with_context("AWS KMS health check"));
  if (described->state != "Enabled")
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key {} is {} in AWS KMS at {}, not Enabled", quote(keys->key_id),
                                  quote(described->state), impl_->endpoint()));
  return {};
}

Result<WrappedKey> AwsKmsKeyManager::reencrypt(const WrappedKey& wrapped, ByteSpan associated_data) {
  auto keys = impl_->keys();
  BLOBSEAL_TRY_STATUS(impl_->check_source(wrapped, *keys));
  json request = {{"CiphertextBlob", to_base64(wrapped.ciphertext)},
                  {"SourceKeyId", wrapped.key_id},
                  {"SourceEncryptionContext", encryption_context(associated_data, wrapped.version)},
                  {"DestinationKeyId", keys->key_id},
                  {"DestinationEncryptionContext", encryption_context(associated_data, keys->generation)}};
  auto answer = impl_->call("ReEncrypt", request.dump());
  if (!answer)
    return make_error(impl_->decrypt_error(
        answer.error(), wrapped, fmt::format("re-encrypting for key {} generation {}", quote(keys->key_id),
                                             keys->generation)));
  Bytes blob = BLOBSEAL_TRY(impl_->read_blob(*answer, "ReEncrypt"));
  return WrappedKey{std::string(kAwsKmsProviderId), keys->key_id, keys->generation, std::move(blob)};
}

Status AwsKmsKeyManager::set_keys(AwsKmsKeys keys) {
  BLOBSEAL_TRY_STATUS(validate_keys(keys));
  impl_->set_keys(std::move(keys));
  return {};
}

AwsKmsKeys AwsKmsKeyManager::keys() const { return *impl_->keys(); }

}  // namespace blobseal::keys
