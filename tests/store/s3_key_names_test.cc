// The upstream store's key names (store/s3/key_names.h): order, reversibility, overflow, start-after bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "store/s3/key_names.h"

using namespace std::string_literals;

namespace blobseal::store::s3 {
namespace {

std::string random_bytes(std::mt19937& rng, std::size_t size) {
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng() % 4 == 0 ? "\x00\x01\x7f\xff"[rng() % 4] : rng() % 256);
  return out;
}

TEST(S3KeyNames, SymbolsRoundTripAtEveryLength) {
  std::mt19937 rng(1);
  for (std::size_t size = 0; size < 80; ++size) {
    std::string bytes = random_bytes(rng, size);
    std::string symbols = encode_symbols(bytes);
    EXPECT_EQ(symbols.size(), (size * 8 + 4) / 5);
    auto back = decode_symbols(symbols);
    ASSERT_TRUE(back) << size;
    EXPECT_EQ(*back, bytes);
  }
}

TEST(S3KeyNames, NonCanonicalSymbolsAreRefused) {
  EXPECT_FALSE(decode_symbols("0"));      // no byte has one symbol
  EXPECT_FALSE(decode_symbols("01"));     // padding bits set
  EXPECT_FALSE(decode_symbols("0w"));     // outside the alphabet
  EXPECT_FALSE(decode_symbols("0A"));     // upper case is not in the alphabet
  EXPECT_TRUE(decode_symbols("00"));
}

TEST(S3KeyNames, NameOrderIsKeyOrder) {
  std::mt19937 rng(2);
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back(random_bytes(rng, 1 + rng() % 12));
  // Prefix relations, and long keys around the grouping and overflow limits.
  keys.push_back("a");
  keys.push_back("a\0"s);
  keys.push_back("ab");
  std::string long_base(440, 'x');
  for (int i = 0; i < 40; ++i) keys.push_back(long_base + random_bytes(rng, rng() % 30));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (std::size_t i = 1; i < keys.size(); ++i) {
    std::string a = key_name(keys[i - 1]), b = key_name(keys[i]);
    bool a_overflow = a.find(kOverflowMarker) != std::string::npos;
    bool b_overflow = b.find(kOverflowMarker) != std::string::npos;
    if (a_overflow && b_overflow && a.substr(0, a.find(kOverflowMarker)) == b.substr(0, b.find(kOverflowMarker)))
      continue;  // one overflow group: hash order, sorted by the lister
    EXPECT_LT(a, b) << "keys " << i - 1 << " and " << i;
  }
}

TEST(S3KeyNames, NamesAreShortSafeAndDecodable) {
  std::mt19937 rng(3);
  for (std::size_t size : {1, 2, 99, 100, 101, 449, 450, 451, 500, 1024}) {
    std::string key = random_bytes(rng, size);
    std::string name = key_name(key);
    EXPECT_LE(name.size(), 780u) << size;
    for (char c : name) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'v') || c == '/' || c == '~');
    std::size_t component = 0;
    for (char c : name) {
      component = c == '/' ? 0 : component + 1;
      EXPECT_LE(component, 213u);
    }
    auto decoded = decode_key_name(name);
    ASSERT_TRUE(decoded) << size;
    if (size <= 450) {
      EXPECT_FALSE(decoded->overflow);
      EXPECT_EQ(decoded->key, key);
    } else {
      EXPECT_TRUE(decoded->overflow);
      EXPECT_EQ(decoded->group, name.substr(0, name.find('~') + 1));
    }
  }
  EXPECT_FALSE(decode_key_name(""));
  EXPECT_FALSE(decode_key_name("NOT-A-NAME"));
  EXPECT_FALSE(decode_key_name("wxyz"));
  EXPECT_FALSE(decode_key_name("00/"));
  EXPECT_FALSE(decode_key_name("0/0"));
}

TEST(S3KeyNames, StartAfterBoundsListExactlyTheKeysFromABound) {
  std::mt19937 rng(4);
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back(random_bytes(rng, 1 + rng() % 6));
  std::vector<std::string> names;
  for (const auto& k : keys) names.push_back(key_name(k));
  for (int i = 0; i < 500; ++i) {
    std::string bound = rng() % 2 ? keys[rng() % keys.size()] : random_bytes(rng, rng() % 5);
    if (rng() % 3 == 0) bound.push_back('\0');  // an exclusive bound, as the lister makes one
    std::string after = start_after_for_keys_from(bound);
    for (std::size_t j = 0; j < keys.size(); ++j)
      EXPECT_EQ(names[j] > after, keys[j] >= bound) << "bound of " << bound.size() << " bytes";
  }
}

TEST(S3KeyNames, AKeyPrefixGivesANamePrefix) {
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string key = random_bytes(rng, 1 + rng() % 600);
    std::string prefix = key.substr(0, rng() % (key.size() + 1));
    EXPECT_TRUE(key_name(key).starts_with(name_prefix_for_keys_with(prefix))) << key.size() << " " << prefix.size();
  }
}

TEST(S3KeyNames, PastAGroupMeansPastEveryMember) {
  std::string base(460, 'q');
  std::string a = key_name(base + "a"), b = key_name(base + "zzzz"), next = key_name(std::string(460, 'r'));
  auto decoded = decode_key_name(a);
  ASSERT_TRUE(decoded && decoded->overflow);
  std::string past = start_after_past_group(decoded->group);
  EXPECT_LT(a, past);
  EXPECT_LT(b, past);
  EXPECT_GT(next, past);
}

}  // namespace
}  // namespace blobseal::store::s3
