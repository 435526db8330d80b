#include "s3/sigv4.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "crypto/primitives.h"
#include "s3/aws_chunked.h"
#include "s3/request_target.h"

namespace blobseal::s3 {

namespace {

using Clock = std::chrono::system_clock;

// ---- small text helpers ----

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool is_hex_signature(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), is_hex_digit);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The first header with this name (case-insensitive). Uses only the virtual interface of http::Request, so this
// module does not depend on how the HTTP layer implements its helpers.
std::optional<std::string_view> find_header(std::span<const http::Header> headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

tl::unexpected<Error> fail(ErrorCode code, std::string_view reason, std::string message) {
  return make_error(code, std::move(message), std::string(reason));
}

tl::unexpected<Error> access_denied(std::string message) {
  return fail(ErrorCode::kPermissionDenied, "AccessDenied", std::move(message));
}

tl::unexpected<Error> signature_mismatch() {
  return fail(ErrorCode::kPermissionDenied, "SignatureDoesNotMatch",
              "The request signature we calculated does not match the signature you provided. Check your key and "
              "signing method.");
}

std::optional<std::vector<std::pair<std::string, std::string>>> decode_query(std::string_view raw) {
  return net::decode_query(raw);
}

// A path as sent is usable as a canonical URI only if it is already in URI form (no raw spaces or non-ASCII, valid
// escapes): then it decodes to the same bytes as the path we act on.
bool is_encoded_uri_path(std::string_view path) {
  for (std::size_t i = 0; i < path.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%') {
      if (i + 2 >= path.size() || !is_hex_digit(path[i + 1]) || !is_hex_digit(path[i + 2])) return false;
      i += 2;
    } else if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

// The request's headers in the signer's vocabulary (a handful per request: the copy is cheap).
std::vector<net::Header> to_net_headers(std::span<const http::Header> headers) {
  std::vector<net::Header> out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.push_back({h.name, h.value});
  return out;
}

std::vector<http::Header> to_http_headers(const std::vector<net::Header>& headers) {
  std::vector<http::Header> out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.push_back({h.name, h.value});
  return out;
}

// Signed-headers list "host;x-amz-date": lower-case names without duplicates.
std::optional<std::vector<std::string>> parse_signed_headers(std::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return std::nullopt;
  while (true) {
    auto semi = text.find(';');
    std::string_view name = text.substr(0, semi);
    if (name.empty()) return std::nullopt;
    for (char c : name)
      if (c <= 0x20 || c >= 0x7f || c == ':' || (c >= 'A' && c <= 'Z')) return std::nullopt;
    if (std::find(out.begin(), out.end(), name) != out.end()) return std::nullopt;
    out.emplace_back(name);
    if (semi == std::string_view::npos) break;
    text.remove_prefix(semi + 1);
  }
  return out;
}

// "AK/20130524/us-east-1/s3/aws4_request". The access key itself has no '/' (credentials.h).
std::optional<SignatureCredential> parse_credential(std::string_view text) {
  std::array<std::string_view, 5> parts;
  for (std::size_t i = 0; i < 5; ++i) {
    auto slash = text.find('/');
    if ((slash == std::string_view::npos) != (i == 4)) return std::nullopt;
    parts[i] = text.substr(0, slash);
    if (parts[i].empty()) return std::nullopt;
    if (slash != std::string_view::npos) text.remove_prefix(slash + 1);
  }
  if (parts[4] != "aws4_request") return std::nullopt;
  if (parts[1].size() != 8 || !all_digits(parts[1])) return std::nullopt;
  return SignatureCredential{std::string(parts[0]),
                             CredentialScope{std::string(parts[1]), std::string(parts[2]), std::string(parts[3])}};
}

std::string lower_hex(std::string_view hex) { return lower(hex); }

// ---- dates ----

std::optional<int> parse_int(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<Clock::time_point> make_time(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  return time_point_cast<Clock::duration>(sys_days(ymd) + hours(h) + minutes(mi) + seconds(s));
}

}  // namespace

// ---- canonicalisation ----------------------------------------------------------------------------------------

std::string uri_encode(std::string_view bytes, bool encode_slash) { return net::uri_encode(bytes, encode_slash); }

std::optional<std::string> canonical_uri(std::string_view raw_path) { return net::canonical_uri(raw_path); }

std::optional<std::string> canonical_query(std::string_view raw_query) { return net::canonical_query(raw_query); }

std::string canonical_header_value(std::string_view value) { return net::canonical_header_value(value); }

Result<std::string> canonical_request(const SigningInput& input) {
  std::vector<net::Header> headers = to_net_headers(input.headers);
  return net::canonical_request(
      net::SigningInput{input.method, input.path, input.query, headers, input.signed_headers, input.payload_hash});
}

std::string string_to_sign(std::string_view timestamp, std::string_view scope, std::string_view canonical_request) {
  return net::string_to_sign(timestamp, scope, canonical_request);
}

std::string CredentialScope::to_string() const {
  return net::CredentialScope{date, region, service}.to_string();
}

namespace {

// The derived signing key depends only on the secret and the scope (a date, region and service), so each thread
// keeps the keys it derived: four HMACs saved per request. An entry is used only while its secret is the one given
// (compared in constant time), so a changed secret derives afresh. Bounded, and zeroized as SecretBytes are.
SecretBytes cached_signing_key(const SecretBytes& secret_key, const std::string& cache_key,
                               const CredentialScope& scope) {
  struct Entry {
    SecretBytes secret;
    SecretBytes signing_key;
  };
  constexpr std::size_t kMaxEntries = 64;
  thread_local std::map<std::string, Entry, std::less<>> cache;
  auto it = cache.find(cache_key);
  if (it != cache.end() && it->second.secret.size() == secret_key.size() &&
      crypto::constant_time_equal(it->second.secret.view(), secret_key.view()))
    return it->second.signing_key.clone();
  SecretBytes key = derive_signing_key(secret_key.view(), scope);
  if (cache.size() >= kMaxEntries) cache.clear();
  cache.insert_or_assign(cache_key, Entry{secret_key.clone(), key.clone()});
  return key;
}

}  // namespace

SecretBytes derive_signing_key(std::span<const std::uint8_t> secret_key, const CredentialScope& scope) {
  return net::derive_signing_key(secret_key, net::CredentialScope{scope.date, scope.region, scope.service});
}

std::string compute_signature(const SecretBytes& signing_key, std::string_view string_to_sign) {
  return net::compute_signature(signing_key, string_to_sign);
}

std::string chunk_string_to_sign(std::string_view timestamp, std::string_view scope,
                                 std::string_view previous_signature, std::span<const std::uint8_t> chunk_sha256) {
  return net::chunk_string_to_sign(timestamp, scope, previous_signature, chunk_sha256);
}

std::string trailer_string_to_sign(std::string_view timestamp, std::string_view scope,
                                   std::string_view previous_signature, std::string_view canonical_trailers) {
  return net::trailer_string_to_sign(timestamp, scope, previous_signature, canonical_trailers);
}

std::string format_amz_date(Clock::time_point time) { return net::format_amz_date(time); }

std::optional<Clock::time_point> parse_amz_date(std::string_view t) { return net::parse_amz_date(t); }

std::optional<Clock::time_point> parse_date_header(std::string_view t) {
  // "Fri, 24 May 2013 00:00:00 GMT"
  t = trim(t);
  if (t.size() != 29 || t[3] != ',' || t[4] != ' ' || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' || t[19] != ':' ||
      t[22] != ':' || t[25] != ' ' || t.substr(26) != "GMT")
    return std::nullopt;
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto month = std::find(std::begin(kMonths), std::end(kMonths), t.substr(8, 3));
  if (month == std::end(kMonths)) return std::nullopt;
  auto d = parse_int(t.substr(5, 2)), y = parse_int(t.substr(12, 4));
  auto h = parse_int(t.substr(17, 2)), mi = parse_int(t.substr(20, 2)), s = parse_int(t.substr(23, 2));
  if (!y || !d || !h || !mi || !s) return std::nullopt;
  return make_time(*y, static_cast<int>(month - std::begin(kMonths)) + 1, *d, *h, *mi, *s);
}

// ---- parsing ----------------------------------------------------------------------------------------------------

Result<AuthorizationHeader> parse_authorization_header(std::string_view value) {
  auto malformed = [](std::string detail) {
    return fail(ErrorCode::kInvalidArgument, "AuthorizationHeaderMalformed",
                "The authorization header is malformed; " + detail);
  };
  value = trim(value);
  if (value.starts_with("AWS ") || value == "AWS")
    return fail(ErrorCode::kInvalidArgument, "InvalidRequest",
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.");
  auto space = value.find(' ');
  std::string_view algorithm = value.substr(0, space);
  if (algorithm == "AWS4-ECDSA-P256-SHA256")
    return fail(ErrorCode::kUnimplemented, "NotImplemented", "Signature Version 4A is not supported");
  if (algorithm != kSigV4Algorithm || space == std::string_view::npos)
    return malformed("the authorization type must be AWS4-HMAC-SHA256");
  std::string_view rest = value.substr(space + 1);

  std::optional<std::string_view> credential, signed_headers, signature;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) return malformed("expected Credential, SignedHeaders and Signature");
    std::string_view key = trim(item.substr(0, eq)), val = trim(item.substr(eq + 1));
    std::optional<std::string_view>* slot = key == "Credential"      ? &credential
                                            : key == "SignedHeaders" ? &signed_headers
                                            : key == "Signature"     ? &signature
                                                                     : nullptr;
    if (slot == nullptr) return malformed("unexpected component in the authorization header");
    if (*slot) return malformed("repeated component in the authorization header");
    *slot = val;
  }
  if (!credential || !signed_headers || !signature)
    return malformed("expected Credential, SignedHeaders and Signature");
  auto parsed_credential = parse_credential(*credential);
  if (!parsed_credential)
    return malformed("incorrect Credential; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"");
  auto headers = parse_signed_headers(*signed_headers);
  if (!headers) return malformed("incorrect SignedHeaders");
  if (!is_hex_signature(*signature)) return malformed("incorrect Signature");
  return AuthorizationHeader{std::move(*parsed_credential), std::move(*headers), lower_hex(*signature)};
}

Result<PresignedParameters> parse_presigned_query(std::string_view raw_query) {
  auto malformed = [](std::string message) {
    return fail(ErrorCode::kInvalidArgument, "AuthorizationQueryParametersError", std::move(message));
  };
  auto params = decode_query(raw_query);
  if (!params) return malformed("malformed escape in the query string");
  auto get = [&](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [n, v] : *params)
      if (n == name) return std::string_view(v);
    return std::nullopt;
  };
  // A repeated authentication parameter would let a proxy and us read different values.
  std::vector<std::string_view> amz_names;
  for (const auto& [n, v] : *params)
    if (n.starts_with("X-Amz-")) amz_names.push_back(n);
  std::sort(amz_names.begin(), amz_names.end());
  if (auto repeated = std::adjacent_find(amz_names.begin(), amz_names.end()); repeated != amz_names.end())
    return malformed("repeated " + std::string(*repeated) + " parameter");
  auto algorithm = get("X-Amz-Algorithm"), credential = get("X-Amz-Credential"), date = get("X-Amz-Date"),
       expires = get("X-Amz-Expires"), signed_headers = get("X-Amz-SignedHeaders"), signature = get("X-Amz-Signature");
  if (algorithm == "AWS4-ECDSA-P256-SHA256")
    return fail(ErrorCode::kUnimplemented, "NotImplemented", "Signature Version 4A is not supported");
  if (!algorithm || !credential || !date || !expires || !signed_headers || !signature)
    return malformed(
        "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
        "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
  if (*algorithm != kSigV4Algorithm) return malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  PresignedParameters out;
  auto parsed_credential = parse_credential(*credential);
  if (!parsed_credential)
    return malformed(
        "Error parsing the X-Amz-Credential parameter; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"");
  out.credential = std::move(*parsed_credential);
  auto time = parse_amz_date(*date);
  if (!time) return malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  out.timestamp = std::string(*date);
  out.time = *time;
  if (!all_digits(*expires) || expires->size() > 7)
    return malformed("X-Amz-Expires should be a number");
  auto seconds = parse_int(*expires);
  if (!seconds || *seconds < 1) return malformed("X-Amz-Expires must be a positive number of seconds");
  if (*seconds > kMaxPresignedExpiry.count())
    return malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800");
  out.expires = std::chrono::seconds(*seconds);
  auto headers = parse_signed_headers(*signed_headers);
  if (!headers) return malformed("Error parsing the X-Amz-SignedHeaders parameter");
  out.signed_headers = std::move(*headers);
  if (!is_hex_signature(*signature)) return malformed("Error parsing the X-Amz-Signature parameter");
  out.signature = lower_hex(*signature);
  if (auto hash = get("X-Amz-Content-Sha256")) out.payload_hash = std::string(*hash);
  return out;
}

// ---- verifying --------------------------------------------------------------------------------------------------

namespace {

// What a request claims, from either form, before it is checked.
struct Claim {
  SignatureCredential credential;
  std::vector<std::string> signed_headers;
  std::string signature;
  std::string timestamp;
  std::string payload_hash;
  bool presigned = false;
};

Result<PayloadMode> payload_mode_of(std::string_view hash, bool presigned) {
  if (is_hex_signature(hash)) return PayloadMode::kSha256;
  if (hash == kUnsignedPayload) return PayloadMode::kUnsigned;
  std::optional<PayloadMode> streaming;
  if (hash == kStreamingSignedPayload) streaming = PayloadMode::kStreamingSigned;
  if (hash == kStreamingSignedPayloadTrailer) streaming = PayloadMode::kStreamingSignedTrailer;
  if (hash == kStreamingUnsignedPayloadTrailer) streaming = PayloadMode::kStreamingUnsignedTrailer;
  if (streaming) {
    if (presigned)
      return fail(ErrorCode::kInvalidArgument, "InvalidRequest",
                  "streaming (aws-chunked) payloads require Authorization header signing");
    return *streaming;
  }
  if (hash.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"))
    return fail(ErrorCode::kUnimplemented, "NotImplemented", "Signature Version 4A payloads are not supported");
  return fail(ErrorCode::kInvalidArgument, "InvalidArgument",
              "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
              "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 "
              "value.");
}

// Region, service and terminal of the scope; `reason` says which form was malformed.
Status check_scope(const CredentialScope& scope, const VerificationPolicy& policy, std::string_view reason) {
  bool header = reason == "AuthorizationHeaderMalformed";
  std::string prefix =
      header ? "The authorization header is malformed; " : "Error parsing the X-Amz-Credential parameter; ";
  if (scope.region != policy.region)
    return fail(ErrorCode::kInvalidArgument, reason,
                fmt::format("{}the region '{}' is wrong; expecting '{}'", prefix, scope.region, policy.region));
  if (scope.service != policy.service)
    return fail(ErrorCode::kInvalidArgument, reason,
                fmt::format("{}incorrect service '{}'. This endpoint belongs to '{}'.", prefix, scope.service,
                            policy.service));
  return {};
}

// Checks shared by both forms, then the signature itself.
Result<AuthResult> check_claim(const http::Request& request, const CredentialStore& credentials, Claim claim,
                               PayloadMode mode) {
  const Credential* credential = credentials.find(claim.credential.access_key);
  if (credential == nullptr)
    return fail(ErrorCode::kPermissionDenied, "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.");

  const auto& headers = request.headers();
  const auto& signed_headers = claim.signed_headers;
  auto is_signed = [&](std::string_view lower_name) {
    return std::find(signed_headers.begin(), signed_headers.end(), lower_name) != signed_headers.end();
  };
  if (!is_signed("host")) return access_denied("The Host header must be signed");
  for (const auto& h : headers) {
    std::string name = lower(h.name);
    if (name.starts_with("x-amz-") && !is_signed(name))
      return access_denied(fmt::format("There were headers present in the request which were not signed: {}", name));
  }
  for (const auto& name : signed_headers)
    if (!find_header(headers, name))
      return fail(ErrorCode::kPermissionDenied, "SignatureDoesNotMatch",
                  fmt::format("The signed header '{}' is not present in the request", name));

  auto [path, query] = split_target(request.target());
  std::vector<net::Header> signer_headers = to_net_headers(headers);
  net::SigningInput input{request.method(), path, query, signer_headers, signed_headers, claim.payload_hash};
  auto uri = canonical_uri(path);
  if (!uri) return fail(ErrorCode::kInvalidArgument, "InvalidURI", "malformed escape in the request path");
  auto canonical_query_string = canonical_query(query);
  if (!canonical_query_string)
    return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "malformed escape in the query string");

  std::string scope = claim.credential.scope.to_string();
  SecretBytes key =
      cached_signing_key(credential->secret_key, credential->access_key + "/" + scope, claim.credential.scope);
  auto provided = from_hex(claim.signature);
  if (!provided) return signature_mismatch();

  // S3 signs the path decoded and re-encoded; a client whose path was already encoded some other valid way (a
  // lower-case escape, an escaped unreserved character) may have signed it as sent. Both decode to the same path.
  std::vector<std::string> uris{*uri};
  if (path != *uri && is_encoded_uri_path(path)) uris.emplace_back(path);
  bool matched = false;
  for (const auto& candidate : uris) {
    std::string canonical = net::canonical_request_with(input, candidate, *canonical_query_string);
    auto expected = crypto::hmac_sha256(key.view(), as_bytes(string_to_sign(claim.timestamp, scope, canonical)));
    if (crypto::constant_time_equal(expected, *provided)) matched = true;
  }
  if (!matched) return signature_mismatch();

  AuthResult result;
  result.access_key = credential->access_key;
  result.payload_mode = mode;
  if (mode == PayloadMode::kSha256) result.payload_sha256 = from_hex(claim.payload_hash);
  result.presigned = claim.presigned;
  result.timestamp = std::move(claim.timestamp);
  result.scope = std::move(scope);
  result.seed_signature = std::move(claim.signature);
  if (mode == PayloadMode::kStreamingSigned || mode == PayloadMode::kStreamingSignedTrailer)
    result.signing_key = std::move(key);
  return result;
}

Result<AuthResult> verify_header(const http::Request& request, const CredentialStore& credentials,
                                 const VerificationPolicy& policy, std::string_view authorization) {
  auto parsed = BLOBSEAL_TRY(parse_authorization_header(authorization));
  BLOBSEAL_TRY_STATUS(check_scope(parsed.credential.scope, policy, "AuthorizationHeaderMalformed"));

  const auto& headers = request.headers();
  std::string timestamp;
  std::optional<Clock::time_point> time;
  if (auto amz_date = find_header(headers, "x-amz-date")) {
    timestamp = std::string(trim(*amz_date));
    time = parse_amz_date(timestamp);
  } else if (auto date = find_header(headers, "date")) {
    time = parse_date_header(*date);
    if (time) timestamp = format_amz_date(*time);
  }
  if (!time) return access_denied("AWS authentication requires a valid Date or x-amz-date header");
  if (timestamp.substr(0, 8) != parsed.credential.scope.date)
    return fail(ErrorCode::kInvalidArgument, "AuthorizationHeaderMalformed",
                fmt::format("The authorization header is malformed; Invalid credential date \"{}\". This date is not "
                            "the same as X-Amz-Date: \"{}\".",
                            parsed.credential.scope.date, timestamp.substr(0, 8)));
  auto skew = *time > policy.now ? *time - policy.now : policy.now - *time;
  if (skew > policy.max_skew)
    return fail(ErrorCode::kPermissionDenied, "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.");

  std::string payload_hash;
  if (auto header = find_header(headers, "x-amz-content-sha256")) {
    payload_hash = std::string(trim(*header));
  } else if (policy.s3_payload_rules) {
    return fail(ErrorCode::kInvalidArgument, "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256");
  } else {
    payload_hash = std::string(kEmptyPayloadSha256);
  }
  PayloadMode mode = BLOBSEAL_TRY(payload_mode_of(payload_hash, false));

  Claim claim{std::move(parsed.credential), std::move(parsed.signed_headers), std::move(parsed.signature),
              std::move(timestamp), std::move(payload_hash), false};
  return check_claim(request, credentials, std::move(claim), mode);
}

Result<AuthResult> verify_presigned(const http::Request& request, const CredentialStore& credentials,
                                    const VerificationPolicy& policy, std::string_view query) {
  auto parsed = BLOBSEAL_TRY(parse_presigned_query(query));
  BLOBSEAL_TRY_STATUS(check_scope(parsed.credential.scope, policy, "AuthorizationQueryParametersError"));
  if (parsed.timestamp.substr(0, 8) != parsed.credential.scope.date)
    return fail(ErrorCode::kInvalidArgument, "AuthorizationQueryParametersError",
                fmt::format("Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
                            parsed.credential.scope.date, parsed.timestamp.substr(0, 8)));
  if (parsed.time > policy.now + policy.max_skew) return access_denied("Request is not valid yet");
  if (policy.now > parsed.time + parsed.expires) return access_denied("Request has expired");

  std::string payload_hash = parsed.payload_hash ? *parsed.payload_hash
                             : policy.s3_payload_rules ? std::string(kUnsignedPayload)
                                                       : std::string(kEmptyPayloadSha256);
  PayloadMode mode = BLOBSEAL_TRY(payload_mode_of(payload_hash, true));
  Claim claim{std::move(parsed.credential), std::move(parsed.signed_headers), std::move(parsed.signature),
              std::move(parsed.timestamp), std::move(payload_hash), true};
  return check_claim(request, credentials, std::move(claim), mode);
}

}  // namespace

Result<AuthResult> verify_signature(const http::Request& request, const CredentialStore& credentials,
                                    const VerificationPolicy& policy) {
  auto [path, query] = split_target(request.target());
  (void)path;
  auto params = decode_query(query);
  if (!params) return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "malformed escape in the query string");
  auto has_param = [&](std::string_view name) {
    return std::any_of(params->begin(), params->end(), [&](const auto& p) { return p.first == name; });
  };
  bool query_auth = has_param("X-Amz-Algorithm") || has_param("X-Amz-Signature") || has_param("X-Amz-Credential");
  auto authorization = find_header(request.headers(), "authorization");

  if (authorization && query_auth)
    return fail(ErrorCode::kInvalidArgument, "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                "parameter or the Authorization header should be specified");
  if (authorization) return verify_header(request, credentials, policy, *authorization);
  if (query_auth) return verify_presigned(request, credentials, policy, query);
  if (has_param("AWSAccessKeyId") && has_param("Signature"))
    return fail(ErrorCode::kInvalidArgument, "InvalidRequest",
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.");
  return access_denied("Access Denied");
}

Result<AuthResult> verify_signature(const http::Request& request, const CredentialStore& credentials,
                                    std::string_view region, Clock::time_point now, std::chrono::seconds max_skew) {
  VerificationPolicy policy;
  policy.region = std::string(region);
  policy.service = "s3";
  policy.now = now;
  policy.max_skew = max_skew;
  policy.s3_payload_rules = true;
  return verify_signature(request, credentials, policy);
}

Result<std::unique_ptr<ByteSource>> decode_payload(const AuthResult& auth, const http::Request& request,
                                                   ByteSource& body) {
  bool is_signed = auth.payload_mode == PayloadMode::kStreamingSigned ||
                   auth.payload_mode == PayloadMode::kStreamingSignedTrailer;
  bool trailer = auth.payload_mode == PayloadMode::kStreamingSignedTrailer ||
                 auth.payload_mode == PayloadMode::kStreamingUnsignedTrailer;
  if (!is_signed && !trailer) return std::unique_ptr<ByteSource>();

  const auto& headers = request.headers();
  auto decoded_length = find_header(headers, "x-amz-decoded-content-length");
  if (!decoded_length)
    return fail(ErrorCode::kInvalidArgument, "MissingContentLength",
                "aws-chunked uploads must send x-amz-decoded-content-length");
  std::string_view length_text = trim(*decoded_length);
  std::uint64_t length = 0;
  auto [ptr, ec] = std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
  if (length_text.empty() || ec != std::errc() || ptr != length_text.data() + length_text.size())
    return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "x-amz-decoded-content-length is not a number");

  AwsChunkedOptions options;
  options.signed_chunks = is_signed;
  options.trailer = trailer;
  options.decoded_length = length;
  if (trailer) {
    if (auto declared = find_header(headers, "x-amz-trailer")) {
      std::string_view list = *declared;
      while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view name = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (name.empty()) continue;
        options.declared_trailers.push_back(lower(name));
      }
    }
  }
  if (is_signed) {
    if (auth.signing_key.empty())
      return fail(ErrorCode::kInternal, "InternalError", "no signing key for a signed aws-chunked body");
    options.signing_key = auth.signing_key.clone();
    options.timestamp = auth.timestamp;
    options.scope = auth.scope;
    options.seed_signature = auth.seed_signature;
  }
  auto source = BLOBSEAL_TRY(AwsChunkedSource::create(body, std::move(options)));
  return std::unique_ptr<ByteSource>(std::move(source));
}

// ---- signing ----------------------------------------------------------------------------------------------------

namespace {
net::RequestToSign to_net_request(const RequestToSign& request) {
  return net::RequestToSign{request.method, request.target, to_net_headers(request.headers), request.payload_hash};
}
}  // namespace

Result<RequestSignature> sign_request(const RequestToSign& request, const Credential& credential,
                                      const SigningOptions& options) {
  auto signed_request = BLOBSEAL_TRY(net::sign_request(
      to_net_request(request), net::SigningKey{credential.access_key, credential.secret_key.view()}, options));
  RequestSignature out;
  out.headers = to_http_headers(signed_request.headers);
  out.canonical_request = std::move(signed_request.canonical_request);
  out.string_to_sign = std::move(signed_request.string_to_sign);
  out.signature = std::move(signed_request.signature);
  out.signing_key = std::move(signed_request.signing_key);
  out.timestamp = std::move(signed_request.timestamp);
  out.scope = std::move(signed_request.scope);
  return out;
}

Result<PresignedRequest> presign_url(const RequestToSign& request, const Credential& credential,
                                     const SigningOptions& options, std::chrono::seconds expires) {
  return net::presign_url(to_net_request(request), net::SigningKey{credential.access_key, credential.secret_key.view()},
                          options, expires);
}

}  // namespace blobseal::s3
