#include "test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace blobseal::http::testing {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

ReadEnd end_from_errno(int err) {
  if (err == ECONNRESET || err == EPIPE) return ReadEnd::kReset;
  if (err == EAGAIN || err == EWOULDBLOCK) return ReadEnd::kTimeout;
  return ReadEnd::kError;
}

}  // namespace

const char* to_string(ReadEnd end) {
  switch (end) {
    case ReadEnd::kComplete: return "complete";
    case ReadEnd::kEof: return "eof";
    case ReadEnd::kReset: return "reset";
    case ReadEnd::kError: return "error";
    case ReadEnd::kTimeout: return "timeout";
  }
  return "?";
}

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

Client::Client(std::uint16_t port, const TlsClientOptions* tls) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::strerror(errno);
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_timeout(std::chrono::seconds(10));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = fmt::format("connect: {}", std::strerror(errno));
    return;
  }
  if (tls == nullptr) return;
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (tls->max_version != 0) {
    SSL_CTX_set_security_level(ctx_, 0);  // let the old version be offered at all
    SSL_CTX_set_min_proto_version(ctx_, 0);
    SSL_CTX_set_max_proto_version(ctx_, tls->max_version);
  }
  if (SSL_CTX_load_verify_locations(ctx_, tls->ca_file.c_str(), nullptr) != 1) {
    error_ = "cannot load CA file";
    return;
  }
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, tls->host.c_str());
  SSL_set1_host(ssl_, tls->host.c_str());
  if (SSL_connect(ssl_) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    error_ = fmt::format("TLS handshake: {}", buf);
    ERR_clear_error();
  }
}

Client::~Client() { close(); }

void Client::close() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string Client::local_address() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  return fmt::format("{}:{}", ip, ntohs(addr.sin_port));
}

void Client::set_timeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool Client::send_raw(const char* data, std::size_t n) {
  while (n > 0) {
    long w;
    if (ssl_ != nullptr) {
      w = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
      if (w <= 0) return false;
    } else {
      w = ::send(fd_, data, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool Client::send(std::string_view data) { return send_raw(data.data(), data.size()); }

bool Client::send_generated(std::uint64_t total, const std::function<void(std::uint64_t, std::span<char>)>& fill,
                            std::size_t piece) {
  std::vector<char> buf(piece);
  for (std::uint64_t off = 0; off < total;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(piece, total - off));
    fill(off, std::span<char>(buf.data(), n));
    if (!send_raw(buf.data(), n)) return false;
    off += n;
  }
  return true;
}

bool Client::send_chunked_generated(std::uint64_t total,
                                    const std::function<void(std::uint64_t, std::span<char>)>& fill,
                                    std::size_t chunk) {
  std::vector<char> buf(chunk);
  for (std::uint64_t off = 0; off < total;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - off));
    fill(off, std::span<char>(buf.data(), n));
    std::string size_line = fmt::format("{:x}\r\n", n);
    if (!send(size_line) || !send_raw(buf.data(), n) || !send("\r\n")) return false;
    off += n;
  }
  return send("0\r\n\r\n");
}

bool Client::fill_buffer(ReadEnd* end) {
  if (buffer_pos_ == buffer_.size()) {
    buffer_.clear();
    buffer_pos_ = 0;
  }
  char tmp[64 * 1024];
  long n;
  for (;;) {
    if (ssl_ != nullptr) {
      n = SSL_read(ssl_, tmp, sizeof tmp);
      if (n <= 0) {
        int err = SSL_get_error(ssl_, static_cast<int>(n));
        int saved = errno;
        ERR_clear_error();
        if (err == SSL_ERROR_ZERO_RETURN) {
          *end = ReadEnd::kEof;
        } else if (err == SSL_ERROR_SYSCALL) {
          *end = saved == 0 ? ReadEnd::kEof : end_from_errno(saved);  // EOF without close_notify counts as EOF
        } else {
          *end = ReadEnd::kError;
        }
        return false;
      }
    } else {
      n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *end = end_from_errno(errno);
        return false;
      }
      if (n == 0) {
        *end = ReadEnd::kEof;
        return false;
      }
    }
    break;
  }
  buffer_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

long Client::read_some(char* out, std::size_t n, ReadEnd* end) {
  ReadEnd local;
  if (end == nullptr) end = &local;
  if (buffer_pos_ == buffer_.size() && !fill_buffer(end)) return *end == ReadEnd::kEof ? 0 : -1;
  std::size_t k = std::min(n, buffer_.size() - buffer_pos_);
  std::memcpy(out, buffer_.data() + buffer_pos_, k);
  buffer_pos_ += k;
  return static_cast<long>(k);
}

bool Client::read_line(std::string* line, ReadEnd* end) {
  for (;;) {
    auto nl = buffer_.find("\r\n", buffer_pos_);
    if (nl != std::string::npos) {
      line->assign(buffer_, buffer_pos_, nl - buffer_pos_);
      buffer_pos_ = nl + 2;
      return true;
    }
    if (!fill_buffer(end)) return false;
  }
}

std::optional<Response> Client::read_head(ReadEnd* end) {
  ReadEnd local;
  if (end == nullptr) end = &local;
  std::string line;
  if (!read_line(&line, end)) return std::nullopt;
  Response r;
  if (line.size() < 12 || !line.starts_with("HTTP/1.")) {
    *end = ReadEnd::kError;
    return std::nullopt;
  }
  r.status = std::stoi(line.substr(9, 3));
  for (;;) {
    if (!read_line(&line, end)) return std::nullopt;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      *end = ReadEnd::kError;
      return std::nullopt;
    }
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers.emplace_back(line.substr(0, colon), value);
  }
  *end = ReadEnd::kComplete;
  return r;
}

ReadEnd Client::read_body(const Response& head, const std::function<void(std::string_view)>& sink,
                          bool head_request) {
  ReadEnd end = ReadEnd::kComplete;
  if (head_request || head.status == 204 || head.status == 304 || head.status < 200) return end;
  auto take = [&](std::uint64_t n) -> bool {
    while (n > 0) {
      if (buffer_pos_ == buffer_.size() && !fill_buffer(&end)) return false;
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, buffer_.size() - buffer_pos_));
      sink(std::string_view(buffer_.data() + buffer_pos_, k));
      buffer_pos_ += k;
      n -= k;
    }
    return true;
  };
  auto te = head.header("Transfer-Encoding");
  if (te && iequals(*te, "chunked")) {
    std::string line;
    for (;;) {
      if (!read_line(&line, &end)) return end;
      std::uint64_t size = std::stoull(line.substr(0, line.find(';')), nullptr, 16);
      if (size == 0) {
        for (;;) {  // trailers
          if (!read_line(&line, &end)) return end;
          if (line.empty()) return ReadEnd::kComplete;
        }
      }
      if (!take(size)) return end;
      if (!read_line(&line, &end)) return end;
      if (!line.empty()) return ReadEnd::kError;
    }
  }
  if (auto cl = head.header("Content-Length")) {
    if (!take(std::stoull(*cl))) return end;
    return ReadEnd::kComplete;
  }
  // Delimited by the end of the connection.
  for (;;) {
    if (buffer_pos_ == buffer_.size() && !fill_buffer(&end)) return end == ReadEnd::kEof ? ReadEnd::kComplete : end;
    sink(std::string_view(buffer_.data() + buffer_pos_, buffer_.size() - buffer_pos_));
    buffer_pos_ = buffer_.size();
  }
}

std::optional<Response> Client::read_response(bool head_request, ReadEnd* end) {
  ReadEnd local;
  if (end == nullptr) end = &local;
  auto r = read_head(end);
  if (!r) return std::nullopt;
  *end = read_body(*r, [&](std::string_view piece) { r->body.append(piece); }, head_request);
  if (*end != ReadEnd::kComplete) return std::nullopt;
  return r;
}

ReadEnd Client::read_to_end(std::string* data) {
  ReadEnd end;
  char tmp[16 * 1024];
  for (;;) {
    long n = read_some(tmp, sizeof tmp, &end);
    if (n <= 0) return n == 0 ? ReadEnd::kEof : end;
    if (data != nullptr) data->append(tmp, static_cast<std::size_t>(n));
  }
}

std::string request_head(std::string_view method, std::string_view target,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\n", method, target);
  bool host = false;
  for (const auto& [n, v] : headers) {
    if (iequals(n, "host")) host = true;
    out += fmt::format("{}: {}\r\n", n, v);
  }
  if (!host) out += "Host: localhost\r\n";
  out += "\r\n";
  return out;
}

std::string request(std::string_view method, std::string_view target, std::string_view body,
                    std::vector<std::pair<std::string, std::string>> headers) {
  if (!body.empty() || method == "PUT" || method == "POST")
    headers.emplace_back("Content-Length", std::to_string(body.size()));
  return request_head(method, target, headers) + std::string(body);
}

}  // namespace blobseal::http::testing
