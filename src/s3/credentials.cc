#include "s3/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
// Errors as values, not exceptions (toml++ picks a separate ABI namespace for this mode).
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::s3 {

namespace {
bool valid_access_key(std::string_view k) {
  return k.size() >= 3 && k.size() <= 128 && std::all_of(k.begin(), k.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}
bool valid_secret(std::string_view s) {
  return s.size() >= 8 && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) { return c > 32 && c < 127; });
}

std::string random_token(std::size_t length, std::string_view alphabet) {
  std::string out;
  std::vector<std::uint8_t> bytes(length * 2);
  while (out.size() < length) {
    crypto::random_bytes(bytes);
    for (std::uint8_t b : bytes) {
      // Rejection sampling keeps every character equally likely.
      if (b >= 256 - 256 % alphabet.size()) continue;
      out.push_back(alphabet[b % alphabet.size()]);
      if (out.size() == length) break;
    }
  }
  secure_zero(bytes.data(), bytes.size());
  return out;
}
}  // namespace

Status CredentialStore::add(std::string access_key, std::string_view secret_key, std::string tenant) {
  if (!valid_access_key(access_key))
    return make_error(ErrorCode::kInvalidArgument, "access keys are 3-128 characters of [A-Za-z0-9._-]");
  if (!valid_secret(secret_key))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the secret key of \"{}\" must be 8-128 printable characters", access_key));
  if (tenant.empty()) tenant = "default";
  if (credentials_.contains(access_key))
    return make_error(ErrorCode::kAlreadyExists, fmt::format("access key \"{}\" is defined twice", access_key));
  Credential c{access_key, SecretBytes(as_bytes(secret_key)), std::move(tenant)};
  credentials_.emplace(std::move(access_key), std::move(c));
  return {};
}

const Credential* CredentialStore::find(std::string_view access_key) const {
  auto it = credentials_.find(access_key);
  return it == credentials_.end() ? nullptr : &it->second;
}

Status CredentialStore::load_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(errno_error("stat", path));
  if ((st.st_mode & 077) != 0)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("credentials file {} is readable by group or others; run: chmod 600 {}", path, path));
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("credentials file {}: {} (line {})", path, parsed.error().description(),
                                  parsed.error().source().begin.line));
  const toml::table& table = parsed.table();
  const toml::array* entries = table["credential"].as_array();
  if (entries == nullptr || entries->empty())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("credentials file {} has no [[credential]] entries", path));
  for (const auto& node : *entries) {
    const toml::table* entry = node.as_table();
    if (entry == nullptr) return make_error(ErrorCode::kInvalidArgument, "[[credential]] entries must be tables");
    auto access = (*entry)["access_key"].value<std::string>();
    auto secret = (*entry)["secret_key"].value<std::string>();
    auto tenant = (*entry)["tenant"].value_or(std::string("default"));
    if (!access || !secret)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("credentials file {}: every entry needs access_key and secret_key", path));
    auto status = add(*access, *secret, tenant);
    secure_zero(secret->data(), secret->size());
    BLOBSEAL_TRY_STATUS(status);
  }
  return {};
}

Result<std::pair<std::string, std::string>> CredentialStore::generate_file(const std::string& path) {
  std::string access = random_token(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
  std::string secret = random_token(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  std::string text = fmt::format(
      "# blobseal S3 credentials (generated). Keep this file private (0600).\n"
      "[[credential]]\naccess_key = \"{}\"\nsecret_key = \"{}\"\ntenant = \"default\"\n",
      access, secret);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(errno_error("create", path));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  secure_zero(text.data(), text.size());
  if (!ok) {
    ::unlink(path.c_str());
    return make_error(errno_error("write", path));
  }
  BLOBSEAL_TRY_STATUS(add(access, secret, "default"));
  return std::pair{access, secret};
}

}  // namespace blobseal::s3
