// Loading Wycheproof files from BLOBSEAL_VECTORS_DIR (the CMake cache variable of the same name).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/bytes.h"
#include "core/error.h"

namespace blobseal::test {

// Parses wycheproof/<name>; throws (failing the test) when the file is missing or not JSON.
const nlohmann::json& wycheproof(const std::string& name);

// A hex field of a test case; throws on bad hex.
Bytes hex_field(const nlohmann::json& test, const char* field);

// "tcId 17 (comment) [Flag, Flag]" for failure messages.
std::string describe(const nlohmann::json& test);

}  // namespace blobseal::test

namespace blobseal::test {
// The error code of a failed Result, or nullopt when it succeeded (so a test never calls error() on a value).
template <typename R>
std::optional<ErrorCode> code_of(const R& result) {
  if (result) return std::nullopt;
  return result.error().code();
}
}  // namespace blobseal::test
