#include "keys/vault/vault_key_manager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "crypto/primitives.h"
#include "keys/vault/transit_ciphertext.h"
#include "net/http_client.h"

namespace blobseal::keys {

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr std::string_view kAssociatedDataLabel = "blobseal.dev/vault-wrap@v1";
constexpr std::string_view kDoesNotAuthenticate =
    "wrapped data key does not authenticate: the object was altered or moved to another location";
constexpr std::string_view kTooOld = "disallowed by policy (too old)";
constexpr std::size_t kMaxSecretFileSize = 4096;
constexpr std::size_t kMaxCiphertextSize = 1024;

// Overwrites a string's bytes (a request body or header that carried a token or a data key).
void wipe(std::string& text) {
  if (!text.empty()) secure_zero(text.data(), text.size());
  text.clear();
}

// A std::string holding a copy of a secret, wiped when it goes (libcurl needs the token as header text).
class SecretString {
 public:
  explicit SecretString(std::string text) : text_(std::move(text)) {}
  ~SecretString() { wipe(text_); }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  std::string& get() { return text_; }

 private:
  std::string text_;
};

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

bool valid_mount(std::string_view mount) {
  if (mount.empty() || mount.size() > 256 || mount.front() == '/' || mount.back() == '/') return false;
  return std::all_of(mount.begin(), mount.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/';
  });
}

// Names from a WrappedKey read from a damaged envelope may hold anything: quoted, printable, bounded.
std::string quote_name(std::string_view name) {
  std::string out = "\"";
  for (char c : name.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (name.size() > 80) out += "...";
  return out + "\"";
}

bool is_base64_text(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '=';
  });
}

Bytes full_associated_data(ByteSpan associated_data) {
  Bytes out;
  out.reserve(kAssociatedDataLabel.size() + 1 + associated_data.size());
  put_bytes(out, as_bytes(kAssociatedDataLabel));
  put_u8(out, 0);
  put_bytes(out, associated_data);
  return out;
}

// Vault's {"errors": [...]} as one printable, bounded line (Vault's messages carry no secret material).
std::string vault_messages(std::string_view body) {
  Json json = Json::parse(body, nullptr, false);
  std::string joined;
  if (!json.is_discarded() && json.is_object()) {
    auto it = json.find("errors");
    if (it != json.end() && it->is_array())
      for (const auto& item : *it)
        if (item.is_string()) joined += (joined.empty() ? "" : "; ") + item.get<std::string>();
  }
  std::string out;
  for (char c : joined.substr(0, 300)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  if (joined.size() > 300) out += "...";
  return out;
}

bool mentions(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Reads the first line of a secret file that must not be accessible to group or others. Messages name the file,
// never its contents.
Result<SecretBytes> read_secret_file(const std::string& path, std::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    return make_error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kFailedPrecondition,
                      fmt::format("cannot open the Vault {} file {}: {}", what, path, std::strerror(error)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the Vault {} file {} is not a regular file", what, path));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the Vault {} file {} is accessible by group or others (mode {:04o}); run "
                                  "`chmod 600 {}`",
                                  what, path, st.st_mode & 07777, path));
  }
  SecretBytes buffer(kMaxSecretFileSize + 1);
  std::size_t size = 0;
  while (size < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("cannot read the Vault {} file {}: {}", what, path, std::strerror(error)));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size > kMaxSecretFileSize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the Vault {} file {} is longer than {} bytes", what, path, kMaxSecretFileSize));
  auto text = buffer.view().first(size);
  std::size_t end = 0;
  while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
  while (end > 0 && text[end - 1] == ' ') --end;
  if (end == 0) return make_error(ErrorCode::kInvalidArgument, fmt::format("the Vault {} file {} is empty", what, path));
  return SecretBytes(text.first(end));
}

bool printable_secret(const SecretBytes& secret) {
  return std::all_of(secret.view().begin(), secret.view().end(), [](std::uint8_t c) { return c > 0x20 && c < 0x7f; });
}

struct KeyState {
  std::string type;
  bool derived = false;
  bool supports_encryption = true;
  std::uint32_t latest = 0;
  std::uint32_t min_decryption = 1;
  std::uint32_t min_available = 0;
  std::map<std::uint32_t, std::int64_t> created;
  Clock::time_point loaded;

  bool aead() const {
    return type == "aes256-gcm96" || type == "aes128-gcm96" || type == "chacha20-poly1305" ||
           type == "xchacha20-poly1305";
  }
};

// A decimal version number without a leading zero ("1", "12"), as in the "keys" map.
std::optional<std::uint32_t> version_number(std::string_view text) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v == 0 || v > 0xffffffffull) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::optional<std::uint32_t> as_version(const Json& json, std::string_view field) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_number_integer()) return std::nullopt;
  auto v = it->get<std::int64_t>();
  if (v < 0 || v > 0xffffffffll) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// The "data" of GET /v1/<mount>/keys/<key>.
std::optional<KeyState> parse_key_state(std::string_view body) {
  Json json = Json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  auto data = json.find("data");
  if (data == json.end() || !data->is_object()) return std::nullopt;
  KeyState key;
  auto type = data->find("type");
  if (type != data->end() && type->is_string()) key.type = type->get<std::string>();
  auto derived = data->find("derived");
  if (derived != data->end() && derived->is_boolean()) key.derived = derived->get<bool>();
  auto encryption = data->find("supports_encryption");
  if (encryption != data->end() && encryption->is_boolean()) key.supports_encryption = encryption->get<bool>();
  auto latest = as_version(*data, "latest_version");
  if (!latest || *latest == 0) return std::nullopt;
  key.latest = *latest;
  key.min_decryption = std::max<std::uint32_t>(as_version(*data, "min_decryption_version").value_or(1), 1);
  key.min_available = as_version(*data, "min_available_version").value_or(0);
  auto keys = data->find("keys");
  if (keys != data->end() && keys->is_object()) {
    for (const auto& [name, value] : keys->items()) {
      auto version = version_number(name);
      if (!version) continue;
      key.created[*version] = value.is_number_integer() ? value.get<std::int64_t>() : 0;
    }
  }
  return key;
}

}  // namespace

class VaultKeyManager::Impl {
 public:
  Impl(VaultKeyManagerOptions options, std::unique_ptr<net::HttpClient> client)
      : options_(std::move(options)), client_(std::move(client)) {
    if (!options_.token.empty()) token_ = options_.token.clone();
  }

  const VaultKeyManagerOptions& options() const { return options_; }
  const std::string& address() const { return options_.address; }
  bool approle() const { return !options_.role_id.empty(); }

  std::string key_or_default(std::string_view key_id) const {
    return key_id.empty() ? options_.default_key : std::string(key_id);
  }
  std::string key_path(std::string_view key_id, std::string_view suffix = {}) const {
    return fmt::format("/v1/{}/keys/{}{}", options_.mount, key_id, suffix);
  }

  // One request to Vault with the manager's token (when `authenticated`), the namespace header and a JSON body.
  // A 403 makes an AppRole manager log in again (and a token-file manager re-read its file) and try once more.
  // Transport failures come back as errors naming the server; every HTTP status comes back as a Response.
  Result<net::Response> call(std::string_view method, const std::string& target, const std::string& body,
                             bool idempotent, std::string_view doing, bool authenticated = true,
                             std::optional<int> max_attempts = std::nullopt) {
    for (int round = 0;; ++round) {
      net::Request request;
      request.method = std::string(method);
      request.target = target;
      request.body = as_bytes(body);
      request.idempotent = idempotent;
      request.max_attempts = max_attempts;
      std::optional<SecretString> token;
      if (authenticated) {
        auto current = current_token();
        if (!current) return make_error(current.error().with_context(doing_context(doing)));
        token.emplace(std::move(*current));
        request.headers.push_back({"X-Vault-Token", token->get()});
      }
      if (!options_.vault_namespace.empty()) request.headers.push_back({"X-Vault-Namespace", options_.vault_namespace});
      if (!body.empty()) request.headers.push_back({"Content-Type", "application/json"});
      auto response = client_->send(request);
      for (auto& header : request.headers)
        if (header.name == "X-Vault-Token") wipe(header.value);
      if (!response) return make_error(response.error().with_context(doing_context(doing)));
      if (response->status == 403 && authenticated && round == 0 && refresh_credentials(token->get())) continue;
      return response;
    }
  }

  std::string doing_context(std::string_view doing) const {
    return fmt::format("Vault at {}: {}", options_.address, doing);
  }

  // The error for a response outside 2xx. Callers refine 400s (Vault's answer to a bad input and to a failed
  // decryption alike).
  Error status_error(const net::Response& response, std::string_view doing) const {
    std::string messages = vault_messages(response.body);
    std::string said = messages.empty() ? "" : fmt::format(": {}", messages);
    int status = response.status;
    if (status == 403)
      return Error(ErrorCode::kPermissionDenied,
                   fmt::format("Vault at {} refused {} (HTTP 403{}): the token is invalid or expired, or its "
                               "policies do not allow this path",
                               options_.address, doing, said),
                   "VaultPermissionDenied");
    if (status == 404)
      return Error(ErrorCode::kNotFound,
                   fmt::format("Vault at {} answered HTTP 404 to {}{}", options_.address, doing, said));
    if (status == 429 || status >= 500) {
      std::string why = status == 503 ? " (sealed or unavailable)" : status == 429 ? " (standby or rate limited)" : "";
      return Error(ErrorCode::kUnavailable,
                   fmt::format("Vault at {} answered HTTP {}{} to {} after {} attempt{}{}", options_.address, status,
                               why, doing, response.attempts, response.attempts == 1 ? "" : "s", said),
                   "VaultUnavailable");
    }
    if (status == 400)
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("Vault at {} refused {} (HTTP 400{})", options_.address, doing, said));
    return Error(ErrorCode::kInternal,
                 fmt::format("Vault at {} answered HTTP {} to {}{}", options_.address, status, doing, said));
  }

  // ---- keys ------------------------------------------------------------------------------------------------------

  // A key's versions: cached, or read when older than refresh_interval or `force`. NotFound when Vault has no such
  // key (checked before any encrypt: Transit would create a missing key on the fly).
  Result<KeyState> key(const std::string& key_id, bool force) {
    if (!valid_name(key_id))
      return make_error(ErrorCode::kNotFound,
                        fmt::format("unknown key {}: not a valid Transit key name (1..128 characters from "
                                    "[A-Za-z0-9._-])",
                                    quote_name(key_id)));
    {
      std::lock_guard lock(mutex_);
      auto it = keys_.find(key_id);
      if (it != keys_.end() && !force && Clock::now() - it->second.loaded < options_.refresh_interval)
        return it->second;
    }
    std::string doing = fmt::format("reading key \"{}\"", key_id);
    auto response = BLOBSEAL_TRY(call("GET", key_path(key_id), {}, true, doing));
    if (response.status == 404) {
      forget(key_id);
      return make_error(ErrorCode::kNotFound,
                        fmt::format("unknown key \"{}\": Vault at {} has no key \"{}\" in the Transit mount \"{}\"{}",
                                    key_id, options_.address, key_id, options_.mount, namespace_note()));
    }
    if (!response.ok()) return make_error(status_error(response, doing));
    auto state = parse_key_state(response.body);
    if (!state)
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("Vault at {} answered {} with a body that is not a Transit key", options_.address,
                                    doing),
                        "VaultBadResponse");
    state->loaded = Clock::now();
    std::lock_guard lock(mutex_);
    keys_[key_id] = *state;
    return *state;
  }

  std::string namespace_note() const {
    return options_.vault_namespace.empty() ? "" : fmt::format(" (namespace \"{}\")", options_.vault_namespace);
  }

  void forget(const std::string& key_id) {
    std::lock_guard lock(mutex_);
    keys_.erase(key_id);
  }

  std::vector<std::string> known_keys() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, state] : keys_) out.push_back(name);
    if (std::find(out.begin(), out.end(), options_.default_key) == out.end()) out.push_back(options_.default_key);
    std::sort(out.begin(), out.end());
    return out;
  }

  Status check_can_wrap(const std::string& key_id, const KeyState& key) const {
    if (!key.aead() || key.derived || !key.supports_encryption)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" on Vault at {} is of type \"{}\"{}: blobseal needs a non-derived AEAD "
                                    "key (aes256-gcm96, aes128-gcm96, chacha20-poly1305) to bind the object's "
                                    "location as associated_data",
                                    key_id, options_.address, key.type, key.derived ? " with derivation" : ""));
    return {};
  }

  Result<WrappedKey> encrypt(const std::string& key_id, ByteSpan data_key, ByteSpan associated_data) {
    KeyState key = BLOBSEAL_TRY(this->key(key_id, false));
    BLOBSEAL_TRY_STATUS(check_can_wrap(key_id, key));
    SecretString plaintext(to_base64(data_key));
    SecretString body(fmt::format(R"({{"plaintext":"{}","associated_data":"{}"}})", plaintext.get(),
                                  to_base64(full_associated_data(associated_data))));
    std::string doing = fmt::format("encrypting under key \"{}\"", key_id);
    // Encrypt may be sent twice: a second ciphertext of the same data key is as good as the first.
    auto response = BLOBSEAL_TRY(call("POST", fmt::format("/v1/{}/encrypt/{}", options_.mount, key_id), body.get(),
                                      true, doing));
    if (!response.ok()) {
      if (response.status < 500) forget(key_id);
      Error e = status_error(response, doing);
      if (response.status == 400 && mentions(response.body, "not found"))
        return make_error(ErrorCode::kNotFound, e.message());
      if (response.status == 400) return make_error(ErrorCode::kFailedPrecondition, e.message());
      return make_error(e);
    }
    Json json = Json::parse(response.body, nullptr, false);
    std::string ciphertext;
    if (!json.is_discarded() && json.is_object()) {
      auto data = json.find("data");
      if (data != json.end() && data->is_object()) {
        auto text = data->find("ciphertext");
        if (text != data->end() && text->is_string()) ciphertext = text->get<std::string>();
      }
    }
    auto version = vault::transit_ciphertext_version(ciphertext);
    if (!version || ciphertext.size() > kMaxCiphertextSize)
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("Vault at {} answered {} without a \"vault:v<N>:\" ciphertext", options_.address,
                                    doing),
                        "VaultBadResponse");
    if (*version != key.latest) forget(key_id);  // rotated by someone else: read the versions again next time
    Bytes stored(ciphertext.begin(), ciphertext.end());
    return WrappedKey{std::string(kVaultProviderId), key_id, *version, std::move(stored)};
  }

  Result<SecretBytes> decrypt(const WrappedKey& wrapped, ByteSpan associated_data) {
    const std::string& key_id = wrapped.key_id;
    KeyState key = BLOBSEAL_TRY(this->key(key_id, false));
    if (wrapped.version == 0 || wrapped.version > key.latest) {
      key = BLOBSEAL_TRY(this->key(key_id, true));
      if (wrapped.version == 0 || wrapped.version > key.latest)
        return make_error(ErrorCode::kNotFound,
                          fmt::format("key \"{}\" has no version {} on Vault at {} (latest: version {})", key_id,
                                      wrapped.version, options_.address, key.latest));
    }
    if (wrapped.version < key.min_decryption)
      return make_error(retired_error(key_id, wrapped.version, key.min_decryption));
    std::string_view text = as_string_view(wrapped.ciphertext);
    auto version = vault::transit_ciphertext_version(text);
    if (!version || *version != wrapped.version || text.size() > kMaxCiphertextSize ||
        !is_base64_text(text.substr(text.find(':', 7) + 1)))
      return make_error(ErrorCode::kDataLoss, fmt::format("{} (key \"{}\" version {}: not a Transit ciphertext of "
                                                          "that version)",
                                                          kDoesNotAuthenticate, key_id, wrapped.version));
    std::string body = fmt::format(R"({{"ciphertext":"{}","associated_data":"{}"}})", text,
                                   to_base64(full_associated_data(associated_data)));
    std::string doing = fmt::format("decrypting under key \"{}\" version {}", key_id, wrapped.version);
    auto response = BLOBSEAL_TRY(call("POST", fmt::format("/v1/{}/decrypt/{}", options_.mount, key_id), body, true,
                                      doing));
    if (!response.ok()) return make_error(decrypt_error(key_id, wrapped.version, response, doing));
    SecretString answer(std::move(response.body));
    Json json = Json::parse(answer.get(), nullptr, false);
    Result<SecretBytes> out = make_error(ErrorCode::kUnavailable,
                                         fmt::format("Vault at {} answered {} without a plaintext", options_.address,
                                                     doing),
                                         "VaultBadResponse");
    if (!json.is_discarded() && json.is_object()) {
      auto data = json.find("data");
      if (data != json.end() && data->is_object()) {
        auto plaintext = data->find("plaintext");
        if (plaintext != data->end() && plaintext->is_string()) {
          std::string& encoded = plaintext->get_ref<std::string&>();
          auto decoded = from_base64(encoded);
          if (decoded && decoded->size() == kDataKeySize) {
            out = SecretBytes(*decoded);
          } else {
            out = make_error(ErrorCode::kDataLoss,
                             fmt::format("{} (key \"{}\" version {}: the plaintext is not a {}-byte data key)",
                                         kDoesNotAuthenticate, key_id, wrapped.version, kDataKeySize));
          }
          if (decoded) secure_zero(decoded->data(), decoded->size());
          wipe(encoded);
        }
      }
    }
    return out;
  }

  Error retired_error(const std::string& key_id, std::uint32_t version, std::uint32_t min_decryption) const {
    return Error(ErrorCode::kFailedPrecondition,
                 fmt::format("key \"{}\" version {} is retired: Vault at {} decrypts only versions from {} "
                             "(min_decryption_version); data keys wrapped under it no longer unwrap (lower "
                             "min_decryption_version to read them, then rewrap)",
                             key_id, version, options_.address, min_decryption));
  }

  Error decrypt_error(const std::string& key_id, std::uint32_t version, const net::Response& response,
                      std::string_view doing) {
    std::string messages = vault_messages(response.body);
    if (mentions(messages, kTooOld)) {
      forget(key_id);
      std::uint32_t min_decryption = version + 1;
      if (auto fresh = key(key_id, true)) min_decryption = fresh->min_decryption;
      return retired_error(key_id, version, min_decryption);
    }
    if (mentions(messages, "encryption key not found")) {
      forget(key_id);
      return Error(ErrorCode::kNotFound,
                   fmt::format("unknown key \"{}\": Vault at {} has no such key{} (deleted?)", key_id,
                               options_.address, namespace_note()));
    }
    if (mentions(messages, "version is too new")) {
      forget(key_id);
      return Error(ErrorCode::kNotFound,
                   fmt::format("key \"{}\" has no version {} on Vault at {}", key_id, version, options_.address));
    }
    // Vault reports a failed GCM tag as "cipher: message authentication failed" (400, or 500 on some versions)
    // and a damaged ciphertext as "invalid ciphertext: ...".
    if ((response.status == 400 || response.status == 500) &&
        (mentions(messages, "message authentication failed") || mentions(messages, "invalid ciphertext") ||
         mentions(messages, "unable to decrypt") || mentions(messages, "could not decode")))
      return Error(ErrorCode::kDataLoss, fmt::format("{} (key \"{}\" version {}; Vault: {})", kDoesNotAuthenticate,
                                                     key_id, version, messages));
    return status_error(response, doing);
  }

  // ---- authentication --------------------------------------------------------------------------------------------

  // The token to send: the configured one, or an AppRole token, renewed or replaced when a third of its lease is
  // left.
  Result<std::string> current_token() {
    std::lock_guard lock(auth_mutex_);
    if (approle()) {
      auto now = Clock::now();
      if (token_.empty()) {
        BLOBSEAL_TRY_STATUS(login_locked());
      } else if (expires_ && now >= *expires_ - lease_ / 3) {
        if (!renewable_ || !renew_locked()) BLOBSEAL_TRY_STATUS(login_locked());
      }
    }
    if (token_.empty())
      return make_error(ErrorCode::kFailedPrecondition, "no Vault token: set token, token_file or VAULT_TOKEN, or "
                                                        "configure AppRole (role_id and secret_id)");
    return std::string(as_string_view(token_.view()));
  }

  // After a 403 with `sent`: log in again (AppRole) or re-read the token file. True when there is a new token worth
  // one more attempt.
  bool refresh_credentials(const std::string& sent) {
    std::lock_guard lock(auth_mutex_);
    if (as_string_view(token_.view()) != sent) return true;  // another thread already replaced it
    if (approle()) return login_locked().has_value();
    if (!options_.token_file.empty()) {
      auto fresh = read_secret_file(options_.token_file, "token");
      if (!fresh || as_string_view(fresh->view()) == sent) return false;
      token_ = std::move(*fresh);
      return true;
    }
    return false;
  }

  Status login_locked() {
    SecretString secret(std::string(as_string_view(secret_id_.view())));
    Json request = {{"role_id", options_.role_id}, {"secret_id", secret.get()}};
    SecretString body(request.dump(-1, ' ', false, Json::error_handler_t::replace));
    wipe(request["secret_id"].get_ref<std::string&>());
    std::string doing = fmt::format("the AppRole login at auth/{}/login", options_.approle_mount);
    auto response = BLOBSEAL_TRY(call("POST", fmt::format("/v1/auth/{}/login", options_.approle_mount), body.get(),
                                      false, doing, false));
    if (!response.ok()) {
      Error e = status_error(response, doing);
      if (response.status == 400 || response.status == 403)
        return make_error(ErrorCode::kPermissionDenied,
                          fmt::format("Vault at {} refused {}: check role_id and secret_id{}", options_.address, doing,
                                      response.status == 400 ? fmt::format(" ({})", vault_messages(response.body))
                                                             : ""),
                          "VaultLoginFailed");
      return make_error(e);
    }
    return take_auth(response, doing);
  }

  bool renew_locked() {
    SecretString token(std::string(as_string_view(token_.view())));
    net::Request request;
    request.method = "POST";
    request.target = "/v1/auth/token/renew-self";
    request.idempotent = true;
    request.headers.push_back({"X-Vault-Token", token.get()});
    if (!options_.vault_namespace.empty()) request.headers.push_back({"X-Vault-Namespace", options_.vault_namespace});
    auto response = client_->send(request);
    for (auto& header : request.headers)
      if (header.name == "X-Vault-Token") wipe(header.value);
    if (!response || !response->ok()) return false;
    return take_auth(*response, "renewing the token").has_value();
  }

  // Takes client_token and lease_duration from a login or renewal answer.
  Status take_auth(net::Response& response, std::string_view doing) {
    SecretString answer(std::move(response.body));
    Json json = Json::parse(answer.get(), nullptr, false);
    const Json* auth = nullptr;
    if (!json.is_discarded() && json.is_object()) {
      auto it = json.find("auth");
      if (it != json.end() && it->is_object()) auth = &*it;
    }
    auto token = auth ? auth->find("client_token") : Json::const_iterator();
    if (auth == nullptr || token == auth->end() || !token->is_string() || token->get_ref<const std::string&>().empty())
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("Vault at {} answered {} without a client token", options_.address, doing),
                        "VaultBadResponse");
    std::string& text = const_cast<std::string&>(token->get_ref<const std::string&>());
    token_ = SecretBytes(as_bytes(text));
    wipe(text);
    std::int64_t lease = 0;
    auto duration = auth->find("lease_duration");
    if (duration != auth->end() && duration->is_number_integer()) lease = duration->get<std::int64_t>();
    auto renewable = auth->find("renewable");
    renewable_ = renewable != auth->end() && renewable->is_boolean() && renewable->get<bool>();
    lease_ = std::chrono::seconds(std::max<std::int64_t>(lease, 0));
    if (lease > 0) expires_ = Clock::now() + lease_;
    else expires_.reset();
    return {};
  }

  void set_secret_id(SecretBytes secret_id) { secret_id_ = std::move(secret_id); }
  void set_token(SecretBytes token) { token_ = std::move(token); }

  // ---- health ----------------------------------------------------------------------------------------------------

  Status server_health() {
    auto response = client_->send(net::Request{.method = "GET", .target = "/v1/sys/health", .max_attempts = 1});
    if (!response) return make_error(response.error().with_context(doing_context("health check")));
    int status = response->status;
    if (status == 200 || status == 429 || status == 472 || status == 473) return {};
    std::string why = status == 503 ? "sealed" : status == 501 ? "not initialized" : fmt::format("HTTP {}", status);
    return make_error(ErrorCode::kUnavailable, fmt::format("Vault at {} is not ready: {}", options_.address, why),
                      "VaultUnavailable");
  }

 private:
  const VaultKeyManagerOptions options_;
  std::unique_ptr<net::HttpClient> client_;
  std::mutex mutex_;  // guards keys_
  std::map<std::string, KeyState> keys_;
  std::mutex auth_mutex_;  // guards the token state; held across a login so that only one runs
  SecretBytes token_;
  SecretBytes secret_id_;
  std::optional<Clock::time_point> expires_;
  std::chrono::seconds lease_{0};
  bool renewable_ = false;
};

VaultKeyManager::VaultKeyManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VaultKeyManager::~VaultKeyManager() = default;

Result<std::unique_ptr<VaultKeyManager>> VaultKeyManager::open(VaultKeyManagerOptions options) {
  auto bad = [](std::string what) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("key manager \"vault\": {}", what));
  };
  if (options.address.empty()) return bad("address is required (https://vault.example.net:8200)");
  if (!valid_name(options.default_key))
    return bad(fmt::format("key {} is not a valid Transit key name (1..128 characters from [A-Za-z0-9._-])",
                           quote_name(options.default_key)));
  if (!valid_mount(options.mount)) return bad(fmt::format("mount {} is not a valid mount path", quote_name(options.mount)));
  if (!valid_mount(options.approle_mount))
    return bad(fmt::format("approle_mount {} is not a valid mount path", quote_name(options.approle_mount)));
  if (options.max_attempts < 1 || options.max_attempts > 10) return bad("max_attempts must be from 1 to 10");
  for (char c : options.vault_namespace)
    if (c < 0x21 || c > 0x7e) return bad("namespace must be printable ASCII without spaces");

  SecretBytes secret_id;
  SecretBytes token;
  if (!options.role_id.empty()) {
    if (!options.token.empty() || !options.token_file.empty())
      return bad("configure a token or AppRole (role_id), not both");
    if (!options.secret_id.empty() && !options.secret_id_file.empty())
      return bad("give secret_id or secret_id_file, not both");
    if (!options.secret_id_file.empty()) secret_id = BLOBSEAL_TRY(read_secret_file(options.secret_id_file, "secret_id"));
    else secret_id = options.secret_id.clone();
    if (secret_id.empty()) return bad("AppRole needs a secret_id (secret_id or secret_id_file)");
  } else {
    if (!options.token.empty() && !options.token_file.empty()) return bad("give token or token_file, not both");
    if (!options.token.empty()) {
      token = options.token.clone();
    } else if (!options.token_file.empty()) {
      token = BLOBSEAL_TRY(read_secret_file(options.token_file, "token"));
    } else if (const char* env = std::getenv("VAULT_TOKEN"); env != nullptr && *env != '\0') {
      token = SecretBytes(as_bytes(env));
    } else {
      return make_error(ErrorCode::kFailedPrecondition,
                        "key manager \"vault\": no Vault token: set token or token_file, or VAULT_TOKEN in the "
                        "environment, or configure AppRole (role_id and secret_id)");
    }
    if (!printable_secret(token)) return bad("the Vault token holds spaces or control characters");
  }

  net::ClientOptions client;
  client.endpoint = options.address;
  client.connect_timeout = options.connect_timeout;
  client.read_timeout = options.timeout;
  client.verify_tls = options.verify_tls;
  client.ca_file = options.ca_file;
  client.max_idle_connections = 16;
  client.retry.max_attempts = options.max_attempts;
  client.retry.base_delay = options.retry_base_delay;
  client.retry.max_delay = std::max(options.retry_base_delay * 8, std::chrono::milliseconds(100));
  client.retry.max_total = std::chrono::milliseconds(30000);
  if (!options.ca_file.empty() && ::access(options.ca_file.c_str(), R_OK) != 0)
    return bad(fmt::format("ca_file {} cannot be read: {}", options.ca_file, std::strerror(errno)));
  auto http = net::HttpClient::create(std::move(client));
  if (!http) return make_error(ErrorCode::kInvalidArgument, fmt::format("key manager \"vault\": address: {}",
                                                                        http.error().message()));
  bool create = options.create_default_key;
  std::string default_key = options.default_key;
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*http));
  impl->set_secret_id(std::move(secret_id));
  if (!token.empty()) impl->set_token(std::move(token));
  std::unique_ptr<VaultKeyManager> manager(new VaultKeyManager(std::move(impl)));
  if (create) {
    auto existing = manager->impl_->key(default_key, true);
    if (!existing && existing.error().code() != ErrorCode::kNotFound) return make_error(existing.error());
    if (!existing) BLOBSEAL_TRY_STATUS(manager->create_key(default_key));
  }
  return manager;
}

std::string VaultKeyManager::id() const { return std::string(kVaultProviderId); }

Result<DataKey> VaultKeyManager::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  SecretBytes plaintext = crypto::random_secret(kDataKeySize);
  auto wrapped = BLOBSEAL_TRY(wrap(plaintext, associated_data, key_id));
  return DataKey{std::move(plaintext), std::move(wrapped)};
}

Result<WrappedKey> VaultKeyManager::wrap(const SecretBytes& data_key, ByteSpan associated_data,
                                         std::string_view key_id) {
  if (data_key.size() != kDataKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a data key is {} bytes, not {}", kDataKeySize, data_key.size()));
  return impl_->encrypt(impl_->key_or_default(key_id), data_key.view(), associated_data);
}

namespace {

Status check_provider(const WrappedKey& wrapped) {
  if (wrapped.provider != kVaultProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"vault\"",
                                  quote_name(wrapped.provider)));
  return {};
}

}  // namespace

Result<SecretBytes> VaultKeyManager::unwrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  BLOBSEAL_TRY_STATUS(check_provider(wrapped));
  return impl_->decrypt(wrapped, associated_data);
}

Result<bool> VaultKeyManager::needs_rewrap(const WrappedKey& wrapped) {
  BLOBSEAL_TRY_STATUS(check_provider(wrapped));
  KeyState key = BLOBSEAL_TRY(impl_->key(wrapped.key_id, false));
  return wrapped.version != key.latest;
}

Result<std::vector<KeyInfo>> VaultKeyManager::describe() {
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
    for (std::uint32_t v = std::max<std::uint32_t>(key->min_available, 1); v <= key->latest; ++v) {
      KeyVersionInfo version;
      version.version = v;
      auto created = key->created.find(v);
      if (created != key->created.end()) version.created_unix = created->second;
      if (v == key->latest) version.state = KeyVersionState::kCurrent;
      else if (v < key->min_decryption) version.state = KeyVersionState::kRetired;
      else version.state = KeyVersionState::kActive;
      info.versions.push_back(version);
    }
    out.push_back(std::move(info));
  }
  return out;
}

Status VaultKeyManager::health() {
  BLOBSEAL_TRY_STATUS(impl_->server_health());
  const std::string& name = impl_->options().default_key;
  KeyState key = BLOBSEAL_TRY(impl_->key(name, true));
  return impl_->check_can_wrap(name, key);
}

Status VaultKeyManager::create_key(std::string_view key_id) {
  std::string name = impl_->key_or_default(key_id);
  if (!valid_name(name))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{} is not a valid Transit key name (1..128 characters from [A-Za-z0-9._-])",
                                  quote_name(name)));
  auto existing = impl_->key(name, true);
  if (existing)
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("key \"{}\" already exists on Vault at {} ({} versions)", name, impl_->address(),
                                  existing->latest));
  if (existing.error().code() != ErrorCode::kNotFound) return make_error(existing.error());
  std::string doing = fmt::format("creating key \"{}\"", name);
  auto response = BLOBSEAL_TRY(impl_->call("POST", impl_->key_path(name), R"({"type":"aes256-gcm96"})", false, doing));
  impl_->forget(name);
  if (!response.ok()) return make_error(impl_->status_error(response, doing));
  return {};
}

Result<std::uint32_t> VaultKeyManager::rotate(std::string_view key_id) {
  std::string name = impl_->key_or_default(key_id);
  BLOBSEAL_TRY(impl_->key(name, false));  // NotFound for a key Vault does not have
  std::string doing = fmt::format("rotating key \"{}\"", name);
  auto response = BLOBSEAL_TRY(impl_->call("POST", impl_->key_path(name, "/rotate"), {}, false, doing));
  impl_->forget(name);
  if (!response.ok()) return make_error(impl_->status_error(response, doing));
  KeyState key = BLOBSEAL_TRY(impl_->key(name, true));
  return key.latest;
}

Status VaultKeyManager::set_min_decryption_version(std::string_view key_id, std::uint32_t version) {
  std::string name = impl_->key_or_default(key_id);
  KeyState key = BLOBSEAL_TRY(impl_->key(name, true));
  if (version == 0 || version > key.latest)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("min_decryption_version {} for key \"{}\" must be from 1 to the latest version {}",
                                  version, name, key.latest));
  std::string doing = fmt::format("setting min_decryption_version {} on key \"{}\"", version, name);
  auto response = BLOBSEAL_TRY(impl_->call("POST", impl_->key_path(name, "/config"),
                                           fmt::format(R"({{"min_decryption_version":{}}})", version), true, doing));
  impl_->forget(name);
  if (!response.ok()) return make_error(impl_->status_error(response, doing));
  return {};
}

Result<WrappedKey> VaultKeyManager::rewrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  SecretBytes data_key = BLOBSEAL_TRY(unwrap(wrapped, associated_data));
  return wrap(data_key, associated_data, wrapped.key_id);
}

}  // namespace blobseal::keys
