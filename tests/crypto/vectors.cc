#include "vectors.h"

#include <fstream>
#include <map>
#include <stdexcept>

namespace blobseal::test {

const nlohmann::json& wycheproof(const std::string& name) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::string path = std::string(BLOBSEAL_VECTORS_DIR) + "/wycheproof/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open test vectors " + path);
  return cache.emplace(name, nlohmann::json::parse(in)).first->second;
}

Bytes hex_field(const nlohmann::json& test, const char* field) {
  auto bytes = from_hex(test.at(field).get<std::string>());
  if (!bytes) throw std::runtime_error(std::string("bad hex in field ") + field);
  return *bytes;
}

std::string describe(const nlohmann::json& test) {
  std::string out = "tcId " + std::to_string(test.at("tcId").get<int>());
  if (test.contains("comment") && !test["comment"].get<std::string>().empty())
    out += " (" + test["comment"].get<std::string>() + ")";
  if (test.contains("flags")) {
    out += " [";
    bool first = true;
    for (const auto& f : test["flags"]) {
      if (!first) out += ", ";
      out += f.get<std::string>();
      first = false;
    }
    out += "]";
  }
  return out;
}

}  // namespace blobseal::test
