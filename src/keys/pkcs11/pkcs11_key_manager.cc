#include "keys/pkcs11/pkcs11_key_manager.h"

#include <algorithm>
#include <charconv>
#include <atomic>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"
#include "keys/pkcs11/labels.h"
#include "keys/pkcs11/module.h"  // last: the PKCS#11 header

namespace blobseal::keys {

namespace {

using pkcs11::quote_name;

constexpr std::size_t kIvSize = crypto::kAesGcmNonceSize;
constexpr std::size_t kTagSize = crypto::kAesGcmTagSize;
constexpr std::size_t kWrappedSize = kIvSize + kDataKeySize + kTagSize;
constexpr unsigned long kKeyBytes = 32;  // AES-256 key-encryption keys
constexpr unsigned char kTrue = 1;
constexpr unsigned char kFalse = 0;
// PKCS#11 3.0's code for an AEAD tag that does not verify; the 2.40 header lacks it.
constexpr ck_rv_t kAeadDecryptFailed = 0x35;

constexpr std::string_view kDoesNotAuthenticate =
    "wrapped data key does not authenticate: the object was altered or moved to another location";

// A failed PKCS#11 call: which function, and what it returned.
struct TokenFailure {
  const char* call;
  ck_rv_t rv;
};
template <typename T>
using TokenResult = tl::expected<T, TokenFailure>;

tl::unexpected<TokenFailure> failed(const char* call, ck_rv_t rv) { return tl::unexpected(TokenFailure{call, rv}); }

// The session or login is gone: the token was removed, the module reset, or another user of the module in this
// process closed every session.
bool is_connection_lost(ck_rv_t rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

// The object behind a handle went away (destroyed by another process, or the handles were renumbered after a new
// login): read the key list again and retry once.
bool is_stale_handle(ck_rv_t rv) { return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID; }

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

// The times of a version, kept in its CKA_ID: "created=<unix>" or "created=<unix>;retired=<unix>". (CKA_START_DATE
// and CKA_END_DATE would be the standard place, but SoftHSM2 2.6 answers CKR_GENERAL_ERROR when they are read back
// from a private object.) Objects made by other tools have other ids: their times read as 0.
struct VersionTimes {
  std::int64_t created_unix = 0;
  std::optional<std::int64_t> retired_unix;
};

std::string times_record(const VersionTimes& times) {
  if (times.retired_unix) return fmt::format("created={};retired={}", times.created_unix, *times.retired_unix);
  return fmt::format("created={}", times.created_unix);
}

VersionTimes parse_times_record(std::string_view record) {
  VersionTimes times;
  auto number = [](std::string_view text) -> std::optional<std::int64_t> {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
    return value;
  };
  while (!record.empty()) {
    std::size_t semicolon = record.find(';');
    std::string_view field = record.substr(0, semicolon);
    record = semicolon == std::string_view::npos ? std::string_view() : record.substr(semicolon + 1);
    if (field.starts_with("created=")) {
      times.created_unix = number(field.substr(8)).value_or(0);
    } else if (field.starts_with("retired=")) {
      times.retired_unix = number(field.substr(8));
    }
  }
  return times;
}

struct ck_attribute attribute(ck_attribute_type_t type, const void* value, unsigned long size) {
  return {type, const_cast<void*>(value), size};
}

// One version of a key as the token holds it.
struct VersionObject {
  std::uint32_t version = 0;
  std::vector<ck_object_handle_t> handles;  // more than one: objects sharing a label, refused
  bool can_encrypt = false;
  bool can_decrypt = false;
  VersionTimes times;

  bool retired() const { return !can_decrypt; }
};

struct KeyObjects {
  std::vector<VersionObject> versions;  // ascending

  const VersionObject* find(std::uint32_t version) const {
    for (const auto& v : versions)
      if (v.version == version) return &v;
    return nullptr;
  }
  // The newest version that may encrypt and decrypt.
  const VersionObject* current() const {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it)
      if (it->can_encrypt && it->can_decrypt) return &*it;
    return nullptr;
  }
  KeyVersionState state_of(const VersionObject& v) const {
    if (v.retired()) return KeyVersionState::kRetired;
    const VersionObject* now = current();
    return now != nullptr && now->version == v.version ? KeyVersionState::kCurrent : KeyVersionState::kActive;
  }
};

using KeyTable = std::map<std::string, KeyObjects, std::less<>>;

const KeyObjects* find_key(const KeyTable& table, std::string_view key_id) {
  auto it = table.find(key_id);
  return it == table.end() ? nullptr : &it->second;
}

// Every blobseal key object in the token.
TokenResult<KeyTable> list_key_objects(struct ck_function_list& api, ck_session_handle_t session) {
  ck_object_class_t secret_key = CKO_SECRET_KEY;
  ck_key_type_t aes = CKK_AES;
  struct ck_attribute search[] = {attribute(CKA_CLASS, &secret_key, sizeof secret_key),
                                  attribute(CKA_KEY_TYPE, &aes, sizeof aes),
                                  attribute(CKA_TOKEN, &kTrue, sizeof kTrue)};
  if (ck_rv_t rv = api.C_FindObjectsInit(session, search, std::size(search)); rv != CKR_OK)
    return failed("C_FindObjectsInit", rv);
  std::vector<ck_object_handle_t> handles;
  for (;;) {
    ck_object_handle_t batch[64];
    unsigned long found = 0;
    ck_rv_t rv = api.C_FindObjects(session, batch, std::size(batch), &found);
    if (rv != CKR_OK) {
      api.C_FindObjectsFinal(session);
      return failed("C_FindObjects", rv);
    }
    if (found == 0) break;
    handles.insert(handles.end(), batch, batch + found);
  }
  if (ck_rv_t rv = api.C_FindObjectsFinal(session); rv != CKR_OK) return failed("C_FindObjectsFinal", rv);

  KeyTable table;
  for (ck_object_handle_t handle : handles) {
    char label[128];
    struct ck_attribute label_attribute = attribute(CKA_LABEL, label, sizeof label);
    ck_rv_t rv = api.C_GetAttributeValue(session, handle, &label_attribute, 1);
    if (rv == CKR_BUFFER_TOO_SMALL || is_stale_handle(rv)) continue;  // not ours, or destroyed meanwhile
    if (rv != CKR_OK) return failed("C_GetAttributeValue", rv);
    auto name = pkcs11::parse_object_label(std::string_view(label, label_attribute.value_len));
    if (!name) continue;

    unsigned long value_len = 0;
    unsigned char encrypt = kFalse, decrypt = kFalse;
    struct ck_attribute attributes[] = {attribute(CKA_VALUE_LEN, &value_len, sizeof value_len),
                                        attribute(CKA_ENCRYPT, &encrypt, sizeof encrypt),
                                        attribute(CKA_DECRYPT, &decrypt, sizeof decrypt)};
    rv = api.C_GetAttributeValue(session, handle, attributes, std::size(attributes));
    if (is_stale_handle(rv)) continue;
    if (rv != CKR_OK) return failed("C_GetAttributeValue", rv);
    if (value_len != kKeyBytes) continue;

    VersionObject object;
    object.version = name->version;
    object.handles.push_back(handle);
    object.can_encrypt = encrypt != kFalse;
    object.can_decrypt = decrypt != kFalse;
    char id[128];
    struct ck_attribute id_attribute = attribute(CKA_ID, id, sizeof id);
    if (api.C_GetAttributeValue(session, handle, &id_attribute, 1) == CKR_OK)
      object.times = parse_times_record(std::string_view(id, id_attribute.value_len));
    if (object.retired() && !object.times.retired_unix) object.times.retired_unix = 0;

    auto& versions = table[name->key_id].versions;
    auto same = std::find_if(versions.begin(), versions.end(),
                             [&](const VersionObject& v) { return v.version == object.version; });
    if (same != versions.end()) {
      same->handles.push_back(handle);
    } else {
      versions.push_back(std::move(object));
    }
  }
  for (auto& [key_id, key] : table)
    std::sort(key.versions.begin(), key.versions.end(),
              [](const VersionObject& a, const VersionObject& b) { return a.version < b.version; });
  return table;
}

}  // namespace

class Pkcs11KeyManager::Impl {
 public:
  Impl(Pkcs11Options options, std::shared_ptr<pkcs11::Module> module)
      : options_(std::move(options)), module_(std::move(module)), api_(module_->api()) {
    token_name_ = options_.token_label.empty() ? fmt::format("in slot {}", *options_.slot_id)
                                               : fmt::format("\"{}\"", options_.token_label);
  }

  ~Impl() {
    std::lock_guard lock(mutex_);
    close_all_locked();
  }

  const Pkcs11Options& options() const { return options_; }
  struct ck_function_list& api() {
    return api_;
  }
  const std::string& token_label() const { return options_.token_label; }

  // A pooled session, returned on destruction; discard() closes it instead (an operation failed half-way).
  class Lease {
   public:
    Lease(Impl* impl, ck_session_handle_t handle, std::uint64_t generation)
        : impl_(impl), handle_(handle), generation_(generation) {}
    Lease(Lease&& other) noexcept
        : impl_(std::exchange(other.impl_, nullptr)),
          handle_(other.handle_),
          generation_(other.generation_),
          discard_(other.discard_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (impl_ != nullptr) impl_->release(handle_, generation_, discard_);
    }
    ck_session_handle_t handle() const { return handle_; }
    void discard() { discard_ = true; }

   private:
    Impl* impl_;
    ck_session_handle_t handle_;
    std::uint64_t generation_;
    bool discard_ = false;
  };

  // Finds the token and logs in, unless already done. Errors name the token, never the PIN.
  Status connect() {
    std::lock_guard lock(mutex_);
    return connect_locked();
  }

  Result<Lease> session() {
    std::lock_guard lock(mutex_);
    BLOBSEAL_TRY_STATUS(connect_locked());
    if (!idle_.empty()) {
      ck_session_handle_t handle = idle_.back();
      idle_.pop_back();
      return Lease(this, handle, generation_);
    }
    ck_session_handle_t handle = 0;
    ck_rv_t rv = api_.C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &handle);
    if (rv != CKR_OK) return make_error(failure_locked(TokenFailure{"C_OpenSession", rv}));
    return Lease(this, handle, generation_);
  }

  // The Error for a failed call. A lost session or login also drops every session, so the next call starts over.
  Error failure(const TokenFailure& f) {
    std::lock_guard lock(mutex_);
    return failure_locked(f);
  }

  // OK when the login session is alive and logged in.
  Status check_login() {
    std::lock_guard lock(mutex_);
    BLOBSEAL_TRY_STATUS(connect_locked());
    struct ck_session_info info {};
    if (ck_rv_t rv = api_.C_GetSessionInfo(login_session_, &info); rv != CKR_OK)
      return make_error(failure_locked(TokenFailure{"C_GetSessionInfo", rv}));
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
      Error error(ErrorCode::kUnavailable, fmt::format("the session with PKCS#11 token {} is no longer logged in; the "
                                                       "next call logs in again",
                                                       token_name_));
      close_all_locked();
      return make_error(std::move(error));
    }
    return {};
  }

  // The token's key objects, read again when older than the refresh interval, when `force`, or after a reconnect.
  Result<std::shared_ptr<const KeyTable>> keys(bool force) {
    std::lock_guard lock(table_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (table_ && !force && !table_stale_.load() && now - table_read_ < options_.refresh_interval) return table_;
    auto lease = BLOBSEAL_TRY(session());
    table_stale_ = false;
    auto listed = list_key_objects(api_, lease.handle());
    if (!listed) {
      lease.discard();
      return make_error(failure(listed.error()));
    }
    table_ = std::make_shared<const KeyTable>(std::move(*listed));
    table_read_ = now;
    return table_;
  }

  void mark_keys_stale() { table_stale_ = true; }

  // Error helpers: name the key, the version and the token, never any material.
  tl::unexpected<Error> unknown_key(const KeyTable& table, std::string_view key_id) const {
    if (table.empty())
      return make_error(ErrorCode::kNotFound,
                        fmt::format("unknown key {}: PKCS#11 token {} has no blobseal keys (objects labelled "
                                    "\"blobseal:<key>:v<version>\"); create one (setting create_default_key=true)",
                                    quote_name(key_id), token_name_));
    std::string names;
    std::size_t shown = 0;
    for (const auto& [name, key] : table) {
      if (shown++ == 10) {
        names += ", ...";
        break;
      }
      names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", name);
    }
    return make_error(ErrorCode::kNotFound,
                      fmt::format("unknown key {}: PKCS#11 token {} has {}", quote_name(key_id), token_name_, names));
  }

  tl::unexpected<Error> unknown_version(std::string_view key_id, const KeyObjects& key, std::uint32_t version) const {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("key \"{}\" has no version {} in PKCS#11 token {} (newest: version {}); a destroyed "
                                  "version cannot be recovered",
                                  key_id, version, token_name_, key.versions.back().version));
  }

  tl::unexpected<Error> no_current_version(std::string_view key_id) const {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" has no current version in PKCS#11 token {}: every version is retired; "
                                  "rotate it or un-retire a version",
                                  key_id, token_name_));
  }

  tl::unexpected<Error> retired(std::string_view key_id, const KeyObjects& key, std::uint32_t version) const {
    const VersionObject* current = key.current();
    if (current == nullptr)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" version {} is retired in PKCS#11 token {}; un-retire it", key_id,
                                    version, token_name_));
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is retired in PKCS#11 token {}; rewrap objects to version {} "
                                  "(blobseal rewrap) or un-retire it",
                                  key_id, version, token_name_, current->version));
  }

  tl::unexpected<Error> ambiguous(std::string_view key_id, const VersionObject& v) const {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("PKCS#11 token {} has {} objects labelled \"{}\"; destroy all but one", token_name_,
                                  v.handles.size(), pkcs11::object_label(key_id, v.version)));
  }

  const std::string& token_name() const { return token_name_; }

 private:
  Status connect_locked() {
    if (logged_in_) return {};
    auto slot = find_slot_locked();
    if (!slot) return make_error(slot.error());
    ck_session_handle_t handle = 0;
    ck_rv_t rv = api_.C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &handle);
    if (rv != CKR_OK)
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("cannot open a session with PKCS#11 token {}: C_OpenSession "
                                    "returned {}",
                                    token_name_, pkcs11::rv_name(rv)));
    rv = api_.C_Login(handle, CKU_USER, const_cast<unsigned char*>(options_.pin.data()), options_.pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      api_.C_CloseSession(handle);
      return make_error(login_error(rv));
    }
    slot_ = *slot;
    login_session_ = handle;
    logged_in_ = true;
    table_stale_ = true;  // object handles may be renumbered after a new login
    return {};
  }

  Error login_error(ck_rv_t rv) const {
    std::string what = fmt::format("logging in to PKCS#11 token {} (module {}) failed: ", token_name_, module_->path());
    switch (rv) {
      case CKR_PIN_INCORRECT:
      case CKR_PIN_INVALID:
      case CKR_PIN_LEN_RANGE:
        return Error(
            ErrorCode::kPermissionDenied,
            what + fmt::format("the PIN is incorrect ({}); check the configured PIN source", pkcs11::rv_name(rv)));
      case CKR_PIN_LOCKED:
        return Error(ErrorCode::kPermissionDenied,
                     what + "the user PIN is locked (CKR_PIN_LOCKED); the security officer must reset it");
      case CKR_PIN_EXPIRED:
        return Error(ErrorCode::kPermissionDenied, what + "the user PIN has expired (CKR_PIN_EXPIRED)");
      case CKR_USER_PIN_NOT_INITIALIZED:
        return Error(ErrorCode::kFailedPrecondition,
                     what + "the token has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED); initialize it first");
      default:
        return Error(is_connection_lost(rv) ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                     what + fmt::format("C_Login returned {}", pkcs11::rv_name(rv)));
    }
  }

  std::string trimmed_label(const unsigned char (&label)[32]) const {
    std::string text(reinterpret_cast<const char*>(label), sizeof label);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
    return text;
  }

  Result<ck_slot_id_t> find_slot_locked() {
    // A token that disappears after the manager opened is a dependency that is down, not a setting to fix.
    ErrorCode missing = ever_connected_ ? ErrorCode::kUnavailable : ErrorCode::kNotFound;
    unsigned long count = 0;
    ck_rv_t rv = api_.C_GetSlotList(kTrue, nullptr, &count);
    std::vector<ck_slot_id_t> slots(count);
    if (rv == CKR_OK && count > 0) rv = api_.C_GetSlotList(kTrue, slots.data(), &count);
    if (rv != CKR_OK)
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("cannot list the slots of PKCS#11 module {}: C_GetSlotList "
                                    "returned {}",
                                    module_->path(), pkcs11::rv_name(rv)));
    slots.resize(count);
    std::vector<ck_slot_id_t> matches;
    std::string seen;
    for (ck_slot_id_t slot : slots) {
      struct ck_token_info info {};
      if (api_.C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      std::string label = trimmed_label(info.label);
      seen += fmt::format("{}{}", seen.empty() ? "" : ", ", quote_name(label));
      bool wanted = options_.slot_id ? slot == *options_.slot_id : label == options_.token_label;
      if (!wanted) continue;
      if ((info.flags & CKF_TOKEN_INITIALIZED) == 0)
        return make_error(
            ErrorCode::kFailedPrecondition,
            fmt::format("the token {} of PKCS#11 module {} is not initialized", token_name_, module_->path()));
      matches.push_back(slot);
    }
    if (matches.empty())
      return make_error(missing, fmt::format("no PKCS#11 token {} in module {} (tokens present: {})", token_name_,
                                             module_->path(), seen.empty() ? "none" : seen));
    if (matches.size() > 1)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("{} tokens labelled {} in PKCS#11 module {}; select one by slot", matches.size(),
                                    token_name_, module_->path()));
    ever_connected_ = true;
    return matches.front();
  }

  Error failure_locked(const TokenFailure& f) {
    if (is_connection_lost(f.rv)) {
      close_all_locked();
      return Error(ErrorCode::kUnavailable,
                   fmt::format("PKCS#11 token {} is not available: {} returned {} (the token was removed or the "
                               "session was lost); the next call opens a new session",
                               token_name_, f.call, pkcs11::rv_name(f.rv)));
    }
    return Error(ErrorCode::kInternal,
                 fmt::format("PKCS#11 token {}: {} returned {}", token_name_, f.call, pkcs11::rv_name(f.rv)));
  }

  void release(ck_session_handle_t handle, std::uint64_t generation, bool discard) {
    std::lock_guard lock(mutex_);
    if (discard || generation != generation_ || !logged_in_ || idle_.size() >= options_.max_idle_sessions) {
      api_.C_CloseSession(handle);
      return;
    }
    idle_.push_back(handle);
  }

  // Closes every session (errors ignored: they may be gone already); the next call logs in again.
  void close_all_locked() {
    for (ck_session_handle_t handle : idle_) api_.C_CloseSession(handle);
    idle_.clear();
    if (logged_in_) api_.C_CloseSession(login_session_);
    logged_in_ = false;
    ++generation_;
    table_stale_ = true;
  }

  const Pkcs11Options options_;
  std::shared_ptr<pkcs11::Module> module_;
  struct ck_function_list& api_;
  std::string token_name_;  // for messages: "\"label\"" or "in slot N"

  std::mutex mutex_;  // guards the sessions
  bool logged_in_ = false;
  bool ever_connected_ = false;
  ck_slot_id_t slot_ = 0;
  ck_session_handle_t login_session_ = 0;
  std::vector<ck_session_handle_t> idle_;
  std::uint64_t generation_ = 0;  // sessions leased before a reconnect are closed on return

  std::mutex table_mutex_;  // guards the key list; taken before mutex_, never after
  std::shared_ptr<const KeyTable> table_;
  std::chrono::steady_clock::time_point table_read_;
  std::atomic<bool> table_stale_{true};
};

namespace {

// AES-GCM in the token: encrypts the data key into `out` (IV || ciphertext || tag).
TokenResult<void> token_encrypt(struct ck_function_list& api, ck_session_handle_t session, ck_object_handle_t key,
                                ByteSpan associated_data, ByteSpan data_key, Bytes& out) {
  out.assign(kWrappedSize, 0);
  crypto::random_bytes(std::span(out.data(), kIvSize));
  unsigned char no_aad = 0;
  struct ck_gcm_params params {};
  params.iv_ptr = out.data();
  params.iv_len = kIvSize;
  params.iv_bits = kIvSize * 8;
  params.aad_ptr = associated_data.empty() ? &no_aad : const_cast<unsigned char*>(associated_data.data());
  params.aad_len = associated_data.size();
  params.tag_bits = kTagSize * 8;
  struct ck_mechanism mechanism {
    CKM_AES_GCM, &params, sizeof params
  };
  if (ck_rv_t rv = api.C_EncryptInit(session, &mechanism, key); rv != CKR_OK) return failed("C_EncryptInit", rv);
  unsigned char buffer[kDataKeySize + kTagSize + 16];
  unsigned long size = sizeof buffer;
  ck_rv_t rv = api.C_Encrypt(session, const_cast<unsigned char*>(data_key.data()), data_key.size(), buffer, &size);
  if (rv != CKR_OK) return failed("C_Encrypt", rv);
  if (size != kDataKeySize + kTagSize) return failed("C_Encrypt", CKR_GENERAL_ERROR);
  std::memcpy(out.data() + kIvSize, buffer, size);
  return {};
}

}  // namespace

Pkcs11KeyManager::Pkcs11KeyManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pkcs11KeyManager::~Pkcs11KeyManager() = default;

Result<std::unique_ptr<Pkcs11KeyManager>> Pkcs11KeyManager::open(Pkcs11Options options) {
  if (options.module_path.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "no PKCS#11 module given (the path of the HSM's PKCS#11 library, e.g. "
                      "/usr/lib/softhsm/libsofthsm2.so)");
  if (options.token_label.empty() == !options.slot_id)
    return make_error(ErrorCode::kInvalidArgument,
                      "select the PKCS#11 token by its label or by its slot id (one of them)");
  if (options.pin.empty()) return make_error(ErrorCode::kInvalidArgument, "no PKCS#11 user PIN given");
  BLOBSEAL_TRY_STATUS(pkcs11::validate_key_id(options.default_key));
  auto module = BLOBSEAL_TRY(pkcs11::Module::load(options.module_path));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(module));
  BLOBSEAL_TRY_STATUS(impl->connect());
  std::unique_ptr<Pkcs11KeyManager> manager(new Pkcs11KeyManager(std::move(impl)));
  if (manager->impl_->options().create_default_key) {
    auto table = BLOBSEAL_TRY(manager->impl_->keys(true));
    if (find_key(*table, manager->impl_->options().default_key) == nullptr)
      BLOBSEAL_TRY_STATUS(manager->create_key(manager->impl_->options().default_key));
  }
  return manager;
}

std::string Pkcs11KeyManager::id() const { return std::string(kPkcs11ProviderId); }

const std::string& Pkcs11KeyManager::token_label() const { return impl_->token_label(); }

Result<WrappedKey> Pkcs11KeyManager::wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                          std::string_view key_id) {
  if (data_key.size() != kDataKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a data key must have {} bytes, not {}", kDataKeySize, data_key.size()));
  std::string name = key_id.empty() ? impl_->options().default_key : std::string(key_id);
  // A second attempt, with the key list read again, when the first finds the key missing or its object gone.
  for (int attempt = 0;; ++attempt) {
    bool last = attempt == 1;
    auto table = BLOBSEAL_TRY(impl_->keys(attempt > 0));
    const KeyObjects* key = find_key(*table, name);
    if (key == nullptr) {
      if (!last) continue;
      return impl_->unknown_key(*table, name);
    }
    const VersionObject* current = key->current();
    if (current == nullptr) {
      if (!last) continue;
      return impl_->no_current_version(name);
    }
    if (current->handles.size() != 1) return impl_->ambiguous(name, *current);

    auto lease = BLOBSEAL_TRY(impl_->session());
    WrappedKey wrapped{std::string(kPkcs11ProviderId), name, current->version, {}};
    auto encrypted = token_encrypt(impl_->api(), lease.handle(), current->handles.front(), associated_data,
                                   data_key.view(), wrapped.ciphertext);
    if (encrypted) return wrapped;
    lease.discard();
    // Destroyed or retired by another process since the list was read.
    if (!last && (is_stale_handle(encrypted.error().rv) || encrypted.error().rv == CKR_KEY_FUNCTION_NOT_PERMITTED))
      continue;
    return make_error(impl_->failure(encrypted.error()));
  }
}

Result<DataKey> Pkcs11KeyManager::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  SecretBytes plaintext = crypto::random_secret(kDataKeySize);
  auto wrapped = BLOBSEAL_TRY(wrap(plaintext, associated_data, key_id));
  return DataKey{std::move(plaintext), std::move(wrapped)};
}

Result<SecretBytes> Pkcs11KeyManager::unwrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  if (wrapped.provider != kPkcs11ProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"{}\"",
                                  quote_name(wrapped.provider), kPkcs11ProviderId));
  for (int attempt = 0;; ++attempt) {
    bool last = attempt == 1;
    auto table = BLOBSEAL_TRY(impl_->keys(attempt > 0));
    const KeyObjects* key = find_key(*table, wrapped.key_id);
    const VersionObject* version = key == nullptr ? nullptr : key->find(wrapped.version);
    // Another process may have just rotated and wrapped under the new version: read the list before refusing.
    if (version == nullptr && !last) continue;
    if (key == nullptr) return impl_->unknown_key(*table, wrapped.key_id);
    if (version == nullptr) return impl_->unknown_version(wrapped.key_id, *key, wrapped.version);
    if (version->retired()) {
      if (!last) continue;  // un-retired or destroyed by another process since the list was read?
      return impl_->retired(wrapped.key_id, *key, wrapped.version);
    }
    if (version->handles.size() != 1) return impl_->ambiguous(wrapped.key_id, *version);
    if (wrapped.ciphertext.size() != kWrappedSize)
      return make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));

    auto lease = BLOBSEAL_TRY(impl_->session());
    auto& api = impl_->api();
    const std::uint8_t* in = wrapped.ciphertext.data();
    unsigned char no_aad = 0;
    struct ck_gcm_params params {};
    params.iv_ptr = const_cast<unsigned char*>(in);
    params.iv_len = kIvSize;
    params.iv_bits = kIvSize * 8;
    params.aad_ptr = associated_data.empty() ? &no_aad : const_cast<unsigned char*>(associated_data.data());
    params.aad_len = associated_data.size();
    params.tag_bits = kTagSize * 8;
    struct ck_mechanism mechanism {
      CKM_AES_GCM, &params, sizeof params
    };
    ck_rv_t rv = api.C_DecryptInit(lease.handle(), &mechanism, version->handles.front());
    if (rv != CKR_OK) {
      lease.discard();
      if (!last && (is_stale_handle(rv) || rv == CKR_KEY_FUNCTION_NOT_PERMITTED)) continue;
      if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) return impl_->retired(wrapped.key_id, *key, wrapped.version);
      return make_error(impl_->failure(TokenFailure{"C_DecryptInit", rv}));
    }
    SecretBytes buffer(kDataKeySize + kTagSize);
    unsigned long size = buffer.size();
    rv = api.C_Decrypt(lease.handle(), const_cast<unsigned char*>(in + kIvSize), kDataKeySize + kTagSize, buffer.data(),
                       &size);
    if (rv == CKR_OK && size == kDataKeySize) return SecretBytes(buffer.view().first(kDataKeySize));
    lease.discard();
    if (rv == CKR_OK) return make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));
    // A tag that does not verify: CKR_ENCRYPTED_DATA_INVALID by the standard (CKR_AEAD_DECRYPT_FAILED in 3.0),
    // CKR_GENERAL_ERROR from SoftHSM2. The last counts only if the session is still healthy afterwards.
    bool tag_failure =
        rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == kAeadDecryptFailed;
    if (rv == CKR_GENERAL_ERROR) {
      struct ck_session_info info {};
      ck_rv_t check = api.C_GetSessionInfo(lease.handle(), &info);
      if (check != CKR_OK) return make_error(impl_->failure(TokenFailure{"C_GetSessionInfo", check}));
      tag_failure = true;
    }
    if (tag_failure) return make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));
    return make_error(impl_->failure(TokenFailure{"C_Decrypt", rv}));
  }
}

Result<bool> Pkcs11KeyManager::needs_rewrap(const WrappedKey& wrapped) {
  if (wrapped.provider != kPkcs11ProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"{}\"",
                                  quote_name(wrapped.provider), kPkcs11ProviderId));
  auto table = BLOBSEAL_TRY(impl_->keys(false));
  auto current_of = [&](const KeyTable& t) -> const VersionObject* {
    const KeyObjects* key = find_key(t, wrapped.key_id);
    return key == nullptr ? nullptr : key->current();
  };
  const VersionObject* current = current_of(*table);
  // A version newer than the current one was made by another process since the last read.
  if (current == nullptr || wrapped.version > current->version) {
    table = BLOBSEAL_TRY(impl_->keys(true));
    current = current_of(*table);
  }
  if (find_key(*table, wrapped.key_id) == nullptr) return impl_->unknown_key(*table, wrapped.key_id);
  if (current == nullptr) return impl_->no_current_version(wrapped.key_id);
  return wrapped.version != current->version;
}

Result<std::vector<KeyInfo>> Pkcs11KeyManager::describe() {
  auto table = BLOBSEAL_TRY(impl_->keys(false));
  std::vector<KeyInfo> keys;
  for (const auto& [name, key] : *table) {
    KeyInfo info;
    info.key_id = name;
    info.is_default = name == impl_->options().default_key;
    for (const auto& v : key.versions)
      info.versions.push_back(KeyVersionInfo{v.version, key.state_of(v), v.times.created_unix, v.times.retired_unix});
    keys.push_back(std::move(info));
  }
  return keys;
}

Status Pkcs11KeyManager::health() {
  BLOBSEAL_TRY_STATUS(impl_->check_login());
  // A round trip under the default key proves the key object and the mechanism work.
  constexpr std::string_view kProbe = "blobseal.dev/keys/health";
  auto data_key = BLOBSEAL_TRY(generate_data_key(as_bytes(kProbe)));
  auto unwrapped = BLOBSEAL_TRY(unwrap(data_key.wrapped, as_bytes(kProbe)));
  if (!crypto::constant_time_equal(unwrapped.view(), data_key.plaintext.view()))
    return make_error(ErrorCode::kInternal, "the key manager's wrap/unwrap self-test failed");
  return {};
}

namespace {

// Generates one version's key object in the token (see the header for its attributes).
TokenResult<void> generate_key_object(struct ck_function_list& api, ck_session_handle_t session,
                                      std::string_view key_id, std::uint32_t version) {
  std::string label = pkcs11::object_label(key_id, version);
  ck_object_class_t secret_key = CKO_SECRET_KEY;
  ck_key_type_t aes = CKK_AES;
  unsigned long size = kKeyBytes;
  std::string times = times_record(VersionTimes{now_unix(), std::nullopt});
  struct ck_attribute attributes[] = {
      attribute(CKA_CLASS, &secret_key, sizeof secret_key),
      attribute(CKA_KEY_TYPE, &aes, sizeof aes),
      attribute(CKA_VALUE_LEN, &size, sizeof size),
      attribute(CKA_LABEL, label.data(), label.size()),
      attribute(CKA_ID, times.data(), times.size()),
      attribute(CKA_TOKEN, &kTrue, 1),
      attribute(CKA_PRIVATE, &kTrue, 1),
      attribute(CKA_SENSITIVE, &kTrue, 1),
      attribute(CKA_EXTRACTABLE, &kFalse, 1),
      attribute(CKA_MODIFIABLE, &kTrue, 1),  // retire() changes CKA_ENCRYPT and CKA_DECRYPT
      attribute(CKA_ENCRYPT, &kTrue, 1),
      attribute(CKA_DECRYPT, &kTrue, 1),
      attribute(CKA_WRAP, &kFalse, 1),
      attribute(CKA_UNWRAP, &kFalse, 1),
      attribute(CKA_SIGN, &kFalse, 1),
      attribute(CKA_VERIFY, &kFalse, 1),
      attribute(CKA_DERIVE, &kFalse, 1),
  };
  struct ck_mechanism mechanism {
    CKM_AES_KEY_GEN, nullptr, 0
  };
  ck_object_handle_t handle = 0;
  if (ck_rv_t rv = api.C_GenerateKey(session, &mechanism, attributes, std::size(attributes), &handle); rv != CKR_OK)
    return failed("C_GenerateKey", rv);
  return {};
}

}  // namespace

Status Pkcs11KeyManager::create_key(std::string_view key_id) {
  BLOBSEAL_TRY_STATUS(pkcs11::validate_key_id(key_id));
  auto table = BLOBSEAL_TRY(impl_->keys(true));
  if (find_key(*table, key_id) != nullptr)
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("key \"{}\" already exists in PKCS#11 token {}", key_id, impl_->token_name()));
  auto lease = BLOBSEAL_TRY(impl_->session());
  auto generated = generate_key_object(impl_->api(), lease.handle(), key_id, 1);
  impl_->mark_keys_stale();
  if (!generated) {
    lease.discard();
    return make_error(impl_->failure(generated.error()).with_context(fmt::format("creating key \"{}\"", key_id)));
  }
  return {};
}

Result<std::uint32_t> Pkcs11KeyManager::rotate(std::string_view key_id) {
  std::string name = key_id.empty() ? impl_->options().default_key : std::string(key_id);
  auto table = BLOBSEAL_TRY(impl_->keys(true));
  const KeyObjects* key = find_key(*table, name);
  if (key == nullptr) return impl_->unknown_key(*table, name);
  std::uint32_t newest = key->versions.back().version;
  if (newest == std::numeric_limits<std::uint32_t>::max())
    return make_error(ErrorCode::kResourceExhausted, fmt::format("key \"{}\" has no version numbers left", name));
  auto lease = BLOBSEAL_TRY(impl_->session());
  auto generated = generate_key_object(impl_->api(), lease.handle(), name, newest + 1);
  impl_->mark_keys_stale();
  if (!generated) {
    lease.discard();
    return make_error(impl_->failure(generated.error()).with_context(fmt::format("rotating key \"{}\"", name)));
  }
  return newest + 1;
}

namespace {

// Sets CKA_ENCRYPT and CKA_DECRYPT, and the times record in CKA_ID (retired now, or not retired).
TokenResult<void> set_usable(struct ck_function_list& api, ck_session_handle_t session, ck_object_handle_t object,
                             const VersionObject& version, bool usable) {
  const unsigned char* flag = usable ? &kTrue : &kFalse;
  VersionTimes times = version.times;
  times.retired_unix = usable ? std::nullopt : std::optional<std::int64_t>(now_unix());
  std::string record = times_record(times);
  struct ck_attribute attributes[] = {attribute(CKA_ENCRYPT, flag, 1), attribute(CKA_DECRYPT, flag, 1),
                                      attribute(CKA_ID, record.data(), record.size())};
  if (ck_rv_t rv = api.C_SetAttributeValue(session, object, attributes, std::size(attributes)); rv != CKR_OK)
    return failed("C_SetAttributeValue", rv);
  return {};
}

}  // namespace

// Sets CKA_ENCRYPT/CKA_DECRYPT of every object of one version (retire: false, unretire: true).
Status Pkcs11KeyManager::set_version_usable(std::string_view key_id, std::uint32_t version, bool usable) {
  std::string name = key_id.empty() ? impl_->options().default_key : std::string(key_id);
  auto table = BLOBSEAL_TRY(impl_->keys(true));
  const KeyObjects* key = find_key(*table, name);
  if (key == nullptr) return impl_->unknown_key(*table, name);
  const VersionObject* entry = key->find(version);
  if (entry == nullptr) return impl_->unknown_version(name, *key, version);
  if (entry->retired() == !usable) return {};
  if (const VersionObject* current = key->current(); !usable && current != nullptr && current->version == version)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is the current version (new objects are wrapped under it) "
                                  "and cannot be retired; rotate first, rewrap objects (blobseal rewrap), then retire "
                                  "it",
                                  name, version));
  auto lease = BLOBSEAL_TRY(impl_->session());
  for (ck_object_handle_t handle : entry->handles) {
    auto changed = set_usable(impl_->api(), lease.handle(), handle, *entry, usable);
    if (!changed) {
      impl_->mark_keys_stale();
      lease.discard();
      return make_error(impl_->failure(changed.error())
                            .with_context(fmt::format("{} key \"{}\" version {}", usable ? "un-retiring" : "retiring",
                                                      name, version)));
    }
  }
  impl_->mark_keys_stale();
  return {};
}

Status Pkcs11KeyManager::retire(std::string_view key_id, std::uint32_t version) {
  return set_version_usable(key_id, version, false);
}

Status Pkcs11KeyManager::unretire(std::string_view key_id, std::uint32_t version) {
  return set_version_usable(key_id, version, true);
}

Status Pkcs11KeyManager::destroy(std::string_view key_id, std::uint32_t version) {
  std::string name = key_id.empty() ? impl_->options().default_key : std::string(key_id);
  auto table = BLOBSEAL_TRY(impl_->keys(true));
  const KeyObjects* key = find_key(*table, name);
  if (key == nullptr) return impl_->unknown_key(*table, name);
  const VersionObject* entry = key->find(version);
  if (entry == nullptr) return impl_->unknown_version(name, *key, version);
  if (!entry->retired())
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" version {} is not retired; retire it first (data keys wrapped under a "
                                  "destroyed version are lost for good)",
                                  name, version));
  auto lease = BLOBSEAL_TRY(impl_->session());
  for (ck_object_handle_t handle : entry->handles) {
    ck_rv_t rv = impl_->api().C_DestroyObject(lease.handle(), handle);
    if (rv != CKR_OK && !is_stale_handle(rv)) {
      impl_->mark_keys_stale();
      lease.discard();
      return make_error(impl_->failure(TokenFailure{"C_DestroyObject", rv})
                            .with_context(fmt::format("destroying key \"{}\" version {}", name, version)));
    }
  }
  impl_->mark_keys_stale();
  return {};
}

}  // namespace blobseal::keys
