// The "pkcs11" settings of the key manager registry (see create_pkcs11_key_manager in pkcs11_key_manager.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "keys/pkcs11/pkcs11_key_manager.h"

namespace blobseal::keys {

namespace {

constexpr std::string_view kPinEnvironmentVariable = "BLOBSEAL_PKCS11_PIN";
constexpr std::size_t kMaxPinSize = 256;

tl::unexpected<Error> setting_error(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("key manager \"pkcs11\": {}", message));
}

Result<std::uint64_t> parse_number(const std::string& name, const std::string& value) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n > 0xffffffffu)
    return setting_error(fmt::format("{} must be a non-negative integer, not \"{}\"", name, value));
  return n;
}

Result<bool> parse_flag(const std::string& name, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no" || value.empty()) return false;
  return setting_error(fmt::format("{} must be true or false, not \"{}\"", name, value));
}

// The PIN without trailing line breaks or spaces (a file written by `echo`).
SecretBytes trimmed_pin(std::span<const std::uint8_t> text) {
  std::size_t size = text.size();
  while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == '\r' || text[size - 1] == ' ')) --size;
  return SecretBytes(text.first(size));
}

// Reads a PIN file, which must not be accessible to group or others. Messages name the file, never its contents.
Result<SecretBytes> read_pin_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    return make_error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kFailedPrecondition,
                      fmt::format("cannot open the PKCS#11 PIN file {}: {}", path, std::strerror(error)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the PKCS#11 PIN file {} is not a regular file", path));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("the PKCS#11 PIN file {} is accessible by group or others (mode {:04o}); run "
                                  "`chmod 600 {}`",
                                  path, st.st_mode & 07777, path));
  }
  SecretBytes buffer(kMaxPinSize + 1);
  std::size_t size = 0;
  while (size < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("cannot read the PKCS#11 PIN file {}: {}", path, std::strerror(error)));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size > kMaxPinSize)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the PKCS#11 PIN file {} is longer than {} bytes", path, kMaxPinSize));
  SecretBytes pin = trimmed_pin(buffer.view().first(size));
  if (pin.empty())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("the PKCS#11 PIN file {} is empty", path));
  return pin;
}

Result<SecretBytes> pin_from_environment(std::string_view variable) {
  const char* value = std::getenv(std::string(variable).c_str());
  if (value == nullptr || *value == '\0')
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("no PKCS#11 PIN: the environment variable {} is not set", variable));
  return trimmed_pin(as_bytes(value));
}

}  // namespace

Result<std::unique_ptr<KeyManager>> create_pkcs11_key_manager(const KeyManagerConfig& config) {
  Pkcs11Options options;
  const std::string* pin = nullptr;
  const std::string* pin_file = nullptr;
  const std::string* pin_env = nullptr;
  for (const auto& [name, value] : config) {
    if (name == "module") {
      options.module_path = value;
    } else if (name == "token_label") {
      options.token_label = value;
    } else if (name == "slot") {
      std::uint64_t slot = BLOBSEAL_TRY(parse_number(name, value));
      options.slot_id = static_cast<unsigned long>(slot);
    } else if (name == "pin") {
      pin = &value;
    } else if (name == "pin_file") {
      pin_file = &value;
    } else if (name == "pin_env") {
      pin_env = &value;
    } else if (name == "default_key") {
      options.default_key = value;
    } else if (name == "create_default_key") {
      options.create_default_key = BLOBSEAL_TRY(parse_flag(name, value));
    } else if (name == "refresh_interval_ms") {
      options.refresh_interval = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number(name, value)));
    } else if (name == "max_idle_sessions") {
      options.max_idle_sessions = BLOBSEAL_TRY(parse_number(name, value));
    } else {
      return setting_error(
          fmt::format("no setting \"{}\" (settings: module, token_label, slot, pin_file, pin_env, "
                      "pin, default_key, create_default_key, refresh_interval_ms, max_idle_sessions)",
                      name));
    }
  }
  if (options.module_path.empty())
    return setting_error(
        "\"module\" is required: the path of the HSM's PKCS#11 library (for SoftHSM2, "
        "/usr/lib/softhsm/libsofthsm2.so)");
  if (options.token_label.empty() == !options.slot_id)
    return setting_error("select the token with \"token_label\" or \"slot\" (exactly one)");
  if ((pin != nullptr) + (pin_file != nullptr) + (pin_env != nullptr) > 1)
    return setting_error("give one PIN source: \"pin_file\", \"pin_env\" or \"pin\"");
  if (pin_file != nullptr) {
    options.pin = BLOBSEAL_TRY(read_pin_file(*pin_file));
  } else if (pin_env != nullptr) {
    options.pin = BLOBSEAL_TRY(pin_from_environment(*pin_env));
  } else if (pin != nullptr) {
    options.pin = SecretBytes(as_bytes(*pin));
  } else if (std::getenv(std::string(kPinEnvironmentVariable).c_str()) != nullptr) {
    options.pin = BLOBSEAL_TRY(pin_from_environment(kPinEnvironmentVariable));
  } else {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key manager \"pkcs11\": no PIN: set \"pin_file\" or \"pin_env\", or the "
                                  "environment variable {}",
                                  kPinEnvironmentVariable));
  }
  if (options.pin.empty()) return setting_error("the PIN is empty");

  auto manager = Pkcs11KeyManager::open(std::move(options));
  if (!manager) return make_error(manager.error());
  return std::unique_ptr<KeyManager>(std::move(*manager));
}

}  // namespace blobseal::keys
