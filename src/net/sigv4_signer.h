// AWS Signature Version 4: the pure canonicalisation and signing functions, with no I/O and no knowledge of who
// sends the request. Both directions use them: the HTTP client signs every upstream request here (http_client.h),
// and the S3 front end's verifier (s3/sigv4.h) recomputes signatures with the very same code, so what blobseal sends
// and what it accepts cannot drift apart.
//
// S3 rules, where SigV4 allows a choice: the canonical URI is the request path percent-decoded once and re-encoded,
// without dot-segment removal or slash merging and without double encoding; query parameters are decoded ('+' as a
// space) and re-encoded, so clients that send '%20' and clients that send '+' both verify.
//
// Error reasons are S3 error codes (InvalidURI, InvalidArgument), for a front end to send as is. Secrets (secret
// keys, derived signing keys) never appear in an error message.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/secret_bytes.h"
#include "net/header.h"

namespace blobseal::net {

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kStreamingSignedPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
inline constexpr std::string_view kStreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Presigned URLs live at most a week (X-Amz-Expires).
inline constexpr std::chrono::seconds kMaxPresignedExpiry{604800};

// ---- canonicalisation -------------------------------------------------------------------------------------------

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as S3 does in query strings). nullopt on a
// malformed escape. Any byte may result, NUL included.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// Query parameters decoded ('+' as a space), in the order sent; "acl" gives ("acl", ""). nullopt on a malformed
// escape.
std::optional<std::vector<std::pair<std::string, std::string>>> decode_query(std::string_view raw_query);

// SigV4's URI encoding: A-Z a-z 0-9 '-' '.' '_' '~' stay, every other byte becomes %XX (upper-case hex); '/' stays
// unless `encode_slash`.
std::string uri_encode(std::string_view bytes, bool encode_slash);

// The canonical URI of a raw request path ("/bucket/a%20b"): decoded once, re-encoded with uri_encode (slashes
// kept). Not normalised: "/a/../b" and "//x" stay as they are, as S3 signs them. nullopt on a malformed escape.
std::optional<std::string> canonical_uri(std::string_view raw_path);

// The canonical query string of a raw query (without '?'): parameters decoded ('+' as a space) and re-encoded,
// sorted by encoded name then value, "name=value" joined by '&' ("acl" becomes "acl="). X-Amz-Signature is left
// out, as presigned requests require. nullopt on a malformed escape.
std::optional<std::string> canonical_query(std::string_view raw_query);

// A header value as SigV4 canonicalises it: leading and trailing whitespace removed, inner runs collapsed to one
// space (folded lines included).
std::string canonical_header_value(std::string_view value);

// Headers a signer leaves out (lower-case name): hop-by-hop headers a proxy may change, and what botocore leaves
// out (Authorization, User-Agent, Expect, X-Amzn-Trace-Id).
bool is_unsigned_header(std::string_view lower_name);

// What a signature covers. Views only: the caller keeps the strings alive.
struct SigningInput {
  std::string_view method;                       // "GET"
  std::string_view path;                         // raw path as sent, "/bucket/a%20b"
  std::string_view query;                        // raw query as sent, without '?'
  std::span<const Header> headers;               // the request's headers; names in any case, repeats allowed
  std::span<const std::string> signed_headers;   // lower-case names, in signing order (a signer sorts them)
  std::string_view payload_hash;                 // hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* value
};

// "METHOD\nURI\nQUERY\nname:value\n...\n\nsigned;headers\npayload-hash". Repeated headers join with ','; a signed
// header the request lacks canonicalises as "name:". InvalidArgument on a malformed escape in path or query.
Result<std::string> canonical_request(const SigningInput& input);

// The same with the canonical URI and query already computed: a verifier tries more than one form of the URI
// (the path as sent, when a client signed it that way) without canonicalising the query again.
std::string canonical_request_with(const SigningInput& input, std::string_view canonical_uri,
                                   std::string_view canonical_query);

// "date/region/service/aws4_request".
struct CredentialScope {
  std::string date;     // YYYYMMDD
  std::string region;
  std::string service;
  std::string to_string() const;
};

// "AWS4-HMAC-SHA256\n<timestamp>\n<scope>\n<hex sha256(canonical request)>".
std::string string_to_sign(std::string_view timestamp, std::string_view scope, std::string_view canonical_request);

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
SecretBytes derive_signing_key(std::span<const std::uint8_t> secret_key, const CredentialScope& scope);

// Lower-case hex HMAC-SHA256 of `string_to_sign` under the derived key.
std::string compute_signature(const SecretBytes& signing_key, std::string_view string_to_sign);

// aws-chunked: "AWS4-HMAC-SHA256-PAYLOAD\n<timestamp>\n<scope>\n<previous>\n<hex sha256("")>\n<hex sha256(chunk)>".
std::string chunk_string_to_sign(std::string_view timestamp, std::string_view scope,
                                 std::string_view previous_signature, std::span<const std::uint8_t> chunk_sha256);
// aws-chunked trailer: "AWS4-HMAC-SHA256-TRAILER\n<timestamp>\n<scope>\n<previous>\n<hex sha256(trailers)>", where
// `canonical_trailers` is "name:value\n" per trailing header.
std::string trailer_string_to_sign(std::string_view timestamp, std::string_view scope,
                                   std::string_view previous_signature, std::string_view canonical_trailers);

// ISO 8601 basic UTC ("20130524T000000Z"), as X-Amz-Date carries it.
std::string format_amz_date(std::chrono::system_clock::time_point time);
std::optional<std::chrono::system_clock::time_point> parse_amz_date(std::string_view text);

// ---- signing ------------------------------------------------------------------------------------------------------

struct SigningOptions {
  std::string region = "us-east-1";
  std::string service = "s3";
  std::chrono::system_clock::time_point time;
  std::string session_token;          // sent as X-Amz-Security-Token and signed, when not empty
  bool content_sha256_header = true;  // send x-amz-content-sha256 (S3 requires it; the generic suite does not)
};

// Who signs: an access key and its secret (a view: the caller keeps the SecretBytes).
struct SigningKey {
  std::string_view access_key;
  std::span<const std::uint8_t> secret_key;
};

struct RequestToSign {
  std::string method;
  std::string target;                  // path and query as they will be sent, percent-encoded: "/b/a%20b?x=1"
  std::vector<Header> headers;         // must include Host; all but is_unsigned_header() ones are signed
  std::string payload_hash = std::string(kUnsignedPayload);  // hex digest, UNSIGNED-PAYLOAD or STREAMING-*
};

struct RequestSignature {
  // To add to the request: X-Amz-Date, x-amz-content-sha256 (if asked), X-Amz-Security-Token (if any),
  // Authorization — in that order.
  std::vector<Header> headers;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  // For STREAMING-* payloads: the key chunk signatures use.
  SecretBytes signing_key;
  std::string timestamp;
  std::string scope;
};

// Signs with an Authorization header. InvalidArgument without a Host header, when the request already carries a
// header the signature adds, or on a malformed escape in `target`.
Result<RequestSignature> sign_request(const RequestToSign& request, const SigningKey& key,
                                      const SigningOptions& options);

struct PresignedRequest {
  std::string target;  // the request target with X-Amz-* parameters and X-Amz-Signature appended
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

// A presigned URL's target, valid for `expires` (1 s .. 7 days) from options.time. Every header in `request` that
// sign_request would sign is signed too (Host at least); the payload hash is request.payload_hash.
Result<PresignedRequest> presign_url(const RequestToSign& request, const SigningKey& key,
                                     const SigningOptions& options, std::chrono::seconds expires);

}  // namespace blobseal::net
