#include "s3/xml_writer.h"

#include <fmt/format.h>

namespace blobseal::s3 {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at text[i] (RFC 3629 table), or 0.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  std::size_t n = text.size() - i;
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < n && byte(i + k) >= lo && byte(i + k) <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no surrogates
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_length(text, i);
      if (n == 0) {
        out += kReplacement;
        ++i;
        continue;
      }
      std::string_view sequence = text.substr(i, n);
      // U+FFFE and U+FFFF are not XML characters.
      if (sequence == "\xEF\xBF\xBE" || sequence == "\xEF\xBF\xBF") out += kReplacement;
      else out += sequence;
      i += n;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t': out += "&#9;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (c < 0x20 || c == 0x7F) out += fmt::format("&#x{:X};", c);
        else out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  return out;
}

std::string url_encode_listing(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                c == '_' || c == '~' || c == '/';
    if (keep) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

XmlWriter::XmlWriter() { out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"; }

XmlWriter& XmlWriter::open(std::string_view name, bool with_namespace) {
  out_ += '<';
  out_ += name;
  if (with_namespace) fmt::format_to(std::back_inserter(out_), " xmlns=\"{}\"", kS3XmlNamespace);
  out_ += '>';
  open_.emplace_back(name);
  return *this;
}

XmlWriter& XmlWriter::open_with_attributes(std::string_view name, std::string_view raw_attributes) {
  fmt::format_to(std::back_inserter(out_), "<{} {}>", name, raw_attributes);
  open_.emplace_back(name);
  return *this;
}

XmlWriter& XmlWriter::close() {
  if (open_.empty()) return *this;
  fmt::format_to(std::back_inserter(out_), "</{}>", open_.back());
  open_.pop_back();
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view name, std::string_view text) {
  fmt::format_to(std::back_inserter(out_), "<{0}>{1}</{0}>", name, xml_escape(text));
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view name, std::uint64_t value) {
  fmt::format_to(std::back_inserter(out_), "<{0}>{1}</{0}>", name, value);
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view name, std::int64_t value) {
  fmt::format_to(std::back_inserter(out_), "<{0}>{1}</{0}>", name, value);
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view name, bool value) {
  return element(name, std::string_view(value ? "true" : "false"));
}

XmlWriter& XmlWriter::text(std::string_view text) {
  out_ += xml_escape(text);
  return *this;
}

XmlWriter& XmlWriter::empty(std::string_view name, bool with_namespace) {
  out_ += '<';
  out_ += name;
  if (with_namespace) fmt::format_to(std::back_inserter(out_), " xmlns=\"{}\"", kS3XmlNamespace);
  out_ += "/>";
  return *this;
}

std::string XmlWriter::finish() && {
  while (!open_.empty()) close();
  return std::move(out_);
}

}  // namespace blobseal::s3
