// Fuzzes SigV4 (src/s3/sigv4.h) and the aws-chunked decoder (src/s3/aws_chunked.h): the parsers of the
// Authorization header and the presigned query, the canonicalisation of paths and queries, whole requests through
// verify_signature + decode_payload, and aws-chunked bodies in both signed and unsigned-trailer modes.
//
// Input: byte 0 chooses the mode (mod 5); the rest is the mode's input.
//   0 authorization: the rest is an Authorization header value. Property: a parsed header has a 64-digit lower-case
//                    signature, valid signed-header names, and parses to the same thing once re-rendered.
//   1 query:         the rest is a raw query string (also taken as a path). Properties: canonical_query and
//                    canonical_uri are idempotent; parse_presigned_query's successes are within its limits.
//   2 signed chunks: u32 decoded length, u8 read-size seed, then an aws-chunked body signed with the fixed key and
//                    seed below (the seed corpus has valid ones). Properties: a clean end means exactly the decoded
//                    length came out; the outcome does not depend on how the reads are split.
//   3 trailers:      u32 decoded length, u8 algorithm choice, u8 read-size seed, then an unsigned aws-chunked body
//                    with a trailing checksum. Same properties.
//   4 request:       the rest is "METHOD TARGET\nName:value\n...\n\nbody", verified with the fixed credential at
//                    the fixed time and, when accepted, its body decoded. Property: no crash, no sanitizer report.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "fuzz_common.h"
#include "http/handler.h"
#include "s3/aws_chunked.h"
#include "s3/credentials.h"
#include "s3/sigv4.h"

namespace blobseal::fuzz {
namespace {

using namespace blobseal::s3;

constexpr std::string_view kAccessKey = "AKIDFUZZEXAMPLE";
constexpr std::string_view kSecret = "fuzz/Secret+Key/EXAMPLEKEY";
constexpr std::string_view kTimestamp = "20240301T101500Z";
constexpr std::string_view kScope = "20240301/us-east-1/s3/aws4_request";
constexpr std::string_view kSeedSignature = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr std::uint64_t kMaxDecodedLength = 1u << 20;

// Build with -DBLOBSEAL_FUZZ_TRACE to see how far each seed gets (whether the corpus still reaches the success paths).
#ifdef BLOBSEAL_FUZZ_TRACE
#define FUZZ_TRACE(...) std::fprintf(stderr, __VA_ARGS__)
#else
#define FUZZ_TRACE(...) (void)0
#endif

// A body that hands out at most `piece` bytes per read, so framing straddles reads.
class PiecewiseSource final : public ByteSource {
 public:
  PiecewiseSource(ByteSpan data, std::size_t piece) : data_(data), piece_(piece == 0 ? 1 : piece) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = std::min({out.size(), piece_, data_.size() - pos_});
    if (n > 0) std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  ByteSpan data_;
  std::size_t piece_;
  std::size_t pos_ = 0;
};

class FuzzRequest final : public http::Request {
 public:
  FuzzRequest(std::string method, std::string target, std::vector<http::Header> headers, ByteSpan body)
      : method_(std::move(method)), target_(std::move(target)), headers_(std::move(headers)), body_(body) {}
  std::string_view method() const override { return method_; }
  std::string_view target() const override { return target_; }
  const std::vector<http::Header>& headers() const override { return headers_; }
  std::optional<std::uint64_t> content_length() const override { return std::nullopt; }
  std::string_view remote_address() const override { return "fuzz"; }
  std::string_view request_id() const override { return "fuzz"; }
  bool is_tls() const override { return false; }
  ByteSource& body() override { return body_; }

 private:
  std::string method_, target_;
  std::vector<http::Header> headers_;
  SpanSource body_;
};

struct Outcome {
  bool ok = false;
  std::string data;    // when ok
  std::string reason;  // when not
};

// Reads a decoder to its end with reads of sizes drawn from `seed`; bounded by kMaxDecodedLength + 1.
Outcome drain(ByteSource& source, std::uint64_t seed) {
  Outcome out;
  SplitMix sizes(seed);
  std::vector<std::uint8_t> buffer(8192);
  while (out.data.size() <= kMaxDecodedLength) {
    std::size_t want = 1 + sizes.upto(buffer.size() - 1);
    auto n = source.read(std::span(buffer).first(want));
    if (!n) {
      out.reason = n.error().reason();
      FUZZ_CHECK(!out.reason.empty(), n.error().to_string());
      auto again = source.read(std::span(buffer).first(want));
      FUZZ_CHECK(!again, "a failed decoder read succeeded afterwards");
      return out;
    }
    if (*n == 0) {
      out.ok = true;
      return out;
    }
    out.data.append(reinterpret_cast<const char*>(buffer.data()), *n);
  }
  FUZZ_CHECK(false, "the decoder produced more than the decoded length allows");
  return out;
}

AwsChunkedOptions chunk_options(bool signed_chunks, std::uint64_t decoded_length, std::string declared) {
  AwsChunkedOptions options;
  options.signed_chunks = signed_chunks;
  options.trailer = !signed_chunks;
  options.decoded_length = decoded_length;
  options.max_chunk_size = 64 * 1024;  // small, so the limit is reachable
  if (!declared.empty()) options.declared_trailers.push_back(std::move(declared));
  if (signed_chunks) {
    options.signing_key = derive_signing_key(as_bytes(kSecret), CredentialScope{"20240301", "us-east-1", "s3"});
    options.timestamp = kTimestamp;
    options.scope = kScope;
    options.seed_signature = kSeedSignature;
  }
  return options;
}

void fuzz_chunked(InputReader& in, bool signed_chunks) {
  std::uint64_t decoded_length = in.u32() % (kMaxDecodedLength + 1);
  std::string declared;
  if (!signed_chunks) {
    static constexpr const char* kDeclared[] = {"x-amz-checksum-crc32", "x-amz-checksum-crc32c",
                                                "x-amz-checksum-crc64nvme", "x-amz-checksum-sha256", ""};
    declared = kDeclared[in.u8() % 5];
  }
  std::uint8_t seed = in.u8();
  ByteSpan body = in.rest();

  Outcome outcomes[2];
  for (int pass = 0; pass < 2; ++pass) {
    PiecewiseSource source(body, pass == 0 ? body.size() : 1 + seed % 13);
    auto decoder = AwsChunkedSource::create(source, chunk_options(signed_chunks, decoded_length, declared));
    FUZZ_CHECK(decoder, decoder ? "" : decoder.error().to_string());
    outcomes[pass] = drain(**decoder, pass == 0 ? 1 : seed);
    if (outcomes[pass].ok)
      FUZZ_CHECK(outcomes[pass].data.size() == decoded_length, "a clean end with the wrong decoded length");
    FUZZ_TRACE("chunked pass %d: %s\n", pass, outcomes[pass].ok ? "decoded" : outcomes[pass].reason.c_str());
  }
  FUZZ_CHECK(outcomes[0].ok == outcomes[1].ok, "the outcome depends on how the body was split into reads");
  if (outcomes[0].ok) FUZZ_CHECK(outcomes[0].data == outcomes[1].data, "the decoded bytes depend on the reads");
}

void fuzz_authorization(std::string_view text) {
  auto parsed = parse_authorization_header(text);
  FUZZ_TRACE("authorization: %s\n", parsed ? "parsed" : parsed.error().reason().c_str());
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().reason().empty(), parsed.error().to_string());
    return;
  }
  FUZZ_CHECK(parsed->signature.size() == 64, parsed->signature);
  for (char c : parsed->signature) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), parsed->signature);
  FUZZ_CHECK(!parsed->signed_headers.empty(), "no signed headers");
  std::string signed_headers;
  for (const auto& name : parsed->signed_headers) {
    FUZZ_CHECK(!name.empty(), "empty signed header name");
    for (char c : name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && c != ';' && c > ' ', name);
    signed_headers += (signed_headers.empty() ? "" : ";") + name;
  }
  std::string rendered = "AWS4-HMAC-SHA256 Credential=" + parsed->credential.access_key + "/" +
                         parsed->credential.scope.to_string() + ", SignedHeaders=" + signed_headers +
                         ", Signature=" + parsed->signature;
  auto again = parse_authorization_header(rendered);
  FUZZ_CHECK(again, rendered);
  FUZZ_CHECK(again->credential.access_key == parsed->credential.access_key &&
                 again->credential.scope.to_string() == parsed->credential.scope.to_string() &&
                 again->signed_headers == parsed->signed_headers && again->signature == parsed->signature,
             rendered);
}

void fuzz_query(std::string_view text) {
  if (auto query = canonical_query(text)) {
    auto twice = canonical_query(*query);
    FUZZ_CHECK(twice && *twice == *query, *query);
  }
  if (auto uri = canonical_uri(text)) {
    auto twice = canonical_uri(*uri);
    FUZZ_CHECK(twice && *twice == *uri, *uri);
  }
  auto presigned = parse_presigned_query(text);
  FUZZ_TRACE("presigned query: %s\n", presigned ? "parsed" : presigned.error().reason().c_str());
  if (presigned) {
    FUZZ_CHECK(presigned->expires.count() >= 1 && presigned->expires <= kMaxPresignedExpiry, "expires out of range");
    FUZZ_CHECK(presigned->signature.size() == 64, presigned->signature);
    FUZZ_CHECK(parse_amz_date(presigned->timestamp) == presigned->time, presigned->timestamp);
  } else {
    FUZZ_CHECK(!presigned.error().reason().empty(), presigned.error().to_string());
  }
}

void fuzz_request(std::string_view text) {
  auto next_line = [&text]() {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    return line;
  };
  std::string_view request_line = next_line();
  auto space = request_line.find(' ');
  std::string method(request_line.substr(0, space));
  std::string target(space == std::string_view::npos ? std::string_view("/") : request_line.substr(space + 1));
  std::vector<http::Header> headers;
  while (!text.empty() && headers.size() < 64) {
    std::string_view line = next_line();
    if (line.empty()) break;
    auto colon = line.find(':');
    headers.push_back({std::string(line.substr(0, colon)),
                       colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1))});
  }
  FuzzRequest request(std::move(method), std::move(target), std::move(headers), as_bytes(text));

  static const CredentialStore* store = [] {
    auto* s = new CredentialStore;
    if (!s->add(std::string(kAccessKey), kSecret, "fuzz")) std::abort();
    return s;
  }();
  auto now = *parse_amz_date(kTimestamp);
  auto auth = verify_signature(request, *store, "us-east-1", now, std::chrono::minutes(15));
  FUZZ_TRACE("request: %s\n", auth ? "verified" : auth.error().to_string().c_str());
  if (!auth) {
    FUZZ_CHECK(!auth.error().reason().empty(), auth.error().to_string());
    return;
  }
  FUZZ_CHECK(auth->access_key == kAccessKey, auth->access_key);
  auto decoder = decode_payload(*auth, request, request.body());
  if (decoder && *decoder) {
    Outcome outcome = drain(**decoder, 7);
    FUZZ_TRACE("request body: %s\n", outcome.ok ? "decoded" : outcome.reason.c_str());
  }
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal::fuzz;
  if (size == 0) return 0;
  InputReader in(blobseal::ByteSpan(data, size));
  std::uint8_t mode = in.u8() % 5;
  switch (mode) {
    case 0: fuzz_authorization(blobseal::as_string_view(in.rest())); break;
    case 1: fuzz_query(blobseal::as_string_view(in.rest())); break;
    case 2: fuzz_chunked(in, true); break;
    case 3: fuzz_chunked(in, false); break;
    case 4: fuzz_request(blobseal::as_string_view(in.rest())); break;
  }
  return 0;
}
