#include "test_support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace blobseal::keys::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/blobseal-keys-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path_)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_text(const std::string& path, std::string_view text, mode_t mode) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

int file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

std::vector<std::string> secret_encodings(ByteSpan material) {
  std::string hex = to_hex(material);
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  return {to_base64(material), hex, upper};
}

std::vector<std::string> keyring_secret_strings(const std::string& path) {
  std::vector<std::string> out;
  auto document = nlohmann::json::parse(read_text(path));
  for (auto& [name, key] : document.at("keys").items()) {
    for (auto& version : key.at("versions")) {
      auto material = from_base64(version.at("material").get<std::string>());
      if (!material) continue;
      for (auto& s : secret_encodings(*material)) out.push_back(std::move(s));
    }
  }
  return out;
}

bool contains_secret(std::string_view text, const std::vector<std::string>& secrets) {
  constexpr std::size_t kWindow = 16;
  for (const auto& secret : secrets) {
    if (secret.size() < kWindow) {
      if (!secret.empty() && text.find(secret) != std::string_view::npos) return true;
      continue;
    }
    for (std::size_t i = 0; i + kWindow <= secret.size(); ++i)
      if (text.find(std::string_view(secret).substr(i, kWindow)) != std::string_view::npos) return true;
  }
  return false;
}

std::string describe_text(const std::vector<KeyInfo>& keys) {
  std::string out;
  for (const auto& key : keys) {
    out += key.key_id + (key.is_default ? " (default)\n" : "\n");
    for (const auto& v : key.versions) {
      out += "  " + std::to_string(v.version) + " " + std::string(to_string(v.state)) + " " +
             std::to_string(v.created_unix);
      if (v.retired_unix) out += " retired " + std::to_string(*v.retired_unix);
      out += "\n";
    }
  }
  return out;
}

Bytes bytes_of(std::string_view text) {
  auto b = as_bytes(text);
  return Bytes(b.begin(), b.end());
}

bool same_bytes(ByteSpan a, ByteSpan b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

}  // namespace blobseal::keys::testing
