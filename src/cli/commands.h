// The blobseal command-line tool's subcommands. Each returns the process exit code: 0 success, 1 failure (the
// message already printed to stderr), 2 bad usage.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace blobseal::cli {

struct GlobalOptions {
  std::string keyring;                    // --keyring / BLOBSEAL_KEYRING
  std::string store;                      // --store / BLOBSEAL_STORE
  std::string kms;                        // --kms / BLOBSEAL_KMS: empty or "local" for the keyring file
  std::vector<std::string> kms_settings;  // --kms-setting NAME=VALUE / BLOBSEAL_KMS_SETTING
  // --upstream URL: the store commands (put, get, ls, rm, verify, rewrap, reencrypt) work on the gateway's upstream
  // store, http(s)://HOST[:PORT]/BUCKET[/PREFIX], instead of --store; credentials from the AWS environment.
  std::string upstream;
  std::string upstream_ca_file;
  std::optional<unsigned> dual_read_versions;
  bool quiet = false;
};

struct CryptOptions {
  std::optional<std::string> input;
  std::optional<std::string> output;
  std::string context;
};

int run_encrypt(const GlobalOptions& global, const CryptOptions& options);
int run_decrypt(const GlobalOptions& global, const CryptOptions& options);

int run_keys_init(const GlobalOptions& global, const std::string& key_name);
int run_keys_list(const GlobalOptions& global, bool json);
int run_keys_rotate(const GlobalOptions& global, const std::string& key_name);
int run_keys_retire(const GlobalOptions& global, const std::string& key_name, std::uint32_t version);
int run_keys_destroy(const GlobalOptions& global, const std::string& key_name, std::uint32_t version);

struct PutCommand {
  std::string key;
  std::optional<std::string> file;
  std::string content_type;
  std::vector<std::string> meta;  // NAME=VALUE
};
int run_put(const GlobalOptions& global, const PutCommand& command);

struct GetCommand {
  std::string key;
  std::optional<std::string> output;
  std::string range;  // FIRST-LAST, FIRST-, -SUFFIX
};
int run_get(const GlobalOptions& global, const GetCommand& command);
int run_head(const GlobalOptions& global, const std::string& key, bool json);

struct ListCommand {
  std::string prefix;
  std::string delimiter;
  std::size_t max_keys = 0;  // 0 = all
  bool json = false;
};
int run_ls(const GlobalOptions& global, const ListCommand& command);
int run_rm(const GlobalOptions& global, const std::vector<std::string>& keys);

struct VerifyCommand {
  std::string directory;
  bool json = false;
  bool gc = false;
};
int run_verify(const GlobalOptions& global, const VerifyCommand& command);

}  // namespace blobseal::cli
