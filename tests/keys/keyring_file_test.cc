// The keyring file format: validation of hand-edited or damaged files (clear errors naming the field, never the
// material), key material decoding, the window arithmetic, and serialization.
#include "keys/local/keyring_file.h"

#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "keys/local/local_keyring.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;

std::string material_of(std::uint8_t fill, std::size_t size = 32) { return to_base64(Bytes(size, fill)); }

json valid_document() {
  return json{{"format", "blobseal-keyring/v1"},
              {"default_key", "default"},
              {"dual_read_versions", 0},
              {"keys",
               {{"default",
                 {{"versions", json::array({json{{"version", 1}, {"created", 1763800000}, {"retired", nullptr},
                                                 {"material", material_of(0x11)}},
                                            json{{"version", 2}, {"created", 1763900000}, {"retired", nullptr},
                                                 {"material", material_of(0x22)}}})}}}}}};
}

struct MalformedCase {
  std::string name;
  std::function<std::string()> text;
  std::string expected;     // a substring of the message
  std::string not_echoed;   // a value that must not appear in the message
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

std::function<std::string()> edited(std::function<void(json&)> edit) {
  return [edit] {
    json document = valid_document();
    edit(document);
    return document.dump(2);
  };
}

std::function<std::string()> raw(std::string text) {
  return [text] { return text; };
}

json& first_version(json& d) { return d["keys"]["default"]["versions"][0]; }

const std::string kBadMaterial = "this-is-not-base64-at-all-but-it-is-long!!!!";
const std::string kShortMaterial = to_base64(Bytes(31, 0x5a));
const std::string kLongMaterial = to_base64(Bytes(33, 0x5a));

class MalformedKeyringTest : public ::testing::TestWithParam<MalformedCase> {
 protected:
  TempDir dir_;
};

TEST_P(MalformedKeyringTest, IsRefusedWithAClearError) {
  std::string path = dir_.file("keyring.json");
  write_text(path, GetParam().text(), 0600);
  auto keyring = LocalKeyring::open(path);
  ASSERT_TRUE(fails_with(keyring, ErrorCode::kFailedPrecondition));
  const std::string& message = keyring.error().message();
  EXPECT_THAT(message, StartsWith("keyring " + path + " is "));
  EXPECT_THAT(message, HasSubstr(GetParam().expected));
  if (!GetParam().not_echoed.empty()) {
    EXPECT_FALSE(contains_secret(message, {GetParam().not_echoed})) << "the message quotes the bad value";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, MalformedKeyringTest,
    ::testing::Values(
        MalformedCase{"Empty", raw(""), "is not valid JSON (syntax error near byte", ""},
        MalformedCase{"TruncatedJson", raw("{\"format\": \"blobseal-keyring/v1\", \"keys\": {"),
                      "is not valid JSON (syntax error near byte", ""},
        // nlohmann's own message would quote the token it stopped in: here, key material.
        MalformedCase{"TruncatedInsideMaterial",
                      [] {
                        std::string text = valid_document().dump();
                        return text.substr(0, text.find(material_of(0x22)) + 30);
                      },
                      "is not valid JSON", material_of(0x22)},
        MalformedCase{"BrokenInsideMaterial",
                      [] {
                        std::string text = valid_document().dump();
                        auto at = text.find(material_of(0x22)) + 20;
                        text[at] = '\x01';  // a control character inside a JSON string
                        return text;
                      },
                      "is not valid JSON", material_of(0x22)},
        MalformedCase{"TopLevelArray", raw("[]"), "is invalid: the top level must be a JSON object", ""},
        MalformedCase{"WrongFormat", edited([](json& d) { d["format"] = "blobseal-keyring/v2"; }),
                      "\"format\" must be \"blobseal-keyring/v1\" (this build reads no other keyring format)", ""},
        MalformedCase{"MissingFormat", edited([](json& d) { d.erase("format"); }),
                      "\"format\": \"blobseal-keyring/v1\" is missing", ""},
        MalformedCase{"NoKeys", edited([](json& d) { d["keys"] = json::object(); }), "the keyring has no keys", ""},
        MalformedCase{"KeysNotAnObject", edited([](json& d) { d["keys"] = json::array(); }),
                      "\"keys\" must be an object of named keys", ""},
        MalformedCase{"MissingDefaultKey", edited([](json& d) { d.erase("default_key"); }),
                      "\"default_key\" is missing", ""},
        MalformedCase{"DefaultKeyNotInKeys", edited([](json& d) { d["default_key"] = "other"; }),
                      "\"default_key\" names key \"other\", which is not in \"keys\"", ""},
        MalformedCase{"MaterialNotBase64", edited([](json& d) { first_version(d)["material"] = kBadMaterial; }),
                      "key \"default\" version 1: \"material\" is not valid base64", kBadMaterial},
        MalformedCase{"Material31Bytes", edited([](json& d) { first_version(d)["material"] = kShortMaterial; }),
                      "key \"default\" version 1: \"material\" decodes to 31 bytes, not 32", kShortMaterial},
        MalformedCase{"Material33Bytes", edited([](json& d) { first_version(d)["material"] = kLongMaterial; }),
                      "key \"default\" version 1: \"material\" decodes to 33 bytes, not 32", kLongMaterial},
        MalformedCase{"MaterialEmpty", edited([](json& d) { first_version(d)["material"] = ""; }),
                      "key \"default\" version 1: \"material\" is empty", ""},
        MalformedCase{"MaterialNotAString", edited([](json& d) { first_version(d)["material"] = 42; }),
                      "key \"default\" version 1: \"material\" must be a base64 string of 32 bytes", ""},
        MalformedCase{"MissingMaterial", edited([](json& d) { first_version(d).erase("material"); }),
                      "key \"default\" version 1 has no \"material\"", ""},
        MalformedCase{"VersionZero", edited([](json& d) { first_version(d)["version"] = 0; }),
                      "key \"default\" versions[0]: \"version\" must be an integer from 1 to 4294967295", ""},
        MalformedCase{"VersionNegative", edited([](json& d) { first_version(d)["version"] = -1; }),
                      "\"version\" must be an integer from 1 to 4294967295", ""},
        MalformedCase{"VersionString", edited([](json& d) { first_version(d)["version"] = "1"; }),
                      "\"version\" must be an integer from 1 to 4294967295", ""},
        MalformedCase{"VersionTooLarge", edited([](json& d) { first_version(d)["version"] = 4294967296ull; }),
                      "\"version\" must be an integer from 1 to 4294967295", ""},
        MalformedCase{"MissingVersion", edited([](json& d) { first_version(d).erase("version"); }),
                      "key \"default\" versions[0] has no \"version\"", ""},
        MalformedCase{"DuplicateVersion", edited([](json& d) { first_version(d)["version"] = 2; }),
                      "key \"default\" lists version 2 twice", ""},
        MalformedCase{"NoVersions", edited([](json& d) { d["keys"]["default"]["versions"] = json::array(); }),
                      "key \"default\": \"versions\" must be a non-empty array", ""},
        MalformedCase{"KeyWithoutVersions", edited([](json& d) { d["keys"]["default"] = json::object(); }),
                      "key \"default\" has no \"versions\"", ""},
        MalformedCase{"UnknownTopLevelField", edited([](json& d) { d["dual_read_version"] = 2; }),
                      "unknown field \"dual_read_version\" at the top level", ""},
        MalformedCase{"UnknownKeyField", edited([](json& d) { d["keys"]["default"]["current"] = 2; }),
                      "unknown field \"current\" in key \"default\"", ""},
        MalformedCase{"UnknownVersionField", edited([](json& d) { first_version(d)["note"] = "x"; }),
                      "unknown field \"note\" in key \"default\" version 1", ""},
        MalformedCase{"BadKeyName",
                      edited([](json& d) { d["keys"]["bad/name"] = d["keys"]["default"]; }),
                      "key \"bad/name\": invalid key name \"bad/name\"", ""},
        MalformedCase{"DualReadNegative", edited([](json& d) { d["dual_read_versions"] = -1; }),
                      "\"dual_read_versions\" must be a non-negative integer", ""},
        MalformedCase{"DualReadString", edited([](json& d) { d["dual_read_versions"] = "2"; }),
                      "\"dual_read_versions\" must be a non-negative integer", ""},
        MalformedCase{"RetiredNotANumber", edited([](json& d) { first_version(d)["retired"] = "yesterday"; }),
                      "key \"default\" version 1: \"retired\" must be null or Unix seconds", ""},
        MalformedCase{"DestroyedNotANumber",
                      edited([](json& d) {
                        first_version(d)["retired"] = 1;
                        first_version(d).erase("material");
                        first_version(d)["destroyed"] = "today";
                      }),
                      "key \"default\" version 1: \"destroyed\" must be null or Unix seconds", ""},
        MalformedCase{"DestroyedButMaterialKept",
                      edited([](json& d) {
                        first_version(d)["retired"] = 1;
                        first_version(d)["destroyed"] = 2;
                      }),
                      "key \"default\" version 1 is destroyed but still has \"material\"", ""},
        MalformedCase{"DestroyedButNotRetired",
                      edited([](json& d) {
                        first_version(d).erase("material");
                        first_version(d)["destroyed"] = 2;
                      }),
                      "key \"default\" version 1 is destroyed but not retired", ""},
        MalformedCase{"CreatedFloat", edited([](json& d) { first_version(d)["created"] = 1.5; }),
                      "key \"default\" version 1: \"created\" must be Unix seconds", ""}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(KeyringFileTest, AMinimalHandWrittenKeyringLoads) {
  TempDir dir;
  std::string path = dir.file("keyring.json");
  // No created, retired or dual_read_versions; whitespace around the material.
  write_text(path,
             "{\"format\":\"blobseal-keyring/v1\",\"default_key\":\"k\",\"keys\":{\"k\":{\"versions\":["
             "{\"version\":3,\"material\":\" " + material_of(0x33) + "\\n\"}]}}}",
             0600);
  auto keyring = LocalKeyring::open(path);
  ASSERT_TRUE(ok(keyring));
  auto data_key = (*keyring)->generate_data_key(bytes_of("aad"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "k");
  EXPECT_EQ(data_key->wrapped.version, 3u);
}

TEST(KeyringFileTest, VersionsAreSortedWhateverTheirOrderInTheFile) {
  json document = valid_document();
  std::swap(document["keys"]["default"]["versions"][0], document["keys"]["default"]["versions"][1]);
  std::string text = document.dump();
  auto contents = local::parse_keyring(as_bytes(text), "k.json");
  ASSERT_TRUE(ok(contents));
  const auto* key = contents->find("default");
  ASSERT_NE(key, nullptr);
  ASSERT_EQ(key->versions.size(), 2u);
  EXPECT_EQ(key->versions[0].version, 1u);
  EXPECT_EQ(key->current()->version, 2u);
}

TEST(KeyringFileTest, SerializeThenParseGivesTheSameKeyring) {
  local::KeyringContents contents;
  contents.default_key = "b";
  contents.dual_read_versions = 3;
  for (std::string name : {"a", "b"}) {
    local::KeyEntry key;
    for (std::uint32_t v = 1; v <= 3; ++v) {
      local::KeyVersionEntry entry;
      entry.version = v * 10;
      entry.created_unix = 1700000000 + v;
      if (v == 1) entry.retired_unix = 1750000000;
      entry.material = SecretBytes(Bytes(32, static_cast<std::uint8_t>(v + name[0])));
      key.versions.push_back(std::move(entry));
    }
    contents.keys.emplace(name, std::move(key));
  }
  SecretBytes text = local::serialize_keyring(contents);
  // The text is JSON in the documented layout.
  json document = json::parse(as_string_view(text.view()));
  EXPECT_EQ(document.at("format"), "blobseal-keyring/v1");
  EXPECT_EQ(document.at("keys").at("a").at("versions")[0].at("retired"), 1750000000);
  EXPECT_TRUE(document.at("keys").at("a").at("versions")[1].at("retired").is_null());

  auto parsed = local::parse_keyring(text.view(), "k.json");
  ASSERT_TRUE(ok(parsed));
  EXPECT_EQ(parsed->default_key, "b");
  EXPECT_EQ(parsed->dual_read_versions, 3u);
  ASSERT_EQ(parsed->keys.size(), 2u);
  for (const auto& [name, key] : contents.keys) {
    const auto* other = parsed->find(name);
    ASSERT_NE(other, nullptr) << name;
    ASSERT_EQ(other->versions.size(), key.versions.size());
    for (std::size_t i = 0; i < key.versions.size(); ++i) {
      EXPECT_EQ(other->versions[i].version, key.versions[i].version);
      EXPECT_EQ(other->versions[i].created_unix, key.versions[i].created_unix);
      EXPECT_EQ(other->versions[i].retired_unix, key.versions[i].retired_unix);
      EXPECT_TRUE(same_bytes(other->versions[i].material.view(), key.versions[i].material.view()));
    }
  }
}

TEST(KeyringFileTest, StatesFollowRetirementAndTheWindow) {
  local::KeyEntry key;
  for (std::uint32_t v = 1; v <= 5; ++v) {
    local::KeyVersionEntry entry;
    entry.version = v;
    if (v == 2 || v == 4) entry.retired_unix = 1;
    entry.material = SecretBytes(32);
    key.versions.push_back(std::move(entry));
  }
  using S = KeyVersionState;
  auto states = [&](unsigned window) {
    std::vector<S> out;
    for (const auto& v : key.versions) out.push_back(key.state_of(v, window));
    return out;
  };
  EXPECT_EQ(states(0), (std::vector<S>{S::kActive, S::kRetired, S::kActive, S::kRetired, S::kCurrent}));
  EXPECT_EQ(states(1), (std::vector<S>{S::kExpired, S::kRetired, S::kExpired, S::kRetired, S::kCurrent}));
  EXPECT_EQ(states(2), (std::vector<S>{S::kExpired, S::kRetired, S::kActive, S::kRetired, S::kCurrent}));
  EXPECT_EQ(states(3), (std::vector<S>{S::kActive, S::kRetired, S::kActive, S::kRetired, S::kCurrent}));
  EXPECT_EQ(key.current()->version, 5u);
  key.versions.back().retired_unix = 1;  // only by hand-editing
  EXPECT_EQ(key.current()->version, 3u);
  for (auto& v : key.versions) v.retired_unix = 1;
  EXPECT_EQ(key.current(), nullptr);
}

TEST(KeyMaterialTest, DecodesExactly32Bytes) {
  Bytes material(32);
  for (std::size_t i = 0; i < material.size(); ++i) material[i] = static_cast<std::uint8_t>(255 - i * 3);
  auto decoded = local::decode_key_material(to_base64(material));
  ASSERT_TRUE(ok(decoded));
  EXPECT_TRUE(same_bytes(decoded->view(), material));
  auto spaced = local::decode_key_material("  " + to_base64(material) + "\r\n");
  ASSERT_TRUE(ok(spaced));
  EXPECT_TRUE(same_bytes(spaced->view(), material));
}

TEST(KeyMaterialTest, RefusesAnythingElse) {
  std::string good = to_base64(Bytes(32, 1));
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "is empty (expected the base64 of 32 bytes)"},
           {"   \n", "is empty (expected the base64 of 32 bytes)"},
           {good.substr(0, 43), "is not valid base64"},           // padding missing
           {good.substr(0, 20) + "*" + good.substr(21), "is not valid base64"},
           {good.substr(0, 20) + "=" + good.substr(21), "is not valid base64"},  // '=' inside
           {good.substr(0, 20) + " " + good.substr(21), "is not valid base64"},
           {to_base64(Bytes(32, 1)).replace(0, 1, "-"), "is not valid base64"},  // base64url alphabet
           {to_base64(Bytes(31, 1)), "decodes to 31 bytes, not 32 (generate a key with `openssl rand -base64 32`)"},
           {to_base64(Bytes(33, 1)), "decodes to 33 bytes, not 32"},
           {to_base64(Bytes(16, 1)), "decodes to 16 bytes, not 32"},
           {to_base64(Bytes(64, 1)), "decodes to 64 bytes, not 32"},
       }) {
    auto decoded = local::decode_key_material(c.text);
    ASSERT_TRUE(fails_with(decoded, ErrorCode::kInvalidArgument)) << c.message;
    EXPECT_THAT(decoded.error().message(), StartsWith(c.message));
  }
}

TEST(KeyNameTest, QuotesUntrustedNamesSafely) {
  EXPECT_EQ(local::quote_name("default"), "\"default\"");
  EXPECT_EQ(local::quote_name("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(local::quote_name(std::string("x\n\x01\xff", 4)), "\"x\\x0a\\x01\\xff\"");
  EXPECT_EQ(local::quote_name(std::string(100, 'k')), "\"" + std::string(80, 'k') + "\" (truncated, 100 bytes)");
}

}  // namespace
}  // namespace blobseal::keys::testing
