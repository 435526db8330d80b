// A small blocking HTTP/1.1 client over POSIX sockets (and OpenSSL for TLS) for the server tests. It streams:
// bodies are produced and consumed piece by piece, so a test can move 64 MiB without holding it. It tells a clean
// end of stream (EOF) from a connection reset, which is what the abort tests need.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace blobseal::http::testing {

struct TlsClientOptions {
  std::string ca_file;         // PEM trusted to sign the server certificate
  std::string host = "localhost";
  int max_version = 0;         // e.g. TLS1_1_VERSION to test that the server refuses it; 0: library default
};

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::string> header(std::string_view name) const;  // case-insensitive
};

// How a read ended.
enum class ReadEnd { kComplete, kEof, kReset, kError, kTimeout };
const char* to_string(ReadEnd end);
inline void PrintTo(ReadEnd end, std::ostream* os) { *os << to_string(end); }

class Client {
 public:
  // Connects to 127.0.0.1:port (and does the TLS handshake when `tls` is given). Check ok().
  explicit Client(std::uint16_t port, const TlsClientOptions* tls = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int fd() const { return fd_; }
  // The local "127.0.0.1:PORT" of this connection, as the server should report it.
  std::string local_address() const;

  // Receive timeout for every later read (default 10 s).
  void set_timeout(std::chrono::milliseconds timeout);

  bool send(std::string_view data);
  // Sends `total` bytes produced by `fill` (which gets the offset and a buffer to fill) in pieces.
  bool send_generated(std::uint64_t total, const std::function<void(std::uint64_t, std::span<char>)>& fill,
                      std::size_t piece = 256 * 1024);
  // Sends `total` bytes as chunks of `chunk` bytes each, then the last chunk.
  bool send_chunked_generated(std::uint64_t total, const std::function<void(std::uint64_t, std::span<char>)>& fill,
                              std::size_t chunk = 256 * 1024);

  // Reads a response head (status line and header fields).
  std::optional<Response> read_head(ReadEnd* end = nullptr);
  // Reads the body of the response whose head is `head` (Content-Length, chunked, or until EOF), passing it to
  // `sink` piece by piece. Returns how the body ended: kComplete only for a well-formed end.
  ReadEnd read_body(const Response& head, const std::function<void(std::string_view)>& sink,
                    bool head_request = false);
  // read_head() + read_body() into Response::body. nullopt when the response did not end well; `end` says why.
  std::optional<Response> read_response(bool head_request = false, ReadEnd* end = nullptr);
  // Reads until the connection ends; returns kEof, kReset, kError or kTimeout, and the bytes that came first.
  ReadEnd read_to_end(std::string* data = nullptr);

  // Raw read of whatever is available (buffered bytes first). >0: bytes; 0: EOF; <0: error (end set).
  long read_some(char* out, std::size_t n, ReadEnd* end = nullptr);

  void close();

 private:
  bool fill_buffer(ReadEnd* end);
  bool read_line(std::string* line, ReadEnd* end);
  bool send_raw(const char* data, std::size_t n);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
  std::size_t buffer_pos_ = 0;
  std::string error_;
};

// Builds a request head (with a trailing empty line). Adds "Host: localhost" unless given.
std::string request_head(std::string_view method, std::string_view target,
                         const std::vector<std::pair<std::string, std::string>>& headers = {});
// A complete request with a Content-Length body.
std::string request(std::string_view method, std::string_view target, std::string_view body = {},
                    std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace blobseal::http::testing
