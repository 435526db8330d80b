#include "pykmip_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "keys/kmip/kmip_client.h"

namespace blobseal::keys::testing {

namespace {

bool executable(const char* path) { return ::access(path, X_OK) == 0; }

// Runs a shell command in `dir`, its output appended to dir/setup.log.
bool run(const TempDir& dir, const std::string& command) {
  std::string full = "cd '" + dir.path() + "' && (" + command + ") >>setup.log 2>&1";
  return std::system(full.c_str()) == 0;
}

// A key and a certificate for `subject` signed by the CA `ca` (files ca.crt, ca.key), with `extensions`.
bool make_certificate(const TempDir& dir, const std::string& name, const std::string& subject, const std::string& ca,
                      const std::string& extensions) {
  write_text(dir.file(name + ".ext"), extensions, 0600);
  return run(dir, "openssl req -newkey rsa:2048 -nodes -keyout " + name + ".key -out " + name + ".csr -subj '/CN=" +
                      subject + "' && openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
                      ".key -CAcreateserial -out " + name + ".crt -days 2 -extfile " + name + ".ext");
}

}  // namespace

std::uint16_t free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::unique_ptr<PyKmipServer> PyKmipServer::start(std::string& why) {
  if (!executable(kPyKmipServer) || !executable(kSystemPython)) {
    why = std::string(kPyKmipServer) + " or " + kSystemPython + " is missing: install python3-pykmip";
    return nullptr;
  }
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    why = "openssl (the command) is missing";
    return nullptr;
  }
  std::unique_ptr<PyKmipServer> server(new PyKmipServer());
  const TempDir& dir = server->dir_;
  bool ok =
      run(dir, "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "
               "'/CN=blobseal test CA' -addext 'basicConstraints=critical,CA:TRUE' -addext "
               "'keyUsage=critical,keyCertSign,cRLSign'") &&
      run(dir, "openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.crt -days 2 -subj "
               "'/CN=another CA' -addext 'basicConstraints=critical,CA:TRUE' -addext "
               "'keyUsage=critical,keyCertSign,cRLSign'") &&
      make_certificate(dir, "server", "localhost", "ca",
                       "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                       "basicConstraints=CA:FALSE\n") &&
      make_certificate(dir, "client", "blobseal", "ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n") &&
      make_certificate(dir, "rogue-client", "blobseal", "rogue-ca",
                       "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n") &&
      make_certificate(dir, "noauth-client", "blobseal", "ca",
                       "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  if (!ok) {
    ADD_FAILURE() << "making the test certificates failed:\n" << read_text(dir.file("setup.log"));
    return nullptr;
  }
  ::mkdir(dir.file("policies").c_str(), 0700);
  server->port_ = free_local_port();
  std::ostringstream config;
  config << "[server]\nhostname=127.0.0.1\nport=" << server->port_ << "\ncertificate_path=" << dir.file("server.crt")
         << "\nkey_path=" << dir.file("server.key") << "\nca_path=" << dir.file("ca.crt")
         << "\nauth_suite=TLS1.2\npolicy_path=" << dir.file("policies")
         << "\nenable_tls_client_auth=True\nlogging_level=INFO\ndatabase_path=" << dir.file("pykmip.db") << "\n";
  write_text(dir.file("server.conf"), config.str(), 0600);

  std::string conf = dir.file("server.conf"), log = dir.file("server.log"), out = dir.file("server.out");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group: PyKMIP runs its policy monitor as a child process
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(kSystemPython, kSystemPython, kPyKmipServer, "-f", conf.c_str(), "-l", log.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return nullptr;
  }
  ::setpgid(pid, pid);
  server->pid_ = pid;

  // Ready when a real KMIP request (Discover Versions) gets an answer: no bare TCP probe in the server's log.
  kmip::KmipClientOptions probe = server->options().client;
  probe.retries = 0;
  probe.connect_timeout = std::chrono::milliseconds(1000);
  auto client = kmip::KmipClient::create(probe);
  if (!client) {
    ADD_FAILURE() << client.error().to_string();
    return nullptr;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      server->pid_ = -1;
      ADD_FAILURE() << "pykmip-server exited during start-up:\n" << server->log_tail();
      return nullptr;
    }
    auto answer = (*client)->call({1, 2}, kmip::Operation::kDiscoverVersions, kmip::discover_versions_payload({}));
    if (answer) return server;
    last = answer.error().to_string();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ADD_FAILURE() << "pykmip-server did not answer within 60 s (last: " << last << "):\n" << server->log_tail();
  return nullptr;
}

PyKmipServer::~PyKmipServer() { stop(); }

void PyKmipServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);  // the server shuts down its policy monitor itself
  // It waits for its sessions to end, and a client may still hold an idle connection: SIGKILL after 5 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  siginfo_t info{};
  // WNOWAIT: the exited server stays a zombie, so its PID (the group's id) cannot be reused before the group is
  // cleaned up below.
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(-pid_, SIGKILL);  // anything the server left in its process group (a policy monitor it failed to stop)
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

KmipKeyManagerOptions PyKmipServer::options() const {
  KmipKeyManagerOptions options;
  options.client.host = "127.0.0.1";
  options.client.port = port_;
  options.client.ca_file = dir_.file("ca.crt");
  options.client.certificate_file = dir_.file("client.crt");
  options.client.private_key_file = dir_.file("client.key");
  options.client.connect_timeout = std::chrono::milliseconds(2000);
  options.client.io_timeout = std::chrono::milliseconds(10000);
  return options;
}

std::string PyKmipServer::log_tail() const {
  std::string text;
  for (const char* name : {"server.out", "server.log"}) {
    std::ifstream in(dir_.file(name));
    std::stringstream all;
    all << in.rdbuf();
    std::string s = all.str();
    if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
    text += std::string("--- ") + name + "\n" + s + "\n";
  }
  return text;
}

}  // namespace blobseal::keys::testing
