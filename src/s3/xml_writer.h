// Building S3 XML responses as text: escaping of untrusted strings (object keys, prefixes, messages) and a small
// writer that keeps elements balanced. No DOM: responses are written in one pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace blobseal::s3 {

// The namespace of every S3 response document.
inline constexpr std::string_view kS3XmlNamespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// Escapes `text` for element content or a quoted attribute value:
//  - & < > " ' become &amp; &lt; &gt; &quot; &apos;
//  - TAB, LF and CR become &#9; &#10; &#13;, so end-of-line and attribute normalization cannot change a key
//    (S3's "XML related object key constraints");
//  - other C0 controls and DEL become &#xN; references. XML 1.0 has no way to carry C0 controls at all, so a strict
//    parser rejects such a document, as it does S3's; clients that list such keys use encoding-type=url;
//  - a byte sequence that is not well-formed UTF-8, and the noncharacters U+FFFE/U+FFFF, become U+FFFD, so the
//    document stays UTF-8 whatever the input.
std::string xml_escape(std::string_view text);

// Percent-encodes for S3's encoding-type=url listings: every byte but A-Z a-z 0-9 - . _ ~ and '/' becomes %XX
// (upper-case hex); space becomes %20, never '+', so decoders that treat '+' as a space and those that do not both
// recover the key.
std::string url_encode_listing(std::string_view text);

// Writes one document: the XML declaration, then balanced elements.
class XmlWriter {
 public:
  XmlWriter();

  // Opens an element; `with_namespace` adds xmlns="http://s3.amazonaws.com/doc/2006-03-01/".
  XmlWriter& open(std::string_view name, bool with_namespace = false);
  // Opens an element with attributes written as given: `raw_attributes` must be a constant of the caller's, never
  // client input (for the xmlns:xsi/xsi:type pair of an ACL grantee).
  XmlWriter& open_with_attributes(std::string_view name, std::string_view raw_attributes);
  // Closes the innermost open element.
  XmlWriter& close();
  // <name>escaped text</name>
  XmlWriter& element(std::string_view name, std::string_view text);
  XmlWriter& element(std::string_view name, std::uint64_t value);
  XmlWriter& element(std::string_view name, std::int64_t value);
  XmlWriter& element(std::string_view name, bool value);
  // Disambiguates string literals from the bool overload.
  XmlWriter& element(std::string_view name, const char* text) { return element(name, std::string_view(text)); }
  // Escaped character data inside the innermost open element.
  XmlWriter& text(std::string_view text);
  // A self-closing element, optionally with the S3 namespace: <name/> or <name xmlns="..."/>.
  XmlWriter& empty(std::string_view name, bool with_namespace = false);

  // Closes every element still open and returns the text.
  std::string finish() &&;

 private:
  std::string out_;
  std::vector<std::string> open_;
};

}  // namespace blobseal::s3
