#include "s3/aws_chunked.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>
#include <zlib.h>

#include "crypto/primitives.h"
#include "s3/sigv4.h"

namespace blobseal::s3 {

namespace {

constexpr std::size_t kReadAhead = 64 * 1024;
// A chunk header is "<16 hex digits>;chunk-signature=<64 hex>" at most; trailers are short "name:base64" lines.
constexpr std::size_t kMaxLine = 4096;
constexpr std::size_t kMaxTrailers = 16;
// Signed chunks are read into memory in steps of this size, so a declared size alone does not allocate.
constexpr std::size_t kChunkReadStep = 256 * 1024;

template <typename T, T Poly>
constexpr std::array<T, 256> reflected_crc_table() {
  std::array<T, 256> table{};
  for (T i = 0; i < 256; ++i) {
    T crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ Poly : crc >> 1;
    table[i] = crc;
  }
  return table;
}

constexpr auto kCrc32cTable = reflected_crc_table<std::uint32_t, 0x82F63B78u>();
constexpr auto kCrc64NvmeTable = reflected_crc_table<std::uint64_t, 0x9A6C9329AC4BC9B5ull>();

tl::unexpected<Error> fail(ErrorCode code, std::string_view reason, std::string message) {
  return make_error(code, std::move(message), std::string(reason));
}

tl::unexpected<Error> incomplete(std::string message) {
  return fail(ErrorCode::kInvalidArgument, "IncompleteBody", std::move(message));
}

tl::unexpected<Error> bad_chunk(std::string message) {
  return fail(ErrorCode::kInvalidArgument, "InvalidChunkSizeError", std::move(message));
}

tl::unexpected<Error> bad_trailer(std::string message) {
  return fail(ErrorCode::kInvalidArgument, "MalformedTrailerError", std::move(message));
}

tl::unexpected<Error> bad_signature(std::string message) {
  return fail(ErrorCode::kPermissionDenied, "SignatureDoesNotMatch", std::move(message));
}

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool is_signature(std::string_view s) { return s.size() == 64 && std::all_of(s.begin(), s.end(), is_hex_digit); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view checksum_name(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kCrc32: return "CRC32";
    case ChecksumAlgorithm::kCrc32c: return "CRC32C";
    case ChecksumAlgorithm::kCrc64Nvme: return "CRC64NVME";
    case ChecksumAlgorithm::kSha256: return "SHA256";
  }
  return "checksum";
}

}  // namespace

// ---- checksums ----

std::uint32_t crc32c(std::uint32_t crc, std::span<const std::uint8_t> data) {
  crc = ~crc;
  for (std::uint8_t b : data) crc = kCrc32cTable[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::uint64_t crc64nvme(std::uint64_t crc, std::span<const std::uint8_t> data) {
  crc = ~crc;
  for (std::uint8_t b : data) crc = kCrc64NvmeTable[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::optional<ChecksumAlgorithm> checksum_algorithm_from_header(std::string_view name) {
  if (name == "x-amz-checksum-crc32") return ChecksumAlgorithm::kCrc32;
  if (name == "x-amz-checksum-crc32c") return ChecksumAlgorithm::kCrc32c;
  if (name == "x-amz-checksum-crc64nvme") return ChecksumAlgorithm::kCrc64Nvme;
  if (name == "x-amz-checksum-sha256") return ChecksumAlgorithm::kSha256;
  return std::nullopt;
}

struct PayloadChecksum::Sha {
  crypto::Digest digest{crypto::Digest::Algorithm::kSha256};
};

PayloadChecksum::PayloadChecksum(ChecksumAlgorithm algorithm) : algorithm_(algorithm) {
  if (algorithm == ChecksumAlgorithm::kSha256) sha_ = std::make_unique<Sha>();
}
PayloadChecksum::~PayloadChecksum() = default;
PayloadChecksum::PayloadChecksum(PayloadChecksum&&) noexcept = default;
PayloadChecksum& PayloadChecksum::operator=(PayloadChecksum&&) noexcept = default;

void PayloadChecksum::update(std::span<const std::uint8_t> data) {
  switch (algorithm_) {
    case ChecksumAlgorithm::kCrc32:
      // zlib takes a uInt length: feed large spans in pieces.
      while (!data.empty()) {
        std::size_t n = std::min<std::size_t>(data.size(), 1u << 30);
        crc_ = ::crc32(static_cast<uLong>(crc_), data.data(), static_cast<uInt>(n));
        data = data.subspan(n);
      }
      break;
    case ChecksumAlgorithm::kCrc32c: crc_ = crc32c(static_cast<std::uint32_t>(crc_), data); break;
    case ChecksumAlgorithm::kCrc64Nvme: crc_ = crc64nvme(crc_, data); break;
    case ChecksumAlgorithm::kSha256: sha_->digest.update(data); break;
  }
}

Bytes PayloadChecksum::finish() {
  Bytes out;
  switch (algorithm_) {
    case ChecksumAlgorithm::kCrc32:
    case ChecksumAlgorithm::kCrc32c: put_u32(out, static_cast<std::uint32_t>(crc_)); break;
    case ChecksumAlgorithm::kCrc64Nvme: put_u64(out, crc_); break;
    case ChecksumAlgorithm::kSha256: out = sha_->digest.finish(); break;
  }
  return out;
}

// ---- decoding ----

struct AwsChunkedSource::State {
  enum class Phase { kHeader, kStreaming, kServing, kDone, kFailed };

  State(ByteSource& body_in, AwsChunkedOptions options_in) : body(body_in), options(std::move(options_in)) {}

  ByteSource& body;
  AwsChunkedOptions options;
  std::vector<std::uint8_t> ahead = std::vector<std::uint8_t>(kReadAhead);
  std::size_t ahead_begin = 0, ahead_end = 0;
  bool body_eof = false;

  Phase phase = Phase::kHeader;
  std::uint64_t chunk_remaining = 0;  // unsigned chunk data still to stream
  Bytes chunk;                        // a verified signed chunk being served
  std::size_t chunk_pos = 0;
  std::uint64_t decoded_total = 0;
  std::string previous_signature;
  std::vector<std::pair<std::string, PayloadChecksum>> checksums;  // per declared trailer
  std::optional<Error> failure;

  std::size_t buffered() const { return ahead_end - ahead_begin; }

  // Reads more of the body into the read-ahead buffer; sets body_eof at the end.
  Status fill() {
    if (ahead_begin > 0) {
      std::memmove(ahead.data(), ahead.data() + ahead_begin, buffered());
      ahead_end -= ahead_begin;
      ahead_begin = 0;
    }
    if (ahead_end == ahead.size()) return {};
    std::size_t n = BLOBSEAL_TRY(body.read(std::span(ahead).subspan(ahead_end)));
    if (n == 0) body_eof = true;
    ahead_end += n;
    return {};
  }

  // The next CRLF-terminated line without its CRLF; nullopt at a clean end of the body (no partial line).
  Result<std::optional<std::string>> read_line(std::string_view what) {
    std::size_t scanned = 0;
    while (true) {
      std::string_view view(reinterpret_cast<const char*>(ahead.data()) + ahead_begin, buffered());
      auto crlf = view.find("\r\n", scanned > 0 ? scanned - 1 : 0);
      auto too_long = [&] {
        std::string message = fmt::format("the {} line is too long", what);
        return what == "trailer" ? bad_trailer(std::move(message)) : bad_chunk(std::move(message));
      };
      if (crlf != std::string_view::npos) {
        if (crlf > kMaxLine) return too_long();
        std::string line(view.substr(0, crlf));
        ahead_begin += crlf + 2;
        return std::optional<std::string>(std::move(line));
      }
      scanned = view.size();
      if (scanned > kMaxLine) return too_long();
      if (body_eof) {
        if (scanned == 0) return std::optional<std::string>();
        return incomplete(fmt::format("the body ends inside a {} line", what));
      }
      BLOBSEAL_TRY_STATUS(fill());
    }
  }

  // Body bytes after the framing read so far: from the read-ahead buffer, then straight from the body.
  Result<std::size_t> read_data(std::span<std::uint8_t> out) {
    if (buffered() > 0) {
      std::size_t n = std::min(out.size(), buffered());
      std::memcpy(out.data(), ahead.data() + ahead_begin, n);
      ahead_begin += n;
      return n;
    }
    if (body_eof) return std::size_t{0};
    std::size_t n = BLOBSEAL_TRY(body.read(out));
    if (n == 0) body_eof = true;
    return n;
  }

  Status read_exact(std::span<std::uint8_t> out) {
    while (!out.empty()) {
      std::size_t n = BLOBSEAL_TRY(read_data(out));
      if (n == 0) return incomplete("the body ends inside a chunk");
      out = out.subspan(n);
    }
    return {};
  }

  Status expect_crlf() {
    std::array<std::uint8_t, 2> crlf{};
    BLOBSEAL_TRY_STATUS(read_exact(crlf));
    if (crlf[0] != '\r' || crlf[1] != '\n') return bad_chunk("chunk data is longer than its declared size");
    return {};
  }

  void update_checksums(std::span<const std::uint8_t> data) {
    for (auto& [name, checksum] : checksums) checksum.update(data);
  }

  Status verify_chunk_signature(std::string_view provided, std::span<const std::uint8_t> data) {
    auto digest = crypto::sha256(data);
    std::string to_sign = chunk_string_to_sign(options.timestamp, options.scope, previous_signature, digest);
    auto expected = crypto::hmac_sha256(options.signing_key.view(), as_bytes(to_sign));
    auto provided_bytes = from_hex(provided);
    if (!provided_bytes || !crypto::constant_time_equal(expected, *provided_bytes))
      return bad_signature("The chunk signature we calculated does not match the signature you provided");
    previous_signature = lower(provided);
    return {};
  }

  // "<hex>[;ext]" → size, and the chunk-signature when the mode requires one.
  struct ChunkHeader {
    std::uint64_t size;
    std::string signature;
  };
  Result<ChunkHeader> parse_chunk_header(std::string_view line) {
    auto semi = line.find(';');
    std::string_view hex = line.substr(0, semi);
    if (hex.empty() || hex.size() > 16 || !std::all_of(hex.begin(), hex.end(), is_hex_digit))
      return bad_chunk("malformed aws-chunked chunk size");
    std::uint64_t size = 0;
    for (char c : hex) size = size << 4 | static_cast<std::uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    ChunkHeader header{size, {}};
    if (options.signed_chunks) {
      std::string_view ext = semi == std::string_view::npos ? std::string_view() : line.substr(semi + 1);
      constexpr std::string_view kPrefix = "chunk-signature=";
      if (!ext.starts_with(kPrefix) || !is_signature(ext.substr(kPrefix.size())))
        return bad_signature("a chunk of a signed aws-chunked body has no valid chunk-signature");
      header.signature = std::string(ext.substr(kPrefix.size()));
    }
    return header;
  }

  // One step: leaves data to serve (kServing / kStreaming), or finishes (kDone).
  Status next_chunk() {
    auto line = BLOBSEAL_TRY(read_line("chunk header"));
    if (!line) return incomplete("the aws-chunked body ends before its final (zero-length) chunk");
    auto header = BLOBSEAL_TRY(parse_chunk_header(*line));
    if (header.size > options.max_chunk_size)
      return bad_chunk(fmt::format("an aws-chunked chunk of {} bytes is larger than the {} bytes allowed",
                                   header.size, options.max_chunk_size));
    if (header.size == 0) return finish(header.signature);
    if (header.size > options.decoded_length - decoded_total)
      return incomplete("the aws-chunked body is longer than x-amz-decoded-content-length");
    decoded_total += header.size;

    if (!options.signed_chunks) {
      chunk_remaining = header.size;
      phase = Phase::kStreaming;
      return {};
    }
    chunk.clear();
    chunk_pos = 0;
    while (chunk.size() < header.size) {
      std::size_t have = chunk.size();
      std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(header.size - have, kChunkReadStep));
      chunk.resize(have + step);
      BLOBSEAL_TRY_STATUS(read_exact(std::span(chunk).subspan(have, step)));
    }
    BLOBSEAL_TRY_STATUS(expect_crlf());
    BLOBSEAL_TRY_STATUS(verify_chunk_signature(header.signature, chunk));
    update_checksums(chunk);
    phase = Phase::kServing;
    return {};
  }

  // After the final chunk header: its signature, the trailers, the totals, and the end of the body.
  Status finish(std::string_view final_signature) {
    if (options.signed_chunks) BLOBSEAL_TRY_STATUS(verify_chunk_signature(final_signature, {}));
    if (decoded_total != options.decoded_length)
      return incomplete(fmt::format("the aws-chunked body decodes to {} bytes, x-amz-decoded-content-length says {}",
                                    decoded_total, options.decoded_length));

    std::vector<std::pair<std::string, std::string>> trailers;
    std::optional<std::string> trailer_signature;
    bool clean_end = false;  // the final empty line arrived (rather than the end of the body)
    while (true) {
      auto line = BLOBSEAL_TRY(read_line("trailer"));
      if (!line) break;  // a body may end without the final empty line: everything before it is complete
      if (line->empty()) {
        clean_end = true;
        break;
      }
      if (!options.trailer) return bad_trailer("trailing headers after the final chunk of a body without trailers");
      if (trailer_signature) return bad_trailer("x-amz-trailer-signature must be the last trailing header");
      auto colon = line->find(':');
      if (colon == std::string::npos || colon == 0) return bad_trailer("malformed trailing header");
      std::string name = lower(trim(std::string_view(*line).substr(0, colon)));
      std::string value(trim(std::string_view(*line).substr(colon + 1)));
      if (name == "x-amz-trailer-signature") {
        if (!options.signed_chunks) return bad_trailer("a trailer signature in an unsigned body");
        if (!is_signature(value)) return bad_signature("malformed x-amz-trailer-signature");
        trailer_signature = std::move(value);
        continue;
      }
      if (std::find(options.declared_trailers.begin(), options.declared_trailers.end(), name) ==
          options.declared_trailers.end())
        return bad_trailer(fmt::format("trailing header {} was not declared in x-amz-trailer", name));
      if (std::any_of(trailers.begin(), trailers.end(), [&](const auto& t) { return t.first == name; }))
        return bad_trailer(fmt::format("repeated trailing header {}", name));
      if (trailers.size() >= kMaxTrailers) return bad_trailer("too many trailing headers");
      trailers.emplace_back(std::move(name), std::move(value));
    }

    if (options.signed_chunks && options.trailer) {
      if (!trailer_signature) return bad_signature("the signed trailer has no x-amz-trailer-signature");
      std::string canonical;
      for (const auto& [name, value] : trailers) canonical += fmt::format("{}:{}\n", name, value);
      std::string to_sign = trailer_string_to_sign(options.timestamp, options.scope, previous_signature, canonical);
      auto expected = crypto::hmac_sha256(options.signing_key.view(), as_bytes(to_sign));
      auto provided = from_hex(*trailer_signature);
      if (!provided || !crypto::constant_time_equal(expected, *provided))
        return bad_signature("The trailer signature we calculated does not match the signature you provided");
    }

    for (auto& entry : checksums) {
      // (Not a structured binding: clang 14, the fuzzers' compiler, cannot capture one in a lambda.)
      const std::string& name = entry.first;
      PayloadChecksum& checksum = entry.second;
      auto found = std::find_if(trailers.begin(), trailers.end(), [&](const auto& t) { return t.first == name; });
      if (found == trailers.end()) return bad_trailer(fmt::format("the declared trailer {} is missing", name));
      auto expected = from_base64(found->second);
      if (!expected)
        return fail(ErrorCode::kInvalidArgument, "InvalidRequest",
                    fmt::format("Value for {} trailing header is invalid.", name));
      if (!crypto::constant_time_equal(checksum.finish(), *expected))
        return fail(ErrorCode::kInvalidArgument, "BadDigest",
                    fmt::format("The {} you specified did not match the calculated checksum.",
                                checksum_name(checksum.algorithm())));
    }

    if (clean_end) {
      while (buffered() == 0 && !body_eof) BLOBSEAL_TRY_STATUS(fill());
      if (buffered() > 0)
        return fail(ErrorCode::kInvalidArgument, "InvalidRequest", "data after the end of the aws-chunked body");
    }
    phase = Phase::kDone;
    return {};
  }

  Result<std::size_t> read(std::span<std::uint8_t> out) {
    while (true) {
      switch (phase) {
        case Phase::kHeader: BLOBSEAL_TRY_STATUS(next_chunk()); break;
        case Phase::kServing: {
          std::size_t n = std::min(out.size(), chunk.size() - chunk_pos);
          std::memcpy(out.data(), chunk.data() + chunk_pos, n);
          chunk_pos += n;
          if (chunk_pos == chunk.size()) phase = Phase::kHeader;
          return n;
        }
        case Phase::kStreaming: {
          auto want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), chunk_remaining));
          std::size_t n = BLOBSEAL_TRY(read_data(out.first(want)));
          if (n == 0) return incomplete("the body ends inside a chunk");
          update_checksums(out.first(n));
          chunk_remaining -= n;
          if (chunk_remaining == 0) {
            BLOBSEAL_TRY_STATUS(expect_crlf());
            phase = Phase::kHeader;
          }
          return n;
        }
        case Phase::kDone: return std::size_t{0};
        case Phase::kFailed: return tl::unexpected(*failure);
      }
    }
  }
};

Result<std::unique_ptr<AwsChunkedSource>> AwsChunkedSource::create(ByteSource& body, AwsChunkedOptions options) {
  if (options.signed_chunks && (options.signing_key.empty() || !is_signature(options.seed_signature)))
    return fail(ErrorCode::kInvalidArgument, "InvalidArgument", "signed aws-chunked decoding needs a key and seed");
  if (!options.trailer) options.declared_trailers.clear();
  auto state = std::make_unique<State>(body, std::move(options));
  state->previous_signature = lower(state->options.seed_signature);
  for (const auto& name : state->options.declared_trailers) {
    auto algorithm = checksum_algorithm_from_header(name);
    if (!algorithm) {
      if (name.starts_with("x-amz-checksum-"))
        return fail(ErrorCode::kUnimplemented, "NotImplemented",
                    fmt::format("the trailing checksum {} is not supported", name));
      return fail(ErrorCode::kInvalidArgument, "InvalidRequest",
                  fmt::format("x-amz-trailer names {}, which is not a checksum header", name));
    }
    if (std::any_of(state->checksums.begin(), state->checksums.end(),
                    [&](const auto& c) { return c.first == name; }))
      continue;
    state->checksums.emplace_back(name, PayloadChecksum(*algorithm));
  }
  return std::unique_ptr<AwsChunkedSource>(new AwsChunkedSource(std::move(state)));
}

AwsChunkedSource::AwsChunkedSource(std::unique_ptr<State> state) : state_(std::move(state)) {}
AwsChunkedSource::~AwsChunkedSource() = default;

Result<std::size_t> AwsChunkedSource::read(std::span<std::uint8_t> out) {
  if (out.empty() && state_->phase != State::Phase::kFailed) return std::size_t{0};
  auto result = state_->read(out);
  if (!result) {
    state_->failure = result.error();
    state_->phase = State::Phase::kFailed;
  }
  return result;
}

// ---- signing ----

ChunkSigner::ChunkSigner(SecretBytes signing_key, std::string timestamp, std::string scope,
                         std::string seed_signature)
    : signing_key_(std::move(signing_key)),
      timestamp_(std::move(timestamp)),
      scope_(std::move(scope)),
      previous_(std::move(seed_signature)) {}

std::string ChunkSigner::sign_chunk(std::span<const std::uint8_t> data) {
  previous_ = compute_signature(signing_key_, chunk_string_to_sign(timestamp_, scope_, previous_, crypto::sha256(data)));
  return previous_;
}

std::string ChunkSigner::frame_chunk(std::span<const std::uint8_t> data) {
  std::string signature = sign_chunk(data);
  std::string out = fmt::format("{:x};chunk-signature={}\r\n", data.size(), signature);
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  out += "\r\n";
  return out;
}

std::string ChunkSigner::sign_trailer(std::string_view canonical_trailers) {
  return compute_signature(signing_key_, trailer_string_to_sign(timestamp_, scope_, previous_, canonical_trailers));
}

}  // namespace blobseal::s3
