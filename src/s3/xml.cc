#include "s3/xml.h"

#include <array>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>
#include <pugixml.hpp>

namespace blobseal::s3 {

namespace {

constexpr std::string_view kMalformedMessage =
    "The XML you provided was not well-formed or did not validate against our published schema";

tl::unexpected<Error> malformed(std::string_view detail) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("{} ({})", kMalformedMessage, detail), "MalformedXML");
}

// ---- XML 1.0 checks pugixml does not make ------------------------------------------------------------------

// Decodes one well-formed UTF-8 sequence at text[i] (RFC 3629), advancing i.
std::optional<char32_t> next_code_point(std::string_view text, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  std::size_t left = text.size() - i;
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < left && byte(i + k) >= lo && byte(i + k) <= hi;
  };
  std::size_t n;
  char32_t cp;
  if (c < 0x80) {
    n = 1;
    cp = c;
  } else if (c >= 0xC2 && c <= 0xDF && cont(1)) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c == 0xE0 && cont(1, 0xA0) && cont(2)) ||
             (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && cont(1) && cont(2)) ||
             (c == 0xED && cont(1, 0x80, 0x9F) && cont(2))) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c == 0xF0 && cont(1, 0x90) && cont(2) && cont(3)) ||
             (c >= 0xF1 && c <= 0xF3 && cont(1) && cont(2) && cont(3)) ||
             (c == 0xF4 && cont(1, 0x80, 0x8F) && cont(2) && cont(3))) {
    n = 4;
    cp = c & 0x07;
  } else {
    return std::nullopt;
  }
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  i += n;
  return cp;
}

// XML 1.0 Char production.
bool is_xml_char(char32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

// Checks a reference starting at text[i] == '&'; returns its length.
std::optional<std::size_t> reference_length(std::string_view text, std::size_t i) {
  auto semicolon = text.find(';', i);
  if (semicolon == std::string_view::npos || semicolon - i > 12) return std::nullopt;
  std::string_view body = text.substr(i + 1, semicolon - i - 1);
  std::size_t length = semicolon - i + 1;
  for (std::string_view name : {"amp", "lt", "gt", "quot", "apos"})
    if (body == name) return length;
  if (!body.starts_with('#')) return std::nullopt;
  body.remove_prefix(1);
  int base = 10;
  if (body.starts_with('x')) {
    base = 16;
    body.remove_prefix(1);
  }
  if (body.empty()) return std::nullopt;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), value, base);
  if (ec != std::errc() || end != body.data() + body.size() || !is_xml_char(value)) return std::nullopt;
  return length;
}

// Checks characters, references, markup declarations, depth and element count in one pass, skipping comments,
// CDATA sections and processing instructions (where '&' and '<' are literal).
Status check_xml_1_0(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    auto cp = next_code_point(text, i);
    if (!cp) return malformed("not UTF-8");
    if (!is_xml_char(*cp)) return malformed("a character XML 1.0 does not allow");
  }
  std::size_t depth = 0, elements = 0;
  auto skip_past = [&](std::size_t& i, std::string_view end) {
    auto found = text.find(end, i);
    if (found == std::string_view::npos) return false;
    i = found + end.size();
    return true;
  };
  for (std::size_t i = 0; i < text.size();) {
    std::string_view rest = text.substr(i);
    if (rest.starts_with("<!--")) {
      i += 4;
      if (!skip_past(i, "-->")) return malformed("unterminated comment");
    } else if (rest.starts_with("<![CDATA[")) {
      i += 9;
      if (!skip_past(i, "]]>")) return malformed("unterminated CDATA section");
    } else if (rest.starts_with("<?")) {
      i += 2;
      if (!skip_past(i, "?>")) return malformed("unterminated processing instruction");
    } else if (rest.starts_with("<!")) {
      return malformed("DOCTYPE and other markup declarations are not allowed");
    } else if (rest.starts_with("</")) {
      if (depth == 0) return malformed("unbalanced end tag");
      --depth;
      i += 2;
      if (!skip_past(i, ">")) return malformed("unterminated end tag");
    } else if (rest.starts_with('<')) {
      if (++elements > kMaxXmlElements) return malformed("too many elements");
      // A start tag: up to the '>' outside quoted attribute values; references in values are checked too.
      std::size_t j = i + 1;
      char quote = 0;
      for (; j < text.size(); ++j) {
        char c = text[j];
        if (quote) {
          if (c == quote) quote = 0;
          else if (c == '&' && !reference_length(text, j)) return malformed("an undefined entity reference");
        } else if (c == '"' || c == '\'') {
          quote = c;
        } else if (c == '>') {
          break;
        }
      }
      if (j >= text.size()) return malformed("unterminated start tag");
      if (text[j - 1] != '/' && ++depth > kMaxXmlDepth) return malformed("nested too deeply");
      i = j + 1;
    } else if (depth == 0 && text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n') {
      return malformed("text outside the root element");
    } else if (rest.starts_with('&')) {
      auto length = reference_length(text, i);
      if (!length) return malformed("an undefined entity reference");
      i += *length;
    } else {
      ++i;
    }
  }
  return {};
}

// ---- reading the tree ----------------------------------------------------------------------------------------

std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool is_space(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::string_view trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// The text of a leaf element: its character data and CDATA sections in order. An element child is malformed.
Result<std::string> leaf_text(const pugi::xml_node& element) {
  std::string out;
  for (pugi::xml_node child : element.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) out += child.value();
    else if (child.type() == pugi::node_element)
      return malformed(fmt::format("<{}> must hold text, not elements", local_name(element)));
  }
  return out;
}

// The element children of a container; text other than white space between them is malformed.
Result<std::vector<pugi::xml_node>> container_children(const pugi::xml_node& element) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node child : element.children()) {
    if (child.type() == pugi::node_element) out.push_back(child);
    else if (child.type() == pugi::node_cdata || (child.type() == pugi::node_pcdata && !is_space(child.value())))
      return malformed(fmt::format("text inside <{}>", local_name(element)));
  }
  return out;
}

// Parses the document and returns its root element, which must be named `root`.
class Document {
 public:
  Status load(std::string_view xml, std::string_view root) {
    if (xml.size() > kMaxXmlBodyBytes) return malformed("the document is too large");
    if (xml.starts_with("\xEF\xBB\xBF")) xml.remove_prefix(3);
    BLOBSEAL_TRY_STATUS(check_xml_1_0(xml));
    // parse_ws_pcdata keeps white-space-only text, so a key of " " survives; no parse_doctype/pi/comments needed.
    unsigned options = pugi::parse_default | pugi::parse_ws_pcdata;
    pugi::xml_parse_result result = document_.load_buffer(xml.data(), xml.size(), options, pugi::encoding_utf8);
    if (!result) return malformed(result.description());
    std::size_t roots = 0;
    for (pugi::xml_node child : document_.children()) {
      if (child.type() == pugi::node_element) {
        ++roots;
        root_ = child;
      } else if (child.type() == pugi::node_cdata || (child.type() == pugi::node_pcdata && !is_space(child.value()))) {
        return malformed("text outside the root element");
      }
    }
    if (roots != 1) return malformed("a document has exactly one root element");
    if (local_name(root_) != root) return malformed(fmt::format("the root element must be <{}>", root));
    return {};
  }
  const pugi::xml_node& root() const { return root_; }

 private:
  pugi::xml_document document_;
  pugi::xml_node root_;
};

// Sets `slot` from a leaf element seen once; a second occurrence is malformed.
Status take_once(std::optional<std::string>& slot, const pugi::xml_node& element) {
  if (slot) return malformed(fmt::format("<{}> given twice", local_name(element)));
  slot = BLOBSEAL_TRY(leaf_text(element));
  return {};
}

}  // namespace

Result<std::string> read_small_body(ByteSource& body, std::size_t limit) {
  std::string out;
  std::array<std::uint8_t, 16 * 1024> buffer;
  while (true) {
    std::size_t n = BLOBSEAL_TRY(body.read(buffer));
    if (n == 0) return out;
    if (n > limit - out.size())
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("Your request was too big (the limit for this request is {} bytes).", limit),
                        "MaxMessageLengthExceeded");
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
}

Result<DeleteObjectsRequest> parse_delete_objects(std::string_view xml) {
  Document document;
  BLOBSEAL_TRY_STATUS(document.load(xml, "Delete"));
  DeleteObjectsRequest request;
  std::optional<std::string> quiet;
  for (const pugi::xml_node& child : BLOBSEAL_TRY(container_children(document.root()))) {
    std::string_view name = local_name(child);
    if (name == "Quiet") {
      BLOBSEAL_TRY_STATUS(take_once(quiet, child));
    } else if (name == "Object") {
      if (request.objects.size() == kMaxDeleteObjects)
        return malformed(fmt::format("more than {} objects", kMaxDeleteObjects));
      std::optional<std::string> key, version_id;
      for (const pugi::xml_node& field : BLOBSEAL_TRY(container_children(child))) {
        if (local_name(field) == "Key") BLOBSEAL_TRY_STATUS(take_once(key, field));
        else if (local_name(field) == "VersionId") BLOBSEAL_TRY_STATUS(take_once(version_id, field));
      }
      if (!key) return malformed("<Object> without <Key>");
      if (key->empty())
        return make_error(ErrorCode::kInvalidArgument, "The delete request names an object with an empty key",
                          "UserKeyMustBeSpecified");
      if (version_id) version_id = std::string(trim(*version_id));
      request.objects.push_back({std::move(*key), std::move(version_id)});
    }
  }
  if (quiet) {
    std::string_view value = trim(*quiet);
    if (value == "true" || value == "True" || value == "TRUE" || value == "1") request.quiet = true;
    else if (value == "false" || value == "False" || value == "FALSE" || value == "0") request.quiet = false;
    else return malformed("<Quiet> must be true or false");
  }
  if (request.objects.empty()) return malformed("no <Object> to delete");
  return request;
}

Result<std::string> parse_create_bucket_region(std::string_view xml) {
  Document document;
  BLOBSEAL_TRY_STATUS(document.load(xml, "CreateBucketConfiguration"));
  std::optional<std::string> region;
  for (const pugi::xml_node& child : BLOBSEAL_TRY(container_children(document.root())))
    if (local_name(child) == "LocationConstraint") BLOBSEAL_TRY_STATUS(take_once(region, child));
  return region ? std::string(trim(*region)) : std::string();
}

Result<std::vector<CompletedPart>> parse_complete_multipart(std::string_view xml) {
  Document document;
  BLOBSEAL_TRY_STATUS(document.load(xml, "CompleteMultipartUpload"));
  std::vector<CompletedPart> parts;
  for (const pugi::xml_node& child : BLOBSEAL_TRY(container_children(document.root()))) {
    if (local_name(child) != "Part") continue;
    if (parts.size() == kMaxCompletedParts) return malformed(fmt::format("more than {} parts", kMaxCompletedParts));
    std::optional<std::string> number, etag;
    for (const pugi::xml_node& field : BLOBSEAL_TRY(container_children(child))) {
      if (local_name(field) == "PartNumber") BLOBSEAL_TRY_STATUS(take_once(number, field));
      else if (local_name(field) == "ETag") BLOBSEAL_TRY_STATUS(take_once(etag, field));
    }
    if (!number) return malformed("<Part> without <PartNumber>");
    std::string_view digits = trim(*number);
    if (digits.starts_with('+')) digits.remove_prefix(1);  // xs:int allows a plus sign
    int value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return malformed("<PartNumber> must be an integer");
    parts.push_back({value, etag ? std::string(trim(*etag)) : std::string()});
  }
  if (parts.empty()) return malformed("no <Part> to complete");
  return parts;
}

Result<TagSet> parse_tagging_xml(std::string_view xml) {
  Document document;
  BLOBSEAL_TRY_STATUS(document.load(xml, "Tagging"));
  std::optional<pugi::xml_node> tag_set;
  for (const pugi::xml_node& child : BLOBSEAL_TRY(container_children(document.root()))) {
    if (local_name(child) != "TagSet") continue;
    if (tag_set) return malformed("<TagSet> given twice");
    tag_set = child;
  }
  if (!tag_set) return malformed("<Tagging> without <TagSet>");
  TagSet tags;
  for (const pugi::xml_node& child : BLOBSEAL_TRY(container_children(*tag_set))) {
    if (local_name(child) != "Tag") continue;
    std::optional<std::string> key, value;
    for (const pugi::xml_node& field : BLOBSEAL_TRY(container_children(child))) {
      if (local_name(field) == "Key") BLOBSEAL_TRY_STATUS(take_once(key, field));
      else if (local_name(field) == "Value") BLOBSEAL_TRY_STATUS(take_once(value, field));
    }
    if (!key || !value) return malformed("<Tag> needs a <Key> and a <Value>");
    tags.emplace_back(std::move(*key), std::move(*value));
  }
  BLOBSEAL_TRY_STATUS(validate_tags(tags));
  return tags;
}

}  // namespace blobseal::s3
