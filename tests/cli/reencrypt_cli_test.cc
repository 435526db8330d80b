// `blobseal reencrypt` end to end, through the binary: objects read back identically after a run, the selectors and
// the dry run, an interrupted run resumed from its checkpoint without sealing anything twice, and a tampered object
// reported precisely (report, audit line, exit code) and left as it was.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_fixture.h"
#include "process.h"

namespace fs = std::filesystem;
using blobseal::testing::ProcessOptions;
using blobseal::testing::ProcessResult;
using blobseal::testing::run_process;
using nlohmann::json;

namespace {

const std::string& kBinary = blobseal::testing::kBlobsealBinary;
using blobseal::testing::random_string;
using blobseal::testing::read_file;
using blobseal::testing::write_file;

std::vector<json> audit_lines(const fs::path& path) {
  std::vector<json> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

class ReencryptCliTest : public blobseal::testing::CliFixture {
 protected:
  ReencryptCliTest() : CliFixture("blobseal-reencrypt-cli-") {}

  void put(const std::string& key, const std::string& data, std::vector<std::string> extra = {}) {
    write_file(dir_ / "in", data);
    std::vector<std::string> args{"put", key, (dir_ / "in").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = blobseal(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  json head(const std::string& key) {
    auto r = blobseal({"head", key, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    return json::parse(r.stdout_text, nullptr, false);
  }
  json reencrypt(std::vector<std::string> args, int expected_exit = 0) {
    args.insert(args.begin(), "reencrypt");
    args.push_back("--json");
    auto r = blobseal(args);
    EXPECT_EQ(r.exit_code, expected_exit) << r.stdout_text << r.stderr_text;
    json report = json::parse(r.stdout_text, nullptr, false);
    EXPECT_FALSE(report.is_discarded()) << r.stdout_text << r.stderr_text;
    return report;
  }
  // Every file of the store with its contents: what a run that writes nothing must leave as it is.
  std::map<std::string, std::string> store_files() {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(store_))
      if (entry.is_regular_file() && entry.path().extension() != ".sqlite-shm")
        files[entry.path().string()] = read_file(entry.path());
    return files;
  }
  std::set<std::string> data_files() {
    std::set<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(store_))
      if (entry.is_regular_file() && entry.path().string().find("sqlite") == std::string::npos)
        files.insert(entry.path().string());
    return files;
  }
};

TEST_F(ReencryptCliTest, EveryObjectReadsBackIdenticallyAfterARun) {
  std::map<std::string, std::string> objects{{"empty", ""},
                                             {"docs/a.pdf", random_string(16384 * 3 + 5, 1)},
                                             {"docs/b.bin", random_string(200001, 2)}};
  for (const auto& [key, data] : objects) put(key, data, {"--content-type", "application/pdf", "--meta", "Owner=alice"});
  std::map<std::string, json> before;
  for (const auto& [key, data] : objects) before[key] = head(key);
  ASSERT_EQ(blobseal({"keys", "rotate", "default"}).exit_code, 0);
  std::string audit = (dir_ / "audit").string();

  json report = reencrypt({"--audit-log", audit});
  EXPECT_EQ(report["objects"], 3);
  EXPECT_EQ(report["reencrypted"], 3);
  EXPECT_EQ(report["failed"], json::array());
  EXPECT_EQ(report["complete"], true);

  for (const auto& [key, data] : objects) {
    auto get = blobseal({"get", key});
    ASSERT_EQ(get.exit_code, 0) << get.stderr_text;
    EXPECT_EQ(get.stdout_text, data) << key;
    json now = head(key);
    EXPECT_EQ(now["key_version"], 2) << "the new data key is wrapped under the current version";
    EXPECT_EQ(before[key]["key_version"], 1);
    for (const char* field : {"size", "modified", "metadata", "key_id"})
      EXPECT_EQ(now[field], before[key][field]) << key << " " << field;
  }
  auto lines = audit_lines(audit);
  ASSERT_EQ(lines.size(), 3u);
  std::set<std::string> audited;
  for (const auto& line : lines) {
    EXPECT_EQ(line["action"], "Reencrypt");
    EXPECT_TRUE(line["error_code"].is_null()) << line.dump();
    audited.insert(line["key"].get<std::string>());
  }
  EXPECT_EQ(audited, (std::set<std::string>{"empty", "docs/a.pdf", "docs/b.bin"}));
}

TEST_F(ReencryptCliTest, SelectorsAndDryRun) {
  put("a/1", "one");
  put("a/2", "two");
  put("b/1", "three");
  ASSERT_EQ(blobseal({"keys", "rotate", "default"}).exit_code, 0);
  put("b/2", "four");  // under version 2

  auto files = store_files();
  json dry = reencrypt({"--dry-run", "--prefix", "a/"});
  EXPECT_EQ(dry["objects"], 2);
  EXPECT_EQ(dry["to_reencrypt"], 2);
  EXPECT_EQ(dry["dry_run"], true);
  EXPECT_EQ(reencrypt({"--dry-run"})["to_reencrypt"], 4) << "no selector: every object";
  EXPECT_EQ(reencrypt({"--dry-run", "--bucket", ""})["to_reencrypt"], 4) << "the CLI's namespace";
  EXPECT_EQ(reencrypt({"--dry-run", "--bucket", "photos"})["to_reencrypt"], 0);
  EXPECT_EQ(reencrypt({"--dry-run", "--key", "default:2"})["to_reencrypt"], 1);
  EXPECT_EQ(reencrypt({"--dry-run", "--key", "default"})["to_reencrypt"], 4);
  EXPECT_EQ(reencrypt({"--dry-run", "--key", "other"})["to_reencrypt"], 0);
  EXPECT_EQ(reencrypt({"--dry-run", "--sealed-before", "1000000000"})["to_reencrypt"], 0);
  EXPECT_EQ(reencrypt({"--dry-run", "--sealed-before", "2999-01-01T00:00:00Z"})["to_reencrypt"], 4);
  EXPECT_EQ(reencrypt({"--dry-run", "--sealed-before", "2999-01-01T01:00:00.5+01:00", "--prefix", "b/",
                       "--key", "default:1"})["to_reencrypt"], 1);
  EXPECT_EQ(store_files(), files) << "a dry run wrote to the store";

  json run = reencrypt({"--key", "default:1"});
  EXPECT_EQ(run["reencrypted"], 3);
  EXPECT_EQ(reencrypt({"--dry-run", "--key", "default:1"})["to_reencrypt"], 0) << "all moved to fresh keys";
  EXPECT_EQ(head("b/2")["key_version"], 2);
  EXPECT_EQ(blobseal({"get", "b/1"}).stdout_text, "three");

  for (std::vector<std::string> bad : {std::vector<std::string>{"--sealed-before", "yesterday"},
                                       {"--sealed-before", "2026-13-01T00:00:00Z"},
                                       {"--key", ":3"},
                                       {"--bucket", "a/b"}}) {
    bad.insert(bad.begin(), "reencrypt");
    auto r = blobseal(bad);
    EXPECT_EQ(r.exit_code, 2) << bad[1] << " " << bad[2] << ": " << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(bad[1]), std::string::npos) << r.stderr_text;
  }
  auto help = blobseal({"reencrypt", "--help"});
  EXPECT_NE(help.stdout_text.find("EVERY object"), std::string::npos) << help.stdout_text;
}

TEST_F(ReencryptCliTest, AnInterruptedRunResumesFromItsCheckpointWithoutSealingAnythingTwice) {
  constexpr int kObjects = 30;
  for (int i = 0; i < kObjects; ++i) put("obj/" + std::to_string(100 + i), "content " + std::to_string(i));
  std::string checkpoint = (dir_ / "checkpoint").string();
  std::string audit = (dir_ / "audit").string();
  std::vector<std::string> args{"reencrypt", "--rate",       "10",    "--batch",     "4", "--concurrency",
                                "2",         "--checkpoint", checkpoint, "--audit-log", audit, "--json"};

  // Ctrl-C after about half the objects.
  auto first_args = command(args);
  first_args.insert(first_args.begin(), {"/usr/bin/timeout", "--preserve-status", "-s", "INT", "1.6"});
  ProcessOptions options;
  options.unset_env.push_back("BLOB_KEY");
  auto first = run_process(first_args, options);
  ASSERT_EQ(first.exit_code, 130) << first.stdout_text << first.stderr_text;
  json first_report = json::parse(first.stdout_text);
  EXPECT_EQ(first_report["complete"], false);
  int first_count = first_report["reencrypted"];
  EXPECT_GT(first_count, 0);
  EXPECT_LT(first_count, kObjects);
  ASSERT_TRUE(fs::exists(checkpoint));
  EXPECT_NE(first.stderr_text.find("--checkpoint to resume"), std::string::npos) << first.stderr_text;

  args[2] = "0";  // no rate limit now
  auto second = blobseal(args);
  ASSERT_EQ(second.exit_code, 0) << second.stdout_text << second.stderr_text;
  json second_report = json::parse(second.stdout_text);
  EXPECT_EQ(second_report["complete"], true);
  EXPECT_EQ(first_count + second_report["reencrypted"].get<int>(), kObjects)
      << "objects were skipped or re-encrypted twice across the two runs";
  EXPECT_FALSE(fs::exists(checkpoint)) << "a completed run leaves no checkpoint";

  std::multiset<std::string> keys;
  for (const auto& line : audit_lines(audit)) keys.insert(line["key"].get<std::string>());
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kObjects));
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), static_cast<std::size_t>(kObjects));
  for (int i = 0; i < kObjects; i += 7)
    EXPECT_EQ(blobseal({"get", "obj/" + std::to_string(100 + i)}).stdout_text, "content " + std::to_string(i));

  // A checkpoint of another selection is refused rather than resumed.
  write_file(checkpoint, R"({"after":"/obj/110","command":"reencrypt","selection":"{\"prefix\":\"x\"}"})");
  auto other = blobseal({"reencrypt", "--checkpoint", checkpoint});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.stderr_text.find("other objects"), std::string::npos) << other.stderr_text;
}

TEST_F(ReencryptCliTest, ATamperedObjectIsReportedPreciselyAndLeftUntouched) {
  put("good/1", random_string(50000, 3));
  auto before = data_files();
  std::string bad_data = random_string(16384 * 3, 4);
  put("bad", bad_data);
  auto after = data_files();
  std::vector<std::string> added;
  for (const auto& f : after)
    if (!before.contains(f)) added.push_back(f);
  ASSERT_EQ(added.size(), 1u) << "cannot tell which file holds the object's body";
  put("good/2", random_string(70000, 5));
  // Flip one bit inside chunk 1 of the stored body.
  fs::permissions(added[0], fs::perms::owner_write, fs::perm_options::add);
  std::string body = read_file(added[0]);
  body[body.size() - 16 - 16400 - 100] ^= 1;  // the body ends with chunks 1 and 2 (16400 bytes) and an empty final one
  write_file(added[0], body);
  std::string audit = (dir_ / "audit").string();

  json report = reencrypt({"--audit-log", audit}, 1);
  EXPECT_EQ(report["reencrypted"], 2);
  ASSERT_EQ(report["failed"].size(), 1u) << report.dump();
  EXPECT_EQ(report["failed"][0]["key"], "/bad");
  std::string error = report["failed"][0]["error"];
  EXPECT_NE(error.find("integrity failure"), std::string::npos) << error;
  EXPECT_NE(error.find("chunk 1 failed authentication"), std::string::npos) << error;
  bool audited = false;
  for (const auto& line : audit_lines(audit))
    if (line["key"] == "bad") {
      audited = true;
      EXPECT_EQ(line["action"], "Reencrypt");
      ASSERT_TRUE(line["error_code"].is_string()) << line.dump();
      EXPECT_NE(line["error_code"].get<std::string>().find("chunk 1 failed authentication"), std::string::npos)
          << line.dump();
    }
  EXPECT_TRUE(audited);
  EXPECT_TRUE(fs::exists(added[0]));
  EXPECT_EQ(read_file(added[0]), body) << "the damaged object was rewritten";
  auto get = blobseal({"get", "bad"});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_NE(get.stderr_text.find("chunk 1 failed authentication"), std::string::npos) << get.stderr_text;

  // The text report names it too.
  auto text = blobseal({"reencrypt", "--prefix", "bad"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.stdout_text.find("FAILED /bad: integrity failure: chunk 1 failed authentication"), std::string::npos) << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("1 objects: 0 re-encrypted, 0 replaced by clients during the run, 1 failed"),
            std::string::npos)
      << text.stdout_text;
}

// Slow (label "slow"): the plaintext streams from the old body into the new one; a 256 MiB object does not pass
// through memory whole.
TEST_F(ReencryptCliTest, SlowReencryptingA256MiBObjectStaysUnder32MiB) {
  constexpr std::uint64_t kSize = 256ull << 20;
  constexpr std::size_t kBlock = 1 << 20;
  ProcessOptions feed;
  feed.feed_stdin = [](int fd) {
    std::vector<std::uint8_t> block(kBlock);
    for (std::uint64_t offset = 0; offset < kSize; offset += kBlock) {
      blobseal::testing::fill_pseudo_random(77, offset, block.data(), block.size());
      for (std::size_t done = 0; done < block.size();) {
        ssize_t n = ::write(fd, block.data() + done, block.size() - done);
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
      }
    }
  };
  auto stored = blobseal({"--quiet", "put", "big.bin"}, feed);
  ASSERT_EQ(stored.exit_code, 0) << stored.stderr_text;
  json before = head("big.bin");

  auto run = blobseal({"--quiet", "reencrypt", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.stdout_text << run.stderr_text;
  EXPECT_EQ(json::parse(run.stdout_text)["reencrypted"], 1);
  EXPECT_LT(run.max_rss_kib, 32 * 1024) << "peak RSS " << run.max_rss_kib << " KiB";
  json after = head("big.bin");
  EXPECT_EQ(after["metadata"], before["metadata"]);
  // Spot checks of the content, one range per 32 MiB.
  std::vector<std::uint8_t> expected(4096);
  for (std::uint64_t offset = 12345; offset < kSize; offset += 32ull << 20) {
    auto range = blobseal({"get", "big.bin", "--range",
                           std::to_string(offset) + "-" + std::to_string(offset + expected.size() - 1)});
    ASSERT_EQ(range.exit_code, 0) << range.stderr_text;
    blobseal::testing::fill_pseudo_random(77, offset, expected.data(), expected.size());
    EXPECT_TRUE(range.stdout_text == std::string(expected.begin(), expected.end())) << "at " << offset;
  }
}
}  // namespace
