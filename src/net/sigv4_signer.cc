#include "net/sigv4_signer.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <tuple>

#include <fmt/format.h>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace blobseal::net {

namespace {

using Clock = std::chrono::system_clock;

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int> parse_int(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

tl::unexpected<Error> fail(ErrorCode code, std::string_view reason, std::string message) {
  return make_error(code, std::move(message), std::string(reason));
}

std::string join(std::span<const std::string> parts, char separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back(separator);
    out += parts[i];
  }
  return out;
}

}  // namespace

// ---- canonicalisation ----------------------------------------------------------------------------------------

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    // Runs of plain characters are copied at once (most of a presigned URL's query is plain).
    std::size_t plain_end = text.find_first_of(plus_is_space ? std::string_view("%+") : std::string_view("%"), i);
    if (plain_end == std::string_view::npos) plain_end = text.size();
    if (plain_end > i) {
      out.append(text.substr(i, plain_end - i));
      i = plain_end - 1;
      continue;
    }
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> decode_query(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view item = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto name = percent_decode(item.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>("") : percent_decode(item.substr(eq + 1), true);
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::string uri_encode(std::string_view bytes, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  for (char ch : bytes) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved || (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> canonical_uri(std::string_view raw_path) {
  if (raw_path.empty()) return std::string("/");
  auto decoded = percent_decode(raw_path, false);
  if (!decoded) return std::nullopt;
  return uri_encode(*decoded, false);
}

std::optional<std::string> canonical_query(std::string_view raw_query) {
  auto params = decode_query(raw_query);
  if (!params) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params->size());
  for (const auto& [name, value] : *params) {
    if (name == "X-Amz-Signature") continue;
    encoded.emplace_back(uri_encode(name, true), uri_encode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string canonical_header_value(std::string_view value) {
  value = trim(value);
  std::string out;
  out.reserve(value.size());
  bool in_space = false;
  for (char c : value) {
    if (is_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
  return out;
}

bool is_unsigned_header(std::string_view lower_name) {
  static constexpr std::string_view kSkipped[] = {"authorization", "user-agent", "expect",  "x-amzn-trace-id",
                                                  "connection",    "keep-alive", "te",      "trailer",
                                                  "transfer-encoding", "upgrade", "proxy-authorization",
                                                  "proxy-connection"};
  return std::find(std::begin(kSkipped), std::end(kSkipped), lower_name) != std::end(kSkipped);
}

std::string canonical_request_with(const SigningInput& input, std::string_view uri, std::string_view query) {
  std::string out;
  out.reserve(256);
  out.append(input.method).push_back('\n');
  out.append(uri).push_back('\n');
  out.append(query).push_back('\n');
  for (const auto& name : input.signed_headers) {
    out.append(name).push_back(':');
    bool first = true;
    for (const auto& h : input.headers) {
      if (!iequals(h.name, name)) continue;
      if (!first) out.push_back(',');
      out += canonical_header_value(h.value);
      first = false;
    }
    out.push_back('\n');
  }
  out.push_back('\n');
  out += join(input.signed_headers, ';');
  out.push_back('\n');
  out.append(input.payload_hash);
  return out;
}

Result<std::string> canonical_request(const SigningInput& input) {
  auto uri = canonical_uri(input.path);
  if (!uri) return fail(ErrorCode::kInvalidArgument, "InvalidURI", "malformed escape in the request path");
  auto query = canonical_query(input.query);
  if (!query) return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "malformed escape in the query string");
  return canonical_request_with(input, *uri, *query);
}

std::string CredentialScope::to_string() const { return fmt::format("{}/{}/{}/aws4_request", date, region, service); }

std::string string_to_sign(std::string_view timestamp, std::string_view scope, std::string_view canonical_request) {
  return fmt::format("{}\n{}\n{}\n{}", kSigV4Algorithm, timestamp, scope,
                     to_hex(crypto::sha256(as_bytes(canonical_request))));
}

SecretBytes derive_signing_key(std::span<const std::uint8_t> secret_key, const CredentialScope& scope) {
  SecretBytes prefixed(secret_key.size() + 4);
  std::memcpy(prefixed.data(), "AWS4", 4);
  if (!secret_key.empty()) std::memcpy(prefixed.data() + 4, secret_key.data(), secret_key.size());
  auto k_date = crypto::hmac_sha256(prefixed.view(), as_bytes(scope.date));
  auto k_region = crypto::hmac_sha256(k_date, as_bytes(scope.region));
  auto k_service = crypto::hmac_sha256(k_region, as_bytes(scope.service));
  auto k_signing = crypto::hmac_sha256(k_service, as_bytes("aws4_request"));
  SecretBytes out(k_signing);
  secure_zero(k_date.data(), k_date.size());
  secure_zero(k_region.data(), k_region.size());
  secure_zero(k_service.data(), k_service.size());
  secure_zero(k_signing.data(), k_signing.size());
  return out;
}

std::string compute_signature(const SecretBytes& signing_key, std::string_view string_to_sign) {
  return to_hex(crypto::hmac_sha256(signing_key.view(), as_bytes(string_to_sign)));
}

std::string chunk_string_to_sign(std::string_view timestamp, std::string_view scope,
                                 std::string_view previous_signature, std::span<const std::uint8_t> chunk_sha256) {
  return fmt::format("AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}", timestamp, scope, previous_signature,
                     kEmptyPayloadSha256, to_hex(chunk_sha256));
}

std::string trailer_string_to_sign(std::string_view timestamp, std::string_view scope,
                                   std::string_view previous_signature, std::string_view canonical_trailers) {
  return fmt::format("AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}", timestamp, scope, previous_signature,
                     to_hex(crypto::sha256(as_bytes(canonical_trailers))));
}

std::string format_amz_date(Clock::time_point time) {
  using namespace std::chrono;
  auto day_point = floor<days>(time);
  year_month_day ymd(day_point);
  hh_mm_ss hms(floor<seconds>(time - day_point));
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count());
}

std::optional<Clock::time_point> parse_amz_date(std::string_view t) {
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z') return std::nullopt;
  auto y = parse_int(t.substr(0, 4)), mo = parse_int(t.substr(4, 2)), d = parse_int(t.substr(6, 2));
  auto h = parse_int(t.substr(9, 2)), mi = parse_int(t.substr(11, 2)), s = parse_int(t.substr(13, 2));
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  // system_clock counts nanoseconds in 64 bits (years 1678..2262): refuse what it cannot hold (found by fuzz_sigv4).
  if (!ymd.ok() || *y < 1970 || *y > 2200 || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
  return time_point_cast<Clock::duration>(sys_days(ymd) + hours(*h) + minutes(*mi) + seconds(*s));
}

// ---- signing ----------------------------------------------------------------------------------------------------

namespace {

struct PreparedSigning {
  std::string_view path, query;
  std::vector<std::string> signed_headers;
  CredentialScope scope;
  std::string timestamp;
};

Result<PreparedSigning> prepare_signing(const RequestToSign& request, std::span<const Header> headers,
                                        const SigningOptions& options) {
  PreparedSigning out;
  std::tie(out.path, out.query) = split_target(request.target);
  if (out.path.empty() || out.path.front() != '/')
    return fail(ErrorCode::kInvalidArgument, "InvalidURI", "the request target must start with '/'");
  for (const auto& h : headers) {
    std::string name = lower(h.name);
    if (is_unsigned_header(name)) continue;
    if (std::find(out.signed_headers.begin(), out.signed_headers.end(), name) == out.signed_headers.end())
      out.signed_headers.push_back(std::move(name));
  }
  std::sort(out.signed_headers.begin(), out.signed_headers.end());
  if (std::find(out.signed_headers.begin(), out.signed_headers.end(), "host") == out.signed_headers.end())
    return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "a request to sign needs a Host header");
  out.timestamp = format_amz_date(options.time);
  out.scope = CredentialScope{out.timestamp.substr(0, 8), options.region, options.service};
  return out;
}

}  // namespace

Result<RequestSignature> sign_request(const RequestToSign& request, const SigningKey& key,
                                      const SigningOptions& options) {
  for (const auto& h : request.headers) {
    std::string name = lower(h.name);
    if (name == "authorization" || name == "x-amz-date" ||
        (name == "x-amz-content-sha256" && options.content_sha256_header) ||
        (name == "x-amz-security-token" && !options.session_token.empty()))
      return fail(ErrorCode::kInvalidArgument, "InvalidArgument",
                  fmt::format("the request to sign already has a {} header", h.name));
  }
  RequestSignature out;
  out.timestamp = format_amz_date(options.time);
  out.headers.push_back({"X-Amz-Date", out.timestamp});
  if (options.content_sha256_header) out.headers.push_back({"x-amz-content-sha256", request.payload_hash});
  if (!options.session_token.empty()) out.headers.push_back({"X-Amz-Security-Token", options.session_token});
  std::vector<Header> all = request.headers;
  all.insert(all.end(), out.headers.begin(), out.headers.end());

  auto prepared = BLOBSEAL_TRY(prepare_signing(request, all, options));
  SigningInput input{request.method, prepared.path, prepared.query, all, prepared.signed_headers, request.payload_hash};
  out.canonical_request = BLOBSEAL_TRY(canonical_request(input));
  out.scope = prepared.scope.to_string();
  out.string_to_sign = string_to_sign(prepared.timestamp, out.scope, out.canonical_request);
  out.signing_key = derive_signing_key(key.secret_key, prepared.scope);
  out.signature = compute_signature(out.signing_key, out.string_to_sign);
  out.headers.push_back({"Authorization", fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}",
                                                      kSigV4Algorithm, key.access_key, out.scope,
                                                      join(prepared.signed_headers, ';'), out.signature)});
  return out;
}

Result<PresignedRequest> presign_url(const RequestToSign& request, const SigningKey& key,
                                     const SigningOptions& options, std::chrono::seconds expires) {
  if (expires.count() < 1 || expires > kMaxPresignedExpiry)
    return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "a presigned URL expires after 1 s to 7 days");
  auto prepared = BLOBSEAL_TRY(prepare_signing(request, request.headers, options));
  std::string scope = prepared.scope.to_string();

  std::string query(prepared.query);
  auto add = [&](std::string_view name, std::string_view value) {
    if (!query.empty()) query.push_back('&');
    query += name;
    query.push_back('=');
    query += uri_encode(value, true);
  };
  add("X-Amz-Algorithm", kSigV4Algorithm);
  add("X-Amz-Credential", fmt::format("{}/{}", key.access_key, scope));
  add("X-Amz-Date", prepared.timestamp);
  add("X-Amz-Expires", std::to_string(expires.count()));
  if (!options.session_token.empty()) add("X-Amz-Security-Token", options.session_token);
  add("X-Amz-SignedHeaders", join(prepared.signed_headers, ';'));

  PresignedRequest out;
  SigningInput input{request.method, prepared.path, query, request.headers, prepared.signed_headers,
                     request.payload_hash};
  out.canonical_request = BLOBSEAL_TRY(canonical_request(input));
  out.string_to_sign = string_to_sign(prepared.timestamp, scope, out.canonical_request);
  out.signature = compute_signature(derive_signing_key(key.secret_key, prepared.scope), out.string_to_sign);
  out.target = fmt::format("{}?{}&X-Amz-Signature={}", prepared.path, query, out.signature);
  return out;
}

}  // namespace blobseal::net
