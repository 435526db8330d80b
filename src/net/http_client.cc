// libcurl behind the interface of http_client.h. Each pooled connection is an easy handle driven by its own multi
// handle: the multi interface lets the caller pull a response body (the write callback pauses the transfer when
// the caller's buffer is full, and reading unpauses it), and the multi handle's connection cache keeps the
// keep-alive connection between exchanges.
#include "net/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "crypto/primitives.h"
#include "net/sigv4_signer.h"

namespace blobseal::net {

namespace {

using Clock = std::chrono::steady_clock;

// Body bytes held per exchange before the transfer is paused until the caller reads.
constexpr std::size_t kHighWater = 256 * 1024;
// Error bodies are collected up to this; the rest is dropped with the connection.
constexpr std::size_t kMaxErrorBody = 64 * 1024;

std::once_flag g_curl_init;

bool is_idempotent_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

struct Endpoint {
  std::string base_url;     // "http://127.0.0.1:9000"
  std::string host_header;  // "127.0.0.1:9000", without a default port
  bool tls = false;
};

Result<Endpoint> parse_endpoint(std::string_view url) {
  auto invalid = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("endpoint {:?}: {}", url, why));
  };
  Endpoint out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.tls = true;
  } else {
    return invalid("must start with http:// or https://");
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return invalid("must not have a path (give scheme://host[:port])");
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) return invalid("has no host");
  if (rest.find_first_of("?#@ ") != std::string_view::npos) return invalid("has characters a host cannot have");
  std::string_view host = rest, port;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return invalid("has an unterminated IPv6 address");
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return invalid("has garbage after the IPv6 address");
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return invalid("has no host");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535)
      return invalid("has an invalid port");
  }
  bool default_port = port.empty() || (out.tls ? port == "443" : port == "80");
  out.host_header = default_port ? std::string(host) : fmt::format("{}:{}", host, port);
  out.base_url = fmt::format("{}://{}", out.tls ? "https" : "http", out.host_header);
  return out;
}

bool is_retryable_transport(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct Connection {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
};

void destroy(Connection& c) {
  if (c.easy) curl_easy_cleanup(c.easy);
  if (c.multi) curl_multi_cleanup(c.multi);
  c = {};
}

}  // namespace

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::uint64_t random) {
  std::int64_t cap = std::max<std::int64_t>(policy.base_delay.count(), 1);
  for (int i = 1; i < retry && cap < policy.max_delay.count(); ++i) cap *= 2;
  cap = std::min<std::int64_t>(cap, std::max<std::int64_t>(policy.max_delay.count(), 0));
  if (cap <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(random % static_cast<std::uint64_t>(cap + 1)));
}

bool is_retryable_status(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

std::string error_code_of(std::string_view body) {
  auto open = body.find("<Code>");
  if (open == std::string_view::npos) return {};
  auto close = body.find("</Code>", open);
  if (close == std::string_view::npos) return {};
  return std::string(trim(body.substr(open + 6, close - open - 6)));
}

// ---- the client --------------------------------------------------------------------------------------------------

namespace {

// The client's shared state: configuration, the pool of idle connections, the retry counter.
struct ClientCore {
  ClientOptions options;
  Endpoint endpoint;
  std::atomic<std::uint64_t> retries{0};

  // The down-detector: consecutive transport failures, and until when requests fail fast.
  std::mutex down_mutex;
  int consecutive_failures = 0;
  std::optional<Clock::time_point> down_until;
  bool probing = false;

  // Whether an attempt may go out now (false: fail fast). `probe` is set for the one attempt let through to
  // probe a down upstream.
  bool may_attempt(bool& probe) {
    probe = false;
    if (options.down_after_failures <= 0) return true;
    std::lock_guard lock(down_mutex);
    if (!down_until) return true;
    if (Clock::now() < *down_until || probing) return false;
    probing = true;
    probe = true;
    return true;
  }
  void record_attempt(bool transport_failure, bool probe) {
    if (options.down_after_failures <= 0) return;
    std::lock_guard lock(down_mutex);
    if (probe) probing = false;
    if (!transport_failure) {
      consecutive_failures = 0;
      down_until.reset();
      return;
    }
    if (++consecutive_failures >= options.down_after_failures || probe)
      down_until = Clock::now() + options.down_cooldown;
  }
  bool up() {
    std::lock_guard lock(down_mutex);
    return !down_until || (Clock::now() >= *down_until && !probing);
  }

  std::mutex pool_mutex;
  std::vector<Connection> idle;

  ~ClientCore() {
    for (auto& c : idle) destroy(c);
  }

  Result<Connection> acquire() {
    {
      std::lock_guard lock(pool_mutex);
      if (!idle.empty()) {
        Connection c = idle.back();
        idle.pop_back();
        return c;
      }
    }
    Connection c;
    c.easy = curl_easy_init();
    c.multi = curl_multi_init();
    if (!c.easy || !c.multi) {
      destroy(c);
      return make_error(ErrorCode::kInternal, "libcurl could not allocate a handle");
    }
    return c;
  }

  void release(Connection c) {
    std::lock_guard lock(pool_mutex);
    if (idle.size() < options.max_idle_connections) {
      idle.push_back(c);
    } else {
      destroy(c);
    }
  }
};

// One attempt of one request on one pooled connection.
class Exchange {
 public:
  Exchange(ClientCore& client, Connection connection) : client_(client), connection_(connection) {}
  ~Exchange() {
    if (added_) curl_multi_remove_handle(connection_.multi, connection_.easy);
    if (header_list_) curl_slist_free_all(header_list_);
    // A transfer abandoned before its end leaves the connection closed by libcurl; the handles stay usable.
    client_.release(connection_);
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  Status start(const Request& request, const std::vector<Header>& headers, ByteSource* upload,
               std::uint64_t upload_length) {
    CURL* easy = connection_.easy;
    curl_easy_reset(easy);
    upload_ = upload;
    upload_left_ = upload_length;
    // An in-memory body can be sent again: libcurl rewinds it when it resends on a fresh connection (a reused one
    // was reset under the request), instead of failing with CURLE_SEND_FAIL_REWIND.
    memory_body_.reset();
    if (request.body_stream == nullptr) {
      memory_ = request.body;
      memory_body_.emplace(memory_);
      upload_ = &*memory_body_;
    }
    std::string url = client_.endpoint.base_url + request.target;
    const ClientOptions& o = client_.options;
    bool ok = true;
    auto set = [&](CURLcode code) { ok = ok && code == CURLE_OK; };
    set(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()));
    set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
    set(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer_));
    set(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count())));
    // The idle timeout is ours (on_progress): libcurl's low-speed check averages over seconds and fires late.
    last_progress_ = Clock::now();
    set(curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L));
    set(curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &Exchange::on_progress));
    set(curl_easy_setopt(easy, CURLOPT_XFERINFODATA, this));
    set(curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L));
    set(curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L));
    set(curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 128L * 1024));
    set(curl_easy_setopt(easy, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024));
    set(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
    set(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Exchange::on_header));
    set(curl_easy_setopt(easy, CURLOPT_HEADERDATA, this));
    set(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Exchange::on_body));
    set(curl_easy_setopt(easy, CURLOPT_WRITEDATA, this));
    if (client_.endpoint.tls) {
      set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L));
      set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L));
      if (!o.ca_file.empty()) set(curl_easy_setopt(easy, CURLOPT_CAINFO, o.ca_file.c_str()));
    }

    const std::string& method = request.method;
    bool has_body = upload_length > 0 || method == "PUT" || method == "POST";
    if (method == "HEAD") {
      set(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L));
    } else if (has_body) {
      set(curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L));
      set(curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload_length)));
      set(curl_easy_setopt(easy, CURLOPT_READFUNCTION, &Exchange::on_upload));
      set(curl_easy_setopt(easy, CURLOPT_READDATA, this));
      set(curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &Exchange::on_seek));
      set(curl_easy_setopt(easy, CURLOPT_SEEKDATA, this));
      if (method != "PUT") set(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str()));
    } else if (method == "GET") {
      set(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
    } else {
      set(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str()));
    }

    for (const auto& h : headers) {
      std::string line = fmt::format("{}: {}", h.name, h.value);
      if (h.value.empty()) line = fmt::format("{};", h.name);  // curl's way to send a header with an empty value
      header_list_ = curl_slist_append(header_list_, line.c_str());
    }
    // No "Expect: 100-continue" round trip, no Accept header nobody signed.
    header_list_ = curl_slist_append(header_list_, "Expect:");
    header_list_ = curl_slist_append(header_list_, "Accept:");
    set(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list_));
    if (!ok) return make_error(ErrorCode::kInternal, "libcurl refused an option");
    if (curl_multi_add_handle(connection_.multi, easy) != CURLM_OK)
      return make_error(ErrorCode::kInternal, "libcurl refused the transfer");
    added_ = true;
    return {};
  }

  // Until the final status and headers are in, or the transfer ends (with an error, or for a body-less answer).
  Status wait_for_headers() {
    BLOBSEAL_TRY_STATUS(pump([&] { return headers_done_; }));
    if (headers_done_) return {};
    return transfer_error();
  }

  int status() const { return status_; }
  // Whether the transfer failed in a way another attempt may not (connection lost, timed out).
  bool failed_transiently() const {
    return !upload_error_ && (timed_out_ || is_retryable_transport(result_) ||
                              (result_ == CURLE_SEND_FAIL_REWIND && memory_body_.has_value()));
  }
  // Whether the connection to the server failed (not the caller's source).
  bool failed_in_transport() const { return !upload_error_ && (timed_out_ || result_ != CURLE_OK); }
  std::vector<Header>& headers() { return headers_; }
  bool ended_cleanly() const { return done_ && result_ == CURLE_OK; }

  Result<std::size_t> read(std::span<std::uint8_t> out) {
    if (out.empty()) return std::size_t{0};
    if (pending() == 0 && !done_) {
      if (paused_) {
        paused_ = false;
        last_progress_ = Clock::now();  // the caller, not the server, held the transfer
        curl_easy_pause(connection_.easy, CURLPAUSE_CONT);
      }
      BLOBSEAL_TRY_STATUS(pump([&] { return pending() > 0; }));
    }
    if (pending() > 0) {
      std::size_t n = std::min(out.size(), pending());
      std::memcpy(out.data(), buffer_.data() + buffer_pos_, n);
      buffer_pos_ += n;
      if (buffer_pos_ == buffer_.size()) {
        buffer_.clear();
        buffer_pos_ = 0;
      }
      return n;
    }
    if (result_ != CURLE_OK) return transfer_error();
    return std::size_t{0};
  }

  // A description of how the transfer failed (done with an error).
  tl::unexpected<Error> transfer_error() const {
    if (upload_error_) return make_error(*upload_error_);
    std::string detail = error_buffer_[0] ? std::string(error_buffer_) : std::string(curl_easy_strerror(result_));
    if (!done_) detail = "the transfer ended without a response";
    if (timed_out_)
      detail = fmt::format("no byte moved for {} ms", client_.options.read_timeout.count());
    std::string message = fmt::format("upstream {}: {}", client_.endpoint.host_header, detail);
    if (result_ == CURLE_OPERATION_TIMEDOUT || timed_out_)
      return make_error(ErrorCode::kUnavailable, std::move(message), "UpstreamTimeout");
    if (result_ == CURLE_PEER_FAILED_VERIFICATION || result_ == CURLE_SSL_CACERT_BADFILE ||
        result_ == CURLE_SSL_CERTPROBLEM)
      return make_error(ErrorCode::kFailedPrecondition, std::move(message), "UpstreamTlsError");
    return make_error(ErrorCode::kUnavailable, std::move(message), "UpstreamUnreachable");
  }


 private:
  std::size_t pending() const { return buffer_.size() - buffer_pos_; }

  template <typename Until>
  Status pump(Until until) {
    while (!until() && !done_) {
      int running = 0;
      CURLMcode code = curl_multi_perform(connection_.multi, &running);
      if (code != CURLM_OK)
        return make_error(ErrorCode::kInternal, fmt::format("libcurl: {}", curl_multi_strerror(code)));
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(connection_.multi, &queued)) {
        if (message->msg == CURLMSG_DONE) {
          done_ = true;
          result_ = message->data.result;
        }
      }
      if (until() || done_) break;
      if (paused_) break;  // nothing will move until the caller reads
      code = curl_multi_poll(connection_.multi, nullptr, 0, 200, nullptr);
      if (code != CURLM_OK)
        return make_error(ErrorCode::kInternal, fmt::format("libcurl: {}", curl_multi_strerror(code)));
    }
    return {};
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Exchange*>(user);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
      // A status line: a new response begins (after a 1xx one, the final one).
      self->headers_.clear();
      self->status_ = 0;
      auto space = line.find(' ');
      if (space != std::string_view::npos && line.size() >= space + 4) {
        int status = 0;
        for (char c : line.substr(space + 1, 3)) status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : -1000;
        self->status_ = std::max(status, 0);
      }
      return size * count;
    }
    std::string_view text = trim(line);
    if (text.empty()) {
      if (self->status_ >= 200) self->headers_done_ = true;
      return size * count;
    }
    auto colon = text.find(':');
    if (colon != std::string_view::npos)
      self->headers_.push_back({std::string(trim(text.substr(0, colon))), std::string(trim(text.substr(colon + 1)))});
    return size * count;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Exchange*>(user);
    std::size_t n = size * count;
    if (n == 0) return 0;
    if (self->pending() >= kHighWater) {
      self->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (self->buffer_pos_ > 0 && self->buffer_pos_ == self->buffer_.size()) {
      self->buffer_.clear();
      self->buffer_pos_ = 0;
    }
    self->buffer_.insert(self->buffer_.end(), reinterpret_cast<std::uint8_t*>(data),
                         reinterpret_cast<std::uint8_t*>(data) + n);
    return n;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t received, curl_off_t, curl_off_t sent) {
    auto* self = static_cast<Exchange*>(user);
    auto now = Clock::now();
    if (received != self->last_received_ || sent != self->last_sent_) {
      self->last_received_ = received;
      self->last_sent_ = sent;
      self->last_progress_ = now;
      return 0;
    }
    if (now - self->last_progress_ > self->client_.options.read_timeout) {
      self->timed_out_ = true;
      return 1;  // aborts the transfer
    }
    return 0;
  }

  static int on_seek(void* user, curl_off_t offset, int origin) {
    auto* self = static_cast<Exchange*>(user);
    if (!self->memory_body_ || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
    if (offset < 0 || static_cast<std::uint64_t>(offset) > self->memory_.size()) return CURL_SEEKFUNC_FAIL;
    auto rest = self->memory_.subspan(static_cast<std::size_t>(offset));
    self->memory_body_.emplace(rest);
    self->upload_ = &*self->memory_body_;
    self->upload_left_ = rest.size();
    return CURL_SEEKFUNC_OK;
  }

  static std::size_t on_upload(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<Exchange*>(user);
    std::size_t room = size * count;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(room, self->upload_left_));
    if (want == 0) return 0;
    auto got = self->upload_->read(std::span(reinterpret_cast<std::uint8_t*>(data), want));
    if (!got) {
      self->upload_error_ = got.error();
      return CURL_READFUNC_ABORT;
    }
    if (*got == 0) {
      self->upload_error_ = Error(ErrorCode::kInvalidArgument,
                                  fmt::format("the request body ended {} bytes before its announced length",
                                              self->upload_left_),
                                  "IncompleteBody");
      return CURL_READFUNC_ABORT;
    }
    self->upload_left_ -= *got;
    self->last_progress_ = Clock::now();  // time spent waiting for the caller's source is not the server's
    return *got;
  }

  ClientCore& client_;
  Connection connection_;
  bool added_ = false;
  curl_slist* header_list_ = nullptr;
  char error_buffer_[CURL_ERROR_SIZE] = {};

  ByteSource* upload_ = nullptr;
  std::uint64_t upload_left_ = 0;
  std::span<const std::uint8_t> memory_;   // the body, when it is in memory (rewindable)
  std::optional<SpanSource> memory_body_;
  std::optional<Error> upload_error_;

  int status_ = 0;
  std::vector<Header> headers_;
  bool headers_done_ = false;
  std::vector<std::uint8_t> buffer_;
  std::size_t buffer_pos_ = 0;
  bool paused_ = false;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  Clock::time_point last_progress_;
  curl_off_t last_received_ = 0;
  curl_off_t last_sent_ = 0;
  bool timed_out_ = false;
};

class ExchangeStream final : public ResponseStream {
 public:
  ExchangeStream(std::unique_ptr<Exchange> exchange, Response response)
      : exchange_(std::move(exchange)), response_(std::move(response)) {}
  const Response& response() const override { return response_; }
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (!exchange_) return std::size_t{0};
    return exchange_->read(out);
  }

 private:
  std::unique_ptr<Exchange> exchange_;  // null when the body was already consumed (error statuses)
  Response response_;
};

// What one attempt came to.
struct AttemptOutcome {
  enum Kind { kDone, kRetry, kFail } kind = kDone;
  std::optional<Error> error;  // kFail, or kRetry after a transport failure (returned if no retry is left)
  int status = 0;              // kRetry after an HTTP status
  std::string reason;          // for the retry event
  bool upstream_failed = false;  // the connection to the upstream failed (not the caller's source or sink)
};

// Reads the rest of an exchange's body into `out`, up to `limit` bytes (false when it holds more).
Result<bool> collect(Exchange& exchange, std::string& out, std::size_t limit) {
  std::uint8_t buffer[16384];
  for (;;) {
    std::size_t n = BLOBSEAL_TRY(exchange.read(buffer));
    if (n == 0) return true;
    if (out.size() + n > limit) return false;
    out.append(reinterpret_cast<const char*>(buffer), n);
  }
}

}  // namespace

struct HttpClient::Impl : ClientCore {};

// ---- public ------------------------------------------------------------------------------------------------------

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::create(ClientOptions options) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto endpoint = BLOBSEAL_TRY(parse_endpoint(options.endpoint));
  if (options.retry.max_attempts < 1) options.retry.max_attempts = 1;
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->endpoint = std::move(endpoint);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

std::uint64_t HttpClient::retries() const { return impl_->retries.load(); }
bool HttpClient::upstream_up() const { return impl_->up(); }
const ClientOptions& HttpClient::options() const { return impl_->options; }

namespace {

// The retry loop shared by every entry point: `attempt` runs one exchange and says what came of it.
template <typename Attempt>
Status run_with_retries(ClientCore& client, const Request& request, Attempt attempt) {
  const RetryPolicy& policy = client.options.retry;
  bool retry_allowed = request.idempotent.value_or(is_idempotent_method(request.method)) &&
                       request.body_stream == nullptr;
  auto first = Clock::now();
  thread_local std::mt19937_64 random(std::random_device{}());

  std::string payload_hash = request.payload_hash;
  if (payload_hash.empty()) {
    if (request.body_stream) payload_hash = std::string(kUnsignedPayload);
    else payload_hash = to_hex(crypto::sha256(request.body));
  }

  for (int number = 1;; ++number) {
    std::vector<Header> headers = request.headers;
    headers.push_back({"Host", client.endpoint.host_header});
    if (client.options.credentials) {
      const Credentials& c = *client.options.credentials;
      SigningOptions signing;
      signing.region = c.region;
      signing.service = c.service;
      signing.time = std::chrono::system_clock::now();
      signing.session_token = c.session_token;
      auto signature = BLOBSEAL_TRY(sign_request(RequestToSign{request.method, request.target, headers, payload_hash},
                                                 SigningKey{c.access_key, c.secret_key.view()}, signing));
      headers.insert(headers.end(), signature.headers.begin(), signature.headers.end());
    }
    bool probe = false;
    if (!client.may_attempt(probe))
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("upstream {} is down (every recent attempt failed): failing fast",
                                    client.endpoint.host_header),
                        "UpstreamDown");
    auto connection = BLOBSEAL_TRY(client.acquire());
    auto exchange = std::make_unique<Exchange>(client, connection);
    SpanSource bytes(request.body);
    ByteSource* upload = request.body_stream ? request.body_stream : &bytes;
    std::uint64_t length = request.body_stream ? request.body_length : request.body.size();
    BLOBSEAL_TRY_STATUS(exchange->start(request, headers, upload, length));

    AttemptOutcome outcome = attempt(std::move(exchange), number);
    // Any answer from the server (even an error status) shows it is up; a transport failure counts against it.
    client.record_attempt(outcome.upstream_failed, probe);
    if (outcome.kind == AttemptOutcome::kDone) return {};
    if (outcome.kind == AttemptOutcome::kFail) return make_error(*outcome.error);
    // kRetry: is another attempt allowed?
    bool last = !retry_allowed || number >= request.max_attempts.value_or(policy.max_attempts);
    std::chrono::milliseconds delay{0};
    if (!last) {
      delay = backoff_delay(policy, number, random());
      if (Clock::now() - first + delay > policy.max_total) last = true;
    }
    if (last) {
      if (outcome.error) return make_error(*outcome.error);
      return make_error(ErrorCode::kUnavailable, "retries exhausted", "RetriesExhausted");  // attempt kept a Response
    }
    client.retries.fetch_add(1);
    if (client.options.on_retry)
      client.options.on_retry(RetryEvent{request.method, request.target, number, outcome.status, outcome.reason, delay});
    std::this_thread::sleep_for(delay);
  }
}

// For an exchange whose headers are in with an error status: collects the error body into `response` and says
// whether the status calls for a retry.
AttemptOutcome judge_error_status(Exchange& exchange, Response& response) {
  auto collected = collect(exchange, response.body, kMaxErrorBody);
  std::string code = error_code_of(response.body);
  if (!collected) {
    // The error body itself was cut short: a transport failure, retryable like any.
    if (exchange.failed_transiently())
      return {AttemptOutcome::kRetry, collected.error(), response.status, collected.error().message(), true};
  }
  if (is_retryable_status(response.status) || code == "SlowDown") {
    std::string reason = fmt::format("HTTP {}{}{}", response.status, code.empty() ? "" : " ", code);
    return {AttemptOutcome::kRetry, std::nullopt, response.status, reason};
  }
  return {AttemptOutcome::kDone, std::nullopt, response.status, {}};
}

AttemptOutcome transport_failure(Exchange& exchange, const Error& error) {
  if (exchange.failed_transiently()) return {AttemptOutcome::kRetry, error, 0, error.message(), true};
  return {AttemptOutcome::kFail, error, 0, {}, exchange.failed_in_transport()};
}

}  // namespace

Result<std::unique_ptr<ResponseStream>> HttpClient::open(const Request& request) {
  std::unique_ptr<ResponseStream> result;
  Response last;
  bool have_last = false;
  auto status = run_with_retries(*impl_, request, [&](std::unique_ptr<Exchange> exchange, int number) {
    auto headers = exchange->wait_for_headers();
    if (!headers) return transport_failure(*exchange, headers.error());
    Response response;
    response.status = exchange->status();
    response.headers = std::move(exchange->headers());
    response.attempts = number;
    if (response.ok()) {
      result = std::make_unique<ExchangeStream>(std::move(exchange), std::move(response));
      return AttemptOutcome{};
    }
    AttemptOutcome outcome = judge_error_status(*exchange, response);
    last = std::move(response);
    have_last = true;
    return outcome;
  });
  if (result) return result;
  if (!status && !(have_last && status.error().reason() == "RetriesExhausted")) return make_error(status.error());
  return std::unique_ptr<ResponseStream>(std::make_unique<ExchangeStream>(nullptr, std::move(last)));
}

Result<Response> HttpClient::send(const Request& request, std::size_t max_body) {
  Response result;
  bool have = false;
  auto status = run_with_retries(*impl_, request, [&](std::unique_ptr<Exchange> exchange, int number) {
    auto headers = exchange->wait_for_headers();
    if (!headers) return transport_failure(*exchange, headers.error());
    Response response;
    response.status = exchange->status();
    response.headers = std::move(exchange->headers());
    response.attempts = number;
    AttemptOutcome outcome;
    if (response.ok()) {
      auto complete = collect(*exchange, response.body, max_body);
      if (!complete) return transport_failure(*exchange, complete.error());
      if (!*complete)
        return AttemptOutcome{AttemptOutcome::kFail,
                              Error(ErrorCode::kResourceExhausted,
                                    fmt::format("the upstream response to {} {} is larger than {} bytes",
                                                request.method, request.target, max_body)),
                              0, {}};
    } else {
      outcome = judge_error_status(*exchange, response);
    }
    result = std::move(response);
    have = true;
    return outcome;
  });
  if (!status && !(have && status.error().reason() == "RetriesExhausted")) return make_error(status.error());
  return result;
}

Result<Response> HttpClient::send(const Request& request, ByteSink& sink) {
  Response result;
  bool have = false;
  auto status = run_with_retries(*impl_, request, [&](std::unique_ptr<Exchange> exchange, int number) {
    auto headers = exchange->wait_for_headers();
    if (!headers) return transport_failure(*exchange, headers.error());
    Response response;
    response.status = exchange->status();
    response.headers = std::move(exchange->headers());
    response.attempts = number;
    AttemptOutcome outcome;
    if (response.ok()) {
      std::vector<std::uint8_t> buffer(64 * 1024);
      bool delivered = false;
      for (;;) {
        auto n = exchange->read(buffer);
        if (!n) {
          // Nothing reached the sink yet: the attempt may be made again; otherwise the failure is final.
          if (!delivered) return transport_failure(*exchange, n.error());
          return AttemptOutcome{AttemptOutcome::kFail, n.error(), 0, {}, exchange->failed_in_transport()};
        }
        if (*n == 0) break;
        auto written = sink.write(std::span(buffer.data(), *n));
        if (!written) return AttemptOutcome{AttemptOutcome::kFail, written.error(), 0, {}};
        delivered = true;
      }
    } else {
      outcome = judge_error_status(*exchange, response);
    }
    result = std::move(response);
    have = true;
    return outcome;
  });
  if (!status && !(have && status.error().reason() == "RetriesExhausted")) return make_error(status.error());
  return result;
}

}  // namespace blobseal::net
