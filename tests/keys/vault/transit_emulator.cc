#include "transit_emulator.h"

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

namespace blobseal::keys::testing {

std::unique_ptr<TransitEmulator> TransitEmulator::start(std::string& why, int token_ttl_seconds) {
  if (::access(kSystemPython, X_OK) != 0 ||
      std::system("/usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1") != 0) {
    why = "/usr/bin/python3 with the cryptography module (python3-cryptography) is missing";
    return nullptr;
  }
  std::unique_ptr<TransitEmulator> emulator(new TransitEmulator());
  std::string port_file = emulator->dir_.file("port");
  std::string out = emulator->dir_.file("emulator.out");
  std::string ttl = std::to_string(token_ttl_seconds);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(kSystemPython, kSystemPython, BLOBSEAL_TRANSIT_EMULATOR, "--port-file", port_file.c_str(),
            "--root-token", kRootToken, "--role-id", kRoleId, "--secret-id", kSecretId, "--token-ttl", ttl.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return nullptr;
  }
  ::setpgid(pid, pid);
  emulator->pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      emulator->pid_ = -1;
      ADD_FAILURE() << "the Transit emulator exited during start-up:\n" << emulator->output();
      return nullptr;
    }
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      emulator->port_ = static_cast<std::uint16_t>(port);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (emulator->port_ == 0) {
    ADD_FAILURE() << "the Transit emulator did not start within 30 s:\n" << emulator->output();
    return nullptr;
  }
  net::ClientOptions options;
  options.endpoint = emulator->address();
  options.retry.max_attempts = 1;
  options.down_after_failures = 0;
  auto client = net::HttpClient::create(std::move(options));
  if (!client) {
    ADD_FAILURE() << client.error().to_string();
    return nullptr;
  }
  emulator->client_ = std::move(*client);
  return emulator;
}

TransitEmulator::~TransitEmulator() { stop(); }

void TransitEmulator::stop() {
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

VaultKeyManagerOptions TransitEmulator::options(const std::string& key) const {
  VaultKeyManagerOptions options;
  options.address = address();
  options.default_key = key;
  options.token = SecretBytes(as_bytes(kRootToken));
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.timeout = std::chrono::milliseconds(10000);
  options.retry_base_delay = std::chrono::milliseconds(20);
  return options;
}

nlohmann::json TransitEmulator::control(const std::string& method, const std::string& target,
                                        const std::string& body) {
  net::Request request;
  request.method = method;
  request.target = target;
  request.body = as_bytes(body);
  request.idempotent = false;
  if (!body.empty()) request.headers.push_back({"Content-Type", "application/json"});
  auto response = client_->send(request);
  if (!response) {
    ADD_FAILURE() << "emulator control " << target << ": " << response.error().to_string();
    return {};
  }
  if (!response->ok()) {
    ADD_FAILURE() << "emulator control " << target << ": HTTP " << response->status << " " << response->body;
    return {};
  }
  if (response->body.empty()) return {};
  return nlohmann::json::parse(response->body, nullptr, false);
}

void TransitEmulator::fail_next(int status, int count) {
  control("POST", "/_emulator/fail", nlohmann::json{{"status", status}, {"count", count}}.dump());
}
void TransitEmulator::expire_tokens() { control("POST", "/_emulator/expire_tokens", "{}"); }
void TransitEmulator::set_token_ttl(int seconds) {
  control("POST", "/_emulator/token_ttl", nlohmann::json{{"ttl", seconds}}.dump());
}
nlohmann::json TransitEmulator::stats() { return control("GET", "/_emulator/stats"); }

std::vector<std::string> TransitEmulator::key_material(const std::string& key, const std::string& vault_namespace) {
  auto json = control("GET", "/_emulator/key_material?name=" + key + "&namespace=" + vault_namespace);
  std::vector<std::string> out;
  if (json.is_object() && json.contains("keys"))
    for (const auto& item : json["keys"]) out.push_back(item.get<std::string>());
  return out;
}

std::string TransitEmulator::output() const {
  std::ifstream in(dir_.file("emulator.out"));
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

}  // namespace blobseal::keys::testing
