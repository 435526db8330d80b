// Parsing a key-manager provider's NAME=VALUE settings (KeyManagerConfig), with errors that name the provider.
// Header-only: the provider libraries use it without linking blobseal_keys (which links them).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"

namespace blobseal::keys {

class ProviderSettings {
 public:
  explicit constexpr ProviderSettings(std::string_view provider) : provider_(provider) {}

  tl::unexpected<Error> invalid(std::string_view what) const {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("key manager \"{}\": {}", provider_, what));
  }

  Result<std::uint64_t> number(const std::string& name, const std::string& value, std::uint64_t min,
                               std::uint64_t max) const {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < min || n > max)
      return invalid(fmt::format("{} must be an integer from {} to {}, not \"{}\"", name, min, max, value));
    return n;
  }

  Result<bool> flag(const std::string& name, const std::string& value) const {
    if (value == "true" || value == "1" || value == "yes") return true;
    if (value == "false" || value == "0" || value == "no") return false;
    return invalid(fmt::format("{} must be true or false, not \"{}\"", name, value));
  }

 private:
  std::string_view provider_;
};

}  // namespace blobseal::keys
