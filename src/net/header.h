// An HTTP header field as the client sends and receives it, and the case-insensitive lookups every user needs.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace blobseal::net {

struct Header {
  std::string name;   // as sent / as received
  std::string value;
};

// ASCII case-insensitive equality (header names, S3 error codes).
bool iequals(std::string_view a, std::string_view b);

// The value of the first header named `name` (case-insensitive), or nullopt.
std::optional<std::string_view> find_header(std::span<const Header> headers, std::string_view name);

}  // namespace blobseal::net
