// The "awskms" entry of the key manager registry: settings as flat strings → AwsKmsKeyManagerOptions, with the
// credentials and region found the way the S3 gateway finds them (store/s3/s3_store.h, s3_store_options): the
// configuration, then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE or "default"); the region from AWS_REGION
// or AWS_DEFAULT_REGION. (The gateway's reader is private to store/, which keys/ must not depend on; this is the same
// lookup order and file syntax.)
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "keys/awskms/awskms_key_manager.h"
#include "keys/provider_settings.h"

namespace blobseal::keys {

namespace {

constexpr ProviderSettings kSettings("awskms");

tl::unexpected<Error> bad_setting(std::string_view what) { return kSettings.invalid(what); }
Result<std::uint64_t> parse_number(const std::string& name, const std::string& value, std::uint64_t min,
                                   std::uint64_t max) {
  return kSettings.number(name, value, min, max);
}
Result<bool> parse_bool(const std::string& name, const std::string& value) { return kSettings.flag(name, value); }

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    std::string item = trim(std::string_view(value).substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

// The [profile] section of an AWS shared credentials file: aws_access_key_id, aws_secret_access_key,
// aws_session_token. Values that held secrets are zeroized by the caller.
std::map<std::string, std::string> read_credentials_profile(const std::filesystem::path& path,
                                                            const std::string& profile) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line, section;
  while (std::getline(in, line)) {
    std::string text = trim(line);
    secure_zero(line.data(), line.size());
    if (text.empty() || text[0] == '#' || text[0] == ';') continue;
    if (text.front() == '[' && text.back() == ']') {
      section = trim(std::string_view(text).substr(1, text.size() - 2));
      continue;
    }
    auto eq = text.find('=');
    if (section == profile && eq != std::string::npos)
      out[trim(std::string_view(text).substr(0, eq))] = trim(std::string_view(text).substr(eq + 1));
    secure_zero(text.data(), text.size());
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<KeyManager>> create_awskms_key_manager(const KeyManagerConfig& config) {
  AwsKmsKeyManagerOptions options;
  std::string access_key, session_token, profile;
  const std::string* secret_key = nullptr;
  for (const auto& [name, value] : config) {
    if (name == "key_id") {
      options.keys.key_id = value;
    } else if (name == "generation") {
      options.keys.generation = static_cast<std::uint32_t>(BLOBSEAL_TRY(parse_number(name, value, 1, 1000000)));
    } else if (name == "readable_keys") {
      options.keys.readable_keys = split_list(value);
    } else if (name == "region") {
      options.region = value;
    } else if (name == "endpoint") {
      options.endpoint = value;
    } else if (name == "access_key") {
      access_key = value;
    } else if (name == "secret_key") {
      secret_key = &value;
    } else if (name == "session_token") {
      session_token = value;
    } else if (name == "profile") {
      profile = value;
    } else if (name == "connect_timeout_ms") {
      options.connect_timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 1, 3600000)));
    } else if (name == "timeout_ms") {
      options.timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 1, 3600000)));
    } else if (name == "max_attempts") {
      options.max_attempts = static_cast<int>(BLOBSEAL_TRY(parse_number(name, value, 1, 20)));
    } else if (name == "backoff_base_ms") {
      options.backoff_base = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 0, 60000)));
    } else if (name == "backoff_max_ms") {
      options.backoff_max = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value, 0, 600000)));
    } else if (name == "verify_tls") {
      options.verify_tls = BLOBSEAL_TRY(parse_bool(name, value));
    } else if (name == "ca_file") {
      options.ca_file = value;
    } else {
      return bad_setting(fmt::format(
          "no setting \"{}\" (settings: key_id, generation, readable_keys, region, endpoint, access_key, secret_key, "
          "session_token, profile, connect_timeout_ms, timeout_ms, max_attempts, backoff_base_ms, backoff_max_ms, "
          "verify_tls, ca_file)",
          name));
    }
  }

  if (options.region.empty()) options.region = env("AWS_REGION").value_or(env("AWS_DEFAULT_REGION").value_or(""));

  if (!access_key.empty() || secret_key != nullptr) {
    if (access_key.empty() || secret_key == nullptr || secret_key->empty())
      return bad_setting("access_key and secret_key go together");
    options.access_key = access_key;
    options.secret_key = SecretBytes(as_bytes(*secret_key));
    options.session_token = session_token;
  } else if (auto a = env("AWS_ACCESS_KEY_ID"), b = env("AWS_SECRET_ACCESS_KEY"); a && b) {
    options.access_key = *a;
    options.secret_key = SecretBytes(as_bytes(*b));
    secure_zero(b->data(), b->size());
    options.session_token = env("AWS_SESSION_TOKEN").value_or("");
  } else {
    std::filesystem::path file;
    if (auto f = env("AWS_SHARED_CREDENTIALS_FILE")) file = *f;
    else if (auto home = env("HOME")) file = std::filesystem::path(*home) / ".aws" / "credentials";
    if (!file.empty()) {
      if (profile.empty()) profile = env("AWS_PROFILE").value_or("default");
      auto entries = read_credentials_profile(file, profile);
      options.access_key = entries["aws_access_key_id"];
      std::string& secret = entries["aws_secret_access_key"];
      options.secret_key = SecretBytes(as_bytes(secret));
      options.session_token = entries["aws_session_token"];
      for (auto& [name, value] : entries) secure_zero(value.data(), value.size());
    }
  }

  auto manager = AwsKmsKeyManager::open(std::move(options));
  if (!manager) return make_error(manager.error());
  return std::unique_ptr<KeyManager>(std::move(*manager));
}

}  // namespace blobseal::keys
