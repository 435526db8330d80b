#include "keys/kmip/kmip_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/secret_bytes.h"

namespace blobseal::keys::kmip {

namespace {

// The oldest OpenSSL error on this thread's queue, as text; clears the queue.
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text = buffer;
  }
  ERR_clear_error();
  return text.empty() ? "unknown TLS error" : text;
}

bool is_ip_address(const std::string& host) {
  in6_addr v6;
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// Writing to a socket the peer closed raises SIGPIPE, which would kill the process. OpenSSL's socket BIO uses
// write(), so the signal is blocked in this thread for the duration and a pending one is consumed.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old_, SIGPIPE)) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
};

// Wipes a buffer that held a message (requests carry data keys to Encrypt, responses carry them from Decrypt).
struct WipeOnExit {
  Bytes& bytes;
  ~WipeOnExit() {
    if (!bytes.empty()) secure_zero(bytes.data(), bytes.size());
  }
};

bool idempotent(Operation operation) {
  switch (operation) {
    case Operation::kLocate:
    case Operation::kGetAttributes:
    case Operation::kDiscoverVersions:
    case Operation::kEncrypt:
    case Operation::kDecrypt: return true;
    default: return false;
  }
}

// Whether a failure may succeed on a new connection.
enum class Failure { kRetryable, kFinal };

struct CallError {
  Error error;
  Failure failure;
  bool request_sent;
};

class Connection {
 public:
  Connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Connection() {
    if (ssl_ != nullptr) {
      if (healthy_) {
        SigpipeGuard guard;
        SSL_shutdown(ssl_);  // close_notify, best effort; the peer's answer is not awaited
      }
      SSL_free(ssl_);
    }
    if (fd_ >= 0) ::close(fd_);
    ERR_clear_error();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  SSL* ssl() { return ssl_; }
  void mark_broken() { healthy_ = false; }

  // An idle connection is usable when nothing is waiting to be read: a readable socket means the server closed it
  // (or sent something unsolicited), either way it cannot carry a request.
  bool still_open() const {
    if (SSL_pending(ssl_) > 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 0);
    return n == 0;
  }

 private:
  int fd_;
  SSL* ssl_;
  bool healthy_ = true;
};

}  // namespace

class KmipClient::Impl {
 public:
  Impl(KmipClientOptions options, SSL_CTX* ctx)
      : options_(std::move(options)), ctx_(ctx), endpoint_(fmt::format("{}:{}", options_.host, options_.port)) {
    if (options_.server_name.empty()) options_.server_name = options_.host;
  }
  ~Impl() {
    idle_.clear();
    SSL_CTX_free(ctx_);
  }

  const std::string& endpoint() const { return endpoint_; }

  Result<TtlvItem> call(ProtocolVersion version, Operation operation, const TtlvItem& payload) {
    TtlvItem message = request_message(version, operation, payload);
    auto encoded = encode_ttlv(message);
    message.wipe();  // a copy of the payload, which may hold a data key
    if (!encoded) return make_error(encoded.error());
    Bytes request = std::move(*encoded);
    WipeOnExit wipe_request{request};
    unsigned attempts = 1 + options_.retries;
    std::optional<CallError> last;
    for (unsigned attempt = 0; attempt < attempts; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
      auto response = exchange(request, operation);
      if (response) {
        TtlvItem answer = std::move(*response);
        auto result = response_payload(answer, operation);
        answer.wipe();
        return result;
      }
      last = std::move(response.error());
      bool may_retry = last->failure == Failure::kRetryable && (!last->request_sent || idempotent(operation));
      if (!may_retry) break;
    }
    return make_error(last->error);
  }

 private:
  tl::unexpected<CallError> fail(ErrorCode code, std::string what, Failure failure, bool sent) {
    return tl::unexpected<CallError>(CallError{
        Error(code, fmt::format("KMIP server {}: {}", endpoint_, what), "KmipUnavailable"), failure, sent});
  }

  // One request/response on a pooled or new connection.
  tl::expected<TtlvItem, CallError> exchange(const Bytes& request, Operation operation) {
    std::unique_ptr<Connection> connection = take_idle();
    if (!connection) {
      auto fresh = connect();
      if (!fresh) return tl::unexpected<CallError>(std::move(fresh.error()));
      connection = std::move(*fresh);
    }
    {
      SigpipeGuard guard;
      ERR_clear_error();
      int n = SSL_write(connection->ssl(), request.data(), static_cast<int>(request.size()));
      if (n <= 0 || static_cast<std::size_t>(n) != request.size()) {
        connection->mark_broken();
        return fail(ErrorCode::kUnavailable, fmt::format("sending the {} request failed: {}", to_string(operation),
                                                         io_error(connection->ssl(), n)),
                    Failure::kRetryable, false);
      }
    }
    std::uint8_t header[kTtlvHeaderSize];
    if (auto status = read_exact(*connection, header, sizeof header); !status) {
      connection->mark_broken();
      return fail(ErrorCode::kUnavailable,
                  fmt::format("no response to {}: {}", to_string(operation), status.error()), Failure::kRetryable,
                  true);
    }
    auto size = ttlv_message_size(ByteSpan(header, sizeof header), options_.limits);
    if (!size) {
      connection->mark_broken();
      return fail(ErrorCode::kUnavailable, size.error().message(), Failure::kFinal, true);
    }
    Bytes message(*size);
    WipeOnExit wipe_message{message};
    std::memcpy(message.data(), header, sizeof header);
    if (auto status = read_exact(*connection, message.data() + kTtlvHeaderSize, *size - kTtlvHeaderSize); !status) {
      connection->mark_broken();
      return fail(ErrorCode::kUnavailable,
                  fmt::format("truncated response to {}: {}", to_string(operation), status.error()),
                  Failure::kRetryable, true);
    }
    auto decoded = decode_ttlv(message, options_.limits);
    if (!decoded) {
      connection->mark_broken();
      return fail(ErrorCode::kUnavailable, decoded.error().message(), Failure::kFinal, true);
    }
    give_back(std::move(connection));
    return std::move(*decoded);
  }

  tl::expected<void, std::string> read_exact(Connection& connection, std::uint8_t* out, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
      ERR_clear_error();
      std::size_t chunk = std::min<std::size_t>(size - done, 1 << 20);
      int n = SSL_read(connection.ssl(), out + done, static_cast<int>(chunk));
      if (n <= 0) return tl::unexpected<std::string>(io_error(connection.ssl(), n));
      done += static_cast<std::size_t>(n);
    }
    return {};
  }

  std::string io_error(SSL* ssl, int n) {
    int saved_errno = errno;
    int kind = SSL_get_error(ssl, n);
    switch (kind) {
      case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return "the server closed the connection";
      case SSL_ERROR_WANT_READ:
      case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        return fmt::format("timed out after {} ms", options_.io_timeout.count());
      case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)
          return fmt::format("timed out after {} ms", options_.io_timeout.count());
        if (saved_errno == 0) return "the server closed the connection";
        return std::strerror(saved_errno);
      default: return openssl_error();
    }
  }

  std::unique_ptr<Connection> take_idle() {
    std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->still_open()) return c;
      c->mark_broken();
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(connection));
  }

  tl::expected<int, CallError> connect_tcp() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(options_.port);
    int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0)
      return fail(ErrorCode::kUnavailable, fmt::format("cannot resolve host: {}", gai_strerror(rc)),
                  Failure::kRetryable, false);
    std::string last_error = "no address";
    int result = -1;
    for (addrinfo* a = found; a != nullptr && result < 0; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (fd < 0) {
        last_error = std::strerror(errno);
        continue;
      }
      if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        ::close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int n = ::poll(&p, 1, static_cast<int>(options_.connect_timeout.count()));
      int error = 0;
      socklen_t length = sizeof error;
      if (n == 0) {
        last_error = fmt::format("connect timed out after {} ms", options_.connect_timeout.count());
      } else if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        last_error = std::strerror(errno);
      } else if (error != 0) {
        last_error = std::strerror(error);
      } else {
        result = fd;
        continue;
      }
      ::close(fd);
    }
    ::freeaddrinfo(found);
    if (result < 0)
      return fail(ErrorCode::kUnavailable, fmt::format("cannot connect: {}", last_error), Failure::kRetryable, false);
    // Blocking from here on, every read and write bounded by the I/O timeout.
    ::fcntl(result, F_SETFL, ::fcntl(result, F_GETFL) & ~O_NONBLOCK);
    timeval tv{static_cast<time_t>(options_.io_timeout.count() / 1000),
               static_cast<suseconds_t>(options_.io_timeout.count() % 1000 * 1000)};
    ::setsockopt(result, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(result, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(result, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return result;
  }

  tl::expected<std::unique_ptr<Connection>, CallError> connect() {
    int fd = BLOBSEAL_TRY(connect_tcp());
    SSL* ssl = SSL_new(ctx_);
    if (ssl == nullptr) {
      ::close(fd);
      return fail(ErrorCode::kInternal, "SSL_new: " + openssl_error(), Failure::kFinal, false);
    }
    auto connection = std::make_unique<Connection>(fd, ssl);
    SSL_set_fd(ssl, fd);
    const std::string& name = options_.server_name;
    if (is_ip_address(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, name.c_str());
      SSL_set1_host(ssl, name.c_str());
    }
    SigpipeGuard guard;
    ERR_clear_error();
    int rc = SSL_connect(ssl);
    if (rc == 1) return connection;
    connection->mark_broken();
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return fail(ErrorCode::kFailedPrecondition,
                  fmt::format("TLS handshake failed: the server's certificate does not verify against {} for \"{}\": "
                              "{}",
                              options_.ca_file, name, X509_verify_cert_error_string(verify)),
                  Failure::kFinal, false);
    }
    std::string why = io_error(ssl, rc);
    // The server refusing our certificate shows as a TLS alert during the handshake (TLS 1.2) or on the first read
    // (TLS 1.3); it will not change by retrying.
    if (why.find("alert") != std::string::npos)
      return fail(ErrorCode::kPermissionDenied,
                  fmt::format("TLS handshake refused by the server ({}): check that the client certificate {} is "
                              "issued by a CA the server trusts and has extendedKeyUsage clientAuth",
                              why, options_.certificate_file),
                  Failure::kFinal, false);
    return fail(ErrorCode::kUnavailable, fmt::format("TLS handshake failed: {}", why), Failure::kRetryable, false);
  }

  KmipClientOptions options_;
  SSL_CTX* ctx_;
  std::string endpoint_;
  std::mutex mutex_;  // guards idle_
  std::vector<std::unique_ptr<Connection>> idle_;
};

Result<std::unique_ptr<KmipClient>> KmipClient::create(const KmipClientOptions& options) {
  auto invalid = [](std::string what) {
    ERR_clear_error();
    return make_error(ErrorCode::kInvalidArgument, "KMIP client: " + what);
  };
  if (options.host.empty()) return invalid("no host configured");
  if (options.port == 0) return invalid("port 0");
  if (options.ca_file.empty() || options.certificate_file.empty() || options.private_key_file.empty())
    return invalid("a CA file, a client certificate and its private key are all required (mutual TLS)");
  if (options.connect_timeout.count() <= 0 || options.io_timeout.count() <= 0)
    return invalid("timeouts must be positive");
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return make_error(ErrorCode::kInternal, "SSL_CTX_new: " + openssl_error());
  auto fail = [&](std::string what) {
    std::string detail = openssl_error();
    SSL_CTX_free(ctx);
    return invalid(fmt::format("{}: {}", what, detail));
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
  if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
    return fail(fmt::format("cannot load the CA file {}", options.ca_file));
  if (SSL_CTX_use_certificate_chain_file(ctx, options.certificate_file.c_str()) != 1)
    return fail(fmt::format("cannot load the client certificate {}", options.certificate_file));
  if (SSL_CTX_use_PrivateKey_file(ctx, options.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail(fmt::format("cannot load the client private key {}", options.private_key_file));
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail(fmt::format("the private key {} does not match the certificate {}", options.private_key_file,
                            options.certificate_file));
  return std::unique_ptr<KmipClient>(new KmipClient(std::make_unique<Impl>(options, ctx)));
}

KmipClient::KmipClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KmipClient::~KmipClient() = default;

Result<TtlvItem> KmipClient::call(ProtocolVersion version, Operation operation, const TtlvItem& payload) {
  return impl_->call(version, operation, payload);
}

const std::string& KmipClient::endpoint() const { return impl_->endpoint(); }

}  // namespace blobseal::keys::kmip
