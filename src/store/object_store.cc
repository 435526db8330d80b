#include "store/object_store.h"

#include <fmt/format.h>

#include <memory>
#include <vector>

namespace blobseal::store {

namespace {

// The length of the UTF-8 sequence that starts at key[i], or 0 when it is not a well-formed sequence (RFC 3629
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). NUL is well-formed here; the caller refuses it.
std::size_t utf8_sequence_length(std::string_view key, std::size_t i) {
  auto byte = [&](std::size_t at) { return static_cast<unsigned char>(key[at]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong below U+0800
    if (lead == 0xED) second_max = 0x9F;  // U+D800..U+DFFF are surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong below U+10000
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, an overlong two-byte lead (C0, C1) or F5..FF
  }
  if (i + length > key.size()) return 0;
  if (byte(i + 1) < second_min || byte(i + 1) > second_max) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return length;
}

}  // namespace

Status validate_key(std::string_view key) {
  if (key.empty()) return make_error(ErrorCode::kInvalidArgument, "invalid object key: empty");
  if (key.size() > kMaxKeyBytes)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid object key: {} bytes, the limit is {}", key.size(), kMaxKeyBytes));
  for (std::size_t i = 0; i < key.size();) {
    if (key[i] == '\0')
      return make_error(ErrorCode::kInvalidArgument, fmt::format("invalid object key: NUL byte at offset {}", i));
    std::size_t length = utf8_sequence_length(key, i);
    if (length == 0)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("invalid object key: not valid UTF-8 at byte offset {}", i));
    i += length;
  }
  return {};
}

namespace {

// The bodies of stored objects, one after another, each opened only when reached (a completion may name 10,000
// parts: they are not held open at once) and checked against the generation and size its head() showed.
class ConcatenatedSource final : public ByteSource {
 public:
  ConcatenatedSource(ObjectStore& store, std::vector<ObjectInfo> sources) : store_(store), sources_(std::move(sources)) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    while (index_ < sources_.size()) {
      const ObjectInfo& want = sources_[index_];
      if (!current_) {
        current_ = BLOBSEAL_TRY(store_.open(want.key));
        if (current_->info().generation != want.generation || current_->body().size() != want.body_size)
          return make_error(ErrorCode::kFailedPrecondition, fmt::format("{:?} changed while it was read", want.key),
                            "PreconditionFailed");
        offset_ = 0;
      }
      std::size_t n = BLOBSEAL_TRY(current_->body().read_at(offset_, out));
      if (n > 0) {
        offset_ += n;
        return n;
      }
      if (offset_ != want.body_size)
        return make_error(ErrorCode::kDataLoss, fmt::format("the body of {:?} ended early", want.key));
      current_.reset();
      ++index_;
    }
    return std::size_t{0};
  }

 private:
  ObjectStore& store_;
  std::vector<ObjectInfo> sources_;
  std::size_t index_ = 0;
  std::unique_ptr<StoredObject> current_;
  std::uint64_t offset_ = 0;
};

}  // namespace

Result<ObjectInfo> ObjectStore::compose(std::string_view destination, const std::vector<ComposeSource>& sources,
                                        const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(validate_key(destination));
  std::vector<ObjectInfo> heads;
  std::uint64_t total = 0;
  for (const auto& source : sources) {
    auto info = BLOBSEAL_TRY(head(source.key));
    if (!source.generation.empty() && info.generation != source.generation)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("{:?} changed (generation {} expected)", source.key, source.generation),
                        "PreconditionFailed");
    total += info.body_size;
    info.header.clear();
    info.metadata.clear();
    heads.push_back(std::move(info));
  }
  ConcatenatedSource body(*this, std::move(heads));
  PutOptions put = options;
  put.body_size = total;
  return this->put(destination, body, put);
}

}  // namespace blobseal::store
