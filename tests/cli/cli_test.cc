// End-to-end tests of the blobseal binary: round trips, refusals of tampered/truncated/extended/relocated input,
// output-file hygiene, memory bounds (peak RSS from wait4), and the store commands including the scrub.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "cli_fixture.h"
#include "process.h"

namespace fs = std::filesystem;
using blobseal::testing::ProcessOptions;
using blobseal::testing::ProcessResult;
using blobseal::testing::run_process;

namespace {

const std::string& kBinary = blobseal::testing::kBlobsealBinary;
using blobseal::testing::random_string;
using blobseal::testing::read_file;
using blobseal::testing::write_file;

class CliTest : public blobseal::testing::CliFixture {
 protected:
  CliTest() : CliFixture("blobseal-cli-") {}
};

TEST_F(CliTest, EncryptDecryptRoundTripsFilesOfEveryChunkShape) {
  for (std::size_t size : {0ul, 1ul, 16383ul, 16384ul, 16385ul, 32768ul, (5ul << 20) + 3}) {
    std::string plain = random_string(size, size);
    write_file(dir_ / "in", plain);
    auto e = blobseal({"encrypt", "-o", (dir_ / "sealed").string(), (dir_ / "in").string()});
    ASSERT_EQ(e.exit_code, 0) << e.stderr_text;
    std::string sealed = read_file(dir_ / "sealed");
    if (size >= 64) {
      EXPECT_EQ(sealed.find(plain.substr(0, 64)), std::string::npos) << "plaintext in the sealed file";
    }
    auto d = blobseal({"decrypt", "-o", (dir_ / "out").string(), (dir_ / "sealed").string()});
    ASSERT_EQ(d.exit_code, 0) << d.stderr_text;
    EXPECT_EQ(read_file(dir_ / "out"), plain) << "size " << size;
  }
}

TEST_F(CliTest, StdinToStdoutLikeAge) {
  std::string plain = random_string(3 << 20, 7);
  write_file(dir_ / "in", plain);
  ProcessOptions enc;
  enc.feed_stdin = [&](int fd) { (void)!::write(fd, plain.data(), plain.size()); };
  enc.stdout_file = (dir_ / "sealed").string();
  auto e = blobseal({"encrypt"}, enc);
  ASSERT_EQ(e.exit_code, 0) << e.stderr_text;
  std::string sealed = read_file(dir_ / "sealed");
  ProcessOptions dec;
  dec.feed_stdin = [&](int fd) { (void)!::write(fd, sealed.data(), sealed.size()); };
  auto d = blobseal({"decrypt"}, dec);
  ASSERT_EQ(d.exit_code, 0) << d.stderr_text;
  EXPECT_EQ(d.stdout_text, plain);
}

TEST_F(CliTest, BlobKeyWorksWithoutAKeyring) {
  std::string key = blobseal::to_base64(std::vector<std::uint8_t>(32, 0x42));
  write_file(dir_ / "in", "hello sealed world");
  ProcessOptions options;
  options.env["BLOB_KEY"] = key;
  auto e = run_process({kBinary, "encrypt", "-o", (dir_ / "sealed").string(), (dir_ / "in").string()}, options);
  ASSERT_EQ(e.exit_code, 0) << e.stderr_text;
  auto d = run_process({kBinary, "decrypt", (dir_ / "sealed").string()}, options);
  ASSERT_EQ(d.exit_code, 0) << d.stderr_text;
  EXPECT_EQ(d.stdout_text, "hello sealed world");
  // Another key opens nothing; a malformed one is refused without echoing it.
  options.env["BLOB_KEY"] = blobseal::to_base64(std::vector<std::uint8_t>(32, 0x43));
  auto wrong = run_process({kBinary, "decrypt", (dir_ / "sealed").string()}, options);
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_TRUE(wrong.stdout_text.empty());
  options.env["BLOB_KEY"] = "bm90LWEta2V5LW9mLTMyLWJ5dGVz";
  auto bad = run_process({kBinary, "decrypt", (dir_ / "sealed").string()}, options);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(bad.stderr_text.find("bm90LWEta2V5LW9mLTMyLWJ5dGVz"), std::string::npos) << bad.stderr_text;
}

// Every way of damaging a sealed file is refused with a non-zero exit, no output file, and no plaintext on stdout
// beyond verified chunks.
TEST_F(CliTest, TamperedTruncatedExtendedAndRelocatedInputsAreRefused) {
  std::string plain = random_string(5 * 16384 + 1000, 11);
  write_file(dir_ / "in", plain);
  ASSERT_EQ(blobseal({"encrypt", "--context", "invoices/2026.pdf", "-o", (dir_ / "sealed").string(),
                      (dir_ / "in").string()}).exit_code, 0);
  std::string sealed = read_file(dir_ / "sealed");
  std::size_t envelope = blobseal::load_u32(reinterpret_cast<const std::uint8_t*>(sealed.data()) + 12);
  std::size_t body = envelope;  // first stream byte
  struct Case {
    std::string name;
    std::string bytes;
    std::string context = "invoices/2026.pdf";
  };
  std::vector<Case> cases;
  auto flipped = [&](std::size_t offset) {
    std::string s = sealed;
    s[offset] = static_cast<char>(s[offset] ^ 0x01);
    return s;
  };
  cases.push_back({"envelope byte", flipped(20)});
  cases.push_back({"wrapped key byte", flipped(envelope - 40)});
  cases.push_back({"salt", flipped(body + 3)});
  cases.push_back({"commitment", flipped(body + 30)});
  cases.push_back({"first chunk", flipped(body + 56 + 100)});
  cases.push_back({"middle chunk", flipped(body + 56 + 2 * 16400 + 5)});
  cases.push_back({"last chunk tag", flipped(sealed.size() - 1)});
  cases.push_back({"truncated by one byte", sealed.substr(0, sealed.size() - 1)});
  cases.push_back({"truncated at a chunk boundary", sealed.substr(0, body + 56 + 3 * 16400)});
  cases.push_back({"truncated inside the envelope", sealed.substr(0, envelope - 10)});
  cases.push_back({"extended by a byte", sealed + "x"});
  cases.push_back({"extended by a chunk", sealed + sealed.substr(body + 56, 16400)});
  cases.push_back({"relocated (another context)", sealed, "invoices/2027.pdf"});
  for (const auto& c : cases) {
    write_file(dir_ / "bad", c.bytes);
    auto r = blobseal({"decrypt", "--context", c.context, "-o", (dir_ / "out").string(), (dir_ / "bad").string()});
    EXPECT_NE(r.exit_code, 0) << c.name;
    EXPECT_FALSE(fs::exists(dir_ / "out")) << c.name << ": a partial output file was left behind";
    EXPECT_FALSE(r.stderr_text.empty()) << c.name;
    // Through a pipe too: stdout may carry only verified chunks, which are a prefix of the plaintext.
    ProcessOptions piped;
    piped.feed_stdin = [&](int fd) { (void)!::write(fd, c.bytes.data(), c.bytes.size()); };
    auto p = blobseal({"decrypt", "--context", c.context}, piped);
    EXPECT_NE(p.exit_code, 0) << c.name << " (pipe)";
    EXPECT_LT(p.stdout_text.size(), plain.size()) << c.name;
    EXPECT_EQ(p.stdout_text, plain.substr(0, p.stdout_text.size())) << c.name << ": unverified bytes released";
  }
  // The intact file still opens, so the refusals above were about the damage.
  auto ok = blobseal({"decrypt", "--context", "invoices/2026.pdf", (dir_ / "sealed").string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_EQ(ok.stdout_text, plain);
}

TEST_F(CliTest, FailedDecryptLeavesAnExistingOutputFileUntouched) {
  write_file(dir_ / "in", random_string(50000, 3));
  ASSERT_EQ(blobseal({"encrypt", "-o", (dir_ / "sealed").string(), (dir_ / "in").string()}).exit_code, 0);
  std::string sealed = read_file(dir_ / "sealed");
  sealed[sealed.size() - 100] ^= 0x55;
  write_file(dir_ / "bad", sealed);
  write_file(dir_ / "out", "previous contents");
  auto r = blobseal({"decrypt", "-o", (dir_ / "out").string(), (dir_ / "bad").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("integrity failure"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(read_file(dir_ / "out"), "previous contents");
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".blobseal-"), std::string::npos) << "temp file left behind";
}

TEST_F(CliTest, GroupReadableKeyringIsRefused) {
  ASSERT_EQ(::chmod(keyring_.c_str(), 0644), 0);
  write_file(dir_ / "in", "x");
  auto r = blobseal({"encrypt", (dir_ / "in").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("chmod 600"), std::string::npos) << r.stderr_text;
}

TEST_F(CliTest, KeysRotateRetireDestroyAndWhatStillOpens) {
  std::string plain = random_string(50000, 11);
  write_file(dir_ / "in", plain);
  ASSERT_EQ(blobseal({"put", "doc", (dir_ / "in").string()}).exit_code, 0);
  auto sealed_v1 = blobseal({"encrypt", (dir_ / "in").string(), "-o", (dir_ / "v1.sealed").string()});
  ASSERT_EQ(sealed_v1.exit_code, 0) << sealed_v1.stderr_text;

  auto rotated = blobseal({"keys", "rotate"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.stderr_text;
  EXPECT_EQ(rotated.stdout_text, "2\n") << "keys rotate prints the new version";
  auto early = blobseal({"keys", "destroy", "default", "1"});
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.stderr_text.find("key \"default\" version 1 is not retired"), std::string::npos) << early.stderr_text;
  ASSERT_EQ(blobseal({"get", "doc"}).stdout_text, plain) << "a refused destroy harmed the object";

  auto rewrap = blobseal({"rewrap", "--json"});
  ASSERT_EQ(rewrap.exit_code, 0) << rewrap.stderr_text;
  ASSERT_EQ(blobseal({"keys", "retire", "default", "1"}).exit_code, 0);
  auto destroyed = blobseal({"keys", "destroy", "default", "1"});
  ASSERT_EQ(destroyed.exit_code, 0) << destroyed.stderr_text;
  auto list = blobseal({"keys", "list", "--json"});
  EXPECT_NE(list.stdout_text.find("\"state\": \"destroyed\""), std::string::npos) << list.stdout_text;

  // The rewrapped object reads back; the file sealed under version 1 never opens again, and says why.
  auto get = blobseal({"get", "doc"});
  ASSERT_EQ(get.exit_code, 0) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, plain);
  auto lost = blobseal({"decrypt", (dir_ / "v1.sealed").string(), "-o", (dir_ / "v1.out").string()});
  EXPECT_EQ(lost.exit_code, 1);
  EXPECT_NE(lost.stderr_text.find("key \"default\" version 1 was destroyed"), std::string::npos) << lost.stderr_text;
  EXPECT_FALSE(fs::exists(dir_ / "v1.out"));
  auto dry = blobseal({"rewrap", "--dry-run", "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.stderr_text;
  EXPECT_NE(dry.stdout_text.find("\"to_rewrap\": 0"), std::string::npos) << dry.stdout_text;
}

TEST_F(CliTest, KmsSettingsAreCheckedWithoutBeingEchoed) {
  auto stray = blobseal({"--kms-setting", "pin=s3cr3t-pin", "keys", "list"});
  EXPECT_EQ(stray.exit_code, 1);
  EXPECT_NE(stray.stderr_text.find("--kms-setting applies to an external key manager"), std::string::npos)
      << stray.stderr_text;
  auto malformed = blobseal({"--kms", "pkcs11", "--kms-setting", "s3cr3t-pin", "keys", "list"});
  EXPECT_EQ(malformed.exit_code, 1);
  EXPECT_NE(malformed.stderr_text.find("--kms-setting number 1 is not NAME=VALUE"), std::string::npos)
      << malformed.stderr_text;
  auto unknown = blobseal({"--kms", "nosuch", "keys", "rotate"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.stderr_text.find("unknown key manager \"nosuch\""), std::string::npos) << unknown.stderr_text;
  for (const auto* r : {&stray, &malformed, &unknown}) {
    EXPECT_EQ(r->stderr_text.find("s3cr3t"), std::string::npos) << r->stderr_text;
    EXPECT_EQ(r->stdout_text.find("s3cr3t"), std::string::npos) << r->stdout_text;
  }
}

TEST_F(CliTest, StoreCommandsPutGetListHeadRemove) {
  std::string plain = random_string(200000, 5);
  write_file(dir_ / "in", plain);
  ASSERT_EQ(blobseal({"put", "docs/a.bin", (dir_ / "in").string(), "--content-type", "application/pdf", "--meta",
                      "Owner=alice"}).exit_code, 0);
  ASSERT_EQ(blobseal({"put", "docs/sub/b.bin", (dir_ / "in").string()}).exit_code, 0);
  ASSERT_EQ(blobseal({"put", "top.txt", (dir_ / "in").string()}).exit_code, 0);

  auto get = blobseal({"get", "docs/a.bin"});
  ASSERT_EQ(get.exit_code, 0) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, plain);
  auto range = blobseal({"get", "docs/a.bin", "--range", "16380-16400"});
  ASSERT_EQ(range.exit_code, 0) << range.stderr_text;
  EXPECT_EQ(range.stdout_text, plain.substr(16380, 21));
  auto suffix = blobseal({"get", "docs/a.bin", "--range", "-10"});
  EXPECT_EQ(suffix.stdout_text, plain.substr(plain.size() - 10));
  EXPECT_NE(blobseal({"get", "docs/a.bin", "--range", "300000-"}).exit_code, 0);

  auto ls = blobseal({"ls", "--delimiter", "/"});
  ASSERT_EQ(ls.exit_code, 0) << ls.stderr_text;
  EXPECT_NE(ls.stdout_text.find("PRE docs/"), std::string::npos) << ls.stdout_text;
  EXPECT_NE(ls.stdout_text.find(" 200000 top.txt"), std::string::npos) << ls.stdout_text;
  auto json = blobseal({"ls", "docs/", "--json"});
  EXPECT_NE(json.stdout_text.find("\"key\":\"docs/sub/b.bin\""), std::string::npos) << json.stdout_text;

  auto head = blobseal({"head", "docs/a.bin", "--json"});
  ASSERT_EQ(head.exit_code, 0) << head.stderr_text;
  EXPECT_NE(head.stdout_text.find("\"content-type\": \"application/pdf\""), std::string::npos) << head.stdout_text;
  EXPECT_NE(head.stdout_text.find("\"x-amz-meta-owner\": \"alice\""), std::string::npos) << head.stdout_text;
  auto md5 = blobseal::crypto::Digest(blobseal::crypto::Digest::Algorithm::kMd5);
  md5.update(blobseal::as_bytes(plain));
  EXPECT_NE(head.stdout_text.find(blobseal::to_hex(md5.finish())), std::string::npos) << "ETag is the MD5 of the plaintext";

  ASSERT_EQ(blobseal({"rm", "docs/a.bin"}).exit_code, 0);
  auto gone = blobseal({"get", "docs/a.bin"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.stderr_text.find("not found"), std::string::npos) << gone.stderr_text;
  EXPECT_NE(blobseal({"rm", "docs/a.bin"}).exit_code, 0);
}

TEST_F(CliTest, NoPlaintextReachesTheStoreDirectory) {
  std::string marker = "PATIENT-RECORD-MARKER-7f3a9c";
  std::string plain;
  for (int i = 0; i < 5000; ++i) plain += marker + " ";
  write_file(dir_ / "in", plain);
  std::string secret_value = "META-VALUE-SECRET-41d2";
  ASSERT_EQ(blobseal({"put", "records/" + marker, (dir_ / "in").string(), "--meta", "note=" + secret_value}).exit_code, 0);
  for (const auto& entry : fs::recursive_directory_iterator(store_)) {
    if (!entry.is_regular_file()) continue;
    std::string content = read_file(entry.path());
    std::string data = content;
    // The object key is a name the index must hold to list it; the marker must not appear anywhere else, and the
    // metadata value and the contents must not appear at all.
    std::size_t pos = 0;
    int hits = 0;
    while ((pos = data.find(marker + " " + marker, pos)) != std::string::npos) ++hits, ++pos;
    EXPECT_EQ(hits, 0) << entry.path() << " holds plaintext";
    EXPECT_EQ(data.find(secret_value), std::string::npos) << entry.path() << " holds a metadata value in clear";
  }
}

TEST_F(CliTest, SlowVerifyFindsTheOneCorruptObjectAmongAThousand) {
  // Seal 1,000 small objects through the CLI's own store, then damage one stored body on disk.
  for (int i = 0; i < 1000; ++i) {
    write_file(dir_ / "in", random_string(100 + i * 37, static_cast<std::uint64_t>(i)));
    auto r = blobseal({"--quiet", "put", "objects/" + std::to_string(i), (dir_ / "in").string()});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  auto clean = blobseal({"verify", "--json"});
  ASSERT_EQ(clean.exit_code, 0) << clean.stdout_text << clean.stderr_text;
  EXPECT_NE(clean.stdout_text.find("\"objects_checked\": 1000"), std::string::npos) << clean.stdout_text;

  // The data file written last belongs to the last put.
  fs::path newest;
  auto newest_time = fs::file_time_type::min();
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(store_) / "data")) {
    if (entry.is_regular_file() && entry.last_write_time() >= newest_time) {
      newest_time = entry.last_write_time();
      newest = entry.path();
    }
  }
  ASSERT_FALSE(newest.empty());
  std::string body = read_file(newest);
  body[body.size() / 2] ^= 0x20;
  ::chmod(newest.c_str(), 0600);
  write_file(newest, body);

  auto dirty = blobseal({"verify", store_});
  EXPECT_EQ(dirty.exit_code, 1) << dirty.stdout_text << dirty.stderr_text;
  EXPECT_NE(dirty.stdout_text.find("CORRUPT objects/999"), std::string::npos) << dirty.stdout_text;
  EXPECT_NE(dirty.stdout_text.find("checked 1000 objects"), std::string::npos) << dirty.stdout_text;
  auto json = blobseal({"verify", "--json"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_NE(json.stdout_text.find("\"key\": \"objects/999\""), std::string::npos) << json.stdout_text;
  // Reading it fails with an integrity error; its neighbours still read.
  EXPECT_NE(blobseal({"get", "objects/999"}).exit_code, 0);
  EXPECT_EQ(blobseal({"get", "objects/998"}).exit_code, 0);
}

// ---- memory bounds (slow) -------------------------------------------------------------------------------------

struct Sha256Stream {
  blobseal::crypto::Digest digest{blobseal::crypto::Digest::Algorithm::kSha256};
  std::uint64_t bytes = 0;
};

void feed_generated(int fd, std::uint64_t seed, std::uint64_t size, Sha256Stream& hash) {
  std::vector<std::uint8_t> buf(1 << 20);
  for (std::uint64_t done = 0; done < size;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - done));
    blobseal::testing::fill_pseudo_random(seed, done, buf.data(), n);
    hash.digest.update(std::span(buf.data(), n));
    for (std::size_t w = 0; w < n;) {
      ssize_t k = ::write(fd, buf.data() + w, n - w);
      if (k <= 0) return;
      w += static_cast<std::size_t>(k);
    }
    done += n;
    hash.bytes += n;
  }
}

void drain_hashing(int fd, Sha256Stream& hash) {
  std::vector<std::uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    hash.digest.update(std::span(buf.data(), static_cast<std::size_t>(n)));
    hash.bytes += static_cast<std::uint64_t>(n);
  }
}

TEST_F(CliTest, SlowOneGibibyteRoundTripsThroughPipesUnder32MiB) {
  constexpr std::uint64_t kSize = 1ull << 30;
  Sha256Stream input, output;
  ProcessOptions enc;
  enc.feed_stdin = [&](int fd) { feed_generated(fd, 99, kSize, input); };
  enc.stdout_file = (dir_ / "sealed").string();
  auto e = blobseal({"--quiet", "encrypt"}, enc);
  ASSERT_EQ(e.exit_code, 0) << e.stderr_text;
  ProcessOptions dec;
  dec.stdin_file = (dir_ / "sealed").string();  // a regular file on stdin: the random-access path
  dec.drain_stdout = [&](int fd) { drain_hashing(fd, output); };
  auto d = blobseal({"--quiet", "decrypt"}, dec);
  ASSERT_EQ(d.exit_code, 0) << d.stderr_text;
  EXPECT_EQ(output.bytes, kSize);
  EXPECT_EQ(input.digest.finish(), output.digest.finish());
  EXPECT_LT(e.max_rss_kib, 32 * 1024) << "encrypt peak RSS";
  EXPECT_LT(d.max_rss_kib, 32 * 1024) << "decrypt peak RSS";
  std::printf("1 GiB: encrypt peak RSS %lld KiB, decrypt peak RSS %lld KiB\n", static_cast<long long>(e.max_rss_kib),
              static_cast<long long>(d.max_rss_kib));
}

TEST_F(CliTest, SlowFourGibibyteDecryptStaysUnder32MiB) {
  constexpr std::uint64_t kSize = 4ull << 30;
  Sha256Stream input, output, piped;
  ProcessOptions enc;
  enc.feed_stdin = [&](int fd) { feed_generated(fd, 4242, kSize, input); };
  enc.stdout_file = (dir_ / "sealed").string();
  auto e = blobseal({"--quiet", "encrypt"}, enc);
  ASSERT_EQ(e.exit_code, 0) << e.stderr_text;
  // From a file (random-access reader) ...
  ProcessOptions dec;
  dec.drain_stdout = [&](int fd) { drain_hashing(fd, output); };
  auto d = blobseal({"--quiet", "decrypt", (dir_ / "sealed").string()}, dec);
  ASSERT_EQ(d.exit_code, 0) << d.stderr_text;
  // ... and from a pipe (streaming decryptor).
  ProcessOptions pipe_dec;
  int sealed_fd = ::open((dir_ / "sealed").c_str(), O_RDONLY);
  pipe_dec.feed_stdin = [&](int fd) {
    std::vector<char> buf(1 << 20);
    for (ssize_t n; (n = ::read(sealed_fd, buf.data(), buf.size())) > 0;)
      if (::write(fd, buf.data(), static_cast<std::size_t>(n)) != n) break;
  };
  pipe_dec.drain_stdout = [&](int fd) { drain_hashing(fd, piped); };
  auto p = blobseal({"--quiet", "decrypt"}, pipe_dec);
  ::close(sealed_fd);
  ASSERT_EQ(p.exit_code, 0) << p.stderr_text;
  auto expected = input.digest.finish();
  EXPECT_EQ(output.bytes, kSize);
  EXPECT_EQ(expected, output.digest.finish());
  EXPECT_EQ(expected, piped.digest.finish());
  EXPECT_LT(e.max_rss_kib, 32 * 1024) << "encrypt peak RSS";
  EXPECT_LT(d.max_rss_kib, 32 * 1024) << "decrypt (file) peak RSS";
  EXPECT_LT(p.max_rss_kib, 32 * 1024) << "decrypt (pipe) peak RSS";
  std::printf("4 GiB: encrypt %lld KiB, decrypt from file %lld KiB, decrypt from pipe %lld KiB peak RSS\n",
              static_cast<long long>(e.max_rss_kib), static_cast<long long>(d.max_rss_kib),
              static_cast<long long>(p.max_rss_kib));
}

}  // namespace
