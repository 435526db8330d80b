#include "keys/local/local_keyring.h"

#include <ctime>
#include <functional>
#include <limits>
#include <mutex>

#include <fmt/format.h>

#include "crypto/aes_gcm.h"
#include "crypto/primitives.h"
#include "keys/local/keyring_file.h"
#include "keys/local/keyring_io.h"

namespace blobseal::keys {

namespace {

using local::FileIdentity;
using local::KeyEntry;
using local::KeyringContents;
using local::KeyVersionEntry;
using local::quote_name;

constexpr std::size_t kWrappedSize = crypto::kAesGcmNonceSize + kDataKeySize + crypto::kAesGcmTagSize;
constexpr std::string_view kDoesNotAuthenticate =
    "wrapped data key does not authenticate: the object was altered or moved to another location";

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

struct Loaded {
  std::shared_ptr<const KeyringContents> contents;
  FileIdentity identity;
};

Result<Loaded> load(const std::string& path) {
  auto file = BLOBSEAL_TRY(local::read_keyring_file(path));
  auto contents = BLOBSEAL_TRY(local::parse_keyring(file.text.view(), path));
  return Loaded{std::make_shared<const KeyringContents>(std::move(contents)), file.identity};
}

Result<WrappedKey> wrap_under(std::string_view key_id, const KeyVersionEntry& version, ByteSpan data_key,
                              ByteSpan associated_data) {
  auto gcm = BLOBSEAL_TRY(crypto::AesGcm::create(version.material.view()));
  WrappedKey wrapped{std::string(kLocalProviderId), std::string(key_id), version.version, Bytes(kWrappedSize)};
  std::uint8_t* out = wrapped.ciphertext.data();
  std::span<std::uint8_t> nonce(out, crypto::kAesGcmNonceSize);
  crypto::random_bytes(nonce);
  BLOBSEAL_TRY_STATUS(gcm.seal(nonce, associated_data, data_key,
                               std::span<std::uint8_t>(out + crypto::kAesGcmNonceSize, kDataKeySize),
                               std::span<std::uint8_t, crypto::kAesGcmTagSize>(
                                   out + crypto::kAesGcmNonceSize + kDataKeySize, crypto::kAesGcmTagSize)));
  return wrapped;
}

std::string readable_versions(unsigned window) {
  if (window == 1) return "1 newest version readable";
  return fmt::format("{} newest versions readable", window);
}

}  // namespace

class LocalKeyring::Impl {
 public:
  Impl(std::string path, LocalKeyringOptions options, Loaded loaded)
      : path_(std::move(path)),
        options_(std::move(options)),
        contents_(std::move(loaded.contents)),
        loaded_identity_(loaded.identity),
        last_check_(std::chrono::steady_clock::now()) {}

  const std::string& path() const { return path_; }
  bool from_blob_key() const { return path_.empty(); }

  // The keyring to use now, re-read first when the file changed (checked at most once per interval unless
  // `force_check`). A changed file that does not load leaves the last good keyring in place and sets the error
  // health() reports.
  std::shared_ptr<const KeyringContents> snapshot(bool force_check) {
    std::lock_guard lock(mutex_);
    if (from_blob_key()) return contents_;
    auto now = std::chrono::steady_clock::now();
    if (!force_check && now - last_check_ < options_.reload_interval) return contents_;
    last_check_ = now;
    auto identity = local::stat_keyring_file(path_);
    if (!identity) {
      reload_error_ = identity.error();
    } else if (*identity == loaded_identity_) {
      reload_error_.reset();
    } else if (!(failed_identity_ && *identity == *failed_identity_)) {
      auto loaded = load(path_);
      if (loaded) {
        install_locked(std::move(*loaded));
      } else {
        reload_error_ = loaded.error();
        failed_identity_ = *identity;
      }
    }
    return contents_;
  }

  Status reload() {
    if (from_blob_key()) return {};
    auto loaded = load(path_);
    std::lock_guard lock(mutex_);
    last_check_ = std::chrono::steady_clock::now();
    if (!loaded) {
      reload_error_ = loaded.error();
      return make_error(loaded.error());
    }
    install_locked(std::move(*loaded));
    return {};
  }

  std::optional<Error> reload_error() {
    std::lock_guard lock(mutex_);
    return reload_error_;
  }

  unsigned window(const KeyringContents& contents) const {
    return options_.dual_read_versions.value_or(contents.dual_read_versions);
  }

  // One locked read-modify-write of the file; `change` edits the contents as they are on disk now.
  Status mutate(const std::function<Status(KeyringContents&)>& change) {
    if (from_blob_key())
      return make_error(ErrorCode::kFailedPrecondition,
                        "the key comes from BLOB_KEY, a single key that cannot be rotated or changed; to manage keys, "
                        "create a keyring with `blobseal keys init --keyring FILE` and use --keyring FILE");
    std::shared_ptr<const KeyringContents> updated;
    auto identity = BLOBSEAL_TRY(local::update_keyring_file(
        path_, [&](const local::KeyringFile& current) -> Result<SecretBytes> {
          auto contents = BLOBSEAL_TRY(local::parse_keyring(current.text.view(), path_));
          BLOBSEAL_TRY_STATUS(change(contents));
          SecretBytes text = local::serialize_keyring(contents);
          updated = std::make_shared<const KeyringContents>(std::move(contents));
          return text;
        }));
    std::lock_guard lock(mutex_);
    install_locked(Loaded{std::move(updated), identity});
    last_check_ = std::chrono::steady_clock::now();
    return {};
  }

  // mutate() on one version of one key (the default key when `key_id` is empty), found or refused with NotFound.
  Status mutate_version(std::string_view key_id, std::uint32_t version,
                        const std::function<Status(const std::string& name, KeyEntry&, KeyVersionEntry&)>& change) {
    return mutate([&](KeyringContents& contents) -> Status {
      std::string name = key_id.empty() ? contents.default_key : std::string(key_id);
      KeyEntry* key = contents.find(name);
      if (key == nullptr) return unknown_key(contents, name);
      KeyVersionEntry* entry = key->find(version);
      if (entry == nullptr) return unknown_version(name, *key, version);
      return change(name, *key, *entry);
    });
  }

  // Error helpers: name the key, the version and where the keyring comes from, never any material.
  tl::unexpected<Error> unknown_key(const KeyringContents& contents, std::string_view key_id) const {
    if (from_blob_key())
      return make_error(ErrorCode::kNotFound,
                        fmt::format("unknown key {}: the key manager built from BLOB_KEY has only the key \"{}\"",
                                    quote_name(key_id), kBlobKeyId));
    std::string names;
    std::size_t shown = 0;
    for (const auto& [name, key] : contents.keys) {
      if (shown++ == 10) {
        names += ", ...";
        break;
      }
      names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", name);
    }
    return make_error(ErrorCode::kNotFound,
                      fmt::format("unknown key {}: keyring {} has {}", quote_name(key_id), path_, names));
  }

  tl::unexpected<Error> unknown_version(const std::string& key_id, const KeyEntry& key, std::uint32_t version) const {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("key \"{}\" has no version {} in {} (newest: version {})", key_id, version,
                                  from_blob_key() ? std::string("BLOB_KEY") : "keyring " + path_,
                                  key.versions.back().version));
  }

  tl::unexpected<Error> no_current_version(const std::string& key_id) const {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key \"{}\" has no current version: every version is retired; rotate it "
                                  "(blobseal keys rotate {}) or un-retire a version",
                                  key_id, key_id));
  }

 private:
  void install_locked(Loaded loaded) {
    contents_ = std::move(loaded.contents);
    loaded_identity_ = loaded.identity;
    failed_identity_.reset();
    reload_error_.reset();
  }

  const std::string path_;  // empty for BLOB_KEY
  const LocalKeyringOptions options_;

  std::mutex mutex_;  // guards everything below
  std::shared_ptr<const KeyringContents> contents_;
  FileIdentity loaded_identity_;
  std::optional<FileIdentity> failed_identity_;  // a changed file that failed to load: not re-read until it changes
  std::optional<Error> reload_error_;
  std::chrono::steady_clock::time_point last_check_;
};

LocalKeyring::LocalKeyring(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalKeyring::~LocalKeyring() = default;

Result<std::unique_ptr<LocalKeyring>> LocalKeyring::create(const std::string& path,
                                                           const LocalKeyringOptions& options) {
  if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "no keyring file given");
  BLOBSEAL_TRY_STATUS(local::validate_key_name(options.initial_key));
  KeyringContents contents;
  contents.default_key = options.initial_key;
  KeyEntry key;
  key.versions.push_back(KeyVersionEntry{1, now_unix(), std::nullopt, crypto::random_secret(crypto::kAesGcmKeySize)});
  contents.keys.emplace(options.initial_key, std::move(key));
  SecretBytes text = local::serialize_keyring(contents);
  auto identity = BLOBSEAL_TRY(local::create_keyring_file(path, text.view()));
  Loaded loaded{std::make_shared<const KeyringContents>(std::move(contents)), identity};
  return std::unique_ptr<LocalKeyring>(new LocalKeyring(std::make_unique<Impl>(path, options, std::move(loaded))));
}

Result<std::unique_ptr<LocalKeyring>> LocalKeyring::open(const std::string& path, const LocalKeyringOptions& options) {
  if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "no keyring file given");
  auto loaded = BLOBSEAL_TRY(load(path));
  return std::unique_ptr<LocalKeyring>(new LocalKeyring(std::make_unique<Impl>(path, options, std::move(loaded))));
}

Result<std::unique_ptr<LocalKeyring>> LocalKeyring::from_blob_key(std::string_view base64) {
  auto material = local::decode_key_material(base64);
  if (!material)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("BLOB_KEY {}", material.error().message()));
  KeyringContents contents;
  contents.default_key = std::string(kBlobKeyId);
  KeyEntry key;
  key.versions.push_back(KeyVersionEntry{1, 0, std::nullopt, std::move(*material)});
  contents.keys.emplace(std::string(kBlobKeyId), std::move(key));
  Loaded loaded{std::make_shared<const KeyringContents>(std::move(contents)), {}};
  return std::unique_ptr<LocalKeyring>(
      new LocalKeyring(std::make_unique<Impl>(std::string(), LocalKeyringOptions{}, std::move(loaded))));
}

std::string LocalKeyring::id() const { return std::string(kLocalProviderId); }

Result<WrappedKey> LocalKeyring::wrap(const SecretBytes& data_key, ByteSpan associated_data, std::string_view key_id) {
  if (data_key.size() != kDataKeySize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a data key must have {} bytes, not {}", kDataKeySize, data_key.size()));
  auto contents = impl_->snapshot(false);
  std::string name = key_id.empty() ? contents->default_key : std::string(key_id);
  const KeyEntry* key = contents->find(name);
  if (key == nullptr) return impl_->unknown_key(*contents, name);
  const KeyVersionEntry* current = key->current();
  if (current == nullptr) return impl_->no_current_version(name);
  return wrap_under(name, *current, data_key.view(), associated_data);
}

Result<DataKey> LocalKeyring::generate_data_key(ByteSpan associated_data, std::string_view key_id) {
  SecretBytes plaintext = crypto::random_secret(kDataKeySize);
  auto wrapped = BLOBSEAL_TRY(wrap(plaintext, associated_data, key_id));
  return DataKey{std::move(plaintext), std::move(wrapped)};
}

Result<SecretBytes> LocalKeyring::unwrap(const WrappedKey& wrapped, ByteSpan associated_data) {
  if (wrapped.provider != kLocalProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"{}\"",
                                  quote_name(wrapped.provider), kLocalProviderId));
  auto contents = impl_->snapshot(false);
  auto find = [&](const KeyringContents& c) -> const KeyVersionEntry* {
    const KeyEntry* key = c.find(wrapped.key_id);
    return key == nullptr ? nullptr : key->find(wrapped.version);
  };
  // Another process may have just rotated and wrapped under the new version: look at the file before refusing.
  if (find(*contents) == nullptr) contents = impl_->snapshot(true);
  const KeyEntry* key = contents->find(wrapped.key_id);
  if (key == nullptr) return impl_->unknown_key(*contents, wrapped.key_id);
  const KeyVersionEntry* version = key->find(wrapped.version);
  if (version == nullptr) return impl_->unknown_version(wrapped.key_id, *key, wrapped.version);

  unsigned window = impl_->window(*contents);
  switch (key->state_of(*version, window)) {
    case KeyVersionState::kDestroyed:
      return make_error(ErrorCode::kNotFound,
                        fmt::format("key \"{}\" version {} was destroyed (blobseal keys destroy): data keys wrapped "
                                    "under it can never be unwrapped again",
                                    wrapped.key_id, wrapped.version));
    case KeyVersionState::kRetired: {
      const KeyVersionEntry* current = key->current();
      if (current == nullptr)
        return make_error(ErrorCode::kFailedPrecondition,
                          fmt::format("key \"{}\" version {} is retired; un-retire it", wrapped.key_id,
                                      wrapped.version));
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" version {} is retired; rewrap objects to version {} (blobseal "
                                    "rewrap) or un-retire it",
                                    wrapped.key_id, wrapped.version, current->version));
    }
    case KeyVersionState::kExpired:
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" version {} is outside the dual-read window ({}); rewrap objects to "
                                    "version {} (blobseal rewrap) or widen the window (--dual-read-versions)",
                                    wrapped.key_id, wrapped.version, readable_versions(window),
                                    key->current()->version));
    case KeyVersionState::kCurrent:
    case KeyVersionState::kActive:
      break;
  }

  if (wrapped.ciphertext.size() != kWrappedSize) return make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));
  auto gcm = BLOBSEAL_TRY(crypto::AesGcm::create(version->material.view()));
  const std::uint8_t* in = wrapped.ciphertext.data();
  SecretBytes data_key(kDataKeySize);
  auto opened = gcm.open(std::span(in, crypto::kAesGcmNonceSize), associated_data,
                         std::span(in + crypto::kAesGcmNonceSize, kDataKeySize),
                         std::span(in + crypto::kAesGcmNonceSize + kDataKeySize, crypto::kAesGcmTagSize),
                         data_key.mutable_view());
  if (!opened) {
    if (opened.error().code() == ErrorCode::kDataLoss)
      return make_error(ErrorCode::kDataLoss, std::string(kDoesNotAuthenticate));
    return make_error(opened.error());
  }
  return data_key;
}

Result<bool> LocalKeyring::needs_rewrap(const WrappedKey& wrapped) {
  if (wrapped.provider != kLocalProviderId)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the data key was wrapped by key manager {}, not \"{}\"",
                                  quote_name(wrapped.provider), kLocalProviderId));
  auto contents = impl_->snapshot(false);
  auto current_of = [&](const KeyringContents& c) -> const KeyVersionEntry* {
    const KeyEntry* key = c.find(wrapped.key_id);
    return key == nullptr ? nullptr : key->current();
  };
  const KeyVersionEntry* current = current_of(*contents);
  // A version newer than the current one was made by another process since the last check.
  if (current == nullptr || wrapped.version > current->version) {
    contents = impl_->snapshot(true);
    current = current_of(*contents);
  }
  const KeyEntry* key = contents->find(wrapped.key_id);
  if (key == nullptr) return impl_->unknown_key(*contents, wrapped.key_id);
  if (current == nullptr) return impl_->no_current_version(wrapped.key_id);
  return wrapped.version != current->version;
}

Result<std::vector<KeyInfo>> LocalKeyring::describe() {
  auto contents = impl_->snapshot(false);
  unsigned window = impl_->window(*contents);
  std::vector<KeyInfo> keys;
  for (const auto& [name, key] : contents->keys) {
    KeyInfo info;
    info.key_id = name;
    info.is_default = name == contents->default_key;
    for (const auto& v : key.versions)
      info.versions.push_back(KeyVersionInfo{v.version, key.state_of(v, window), v.created_unix, v.retired_unix});
    keys.push_back(std::move(info));
  }
  return keys;
}

Status LocalKeyring::health() {
  auto contents = impl_->snapshot(true);
  if (auto error = impl_->reload_error())
    return make_error(error->with_context(
        "the keyring file changed but cannot be loaded (the previously loaded keyring is still in use)"));
  // A round trip under the default key proves the material and the crypto work.
  constexpr std::string_view kProbe = "blobseal.dev/keys/health";
  auto data_key = BLOBSEAL_TRY(generate_data_key(as_bytes(kProbe)));
  auto unwrapped = BLOBSEAL_TRY(unwrap(data_key.wrapped, as_bytes(kProbe)));
  if (!crypto::constant_time_equal(unwrapped.view(), data_key.plaintext.view()))
    return make_error(ErrorCode::kInternal, "the key manager's wrap/unwrap self-test failed");
  return {};
}

Result<std::uint32_t> LocalKeyring::rotate(std::string_view key_id) {
  std::uint32_t added = 0;
  BLOBSEAL_TRY_STATUS(impl_->mutate([&](KeyringContents& contents) -> Status {
    std::string name = key_id.empty() ? contents.default_key : std::string(key_id);
    KeyEntry* key = contents.find(name);
    if (key == nullptr) return impl_->unknown_key(contents, name);
    std::uint32_t newest = key->versions.back().version;
    if (newest == std::numeric_limits<std::uint32_t>::max())
      return make_error(ErrorCode::kResourceExhausted, fmt::format("key \"{}\" has no version numbers left", name));
    added = newest + 1;
    key->versions.push_back(
        KeyVersionEntry{added, now_unix(), std::nullopt, crypto::random_secret(crypto::kAesGcmKeySize)});
    return {};
  }));
  return added;
}

Status LocalKeyring::add_key(std::string_view key_id) {
  BLOBSEAL_TRY_STATUS(local::validate_key_name(key_id));
  return impl_->mutate([&](KeyringContents& contents) -> Status {
    if (contents.find(key_id) != nullptr)
      return make_error(ErrorCode::kAlreadyExists, fmt::format("key \"{}\" already exists in keyring {}", key_id,
                                                               impl_->path()));
    KeyEntry key;
    key.versions.push_back(KeyVersionEntry{1, now_unix(), std::nullopt, crypto::random_secret(crypto::kAesGcmKeySize)});
    contents.keys.emplace(std::string(key_id), std::move(key));
    return {};
  });
}

Status LocalKeyring::retire(std::string_view key_id, std::uint32_t version) {
  return impl_->mutate_version(
      key_id, version, [&](const std::string& name, KeyEntry& key, KeyVersionEntry& entry) -> Status {
    if (entry.retired_unix) return {};
    if (const KeyVersionEntry* current = key.current(); current != nullptr && current->version == version)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" version {} is the current version (new objects are wrapped under it) "
                                    "and cannot be retired; rotate first (blobseal keys rotate {}), rewrap objects "
                                    "(blobseal rewrap), then retire it",
                                    name, version, name));
    entry.retired_unix = now_unix();
    return {};
  });
}

Status LocalKeyring::unretire(std::string_view key_id, std::uint32_t version) {
  return impl_->mutate_version(
      key_id, version, [&](const std::string& name, KeyEntry& /*key*/, KeyVersionEntry& entry) -> Status {
    if (entry.destroyed_unix)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" version {} was destroyed and cannot be un-retired", name, version));
    entry.retired_unix.reset();
    return {};
  });
}

Status LocalKeyring::destroy(std::string_view key_id, std::uint32_t version) {
  return impl_->mutate_version(
      key_id, version, [&](const std::string& name, KeyEntry& /*key*/, KeyVersionEntry& entry) -> Status {
    if (entry.destroyed_unix)
      return make_error(ErrorCode::kNotFound,
                        fmt::format("key \"{}\" version {} is already destroyed", name, version));
    if (!entry.retired_unix)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("key \"{}\" version {} is not retired; rewrap objects off it (blobseal rewrap), "
                                    "retire it (blobseal keys retire {} {}), then destroy it",
                                    name, version, name, version));
    entry.material = SecretBytes();  // the old buffer is wiped as it is dropped
    entry.destroyed_unix = now_unix();
    return {};
  });
}

Status LocalKeyring::set_dual_read_versions(unsigned versions) {
  return impl_->mutate([&](KeyringContents& contents) -> Status {
    contents.dual_read_versions = versions;
    return {};
  });
}

Status LocalKeyring::set_default_key(std::string_view key_id) {
  return impl_->mutate([&](KeyringContents& contents) -> Status {
    if (contents.find(key_id) == nullptr) return impl_->unknown_key(contents, key_id);
    contents.default_key = std::string(key_id);
    return {};
  });
}

Status LocalKeyring::reload() { return impl_->reload(); }

const std::string& LocalKeyring::path() const { return impl_->path(); }

}  // namespace blobseal::keys
