#include "keys/kmip/kmip_key_manager.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "crypto/primitives.h"

namespace blobseal::keys {

namespace {

using kmip::CipherMode;
using kmip::KmipClient;
using kmip::ObjectState;
using kmip::Operation;
using kmip::TtlvItem;
using kmip::TtlvType;
namespace tag = kmip::tag;

constexpr std::uint8_t kFormatGcm = 0x01;
constexpr std::uint8_t kFormatCbc = 0x02;
constexpr std::size_t kGcmIvSize = 12;
constexpr std::size_t kGcmTagSize = 16;
constexpr std::size_t kCbcIvSize = 16;
constexpr std::size_t kBindingSize = 32;  // SHA-256 of the associated data, in front of the data key (CBC)
constexpr std::size_t kCbcCiphertextSize = 80;  // 64 bytes of plaintext + a full block of PKCS#5 padding
constexpr std::size_t kGcmWrappedSize = 1 + kGcmIvSize + kDataKeySize + kGcmTagSize;
constexpr std::size_t kCbcWrappedSize = 1 + kCbcIvSize + kCbcCiphertextSize;
constexpr std::string_view kAssociatedDataLabel = "blobseal.dev/kmip-wrap@v1";
constexpr std::string_view kDoesNotAuthenticate =
    "wrapped data key does not authenticate: the object was altered or moved to another location";

std::string object_group(std::string_view key_id) { return fmt::format("blobseal:{}", key_id); }
std::string object_name(std::string_view key_id, std::uint32_t version) {
  return fmt::format("blobseal:{}:v{}", key_id, version);
}

// "blobseal:K:vN" → N, for the key K.
std::optional<std::uint32_t> version_from_name(std::string_view name, std::string_view key_id) {
  std::string prefix = fmt::format("blobseal:{}:v", key_id);
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view digits = name.substr(prefix.size());
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n == 0) return std::nullopt;
  return n;
}

bool valid_key_id(std::string_view key_id) {
  if (key_id.empty() || key_id.size() > 64) return false;
  return std::all_of(key_id.begin(), key_id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// Key ids reach messages quoted and bounded: a WrappedKey read from a damaged envelope may hold anything.
std::string quote_name(std::string_view name) {
  std::string out = "\"";
  for (char c : name.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (name.size() > 80) out += "...";
  return out + "\"";
}

Bytes full_associated_data(std::string_view key_id, std::uint32_t version, ByteSpan associated_data) {
  Bytes out;
  out.reserve(kAssociatedDataLabel.size() + 1 + 4 + key_id.size() + 4 + associated_data.size());
  put_bytes(out, as_bytes(kAssociatedDataLabel));
  put_u8(out, 0);
  put_u32(out, static_cast<std::uint32_t>(key_id.size()));
  put_bytes(out, as_bytes(key_id));
  put_u32(out, version);
  put_bytes(out, associated_data);
  return out;
}

struct VersionEntry {
  std::uint32_t version = 0;
  std::string unique_identifier;
  ObjectState state = ObjectState::kPreActive;
  std::int64_t created_unix = 0;
};

struct KeyEntry {
  std::vector<VersionEntry> versions;  // ascending
  std::chrono::steady_clock::time_point loaded;

  const VersionEntry* current() const {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it)
      if (it->state == ObjectState::kActive) return &*it;
    return nullptr;
  }
  const VersionEntry* find(std::uint32_t version) const {
    for (const auto& v : versions)
      if (v.version == version) return &v;
    return nullptr;
  }
};

}  // namespace

class KmipKeyManager::Impl {
 public:
  Impl(KmipKeyManagerOptions options, std::unique_ptr<KmipClient> client)
      : options_(std::move(options)), client_(std::move(client)) {}

  const KmipKeyManagerOptions& options() const { return options_; }
  const std::string& endpoint() const { return client_->endpoint(); }

  Result<TtlvItem> call(Operation operation, const TtlvItem& payload) {
    return client_->call(options_.protocol, operation, payload);
  }

  std::string key_or_default(std::string_view key_id) const {
    return key_id.empty() ? options_.default_key : std::string(key_id);
  }

  // The key's versions: cached, or read from the server when the cache is older than the refresh interval or
  // `force` is set. NotFound when the server has no object of the key.
  Result<KeyEntry> key(const std::string& key_id, bool force) {
    if (!valid_key_id(key_id))
      return make_error(ErrorCode::kNotFound,
                        fmt::format("unknown key {}: not a valid key name (1..64 characters from [A-Za-z0-9._-])",
                                    quote_name(key_id)));
    {
      std::lock_guard lock(mutex_);
      auto it = keys_.find(key_id);
      if (it != keys_.end() && !force &&
          std::chrono::steady_clock::now() - it->second.loaded < options_.refresh_interval)
        return it->second;
    }
    KeyEntry entry = BLOBSEAL_TRY(load(key_id));
    if (entry.versions.empty()) {
      std::lock_guard lock(mutex_);
      keys_.erase(key_id);
      return make_error(ErrorCode::kNotFound,
                        fmt::format("unknown key {}: the KMIP server {} has no object in the group \"{}\"",
                                    quote_name(key_id), endpoint(), object_group(key_id)));
    }
    std::lock_guard lock(mutex_);
    keys_[key_id] = entry;
    return entry;
  }

  Result<KeyEntry> load(const std::string& key_id) {
    TtlvItem locate = TtlvItem::structure(
        tag::kRequestPayload,
        {TtlvItem::structure(tag::kAttribute, {TtlvItem::text(tag::kAttributeName, "Object Group"),
                                               TtlvItem::text(tag::kAttributeValue, object_group(key_id))})});
    auto located = call(Operation::kLocate, locate);
    if (!located) return make_error(located.error().with_context(fmt::format("looking up key \"{}\"", key_id)));
    std::vector<std::string> ids = BLOBSEAL_TRY(kmip::read_located_identifiers(*located));
    KeyEntry entry;
    for (const auto& uid : ids) {
      auto attributes =
          call(Operation::kGetAttributes, kmip::get_attributes_payload(uid, {"Name", "State", "Initial Date"}));
      if (!attributes) {
        if (attributes.error().code() == ErrorCode::kNotFound) continue;  // destroyed since the Locate
        return make_error(attributes.error().with_context(fmt::format("reading key \"{}\"", key_id)));
      }
      VersionEntry version;
      version.unique_identifier = uid;
      auto state = BLOBSEAL_TRY(kmip::read_state_attribute(*attributes));
      if (!state) continue;  // an object without a State is not a key
      version.state = *state;
      for (const auto& item : attributes->items) {
        if (item.tag != tag::kAttribute || item.type != TtlvType::kStructure) continue;
        const TtlvItem* name = item.find(tag::kAttributeName);
        const TtlvItem* value = item.find(tag::kAttributeValue);
        if (name == nullptr || value == nullptr || name->type != TtlvType::kTextString) continue;
        if (name->text_value() == "Name" && value->type == TtlvType::kStructure) {
          const TtlvItem* text = value->find(tag::kNameValue);
          if (text == nullptr || text->type != TtlvType::kTextString) continue;
          if (auto n = version_from_name(text->text_value(), key_id)) version.version = *n;
        } else if (name->text_value() == "Initial Date" && value->type == TtlvType::kDateTime) {
          version.created_unix = value->integer;
        }
      }
      if (version.version == 0) continue;  // in the group but not named as a version: not ours to use
      for (const auto& other : entry.versions)
        if (other.version == version.version)
          return make_error(ErrorCode::kFailedPrecondition,
                            fmt::format("key \"{}\" version {} exists twice on the KMIP server {} (objects {} and "
                                        "{}): destroy one of them",
                                        key_id, version.version, endpoint(), other.unique_identifier, uid));
      entry.versions.push_back(std::move(version));
    }
    std::sort(entry.versions.begin(), entry.versions.end(),
              [](const VersionEntry& a, const VersionEntry& b) { return a.version < b.version; });
    entry.loaded = std::chrono::steady_clock::now();
    return entry;
  }

  void forget(const std::string& key_id) {
    std::lock_guard lock(mutex_);
    keys_.erase(key_id);
  }

  std::vector<std::string> known_keys() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, entry] : keys_) out.push_back(name);
    if (std::find(out.begin(), out.end(), options_.default_key) == out.end()) out.push_back(options_.default_key);
    std::sort(out.begin(), out.end());
    return out;
  }

  // Whether `version` is inside the dual-read window of `key` (the N newest Active versions).
  bool inside_window(const KeyEntry& key, std::uint32_t version) const {
    if (options_.dual_read_versions == 0) return true;
    unsigned newer = 0;
    for (const auto& v : key.versions)
      if (v.state == ObjectState::kActive && v.version > version) ++newer;
    return newer < options_.dual_read_versions;
  }

  Result<WrappedKey> wrap_under(const std::string& key_id, const VersionEntry& version, ByteSpan data_key,
                                ByteSpan associated_data) {
    Bytes aad = full_associated_data(key_id, version.version, associated_data);
    WrappedKey wrapped{std::string(kKmipProviderId), key_id, version.version, {}};
    if (options_.cipher == CipherMode::kAesGcm) {
      Bytes iv(kGcmIvSize);
      crypto::random_bytes(iv);
      TtlvItem request = kmip::encrypt_payload(version.unique_identifier, CipherMode::kAesGcm, data_key, iv, aad);
      auto response = call(Operation::kEncrypt, request);
      request.wipe();
      if (!response) return make_error(wrap_error(key_id, version, response.error()));
      auto result = BLOBSEAL_TRY(kmip::read_encrypt_response(*response));
      if (result.iv && *result.iv != iv) iv = *result.iv;
      if (result.data.size() != kDataKeySize || !result.tag || result.tag->size() != kGcmTagSize ||
          iv.size() != kGcmIvSize)
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("KMIP server {} answered Encrypt (AES-GCM) with {} bytes of ciphertext and "
                                      "{} bytes of tag (expected {} and {}): does it support AES-GCM with a "
                                      "16-byte tag? Set cipher = aes-cbc otherwise",
                                      endpoint(), result.data.size(), result.tag ? result.tag->size() : 0,
                                      kDataKeySize, kGcmTagSize),
                          "KmipBadResponse");
      wrapped.ciphertext.reserve(kGcmWrappedSize);
      put_u8(wrapped.ciphertext, kFormatGcm);
      put_bytes(wrapped.ciphertext, iv);
      put_bytes(wrapped.ciphertext, result.data);
      put_bytes(wrapped.ciphertext, *result.tag);
      return wrapped;
    }
    Bytes iv(kCbcIvSize);
    crypto::random_bytes(iv);
    SecretBytes plaintext(kBindingSize + kDataKeySize);
    auto binding = crypto::sha256(aad);
    std::copy(binding.begin(), binding.end(), plaintext.data());
    std::copy(data_key.begin(), data_key.end(), plaintext.data() + kBindingSize);
    TtlvItem request = kmip::encrypt_payload(version.unique_identifier, CipherMode::kAesCbcPkcs5, plaintext.view(),
                                             iv, {});
    auto response = call(Operation::kEncrypt, request);
    request.wipe();
    if (!response) return make_error(wrap_error(key_id, version, response.error()));
    auto result = BLOBSEAL_TRY(kmip::read_encrypt_response(*response));
    if (result.iv) iv = *result.iv;
    if (result.data.size() != kCbcCiphertextSize || iv.size() != kCbcIvSize)
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("KMIP server {} answered Encrypt (AES-CBC) with {} bytes of ciphertext "
                                    "(expected {})",
                                    endpoint(), result.data.size(), kCbcCiphertextSize),
                        "KmipBadResponse");
    wrapped.ciphertext.reserve(kCbcWrappedSize);
    put_u8(wrapped.ciphertext, kFormatCbc);
    put_bytes(wrapped.ciphertext, iv);
    put_bytes(wrapped.ciphertext, result.data);
    return wrapped;
  }

  Result<SecretBytes> unwrap_under(const std::string& key_id, const VersionEntry& version, ByteSpan ciphertext,
                                   ByteSpan associated_data) {
    Bytes aad = full_associated_data(key_id, version.version, associated_data);
    bool gcm = !ciphertext.empty() && ciphertext[0] == kFormatGcm;
    bool cbc = !ciphertext.empty() && ciphertext[0] == kFormatCbc;
    if ((gcm && ciphertext.size() != kGcmWrappedSize) || (cbc && ciphertext.size() != kCbcWrappedSize) ||
        (!gcm && !cbc))
      return make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));
    TtlvItem request;
    if (gcm) {
      ByteSpan iv = ciphertext.subspan(1, kGcmIvSize);
      ByteSpan data = ciphertext.subspan(1 + kGcmIvSize, kDataKeySize);
      ByteSpan auth_tag = ciphertext.subspan(1 + kGcmIvSize + kDataKeySize, kGcmTagSize);
      request = kmip::decrypt_payload(version.unique_identifier, CipherMode::kAesGcm, data, iv, aad, auth_tag);
    } else {
      ByteSpan iv = ciphertext.subspan(1, kCbcIvSize);
      ByteSpan data = ciphertext.subspan(1 + kCbcIvSize);
      request = kmip::decrypt_payload(version.unique_identifier, CipherMode::kAesCbcPkcs5, data, iv, {}, {});
    }
    auto response = call(Operation::kDecrypt, request);
    if (!response) {
      const Error& e = response.error();
      if (e.reason() == "CryptographicFailure" || e.reason() == "GeneralFailure")
        return make_error(ErrorCode::kDataLoss,
                          fmt::format("{} (key \"{}\" version {}; {})", kDoesNotAuthenticate, key_id, version.version,
                                      e.message()));
      return make_error(use_error(key_id, version, e, "unwrapping"));
    }
    TtlvItem payload = std::move(*response);
    auto data = kmip::read_decrypt_data(payload);
    if (!data) {
      payload.wipe();
      return make_error(data.error());
    }
    ByteSpan plain = (*data)->bytes;
    Result<SecretBytes> out = make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));
    if (gcm && plain.size() == kDataKeySize) {
      out = SecretBytes(plain);
    } else if (cbc && plain.size() == kBindingSize + kDataKeySize) {
      auto binding = crypto::sha256(aad);
      if (crypto::constant_time_equal(plain.first(kBindingSize), binding)) out = SecretBytes(plain.subspan(kBindingSize));
    }
    payload.wipe();
    return out;
  }

  // A refused Encrypt: the version's state changed under us, or the server failed.
  Error wrap_error(const std::string& key_id, const VersionEntry& version, const Error& e) {
    forget(key_id);
    return use_error(key_id, version, e, "wrapping");
  }

  Error use_error(const std::string& key_id, const VersionEntry& version, const Error& e, std::string_view doing) {
    if (e.code() == ErrorCode::kPermissionDenied && e.reason() == "PermissionDenied") {
      forget(key_id);
      return Error(ErrorCode::kFailedPrecondition,
                   fmt::format("key \"{}\" version {} cannot be used on the KMIP server {} (retired or not active): "
                               "{}",
                               key_id, version.version, endpoint(), e.message()));
    }
    if (e.code() == ErrorCode::kNotFound) {
      forget(key_id);
      return Error(ErrorCode::kNotFound,
                   fmt::format("key \"{}\" version {} (object {}) is gone from the KMIP server {}: {}", key_id,
                               version.version, version.unique_identifier, endpoint(), e.message()));
    }
    return e.with_context(fmt::format("{} under key \"{}\" version {}", doing, key_id, version.version));
  }

  Result<std::uint32_t> add_version(const std::string& key_id, std::uint32_t version) {
    TtlvItem create = kmip::create_aes_key_payload(object_name(key_id, version));
    create.items[1].items.push_back(TtlvItem::structure(
        tag::kAttribute, {TtlvItem::text(tag::kAttributeName, "Object Group"),
                          TtlvItem::text(tag::kAttributeValue, object_group(key_id))}));
    auto created = call(Operation::kCreate, create);
    if (!created)
      return make_error(created.error().with_context(fmt::format("creating key \"{}\" version {}", key_id, version)));
    std::string uid = BLOBSEAL_TRY(kmip::read_unique_identifier(*created, Operation::kCreate));
    auto activated = call(Operation::kActivate, kmip::unique_identifier_payload(uid));
    forget(key_id);
    if (!activated) {
      // A Pre-Active object is never used; destroy it so the next attempt starts clean.
      (void)call(Operation::kDestroy, kmip::unique_identifier_payload(uid));
      return make_error(
          activated.error().with_context(fmt::format("activating key \"{}\" version {}", key_id, version)));
    }
    return version;
  }

 private:
  const KmipKeyManagerOptions options_;
  std::unique_ptr<KmipClient> client_;
  std::mutex mutex_;  // guards keys_
  std::map<std::string, KeyEntry> keys_;
};

KmipKeyManager::KmipKeyManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KmipKeyManager::~KmipKeyManager() = default;

Result<std::unique_ptr<KmipKeyManager>> KmipKeyManager::open(const KmipKeyManagerOptions& options) {
  if (!valid_key_id(options.default_key))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("key manager \"kmip\": key {} is not a valid key name (1..64 characters from "
                                  "[A-Za-z0-9._-])",
                                  quote_name(options.default_key)));
  if (options.cipher == CipherMode::kAesGcm && options.protocol < kmip::ProtocolVersion{1, 4})
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("key manager \"kmip\": cipher aes-gcm needs KMIP 1.4 (protocol_version {}.{} "
                                  "configured); use cipher aes-cbc with older servers",
                                  options.protocol.major, options.protocol.minor));
  if (options.protocol < kmip::ProtocolVersion{1, 2} || options.protocol.major != 1)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("key manager \"kmip\": protocol_version {}.{} is not supported (1.2 to 1.4)",
                                  options.protocol.major, options.protocol.minor));
  auto client = BLOBSEAL_TRY(KmipClient::create(options.client));
  std::unique_ptr<KmipKeyManager> manager(new KmipKeyManager(std::make_unique<Impl>(options, std::move(client))));
  if (options.create_default_key) {
    auto existing = manager->impl_->key(options.default_key, true);
    if (!existing && existing.error().code() != ErrorCode::kNotFound) return make_error(existing.error());
    if (!existing) BLOBSEAL_TRY(manager->impl_->add_version(options.default_key, 1));
  }
  return manager;
}

std::string KmipKeyManager::id() const { return std::string(kKmipProviderId); }

Result<DataKey> KmipKeyManager::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  SecretBytes plaintext = crypto::random_secret(kDataKeySize);
  auto wrapped = BLOBSEAL_TRY(wrap(plaintext, associated_data, key_id));
  return DataKey{std::move(plaintext), std::move(wrapped)};
}

Result<WrappedKey> KmipKeyManager::wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                        std::string_view key_id) {
  if (data_key.size() != kDataKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a data key is {} bytes, not {}", kDataKeySize, data_key.size()));
  std::string name = impl_->key_or_default(key_id);
  KeyEntry key = BLOBSEAL_TRY(impl_->key(name, false));
  const VersionEntry* current = key.current();
  if (current == nullptr)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" has no current version: no version is Active on the KMIP server {}; "
                                  "rotate it",
                                  name, impl_->endpoint()));
  return impl_->wrap_under(name, *current, data_key.view(), associated_data);
}

Result<SecretBytes> KmipKeyManager::unwrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  if (wrapped.provider != kKmipProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"kmip\"",
                                  quote_name(wrapped.provider)));
  KeyEntry key = BLOBSEAL_TRY(impl_->key(wrapped.key_id, false));
  const VersionEntry* version = key.find(wrapped.version);
  if (version == nullptr) {
    key = BLOBSEAL_TRY(impl_->key(wrapped.key_id, true));
    version = key.find(wrapped.version);
  }
  if (version == nullptr)
    return make_error(ErrorCode::kNotFound,
                      fmt::format("key \"{}\" has no version {} on the KMIP server {} (newest: version {}; a "
                                  "destroyed version is gone for good)",
                                  wrapped.key_id, wrapped.version, impl_->endpoint(), key.versions.back().version));
  if (version->state != ObjectState::kActive)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is retired (KMIP object {} is {}): data keys wrapped under "
                                  "it no longer unwrap",
                                  wrapped.key_id, wrapped.version, version->unique_identifier,
                                  kmip::to_string(version->state)));
  if (!impl_->inside_window(key, wrapped.version))
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is outside the dual-read window ({} newest versions "
                                  "readable): rewrap objects under it while it is readable",
                                  wrapped.key_id, wrapped.version, impl_->options().dual_read_versions));
  return impl_->unwrap_under(wrapped.key_id, *version, wrapped.ciphertext, associated_data);
}

Result<bool> KmipKeyManager::needs_rewrap(const WrappedKey& wrapped) {
  if (wrapped.provider != kKmipProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"kmip\"",
                                  quote_name(wrapped.provider)));
  KeyEntry key = BLOBSEAL_TRY(impl_->key(wrapped.key_id, false));
  const VersionEntry* current = key.current();
  return current == nullptr || current->version != wrapped.version;
}

Result<std::vector<KeyInfo>> KmipKeyManager::describe() {
  std::vector<KeyInfo> out;
  for (const auto& name : impl_->known_keys()) {
    auto key = impl_->key(name, false);
    if (!key) {
      if (key.error().code() == ErrorCode::kNotFound && name != impl_->options().default_key) continue;
      return make_error(key.error());
    }
    KeyInfo info;
    info.key_id = name;
    info.is_default = name == impl_->options().default_key;
    const VersionEntry* current = key->current();
    for (const auto& v : key->versions) {
      KeyVersionInfo version;
      version.version = v.version;
      version.created_unix = v.created_unix;
      if (current != nullptr && v.version == current->version) {
        version.state = KeyVersionState::kCurrent;
      } else if (v.state != ObjectState::kActive) {
        version.state = KeyVersionState::kRetired;
      } else {
        version.state = impl_->inside_window(*key, v.version) ? KeyVersionState::kActive : KeyVersionState::kExpired;
      }
      info.versions.push_back(version);
    }
    out.push_back(std::move(info));
  }
  return out;
}

Status KmipKeyManager::health() {
  const std::string& name = impl_->options().default_key;
  KeyEntry key = BLOBSEAL_TRY(impl_->key(name, false));
  const VersionEntry* current = key.current();
  if (current == nullptr)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" has no current version on the KMIP server {}", name, impl_->endpoint()));
  auto attributes =
      impl_->call(Operation::kGetAttributes, kmip::get_attributes_payload(current->unique_identifier, {"State"}));
  if (!attributes) {
    impl_->forget(name);
    return make_error(attributes.error().with_context("KMIP health check"));
  }
  auto state = BLOBSEAL_TRY(kmip::read_state_attribute(*attributes));
  if (state != ObjectState::kActive) {
    impl_->forget(name);
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is no longer Active on the KMIP server {}", name,
                                  current->version, impl_->endpoint()));
  }
  return {};
}

Result<std::uint32_t> KmipKeyManager::create_key(std::string_view key_id) {
  std::string name = impl_->key_or_default(key_id);
  if (!valid_key_id(name))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{} is not a valid key name (1..64 characters from [A-Za-z0-9._-])",
                                  quote_name(name)));
  auto existing = impl_->key(name, true);
  if (existing)
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("key \"{}\" already exists on the KMIP server {} ({} versions)", name,
                                  impl_->endpoint(), existing->versions.size()));
  if (existing.error().code() != ErrorCode::kNotFound) return make_error(existing.error());
  return impl_->add_version(name, 1);
}

Result<std::uint32_t> KmipKeyManager::rotate(std::string_view key_id) {
  std::string name = impl_->key_or_default(key_id);
  KeyEntry key = BLOBSEAL_TRY(impl_->key(name, true));
  return impl_->add_version(name, key.versions.back().version + 1);
}

Status KmipKeyManager::retire(std::string_view key_id, std::uint32_t version) {
  std::string name = impl_->key_or_default(key_id);
  KeyEntry key = BLOBSEAL_TRY(impl_->key(name, true));
  const VersionEntry* entry = key.find(version);
  if (entry == nullptr)
    return make_error(ErrorCode::kNotFound, fmt::format("key \"{}\" has no version {}", name, version));
  const VersionEntry* current = key.current();
  if (current != nullptr && current->version == version)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is the current version: rotate first", name, version));
  if (entry->state != ObjectState::kActive) return {};
  auto revoked = impl_->call(Operation::kRevoke, kmip::revoke_payload(entry->unique_identifier, "retired by blobseal"));
  impl_->forget(name);
  if (!revoked)
    return make_error(revoked.error().with_context(fmt::format("retiring key \"{}\" version {}", name, version)));
  return {};
}

Status KmipKeyManager::destroy(std::string_view key_id, std::uint32_t version) {
  std::string name = impl_->key_or_default(key_id);
  KeyEntry key = BLOBSEAL_TRY(impl_->key(name, true));
  const VersionEntry* entry = key.find(version);
  if (entry == nullptr)
    return make_error(ErrorCode::kNotFound, fmt::format("key \"{}\" has no version {}", name, version));
  const VersionEntry* current = key.current();
  if (current != nullptr && current->version == version)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is the current version: rotate first", name, version));
  if (entry->state == ObjectState::kActive)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is not retired; rewrap objects off it (blobseal rewrap), "
                                  "retire it (blobseal keys retire {} {}), then destroy it",
                                  name, version, name, version));
  auto destroyed = impl_->call(Operation::kDestroy, kmip::unique_identifier_payload(entry->unique_identifier));
  impl_->forget(name);
  if (!destroyed)
    return make_error(destroyed.error().with_context(fmt::format("destroying key \"{}\" version {}", name, version)));
  return {};
}

}  // namespace blobseal::keys
