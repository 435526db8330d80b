// A small HTTP/1.1 server on 127.0.0.1 for client tests: every request goes to a handler that writes whatever bytes
// it likes (a well-formed answer, half of one, nothing) and may close the connection. One thread per connection;
// keep-alive until the handler or the client closes.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace blobseal::net::testing {

struct RawRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  int connection = 0;  // which accepted connection (1, 2, ...)
  int number = 0;      // which request overall (1, 2, ...)
  std::string header(const std::string& name) const;  // case-insensitive; "" when absent
};

class ServerConnection {
 public:
  explicit ServerConnection(int fd) : fd_(fd) {}
  // Writes all of `data`, blocking while the peer does not read; false once the peer is gone.
  bool write(std::string_view data);
  void close();
  bool closed() const { return fd_ < 0; }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Writes a complete response with Content-Length.
void respond(ServerConnection& connection, int status, const std::string& body,
             const std::vector<std::pair<std::string, std::string>>& headers = {});

class ScriptedServer {
 public:
  using Handler = std::function<void(const RawRequest&, ServerConnection&)>;
  explicit ScriptedServer(Handler handler);
  ~ScriptedServer();
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  void accept_loop();
  void serve(int fd, int connection);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
};

}  // namespace blobseal::net::testing
