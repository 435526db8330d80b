// The aws-chunked decoder on its own: signed chunks, unsigned and signed trailers, every checksum, and every way a
// body can be cut short or altered — each must end in an error, never in a clean end of stream.

#include <cstring>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "s3/aws_chunked.h"
#include "s3/sigv4.h"
#include "sigv4_test_support.h"

namespace blobseal::s3::testing {
namespace {

constexpr std::string_view kTimestamp = "20240301T101500Z";
constexpr std::string_view kScope = "20240301/us-east-1/s3/aws4_request";
constexpr std::string_view kSeed = "1111111111111111111111111111111111111111111111111111111111111111";

SecretBytes test_key() {
  return derive_signing_key(as_bytes("chunk/test/secret"), CredentialScope{"20240301", "us-east-1", "s3"});
}

std::string pattern(std::size_t size, unsigned seed = 1) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return out;
}

std::string base64_of(const Bytes& bytes) { return to_base64(bytes); }

std::string checksum_b64(ChecksumAlgorithm algorithm, std::string_view data) {
  PayloadChecksum checksum(algorithm);
  checksum.update(as_bytes(data));
  return base64_of(checksum.finish());
}

// Frames `data` into signed chunks of `chunk_size`.
std::string signed_body(std::string_view data, std::size_t chunk_size, std::string trailers = {},
                        bool sign_trailers = false) {
  ChunkSigner signer(test_key(), std::string(kTimestamp), std::string(kScope), std::string(kSeed));
  std::string out;
  for (std::size_t at = 0; at < data.size(); at += chunk_size)
    out += signer.frame_chunk(as_bytes(data.substr(at, chunk_size)));
  out += signer.frame_chunk({}).substr(0, 84);  // "0;chunk-signature=<64>" + CRLF, without the empty data's CRLF
  if (sign_trailers) {
    std::string canonical;
    std::string_view rest = trailers;
    while (!rest.empty()) {
      auto end = rest.find("\r\n");
      canonical += std::string(rest.substr(0, end)) + "\n";
      rest.remove_prefix(end + 2);
    }
    out += trailers + "x-amz-trailer-signature:" + signer.sign_trailer(canonical) + "\r\n";
  } else {
    out += trailers;
  }
  return out + "\r\n";
}

std::string unsigned_body(std::string_view data, std::size_t chunk_size, std::string trailers = {}) {
  std::string out;
  for (std::size_t at = 0; at < data.size(); at += chunk_size) {
    std::string_view chunk = data.substr(at, chunk_size);
    out += fmt::format("{:x}\r\n", chunk.size());
    out += chunk;
    out += "\r\n";
  }
  return out + "0\r\n" + trailers + "\r\n";
}

struct Mode {
  bool signed_chunks = true;
  bool trailer = false;
  std::vector<std::string> declared;
};

Result<std::string> decode(const std::string& body, std::uint64_t decoded_length, Mode mode = {},
                           std::size_t max_chunk = 16u << 20) {
  SpanSource source(as_bytes(body));
  AwsChunkedOptions options;
  options.signed_chunks = mode.signed_chunks;
  options.trailer = mode.trailer;
  options.decoded_length = decoded_length;
  options.declared_trailers = mode.declared;
  options.max_chunk_size = max_chunk;
  if (mode.signed_chunks) {
    options.signing_key = test_key();
    options.timestamp = kTimestamp;
    options.scope = kScope;
    options.seed_signature = kSeed;
  }
  auto decoder = BLOBSEAL_TRY(AwsChunkedSource::create(source, std::move(options)));
  return read_all(*decoder);
}

#define EXPECT_DECODE_ERROR(result, code)                                            \
  do {                                                                               \
    auto&& failed_ = (result);                                                       \
    ASSERT_FALSE(failed_) << "decoded cleanly, expected " << (code);                 \
    EXPECT_EQ(failed_.error().reason(), (code)) << failed_.error().message();        \
  } while (0)

TEST(Checksums, KnownAnswers) {
  auto check = as_bytes("123456789");
  EXPECT_EQ(crc32c(0, check), 0xE3069283u);
  EXPECT_EQ(crc64nvme(0, check), 0xAE8B14860A799888ull);
  EXPECT_EQ(crc32c(crc32c(0, check.first(4)), check.subspan(4)), 0xE3069283u) << "incremental";
  PayloadChecksum crc32(ChecksumAlgorithm::kCrc32);
  crc32.update(check);
  EXPECT_EQ(to_hex(crc32.finish()), "cbf43926");
  EXPECT_EQ(checksum_b64(ChecksumAlgorithm::kCrc32, ""), "AAAAAA==");
  EXPECT_EQ(checksum_b64(ChecksumAlgorithm::kSha256, "abc"), to_base64(crypto::sha256(as_bytes("abc"))));
  EXPECT_EQ(checksum_algorithm_from_header("x-amz-checksum-crc64nvme"), ChecksumAlgorithm::kCrc64Nvme);
  EXPECT_FALSE(checksum_algorithm_from_header("x-amz-checksum-sha1"));
}

TEST(SignedChunks, DecodeAtManyChunkSizes) {
  for (std::size_t size : {0u, 1u, 100u, 8192u, 65536u, 200000u}) {
    std::string data = pattern(size);
    for (std::size_t chunk : {1u, 7u, 8192u, 65536u, 1u << 20}) {
      if (size > 0 && size / chunk > 5000) continue;
      auto decoded = decode(signed_body(data, chunk), size);
      ASSERT_TRUE(decoded) << size << "/" << chunk << ": " << decoded.error().to_string();
      EXPECT_EQ(*decoded, data) << size << "/" << chunk;
    }
  }
}

TEST(SignedChunks, EveryTruncationFails) {
  std::string data = pattern(300);
  std::string body = signed_body(data, 100);
  // Cutting only the final empty line loses nothing (the final chunk's signature already closed the stream);
  // every shorter prefix must fail.
  for (std::size_t cut = 0; cut + 2 < body.size(); ++cut) {
    auto decoded = decode(body.substr(0, cut), data.size());
    ASSERT_FALSE(decoded) << "a body cut at " << cut << " of " << body.size() << " decoded cleanly";
  }
  EXPECT_TRUE(decode(body.substr(0, body.size() - 2), data.size()));
  EXPECT_TRUE(decode(body, data.size()));
}

TEST(SignedChunks, EveryByteFlipIsCaught) {
  std::string data = pattern(200);
  std::string body = signed_body(data, 64);
  for (std::size_t at = 0; at < body.size(); ++at) {
    std::string altered = body;
    altered[at] = static_cast<char>(altered[at] ^ 0x01);
    ASSERT_FALSE(decode(altered, data.size())) << "a flipped bit at " << at << " passed";
  }
}

TEST(SignedChunks, BadSignatures) {
  std::string data = pattern(1000);
  std::string body = signed_body(data, 400);
  {
    std::string altered = body;
    altered[20] = altered[20] == 'a' ? 'b' : 'a';  // inside the first chunk-signature
    EXPECT_DECODE_ERROR(decode(altered, data.size()), "SignatureDoesNotMatch");
  }
  {
    std::string altered = body;
    altered.replace(0, altered.find("\r\n"), "190");  // first chunk header without its signature
    EXPECT_DECODE_ERROR(decode(altered, data.size()), "SignatureDoesNotMatch");
  }
  {
    // The chunks in another order: each signature chains from the previous one.
    std::string first = body.substr(0, body.find("\r\n190;") + 2);  // 0x190 = 400
    std::string rest = body.substr(first.size());
    std::string second = rest.substr(0, rest.find("\r\nc8;") + 2);  // 0xc8 = 200, the last data chunk
    std::string reordered = second + first + rest.substr(second.size());
    EXPECT_DECODE_ERROR(decode(reordered, data.size()), "SignatureDoesNotMatch");
  }
  {
    // A chunk dropped: the decoded length is checked only at the end, but the chain breaks first.
    std::string first = body.substr(0, body.find("\r\n190;") + 2);
    EXPECT_DECODE_ERROR(decode(body.substr(first.size()), data.size() - 400), "SignatureDoesNotMatch");
  }
  {
    // Another seed (another request's signature).
    SpanSource source(as_bytes(body));
    AwsChunkedOptions options;
    options.signed_chunks = true;
    options.decoded_length = data.size();
    options.signing_key = test_key();
    options.timestamp = kTimestamp;
    options.scope = kScope;
    options.seed_signature = std::string(64, '2');
    auto decoder = AwsChunkedSource::create(source, std::move(options));
    ASSERT_TRUE(decoder);
    EXPECT_DECODE_ERROR(read_all(**decoder), "SignatureDoesNotMatch");
  }
}

TEST(SignedChunks, FinalChunkSignatureIsChecked) {
  std::string data = pattern(100);
  std::string body = signed_body(data, 100);
  auto final_at = body.rfind("0;chunk-signature=");
  ASSERT_NE(final_at, std::string::npos);
  body[final_at + 20] = body[final_at + 20] == 'f' ? 'e' : 'f';
  EXPECT_DECODE_ERROR(decode(body, data.size()), "SignatureDoesNotMatch");
}

TEST(SignedChunks, LengthMismatch) {
  std::string data = pattern(1000);
  std::string body = signed_body(data, 300);
  EXPECT_DECODE_ERROR(decode(body, 1001), "IncompleteBody");
  EXPECT_DECODE_ERROR(decode(body, 999), "IncompleteBody");
  EXPECT_DECODE_ERROR(decode(body, 0), "IncompleteBody");
}

TEST(SignedChunks, MissingFinalChunk) {
  std::string data = pattern(500);
  std::string body = signed_body(data, 250);
  std::string without_final = body.substr(0, body.rfind("0;chunk-signature="));
  EXPECT_DECODE_ERROR(decode(without_final, data.size()), "IncompleteBody");
}

TEST(SignedChunks, ChunkSizeLimitsAndFraming) {
  std::string data = pattern(5000);
  EXPECT_DECODE_ERROR(decode(signed_body(data, 5000), data.size(), {}, 4096), "InvalidChunkSizeError");
  EXPECT_TRUE(decode(signed_body(data, 4096), data.size(), {}, 4096));
  // Declared size smaller than the data that follows.
  std::string body = signed_body(data, 5000);
  body.replace(0, 4, "1387");  // 0x1388 = 5000
  EXPECT_DECODE_ERROR(decode(body, data.size()), "InvalidChunkSizeError");
  // Hex that does not parse, or overflows.
  EXPECT_DECODE_ERROR(decode("zz;chunk-signature=" + std::string(64, '0') + "\r\n", 0), "InvalidChunkSizeError");
  EXPECT_DECODE_ERROR(decode("10000000000000000;chunk-signature=" + std::string(64, '0') + "\r\n", 0),
                      "InvalidChunkSizeError");
  EXPECT_DECODE_ERROR(decode(std::string(100000, '1'), 0), "InvalidChunkSizeError");  // a line without end
  EXPECT_DECODE_ERROR(decode("", 0), "IncompleteBody");
}

TEST(SignedChunks, DataAfterTheEnd) {
  std::string data = pattern(10);
  EXPECT_DECODE_ERROR(decode(signed_body(data, 10) + "x", data.size()), "InvalidRequest");
  EXPECT_DECODE_ERROR(decode(signed_body(data, 10, "x-amz-checksum-crc32:AAAAAA==\r\n"), data.size()),
                      "MalformedTrailerError");
}

TEST(SignedChunks, ErrorsAreSticky) {
  std::string body = signed_body(pattern(100), 50);
  body[10] ^= 1;
  SpanSource source(as_bytes(body));
  AwsChunkedOptions options;
  options.signed_chunks = true;
  options.decoded_length = 100;
  options.signing_key = test_key();
  options.timestamp = kTimestamp;
  options.scope = kScope;
  options.seed_signature = kSeed;
  auto decoder = AwsChunkedSource::create(source, std::move(options));
  ASSERT_TRUE(decoder);
  std::vector<std::uint8_t> buffer(64);
  EXPECT_FALSE((*decoder)->read(buffer));
  EXPECT_FALSE((*decoder)->read(buffer));
}

TEST(SignedChunks, CreateNeedsKeyAndSeed) {
  SpanSource source(as_bytes(std::string_view("0\r\n\r\n")));
  AwsChunkedOptions options;
  options.signed_chunks = true;
  EXPECT_FALSE(AwsChunkedSource::create(source, std::move(options)));
}

// ---- trailers ----

TEST(UnsignedTrailer, EveryChecksumAlgorithm) {
  std::string data = pattern(70000);
  for (auto [name, algorithm] : {std::pair{"x-amz-checksum-crc32", ChecksumAlgorithm::kCrc32},
                                 std::pair{"x-amz-checksum-crc32c", ChecksumAlgorithm::kCrc32c},
                                 std::pair{"x-amz-checksum-crc64nvme", ChecksumAlgorithm::kCrc64Nvme},
                                 std::pair{"x-amz-checksum-sha256", ChecksumAlgorithm::kSha256}}) {
    SCOPED_TRACE(name);
    Mode mode{false, true, {name}};
    std::string good = std::string(name) + ":" + checksum_b64(algorithm, data) + "\r\n";
    auto decoded = decode(unsigned_body(data, 65536, good), data.size(), mode);
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(*decoded, data);
    std::string other = std::string(name) + ":" + checksum_b64(algorithm, data + "x") + "\r\n";
    EXPECT_DECODE_ERROR(decode(unsigned_body(data, 65536, other), data.size(), mode), "BadDigest");
    std::string altered = data;
    altered[1234] ^= 0x20;
    EXPECT_DECODE_ERROR(decode(unsigned_body(altered, 65536, good), data.size(), mode), "BadDigest");
  }
}

TEST(UnsignedTrailer, BotocoreFraming) {
  // botocore's AwsChunkedWrapper: "<hex>\r\n<data>\r\n" ... "0\r\n<name>:<b64>\r\n\r\n".
  std::string data = "hello world";
  std::string body = "b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
  auto decoded = decode(body, data.size(), {false, true, {"x-amz-checksum-crc32"}});
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, data);
}

TEST(UnsignedTrailer, MalformedTrailers) {
  std::string data = pattern(100);
  Mode crc32{false, true, {"x-amz-checksum-crc32"}};
  std::string good = "x-amz-checksum-crc32:" + checksum_b64(ChecksumAlgorithm::kCrc32, data) + "\r\n";
  EXPECT_TRUE(decode(unsigned_body(data, 50, good), data.size(), crc32));
  EXPECT_DECODE_ERROR(decode(unsigned_body(data, 50), data.size(), crc32), "MalformedTrailerError");
  EXPECT_DECODE_ERROR(decode(unsigned_body(data, 50, good + good), data.size(), crc32), "MalformedTrailerError");
  EXPECT_DECODE_ERROR(decode(unsigned_body(data, 50, "x-amz-checksum-crc32c:AAAAAA==\r\n"), data.size(), crc32),
                      "MalformedTrailerError");
  EXPECT_DECODE_ERROR(decode(unsigned_body(data, 50, "no colon here\r\n"), data.size(), crc32),
                      "MalformedTrailerError");
  EXPECT_DECODE_ERROR(decode(unsigned_body(data, 50, "x-amz-checksum-crc32:!!notbase64\r\n"), data.size(), crc32),
                      "InvalidRequest");
  EXPECT_DECODE_ERROR(decode(unsigned_body(data, 50, good), data.size(), {false, true, {}}), "MalformedTrailerError");
  // The trailer cut in the middle of its line.
  std::string body = unsigned_body(data, 50, good);
  EXPECT_DECODE_ERROR(decode(body.substr(0, body.size() - 6), data.size(), crc32), "IncompleteBody");
}

TEST(UnsignedTrailer, EveryTruncationFails) {
  std::string data = pattern(120);
  Mode crc32{false, true, {"x-amz-checksum-crc32"}};
  std::string body =
      unsigned_body(data, 50, "x-amz-checksum-crc32:" + checksum_b64(ChecksumAlgorithm::kCrc32, data) + "\r\n");
  for (std::size_t cut = 0; cut + 2 < body.size(); ++cut)
    ASSERT_FALSE(decode(body.substr(0, cut), data.size(), crc32)) << "cut at " << cut << " decoded cleanly";
}

TEST(UnsignedTrailer, UnsupportedDeclarations) {
  SpanSource source(as_bytes(std::string_view("0\r\n\r\n")));
  AwsChunkedOptions sha1;
  sha1.trailer = true;
  sha1.declared_trailers = {"x-amz-checksum-sha1"};
  auto refused = AwsChunkedSource::create(source, std::move(sha1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason(), "NotImplemented");
  AwsChunkedOptions other;
  other.trailer = true;
  other.declared_trailers = {"x-amz-meta-foo"};
  auto invalid = AwsChunkedSource::create(source, std::move(other));
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().reason(), "InvalidRequest");
}

TEST(SignedTrailer, VerifiesSignatureThenChecksum) {
  std::string data = pattern(20000);
  Mode mode{true, true, {"x-amz-checksum-crc32c"}};
  std::string trailer = "x-amz-checksum-crc32c:" + checksum_b64(ChecksumAlgorithm::kCrc32c, data) + "\r\n";
  auto decoded = decode(signed_body(data, 8192, trailer, true), data.size(), mode);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(*decoded, data);

  // The trailer changed after signing.
  std::string body = signed_body(data, 8192, trailer, true);
  auto at = body.find("x-amz-checksum-crc32c:") + 22;
  body[at] = body[at] == 'A' ? 'B' : 'A';
  EXPECT_DECODE_ERROR(decode(body, data.size(), mode), "SignatureDoesNotMatch");
  // No trailer signature.
  EXPECT_DECODE_ERROR(decode(signed_body(data, 8192, trailer, false), data.size(), mode), "SignatureDoesNotMatch");
  // A signed but wrong checksum.
  std::string wrong = "x-amz-checksum-crc32c:" + checksum_b64(ChecksumAlgorithm::kCrc32c, "x") + "\r\n";
  EXPECT_DECODE_ERROR(decode(signed_body(data, 8192, wrong, true), data.size(), mode), "BadDigest");
}

TEST(SignedTrailer, EveryTruncationFails) {
  std::string data = pattern(300);
  Mode mode{true, true, {"x-amz-checksum-sha256"}};
  std::string body = signed_body(
      data, 100, "x-amz-checksum-sha256:" + checksum_b64(ChecksumAlgorithm::kSha256, data) + "\r\n", true);
  for (std::size_t cut = 0; cut + 2 < body.size(); ++cut)
    ASSERT_FALSE(decode(body.substr(0, cut), data.size(), mode)) << "cut at " << cut << " decoded cleanly";
  EXPECT_TRUE(decode(body, data.size(), mode));
}

// A body larger than memory would allow, fed in small reads: the decoder holds one chunk at a time.
class PatternSource final : public ByteSource {
 public:
  PatternSource(std::string prefix_chunk_header_fn(std::size_t), std::size_t chunks, std::size_t chunk_size)
      : header_(prefix_chunk_header_fn), chunks_(chunks), chunk_size_(chunk_size) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (pending_.empty()) {
      if (index_ < chunks_) {
        pending_ = header_(chunk_size_) + std::string(chunk_size_, 'z') + "\r\n";
      } else if (index_ == chunks_) {
        pending_ = "0\r\n\r\n";
      } else {
        return std::size_t{0};
      }
      ++index_;
      pos_ = 0;
    }
    std::size_t n = std::min(out.size(), pending_.size() - pos_);
    std::memcpy(out.data(), pending_.data() + pos_, n);
    pos_ += n;
    if (pos_ == pending_.size()) pending_.clear();
    return n;
  }

 private:
  std::string (*header_)(std::size_t);
  std::size_t chunks_, chunk_size_;
  std::size_t index_ = 0, pos_ = 0;
  std::string pending_;
};

TEST(UnsignedTrailer, StreamsLargeBodies) {
  constexpr std::size_t kChunks = 1024, kChunkSize = 1 << 20;  // 1 GiB decoded
  PatternSource source([](std::size_t size) { return fmt::format("{:x}\r\n", size); }, kChunks, kChunkSize);
  AwsChunkedOptions options;
  options.trailer = true;
  options.decoded_length = std::uint64_t{kChunks} * kChunkSize;
  auto decoder = AwsChunkedSource::create(source, std::move(options));
  ASSERT_TRUE(decoder);
  std::vector<std::uint8_t> buffer(256 * 1024);
  std::uint64_t total = 0;
  while (true) {
    auto n = (*decoder)->read(buffer);
    ASSERT_TRUE(n) << n.error().to_string();
    if (*n == 0) break;
    ASSERT_EQ(buffer[0], 'z');
    total += *n;
  }
  EXPECT_EQ(total, std::uint64_t{kChunks} * kChunkSize);
}

}  // namespace
}  // namespace blobseal::s3::testing
