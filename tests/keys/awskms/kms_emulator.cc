#include "kms_emulator.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/http_client.h"

namespace blobseal::keys::testing {

std::string kms_key_arn(const char* key_id) {
  return std::string("arn:aws:kms:") + kKmsRegion + ":111122223333:key/" + key_id;
}

std::unique_ptr<KmsEmulator> KmsEmulator::start(std::string& why) {
  if (::access(kKmsSystemPython, X_OK) != 0) {
    why = std::string(kKmsSystemPython) + " is missing";
    return nullptr;
  }
  if (std::system("/usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1") != 0) {
    why = "python3-cryptography is not installed (apt-get install python3-cryptography)";
    return nullptr;
  }
  std::unique_ptr<KmsEmulator> emulator(new KmsEmulator());
  const TempDir& dir = emulator->dir_;
  nlohmann::json config = {
      {"region", kKmsRegion},
      {"account", "111122223333"},
      {"credentials",
       {{{"access_key", kKmsAccessKey}, {"secret_key", kKmsSecretKey}},
        {{"access_key", kKmsTemporaryAccessKey},
         {"secret_key", kKmsTemporarySecretKey},
         {"session_token", kKmsSessionToken}}}},
      {"keys",
       {{{"id", kKmsKeyA}, {"aliases", {"alias/blobseal"}}}, {{"id", kKmsKeyB}}, {{"id", kKmsKeyC}}}}};
  write_text(dir.file("config.json"), config.dump(), 0600);
  std::string conf = dir.file("config.json"), port_file = dir.file("port"), log = dir.file("emulator.log");

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(kKmsSystemPython, kKmsSystemPython, kKmsEmulatorScript, conf.c_str(), port_file.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return nullptr;
  }
  emulator->pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      emulator->pid_ = -1;
      ADD_FAILURE() << "the KMS emulator exited during start-up:\n" << emulator->log_tail();
      return nullptr;
    }
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      emulator->port_ = port;
      return emulator;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "the KMS emulator did not start within 30 s:\n" << emulator->log_tail();
  return nullptr;
}

KmsEmulator::~KmsEmulator() { stop(); }

void KmsEmulator::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

std::string KmsEmulator::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

AwsKmsKeyManagerOptions KmsEmulator::options() const {
  AwsKmsKeyManagerOptions options;
  options.keys.key_id = kms_key_arn(kKmsKeyA);
  options.endpoint = endpoint();
  options.region = kKmsRegion;
  options.access_key = kKmsAccessKey;
  options.secret_key = SecretBytes(as_bytes(kKmsSecretKey));
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.timeout = std::chrono::milliseconds(5000);
  options.max_attempts = 3;
  options.backoff_base = std::chrono::milliseconds(5);
  options.backoff_max = std::chrono::milliseconds(20);
  return options;
}

std::string KmsEmulator::control(const std::string& method, const std::string& path, const std::string& body) {
  net::ClientOptions options;
  options.endpoint = endpoint();
  options.retry.max_attempts = 1;
  auto client = net::HttpClient::create(std::move(options));
  if (!client) {
    ADD_FAILURE() << client.error().to_string();
    return {};
  }
  net::Request request;
  request.method = method;
  request.target = path;
  request.body = as_bytes(body);
  auto response = (*client)->send(request);
  if (!response || !response->ok()) {
    ADD_FAILURE() << "KMS emulator control " << path << " failed: "
                  << (response ? std::to_string(response->status) + " " + response->body : response.error().to_string());
    return {};
  }
  return response->body;
}

void KmsEmulator::fail_next(int count, int status, const std::string& type) {
  control("POST", "/emulator/fail", nlohmann::json{{"count", count}, {"status", status}, {"type", type}}.dump());
}

void KmsEmulator::clear_faults() { control("POST", "/emulator/reset", "{}"); }

void KmsEmulator::set_key_state(const std::string& key, const std::string& state) {
  control("POST", "/emulator/key-state", nlohmann::json{{"key", key}, {"state", state}}.dump());
}

std::string KmsEmulator::stats() { return control("GET", "/emulator/stats", ""); }

std::string KmsEmulator::log_tail() const {
  std::ifstream in(dir_.file("emulator.log"));
  std::stringstream all;
  all << in.rdbuf();
  std::string s = all.str();
  if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
  return s;
}

}  // namespace blobseal::keys::testing
