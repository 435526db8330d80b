#include "keys/kmip/ttlv.h"

#include <limits>

#include <fmt/format.h>

#include "core/secret_bytes.h"

namespace blobseal::keys::kmip {

namespace {

constexpr std::size_t padded(std::size_t n) { return (n + 7) / 8 * 8; }

// The Length a fixed-size type must carry; 0 for variable-length types.
std::size_t fixed_length(TtlvType type) {
  switch (type) {
    case TtlvType::kInteger:
    case TtlvType::kEnumeration:
    case TtlvType::kInterval: return 4;
    case TtlvType::kLongInteger:
    case TtlvType::kBoolean:
    case TtlvType::kDateTime: return 8;
    default: return 0;
  }
}

bool known_type(std::uint8_t type) { return type >= 0x01 && type <= 0x0A; }

tl::unexpected<Error> malformed(std::size_t offset, std::uint32_t tag, std::string_view what) {
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("malformed KMIP message at byte {} (tag {:06X}): {}", offset, tag, what));
}

void put_u24(Bytes& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

Result<std::size_t> encoded_size(const TtlvItem& item, std::size_t depth) {
  if (depth > 64) return make_error(ErrorCode::kResourceExhausted, "KMIP message nested too deeply to encode");
  std::size_t value = 0;
  switch (item.type) {
    case TtlvType::kStructure:
      for (const auto& child : item.items) value += BLOBSEAL_TRY(encoded_size(child, depth + 1));
      break;
    case TtlvType::kTextString:
    case TtlvType::kByteString:
    case TtlvType::kBigInteger: value = padded(item.bytes.size()); break;
    default: value = 8; break;
  }
  if (value > std::numeric_limits<std::uint32_t>::max())
    return make_error(ErrorCode::kResourceExhausted, "KMIP item too large to encode");
  return kTtlvHeaderSize + value;
}

Status check_encodable(const TtlvItem& item) {
  if (item.tag > 0xFFFFFF)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("KMIP tag {:X} does not fit 24 bits", item.tag));
  if (!known_type(static_cast<std::uint8_t>(item.type)))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("KMIP tag {:06X}: unknown type {}", item.tag, static_cast<int>(item.type)));
  auto bad = [&](std::string_view what) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("KMIP tag {:06X}: {}", item.tag, what));
  };
  switch (item.type) {
    case TtlvType::kInteger:
      if (item.integer < std::numeric_limits<std::int32_t>::min() ||
          item.integer > std::numeric_limits<std::int32_t>::max())
        return bad("Integer outside 32 signed bits");
      break;
    case TtlvType::kEnumeration:
    case TtlvType::kInterval:
      if (item.integer < 0 || item.integer > std::numeric_limits<std::uint32_t>::max())
        return bad("value outside 32 unsigned bits");
      break;
    case TtlvType::kBoolean:
      if (item.integer != 0 && item.integer != 1) return bad("Boolean other than 0 or 1");
      break;
    case TtlvType::kBigInteger:
      if (item.bytes.empty() || item.bytes.size() % 8 != 0) return bad("Big Integer length not a multiple of 8");
      break;
    default: break;
  }
  return {};
}

Status encode_into(const TtlvItem& item, Bytes& out) {
  BLOBSEAL_TRY_STATUS(check_encodable(item));
  put_u24(out, item.tag);
  out.push_back(static_cast<std::uint8_t>(item.type));
  switch (item.type) {
    case TtlvType::kStructure: {
      std::size_t length_at = out.size();
      put_u32(out, 0);
      for (const auto& child : item.items) BLOBSEAL_TRY_STATUS(encode_into(child, out));
      store_u32(out.data() + length_at, static_cast<std::uint32_t>(out.size() - length_at - 4));
      break;
    }
    case TtlvType::kInteger:
    case TtlvType::kEnumeration:
    case TtlvType::kInterval:
      put_u32(out, 4);
      put_u32(out, static_cast<std::uint32_t>(item.integer));
      put_u32(out, 0);
      break;
    case TtlvType::kLongInteger:
    case TtlvType::kBoolean:
    case TtlvType::kDateTime:
      put_u32(out, 8);
      put_u64(out, static_cast<std::uint64_t>(item.integer));
      break;
    case TtlvType::kTextString:
    case TtlvType::kByteString:
    case TtlvType::kBigInteger:
      put_u32(out, static_cast<std::uint32_t>(item.bytes.size()));
      put_bytes(out, item.bytes);
      out.insert(out.end(), padded(item.bytes.size()) - item.bytes.size(), 0);
      break;
  }
  return {};
}

class Decoder {
 public:
  Decoder(ByteSpan input, const TtlvLimits& limits) : input_(input), limits_(limits) {}

  // Decodes the item at `offset`, which must end exactly at `end`'s boundary or before; returns it and advances.
  Result<TtlvItem> item(std::size_t& offset, std::size_t end, std::size_t depth) {
    if (depth > limits_.max_depth)
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("KMIP message nested deeper than {} structures (at byte {})", limits_.max_depth,
                                    offset));
    if (++items_ > limits_.max_items)
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("KMIP message has more than {} items", limits_.max_items));
    if (end - offset < kTtlvHeaderSize)
      return malformed(offset, 0, fmt::format("truncated item header ({} of 8 bytes)", end - offset));
    const std::uint8_t* p = input_.data() + offset;
    TtlvItem out;
    out.tag = static_cast<std::uint32_t>(p[0]) << 16 | static_cast<std::uint32_t>(p[1]) << 8 | p[2];
    std::uint8_t type = p[3];
    std::uint32_t length = load_u32(p + 4);
    if (!known_type(type)) return malformed(offset, out.tag, fmt::format("unknown item type 0x{:02X}", type));
    out.type = static_cast<TtlvType>(type);
    std::size_t value_at = offset + kTtlvHeaderSize;
    std::size_t available = end - value_at;
    if (std::size_t fixed = fixed_length(out.type); fixed != 0 && length != fixed)
      return malformed(offset, out.tag,
                       fmt::format("Length {} for {} (must be {})", length, to_string(out.type), fixed));
    if (out.type == TtlvType::kBigInteger && (length == 0 || length % 8 != 0))
      return malformed(offset, out.tag, fmt::format("Length {} for a Big Integer (must be a multiple of 8)", length));
    if (out.type == TtlvType::kStructure && length % 8 != 0)
      return malformed(offset, out.tag, fmt::format("Length {} for a Structure (must be a multiple of 8)", length));
    std::size_t value_size = padded(length);
    if (value_size > available)
      return malformed(offset, out.tag,
                       fmt::format("truncated: Length {} needs {} bytes, {} left", length, value_size, available));
    const std::uint8_t* v = input_.data() + value_at;
    switch (out.type) {
      case TtlvType::kStructure: {
        std::size_t child = value_at;
        std::size_t child_end = value_at + length;
        while (child < child_end) out.items.push_back(BLOBSEAL_TRY(item(child, child_end, depth + 1)));
        break;
      }
      case TtlvType::kInteger: out.integer = static_cast<std::int32_t>(load_u32(v)); break;
      case TtlvType::kEnumeration:
      case TtlvType::kInterval: out.integer = load_u32(v); break;
      case TtlvType::kLongInteger:
      case TtlvType::kDateTime: out.integer = static_cast<std::int64_t>(load_u64(v)); break;
      case TtlvType::kBoolean: {
        std::uint64_t b = load_u64(v);
        if (b > 1) return malformed(offset, out.tag, "Boolean other than 0 or 1");
        out.integer = static_cast<std::int64_t>(b);
        break;
      }
      case TtlvType::kTextString:
      case TtlvType::kByteString:
      case TtlvType::kBigInteger: out.bytes.assign(v, v + length); break;
    }
    for (std::size_t i = length; i < value_size; ++i)
      if (v[i] != 0) return malformed(offset, out.tag, "non-zero padding");
    offset = value_at + value_size;
    return out;
  }

 private:
  ByteSpan input_;
  const TtlvLimits& limits_;
  std::size_t items_ = 0;
};

void describe_into(const TtlvItem& item, std::size_t indent, std::string& out) {
  out.append(indent * 2, ' ');
  out += fmt::format("{:06X} {}", item.tag, to_string(item.type));
  switch (item.type) {
    case TtlvType::kStructure:
      out += "\n";
      for (const auto& child : item.items) describe_into(child, indent + 1, out);
      return;
    case TtlvType::kTextString: out += fmt::format(" \"{}\"", item.text_value()); break;
    case TtlvType::kByteString:
    case TtlvType::kBigInteger: out += fmt::format(" ({} bytes)", item.bytes.size()); break;
    default: out += fmt::format(" {}", item.integer); break;
  }
  out += "\n";
}

}  // namespace

std::string_view to_string(TtlvType type) {
  switch (type) {
    case TtlvType::kStructure: return "Structure";
    case TtlvType::kInteger: return "Integer";
    case TtlvType::kLongInteger: return "Long Integer";
    case TtlvType::kBigInteger: return "Big Integer";
    case TtlvType::kEnumeration: return "Enumeration";
    case TtlvType::kBoolean: return "Boolean";
    case TtlvType::kTextString: return "Text String";
    case TtlvType::kByteString: return "Byte String";
    case TtlvType::kDateTime: return "Date-Time";
    case TtlvType::kInterval: return "Interval";
  }
  return "unknown type";
}

TtlvItem TtlvItem::structure(std::uint32_t tag, std::vector<TtlvItem> items) {
  TtlvItem item;
  item.tag = tag;
  item.type = TtlvType::kStructure;
  item.items = std::move(items);
  return item;
}

namespace {
TtlvItem scalar(std::uint32_t tag, TtlvType type, std::int64_t value) {
  TtlvItem item;
  item.tag = tag;
  item.type = type;
  item.integer = value;
  return item;
}
}  // namespace

TtlvItem TtlvItem::integer32(std::uint32_t tag, std::int32_t value) { return scalar(tag, TtlvType::kInteger, value); }
TtlvItem TtlvItem::long_integer(std::uint32_t tag, std::int64_t value) {
  return scalar(tag, TtlvType::kLongInteger, value);
}
TtlvItem TtlvItem::enumeration(std::uint32_t tag, std::uint32_t value) {
  return scalar(tag, TtlvType::kEnumeration, value);
}
TtlvItem TtlvItem::boolean(std::uint32_t tag, bool value) { return scalar(tag, TtlvType::kBoolean, value ? 1 : 0); }
TtlvItem TtlvItem::date_time(std::uint32_t tag, std::int64_t unix_seconds) {
  return scalar(tag, TtlvType::kDateTime, unix_seconds);
}
TtlvItem TtlvItem::interval(std::uint32_t tag, std::uint32_t seconds) {
  return scalar(tag, TtlvType::kInterval, seconds);
}
TtlvItem TtlvItem::text(std::uint32_t tag, std::string_view value) {
  TtlvItem item = scalar(tag, TtlvType::kTextString, 0);
  item.bytes.assign(value.begin(), value.end());
  return item;
}
TtlvItem TtlvItem::byte_string(std::uint32_t tag, ByteSpan value) {
  TtlvItem item = scalar(tag, TtlvType::kByteString, 0);
  item.bytes.assign(value.begin(), value.end());
  return item;
}

const TtlvItem* TtlvItem::find(std::uint32_t wanted) const {
  for (const auto& child : items)
    if (child.tag == wanted) return &child;
  return nullptr;
}

void TtlvItem::wipe() {
  if (!bytes.empty()) secure_zero(bytes.data(), bytes.size());
  for (auto& child : items) child.wipe();
}

Result<std::size_t> ttlv_encoded_size(const TtlvItem& item) { return encoded_size(item, 0); }

Result<Bytes> encode_ttlv(const TtlvItem& item) {
  std::size_t size = BLOBSEAL_TRY(encoded_size(item, 0));
  Bytes out;
  out.reserve(size);
  auto status = encode_into(item, out);
  if (!status) {
    if (!out.empty()) secure_zero(out.data(), out.size());
    return make_error(status.error());
  }
  return out;
}

Result<TtlvItem> decode_ttlv(ByteSpan input, const TtlvLimits& limits) {
  if (input.size() > limits.max_total_size)
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("KMIP message of {} bytes exceeds the limit of {} bytes", input.size(),
                                  limits.max_total_size));
  Decoder decoder(input, limits);
  std::size_t offset = 0;
  TtlvItem item = BLOBSEAL_TRY(decoder.item(offset, input.size(), 1));
  if (offset != input.size())
    return malformed(offset, item.tag, fmt::format("{} trailing bytes after the message", input.size() - offset));
  return item;
}

Result<std::size_t> ttlv_message_size(ByteSpan header, const TtlvLimits& limits) {
  if (header.size() < kTtlvHeaderSize)
    return malformed(0, 0, fmt::format("truncated item header ({} of 8 bytes)", header.size()));
  std::uint32_t tag = static_cast<std::uint32_t>(header[0]) << 16 | static_cast<std::uint32_t>(header[1]) << 8 |
                      header[2];
  if (header[3] != static_cast<std::uint8_t>(TtlvType::kStructure))
    return malformed(0, tag, fmt::format("a message must be a Structure, not type 0x{:02X}", header[3]));
  std::uint32_t length = load_u32(header.data() + 4);
  if (length % 8 != 0)
    return malformed(0, tag, fmt::format("Length {} for a Structure (must be a multiple of 8)", length));
  std::size_t total = kTtlvHeaderSize + static_cast<std::size_t>(length);
  if (total > limits.max_total_size)
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("KMIP message of {} bytes exceeds the limit of {} bytes", total,
                                  limits.max_total_size));
  return total;
}

std::string describe_ttlv(const TtlvItem& item) {
  std::string out;
  describe_into(item, 0, out);
  return out;
}

}  // namespace blobseal::keys::kmip
