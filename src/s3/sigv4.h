// AWS Signature Version 4, both directions: the verifier the S3 front end runs on every request (Authorization
// header, presigned query, aws-chunked uploads) and the signer an S3 client uses (tests, the upstream store). Both
// sit on the same pure canonicalisation and signing functions — net/sigv4_signer.h, which the upstream store's HTTP
// client signs with too — so what we accept and what we send cannot drift. The declarations below keep the S3
// front end's vocabulary (http::Header, s3::Credential) and forward to those functions.
//
// S3 rules, where SigV4 allows a choice: the canonical URI is the request path percent-decoded once and re-encoded,
// without dot-segment removal or slash merging and without double encoding; query parameters are decoded ('+' as a
// space) and re-encoded, so clients that send '%20' and clients that send '+' both verify.
//
// Error reasons are S3 error codes (AccessDenied, SignatureDoesNotMatch, ...), for the front end to send as is.
// Secrets (secret keys, derived signing keys) never appear in an error message.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/error.h"
#include "core/secret_bytes.h"
#include "http/handler.h"
#include "net/sigv4_signer.h"
#include "s3/credentials.h"

namespace blobseal::s3 {

inline constexpr std::string_view kSigV4Algorithm = net::kSigV4Algorithm;
inline constexpr std::string_view kUnsignedPayload = net::kUnsignedPayload;
inline constexpr std::string_view kStreamingSignedPayload = net::kStreamingSignedPayload;
inline constexpr std::string_view kStreamingSignedPayloadTrailer = net::kStreamingSignedPayloadTrailer;
inline constexpr std::string_view kStreamingUnsignedPayloadTrailer = net::kStreamingUnsignedPayloadTrailer;
// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptyPayloadSha256 = net::kEmptyPayloadSha256;
// Presigned URLs live at most a week (X-Amz-Expires).
inline constexpr std::chrono::seconds kMaxPresignedExpiry = net::kMaxPresignedExpiry;

// ---- canonicalisation (pure) --------------------------------------------------------------------------------

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

// What a signature covers. Views only: the caller keeps the strings alive.
struct SigningInput {
  std::string_view method;                       // "GET"
  std::string_view path;                         // raw path as sent, "/bucket/a%20b"
  std::string_view query;                        // raw query as sent, without '?'
  std::span<const http::Header> headers;         // the request's headers; names in any case, repeats allowed
  std::span<const std::string> signed_headers;   // lower-case names, in signing order (a signer sorts them)
  std::string_view payload_hash;                 // hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* value
};

// "METHOD\nURI\nQUERY\nname:value\n...\n\nsigned;headers\npayload-hash". Repeated headers join with ','; a signed
// header the request lacks canonicalises as "name:". InvalidArgument on a malformed escape in path or query.
Result<std::string> canonical_request(const SigningInput& input);

// "date/region/service/aws4_request". (Its own type, not net::CredentialScope, so that unqualified calls in this
// namespace never also find the net:: functions by argument-dependent lookup.)
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
// RFC 1123 ("Fri, 24 May 2013 00:00:00 GMT"), the Date header's form.
std::optional<std::chrono::system_clock::time_point> parse_date_header(std::string_view text);

// ---- parsing the two ways a request carries a signature ---------------------------------------------------------

struct SignatureCredential {
  std::string access_key;
  CredentialScope scope;
};

// "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex".
struct AuthorizationHeader {
  SignatureCredential credential;
  std::vector<std::string> signed_headers;  // as listed
  std::string signature;                    // 64 hex digits, lower-cased
};
// AuthorizationHeaderMalformed on any deviation from that form; InvalidRequest for a SigV2 header ("AWS ak:sig");
// NotImplemented for SigV4a (AWS4-ECDSA-P256-SHA256). Does not check region or service: the verifier does.
Result<AuthorizationHeader> parse_authorization_header(std::string_view value);

// X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature.
struct PresignedParameters {
  SignatureCredential credential;
  std::string timestamp;                        // X-Amz-Date as sent
  std::chrono::system_clock::time_point time;   // the same, parsed
  std::chrono::seconds expires{0};              // 1..604800
  std::vector<std::string> signed_headers;
  std::string signature;                        // lower-cased
  std::optional<std::string> payload_hash;      // X-Amz-Content-Sha256, when a client put it in the query
};
// AuthorizationQueryParametersError on a missing or malformed parameter; NotImplemented for SigV4a.
Result<PresignedParameters> parse_presigned_query(std::string_view raw_query);

// ---- verifying (server side) ------------------------------------------------------------------------------------

// How the request body is covered, from x-amz-content-sha256.
enum class PayloadMode {
  kSha256,                    // a hex digest: the body must hash to AuthResult::payload_sha256
  kUnsigned,                  // UNSIGNED-PAYLOAD (always for presigned URLs)
  kStreamingSigned,           // STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, every chunk signed
  kStreamingSignedTrailer,    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, signed trailing checksum
  kStreamingUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked, trailing checksum
};

// A verified request. Move-only (holds the derived signing key for aws-chunked bodies).
struct AuthResult {
  std::string access_key;
  // The decoded 32-byte digest when x-amz-content-sha256 is a hex digest; nullopt for UNSIGNED-PAYLOAD and the
  // streaming modes (their bodies are checked by decode_payload's source).
  std::optional<Bytes> payload_sha256;
  PayloadMode payload_mode = PayloadMode::kUnsigned;
  bool presigned = false;
  std::string timestamp;       // the signed request time, "20130524T000000Z"
  std::string scope;           // "20130524/us-east-1/s3/aws4_request"
  std::string seed_signature;  // the request's signature, lower-case hex: the first "previous signature" of a chunk
  SecretBytes signing_key;     // the scope's derived key; set for the signed streaming modes only
};

struct VerificationPolicy {
  std::string region = "us-east-1";
  std::string service = "s3";
  std::chrono::system_clock::time_point now;
  std::chrono::seconds max_skew{15 * 60};
  // S3's payload rules: header-signed requests must send x-amz-content-sha256 and presigned URLs sign
  // UNSIGNED-PAYLOAD. Off (other services, the generic AWS test suite): a missing header means the payload is
  // the empty body, whose digest the caller then checks.
  bool s3_payload_rules = true;
};

// Verifies a request signed with an Authorization header or a presigned query. Failures, by Error::reason():
//   AccessDenied                   anonymous (no Authorization, no X-Amz-Signature); missing/invalid date; expired
//                                  or not-yet-valid presigned URL; an x-amz-* header or Host left unsigned
//   InvalidAccessKeyId             the access key is not in `credentials`
//   SignatureDoesNotMatch          wrong secret, or anything signed was altered
//   RequestTimeTooSkewed           header auth more than max_skew away from `now`
//   AuthorizationHeaderMalformed   malformed header, wrong region/service, credential date != request date
//   AuthorizationQueryParametersError  the same for presigned queries, and X-Amz-Expires out of 1..604800
//   InvalidRequest                 SigV2, or x-amz-content-sha256 missing
//   InvalidArgument                header and query auth together, or a bad x-amz-content-sha256 value
//   NotImplemented                 SigV4a (ECDSA) and its streaming modes
Result<AuthResult> verify_signature(const http::Request& request, const CredentialStore& credentials,
                                    const VerificationPolicy& policy);

// The S3 front end's entry point: service "s3", S3 payload rules.
Result<AuthResult> verify_signature(const http::Request& request, const CredentialStore& credentials,
                                    std::string_view region, std::chrono::system_clock::time_point now,
                                    std::chrono::seconds max_skew);

// For a streaming payload mode, a source that decodes the aws-chunked body on the fly (see aws_chunked.h: bounded
// memory, each signed chunk verified before its bytes are released, trailing checksums verified, the decoded length
// checked against x-amz-decoded-content-length); nullptr for the other modes, whose body is read as is. The source
// keeps references to `body`; it copies what it needs from `auth` and `request`. Fails up front with
// MissingContentLength (no x-amz-decoded-content-length), InvalidRequest (a bad x-amz-trailer) or NotImplemented
// (a trailing checksum algorithm we cannot verify).
Result<std::unique_ptr<ByteSource>> decode_payload(const AuthResult& auth, const http::Request& request,
                                                   ByteSource& body);

// ---- signing (client side) --------------------------------------------------------------------------------------

// region ("us-east-1"), service ("s3"), time, session_token (sent as X-Amz-Security-Token and signed, when not
// empty), content_sha256_header (send x-amz-content-sha256; S3 requires it, the generic suite does not).
using SigningOptions = net::SigningOptions;

struct RequestToSign {
  std::string method;
  std::string target;                  // path and query as they will be sent, percent-encoded: "/b/a%20b?x=1"
  std::vector<http::Header> headers;   // must include Host; all but hop-by-hop ones, User-Agent, Expect are signed
  std::string payload_hash = std::string(kUnsignedPayload);  // hex digest, UNSIGNED-PAYLOAD or STREAMING-*
};

struct RequestSignature {
  // To add to the request: X-Amz-Date, x-amz-content-sha256 (if asked), X-Amz-Security-Token (if any),
  // Authorization — in that order.
  std::vector<http::Header> headers;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  // For STREAMING-* payloads: the key chunk signatures use (aws_chunked.h's ChunkSigner).
  SecretBytes signing_key;
  std::string timestamp;
  std::string scope;
};

// Signs with an Authorization header. InvalidArgument without a Host header or on a malformed escape in `target`.
Result<RequestSignature> sign_request(const RequestToSign& request, const Credential& credential,
                                      const SigningOptions& options);

// target (the request target with X-Amz-* parameters and X-Amz-Signature appended), canonical_request,
// string_to_sign, signature.
using PresignedRequest = net::PresignedRequest;

// A presigned URL's target, valid for `expires` (1 s .. 7 days) from options.time. Every header in `request` that
// sign_request would sign is signed too (Host at least); the payload hash is request.payload_hash.
Result<PresignedRequest> presign_url(const RequestToSign& request, const Credential& credential,
                                     const SigningOptions& options, std::chrono::seconds expires);

}  // namespace blobseal::s3
