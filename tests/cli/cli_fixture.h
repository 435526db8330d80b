// The fixture the CLI tests share: a temporary directory with a keyring (made by `blobseal keys init`) and a store
// path, `blobseal(...)` to run the binary on them, and small file helpers.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process.h"

namespace blobseal::testing {

inline const std::string kBlobsealBinary = BLOBSEAL_BINARY;

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::filesystem::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string random_string(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  fill_pseudo_random(seed, 0, reinterpret_cast<std::uint8_t*>(s.data()), n);
  return s;
}

class CliFixture : public ::testing::Test {
 protected:
  // `directory_prefix` names the test's directory under the system's temporary one.
  explicit CliFixture(std::string directory_prefix) : directory_prefix_(std::move(directory_prefix)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (directory_prefix_ + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    keyring_ = (dir_ / "keyring").string();
    store_ = (dir_ / "store").string();
    auto r = blobseal({"keys", "init"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The command line of `blobseal --keyring K --store S args...`.
  std::vector<std::string> command(std::vector<std::string> args) const {
    args.insert(args.begin(), {kBlobsealBinary, "--keyring", keyring_, "--store", store_});
    return args;
  }
  ProcessResult blobseal(std::vector<std::string> args, ProcessOptions options = {}) const {
    options.unset_env.push_back("BLOB_KEY");
    return run_process(command(std::move(args)), options);
  }

  std::filesystem::path dir_;
  std::string keyring_;
  std::string store_;

 private:
  std::string directory_prefix_;
};

}  // namespace blobseal::testing
