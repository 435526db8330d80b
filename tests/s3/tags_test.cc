#include "s3/tags.h"

#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace blobseal::s3 {
namespace {

std::string reason_of(const Status& s) { return s ? "" : s.error().reason(); }
template <typename T>
std::string reason_of(const Result<T>& r) {
  return r ? "" : r.error().reason();
}

TEST(ValidateTags, AcceptsS3sCharacterSet) {
  EXPECT_TRUE(validate_tags({}));
  EXPECT_TRUE(validate_tags({{"Project", "blue sky"}, {"a+b-c=d.e_f:g/h@i", "0123456789"}, {"k", ""}}));
  // Unicode letters, digits and separators.
  EXPECT_TRUE(validate_tags({{"Größe", "日本語"}, {"ключ", "значение"}, {"عربى", "١٢٣"}, {"nbsp", "a\u00A0b"}}));
  EXPECT_TRUE(validate_tags({{"micro", "\u00B5"}, {"ideographic", "\u3000"}}));
}

TEST(ValidateTags, RefusesOtherCharacters) {
  for (std::string bad : {"a!", "a#", "a$", "a%", "a&", "a*", "a,", "a;", "a?", "a<", "a>", "a\"", "a'", "a\\",
                          "a|", "a~", "a\t", "a\n", "a\x01", "a\x7F", "\xC2\x80", "a\u00A7", "a\u00D7", "a\u2022",
                          "a\u200B", "a\U0001F600", "a\uE000", "e\u0301"}) {
    EXPECT_EQ(reason_of(validate_tags({{bad, "v"}})), "InvalidTag") << bad;
    EXPECT_EQ(reason_of(validate_tags({{"k", bad}})), "InvalidTag") << bad;
  }
}

TEST(ValidateTags, RefusesInvalidUtf8) {
  for (std::string bad : {"\xFF", "\xC3", "\xC3\x28", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF"}) {
    EXPECT_EQ(reason_of(validate_tags({{bad, "v"}})), "InvalidTag");
    EXPECT_EQ(reason_of(validate_tags({{"k", bad}})), "InvalidTag");
  }
}

TEST(ValidateTags, Lengths) {
  EXPECT_EQ(reason_of(validate_tags({{"", "v"}})), "InvalidTag");
  EXPECT_TRUE(validate_tags({{std::string(128, 'k'), std::string(256, 'v')}}));
  EXPECT_EQ(reason_of(validate_tags({{std::string(129, 'k'), "v"}})), "InvalidTag");
  EXPECT_EQ(reason_of(validate_tags({{"k", std::string(257, 'v')}})), "InvalidTag");
  // Lengths count code points, not bytes: 128 three-byte characters are fine, 129 are not.
  std::string ideograph = "\u65E5";
  std::string key128, key129, value256;
  for (int i = 0; i < 128; ++i) key128 += ideograph;
  key129 = key128 + ideograph;
  for (int i = 0; i < 256; ++i) value256 += ideograph;
  EXPECT_TRUE(validate_tags({{key128, value256}}));
  EXPECT_EQ(reason_of(validate_tags({{key129, "v"}})), "InvalidTag");
  EXPECT_EQ(reason_of(validate_tags({{"k", value256 + ideograph}})), "InvalidTag");
}

TEST(ValidateTags, AtMostTen) {
  TagSet tags;
  for (int i = 0; i < 10; ++i) tags.emplace_back(fmt::format("k{}", i), "v");
  EXPECT_TRUE(validate_tags(tags));
  tags.emplace_back("k10", "v");
  auto s = validate_tags(tags);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().reason(), "BadRequest");
  EXPECT_EQ(s.error().message(), "Object tags cannot be greater than 10");
}

TEST(ValidateTags, DuplicateKeys) {
  auto s = validate_tags({{"a", "1"}, {"b", "2"}, {"a", "3"}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().reason(), "InvalidTag");
  EXPECT_EQ(s.error().message(), "Cannot provide multiple Tags with the same key");
  EXPECT_TRUE(validate_tags({{"a", "1"}, {"A", "1"}}));  // keys are case-sensitive
}

TEST(ValidateTags, AwsPrefixIsReserved) {
  EXPECT_EQ(reason_of(validate_tags({{"aws:cloudformation:stack-name", "x"}})), "InvalidTag");
  EXPECT_EQ(reason_of(validate_tags({{"AWS:x", "x"}})), "InvalidTag");
  EXPECT_TRUE(validate_tags({{"aws", "x"}, {"awsx:y", "x"}, {"x", "aws:y"}}));
}

TEST(TaggingHeader, Parses) {
  auto tags = parse_tagging_header("Key1=Value1&Key2=Value2");
  ASSERT_TRUE(tags) << tags.error().to_string();
  EXPECT_EQ(*tags, (TagSet{{"Key1", "Value1"}, {"Key2", "Value2"}}));
  EXPECT_EQ(*parse_tagging_header(""), TagSet{});
  EXPECT_EQ(*parse_tagging_header("k"), (TagSet{{"k", ""}}));
  EXPECT_EQ(*parse_tagging_header("k="), (TagSet{{"k", ""}}));
  EXPECT_EQ(*parse_tagging_header("a=1&&b=2&"), (TagSet{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(*parse_tagging_header("my+key=a%20b+c"), (TagSet{{"my key", "a b c"}}));
  EXPECT_EQ(*parse_tagging_header("k=a%2Bb%3Dc%2F%40%3A"), (TagSet{{"k", "a+b=c/@:"}}));
  EXPECT_EQ(*parse_tagging_header("k=x=y"), (TagSet{{"k", "x=y"}}));
  EXPECT_EQ(*parse_tagging_header("%C3%A9t%C3%A9=%E6%97%A5"), (TagSet{{"été", "日"}}));
}

TEST(TaggingHeader, InvalidArgumentForEncodingEmptyKeysAndDuplicates) {
  for (std::string_view header : {"k=%", "k=%G1", "%zz=v", "=", "=v", "a=1&a=2", "a=1&b=2&a=1"}) {
    auto tags = parse_tagging_header(header);
    ASSERT_FALSE(tags) << header;
    EXPECT_EQ(tags.error().reason(), "InvalidArgument") << header;
    EXPECT_EQ(tags.error().message(),
              "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag "
              "name duplicates.");
  }
}

TEST(TaggingHeader, TagRulesApply) {
  EXPECT_EQ(reason_of(parse_tagging_header("k=a%21")), "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_header("aws%3Ax=1")), "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_header("k=%FF")), "InvalidTag");
  std::string eleven;
  for (int i = 0; i < 11; ++i) eleven += fmt::format("k{}=v&", i);
  EXPECT_EQ(reason_of(parse_tagging_header(eleven)), "BadRequest");
}

TEST(StoredTags, RoundTrip) {
  for (const TagSet& tags : {TagSet{}, TagSet{{"a", "b"}}, TagSet{{"k", ""}, {"x y", "1+2=3&4%5"}},
                             TagSet{{"日本", "été"}, {"a/b:c@d", "-._~"}}, TagSet{{"=&%", "\n\x01"}}}) {
    std::string encoded = encode_tags(tags);
    EXPECT_EQ(decode_tags(encoded), tags) << encoded;
  }
  EXPECT_EQ(encode_tags({}), "");
  EXPECT_EQ(encode_tags({{"a b", "c+d"}, {"e", ""}}), "a%20b=c%2Bd&e=");
}

TEST(StoredTags, DecodeSkipsDamage) {
  EXPECT_EQ(decode_tags(""), TagSet{});
  EXPECT_EQ(decode_tags("a=1&broken&b=%zz&c=3"), (TagSet{{"a", "1"}, {"c", "3"}}));
  EXPECT_EQ(decode_tags("&&&"), TagSet{});
}

}  // namespace
}  // namespace blobseal::s3
