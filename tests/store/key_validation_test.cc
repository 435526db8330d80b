// validate_key: lengths, NUL, and the exact UTF-8 well-formedness rules (RFC 3629).
#include <gtest/gtest.h>

#include <string>

#include "list_model.h"
#include "store/object_store.h"

namespace blobseal::store {
namespace {

using testing::escape;

void expect_valid(const std::string& key) {
  auto status = validate_key(key);
  EXPECT_TRUE(status) << escape(key) << ": " << status.error().to_string();
}

void expect_invalid(const std::string& key, std::string_view message_part) {
  auto status = validate_key(key);
  ASSERT_FALSE(status) << escape(key);
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().message().find(message_part), std::string::npos) << status.error().message();
}

TEST(KeyValidation, LengthIsOneTo1024Bytes) {
  expect_invalid("", "empty");
  expect_valid("a");
  expect_valid(std::string(1024, 'a'));
  expect_invalid(std::string(1025, 'a'), "1025 bytes");
  std::string wide;
  for (int i = 0; i < 256; ++i) wide += "\xF0\x9F\x98\x80";  // 256 four-byte characters = 1,024 bytes
  expect_valid(wide);
  expect_invalid(wide + "a", "1025 bytes");
}

TEST(KeyValidation, NulIsRefusedAnywhere) {
  expect_invalid(std::string(1, '\0'), "NUL byte at offset 0");
  expect_invalid(std::string("ab\0c", 4), "NUL byte at offset 2");
  expect_invalid(std::string("abc\0", 4), "NUL byte at offset 3");
}

TEST(KeyValidation, WellFormedUtf8IsAccepted) {
  for (const char* key : {
           "\x01", "\x7f", "plain/ascii key.txt", "../../etc/passwd", "/abs",
           "\xC2\x80",          // U+0080, the smallest two-byte
           "\xDF\xBF",          // U+07FF
           "\xE0\xA0\x80",      // U+0800, the smallest three-byte
           "\xED\x9F\xBF",      // U+D7FF, just below the surrogates
           "\xEE\x80\x80",      // U+E000, just above them
           "\xEF\xBF\xBF",      // U+FFFF
           "\xF0\x90\x80\x80",  // U+10000, the smallest four-byte
           "\xF4\x8F\xBF\xBF",  // U+10FFFF, the largest code point
           "日本語/ファイル.txt", "emoji 😀 key",
       })
    expect_valid(key);
}

TEST(KeyValidation, MalformedUtf8IsRefusedWithItsOffset) {
  struct Case {
    const char* key;
    const char* offset;
  };
  for (Case c : {
           Case{"\x80", "offset 0"},                  // lone continuation
           Case{"ab\xBF", "offset 2"},                // lone continuation
           Case{"\xC0\x80", "offset 0"},              // overlong NUL
           Case{"\xC1\xBF", "offset 0"},              // overlong
           Case{"x\xE0\x9F\xBF", "offset 1"},         // overlong three-byte (U+07FF)
           Case{"\xF0\x8F\xBF\xBF", "offset 0"},      // overlong four-byte (U+FFFF)
           Case{"\xED\xA0\x80", "offset 0"},          // U+D800
           Case{"\xED\xBF\xBF", "offset 0"},          // U+DFFF
           Case{"\xF4\x90\x80\x80", "offset 0"},      // U+110000
           Case{"\xF5\x80\x80\x80", "offset 0"},      // lead byte beyond U+10FFFF
           Case{"\xFE", "offset 0"}, Case{"\xFF", "offset 0"},
           Case{"abc\xC3", "offset 3"},               // truncated two-byte
           Case{"\xE2\x82", "offset 0"},              // truncated three-byte
           Case{"\xF0\x9F\x98", "offset 0"},          // truncated four-byte
           Case{"\xE2\x28\xA1", "offset 0"},          // bad second byte
           Case{"\xE2\x82\x28", "offset 0"},          // bad third byte
           Case{"\xF0\x9F\x98\x28", "offset 0"},      // bad fourth byte
           Case{"ok\xC3\xA9\xC3", "offset 4"},        // valid then truncated
       })
    expect_invalid(c.key, std::string("UTF-8 at byte ") + c.offset);
}

}  // namespace
}  // namespace blobseal::store
