// Hashes (SHA-256, MD5; FIPS 180 and RFC 1321 known answers), incremental digests, constant-time comparison,
// randomness and the AES-instruction probe.
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::crypto {
namespace {

TEST(Sha256, Fips180KnownAnswers) {
  EXPECT_EQ(to_hex(sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Digest, IncrementalSha256OfAMillionAsInUnevenPieces) {
  Digest d(Digest::Algorithm::kSha256);
  std::string a(1000000, 'a');
  std::mt19937 rng(3);
  std::size_t pos = 0;
  while (pos < a.size()) {
    std::size_t n = std::min<std::size_t>(rng() % 70000, a.size() - pos);
    d.update(as_bytes(std::string_view(a).substr(pos, n)));  // includes empty updates
    pos += n;
  }
  EXPECT_EQ(to_hex(d.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Digest, Md5Rfc1321KnownAnswers) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (auto [text, md5] : cases) {
    Digest d(Digest::Algorithm::kMd5);
    for (char c : text) d.update(as_bytes(std::string_view(&c, 1)));
    EXPECT_EQ(to_hex(d.finish()), md5) << text;
  }
}

TEST(Digest, SurvivesAMove) {
  Digest a(Digest::Algorithm::kSha256);
  a.update(as_bytes("ab"));
  Digest b = std::move(a);
  b.update(as_bytes("c"));
  EXPECT_EQ(to_hex(b.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ConstantTimeEqual, ComparesContentsAndLengths) {
  Bytes a = {1, 2, 3, 4}, same = {1, 2, 3, 4}, first = {0, 2, 3, 4}, last = {1, 2, 3, 5}, shorter = {1, 2, 3};
  EXPECT_TRUE(constant_time_equal(a, same));
  EXPECT_FALSE(constant_time_equal(a, first));
  EXPECT_FALSE(constant_time_equal(a, last));
  EXPECT_FALSE(constant_time_equal(a, shorter)) << "a prefix is not equal";
  EXPECT_FALSE(constant_time_equal(shorter, a));
  EXPECT_TRUE(constant_time_equal({}, {}));
  EXPECT_FALSE(constant_time_equal({}, a));
}

TEST(Random, FillsBuffersWithFreshBytes) {
  std::set<Bytes> seen;
  for (int i = 0; i < 20; ++i) {
    Bytes b(32, 0);
    random_bytes(b);
    EXPECT_NE(b, Bytes(32, 0));
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 20u) << "32 random bytes repeated";
  random_bytes({});  // nothing to do, and no abort

  SecretBytes s1 = random_secret(32), s2 = random_secret(32);
  ASSERT_EQ(s1.size(), 32u);
  EXPECT_FALSE(constant_time_equal(s1.view(), s2.view()));
  // Roughly balanced bits over 64 KiB (mean 0.5, sd ~0.0014): catches a generator stuck on a pattern.
  Bytes big(65536);
  random_bytes(big);
  std::size_t ones = 0;
  for (auto b : big) ones += static_cast<std::size_t>(__builtin_popcount(b));
  double ratio = static_cast<double>(ones) / (big.size() * 8.0);
  EXPECT_NEAR(ratio, 0.5, 0.01);
}

TEST(CpuProbe, AgreesWithTheKernelsCpuFlags) {
#if defined(__x86_64__)
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo";
  std::string line;
  bool aes = false, pclmul = false, found = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) {
      aes |= w == "aes";
      pclmul |= w == "pclmulqdq";
    }
    found = true;
    break;
  }
  ASSERT_TRUE(found);
  EXPECT_EQ(cpu_has_aes_acceleration(), aes && pclmul);
#else
  GTEST_SKIP() << "the probe reports false off x86";
#endif
}

}  // namespace
}  // namespace blobseal::crypto
