// The conformance suite, part 2: keys are names, never paths; invalid keys are refused everywhere.
#include <unistd.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "list_model.h"
#include "object_store_conformance.h"
#include "test_sources.h"

namespace blobseal::store::testing {

namespace fs = std::filesystem;

namespace {

// ---- keys -------------------------------------------------------------------------------------------------------

std::vector<std::string> hostile_keys(const std::string& absolute_probe) {
  std::vector<std::string> keys = {
      "../../etc/passwd", "/abs", "a/../../b", "..", ".", "./x", "../", "/", "//", "a//b", "\\..\\windows",
      "index.sqlite", "data/00/00000000000000000000000000000000", "tmp/x", "with\nnewline", "tab\there",
      "~root", "$HOME", "%2e%2e%2f", "CON", "nul.txt", absolute_probe, absolute_probe + "/../../x",
  };
  keys.push_back(std::string(kMaxKeyBytes, 'k'));
  std::string wide;
  while (wide.size() + 2 <= kMaxKeyBytes) wide += "é";  // 512 two-byte characters: exactly 1,024 bytes
  keys.push_back(wide);
  std::string deep;
  while (deep.size() + 3 <= kMaxKeyBytes) deep += "../";
  keys.push_back(deep.substr(0, kMaxKeyBytes));
  return keys;
}

TEST_P(ObjectStoreConformance, PathLikeAndMaximalKeysAreJustNames) {
  std::string probe = fmt::format("/tmp/blobseal-escape-probe-{}", ::getpid());
  std::error_code ec;
  fs::remove_all(probe, ec);
  std::set<std::string> keys;
  for (const std::string& key : hostile_keys(probe)) {
    ASSERT_TRUE(validate_key(key)) << escape(key);
    std::string body = "body of " + key;
    auto info = put(key, body, "h:" + key);
    ASSERT_TRUE(info) << escape(key) << ": " << info.error().to_string();
    keys.insert(key);
  }
  for (const std::string& key : keys) {
    EXPECT_EQ(read(key), "body of " + key) << escape(key);
    auto head = store_->head(key);
    ASSERT_TRUE(head) << escape(key);
    EXPECT_EQ(head->key, key);
  }
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  std::set<std::string> listed_keys;
  for (const auto& info : listed->objects) listed_keys.insert(info.key);
  EXPECT_EQ(listed_keys, keys);

  EXPECT_FALSE(fs::exists(probe)) << "a key created " << probe;
  if (auto sandbox = under_test_->sandbox()) {
    for (const auto& entry : fs::directory_iterator(*sandbox))
      EXPECT_EQ(entry.path(), *under_test_->root()) << "a key wrote beside the store root: " << entry.path();
  }
  if (auto root = under_test_->root()) {
    for (const auto& entry : fs::directory_iterator(*root))
      EXPECT_TRUE(under_test_->is_expected_root_entry(entry.path().filename().string()))
          << "unexpected entry in the store root: " << entry.path();
  }
  for (const std::string& key : keys) ASSERT_TRUE(store_->remove(key)) << escape(key);
}

TEST_P(ObjectStoreConformance, KeysDifferingOnlyInCaseOrNormalisationAreDistinct) {
  std::vector<std::string> keys = {"Photo.JPG", "photo.jpg", "PHOTO.JPG", "straße", "STRASSE", "strasse",
                                   "\xC3\xA9",   // é precomposed
                                   "e\xCC\x81"};  // e + combining acute
  for (std::size_t i = 0; i < keys.size(); ++i) ASSERT_TRUE(put(keys[i], fmt::format("body {}", i)));
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(read(keys[i]), fmt::format("body {}", i)) << keys[i];
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->objects.size(), keys.size());
}

TEST_P(ObjectStoreConformance, InvalidKeysAreRefusedByEveryOperation) {
  ASSERT_TRUE(put("valid", "v"));
  auto info = store_->head("valid");
  ASSERT_TRUE(info);
  std::vector<std::string> invalid = {
      "",
      std::string(kMaxKeyBytes + 1, 'k'),
      std::string("nul\0inside", 10),
      std::string(1, '\0'),
      "\x80",                  // a lone continuation byte
      "\xC0\xAF",              // overlong '/'
      "\xE0\x80\xAF",          // overlong '/'
      "\xF0\x80\x80\xAF",      // overlong '/'
      "\xED\xA0\x80",          // a surrogate (U+D800)
      "\xF4\x90\x80\x80",      // above U+10FFFF
      "\xFF",                  // never in UTF-8
      "caf\xC3",               // truncated sequence
      "a\xE2\x82",             // truncated sequence
  };
  for (const std::string& key : invalid) {
    SCOPED_TRACE(escape(key));
    StringSource source(std::string("x"));
    EXPECT_EQ(store_->put(key, source, {}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->open(key).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->head(key).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->remove(key).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->replace_header(key, info->generation, {}, {}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->copy("valid", key, {}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->copy(key, "valid2", {}).error().code(), ErrorCode::kInvalidArgument);
  }
  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(read("valid"), "v");
}

}  // namespace

}  // namespace blobseal::store::testing
