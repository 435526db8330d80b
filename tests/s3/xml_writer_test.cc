#include "s3/xml_writer.h"

#include <gtest/gtest.h>
#include <pugixml.hpp>

namespace blobseal::s3 {
namespace {

TEST(XmlEscape, MarkupCharacters) {
  EXPECT_EQ(xml_escape("plain"), "plain");
  EXPECT_EQ(xml_escape(""), "");
  EXPECT_EQ(xml_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
  EXPECT_EQ(xml_escape("&amp;"), "&amp;amp;");
}

TEST(XmlEscape, LineEndsAndControls) {
  EXPECT_EQ(xml_escape("a\rb\nc\td"), "a&#13;b&#10;c&#9;d");
  EXPECT_EQ(xml_escape(std::string("\x01\x1F\x7F", 3)), "&#x1;&#x1F;&#x7F;");
  EXPECT_EQ(xml_escape(std::string("a\0b", 3)), "a&#x0;b");
}

TEST(XmlEscape, Utf8PassesAndGarbageIsReplaced) {
  EXPECT_EQ(xml_escape("été 日本 \U0001F600"), "été 日本 \U0001F600");
  EXPECT_EQ(xml_escape("a\xFF" "b"), "a\uFFFD" "b");
  EXPECT_EQ(xml_escape("\xC3"), "\uFFFD");
  EXPECT_EQ(xml_escape("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate, byte by byte
  EXPECT_EQ(xml_escape("\xC0\xAF"), "\uFFFD\uFFFD");          // overlong '/'
  EXPECT_EQ(xml_escape("\xEF\xBF\xBE"), "\uFFFD");            // U+FFFE
}

TEST(XmlEscape, RoundTripsThroughAParser) {
  std::string text = "k\r\ney <&> \"q\" 'a' \t end é";
  std::string doc = "<r a=\"" + xml_escape(text) + "\">" + xml_escape(text) + "</r>";
  pugi::xml_document parsed;
  ASSERT_TRUE(parsed.load_string(doc.c_str(), pugi::parse_default | pugi::parse_ws_pcdata));
  EXPECT_EQ(std::string(parsed.child("r").child_value()), text);
  EXPECT_EQ(std::string(parsed.child("r").attribute("a").value()), text);
}

TEST(UrlEncodeListing, S3Style) {
  EXPECT_EQ(url_encode_listing("photos/2006/January/sample.jpg"), "photos/2006/January/sample.jpg");
  EXPECT_EQ(url_encode_listing("a b+c"), "a%20b%2Bc");
  EXPECT_EQ(url_encode_listing("-._~"), "-._~");
  EXPECT_EQ(url_encode_listing("é"), "%C3%A9");
  EXPECT_EQ(url_encode_listing(std::string("\x01\n&=?%#", 7)), "%01%0A%26%3D%3F%25%23");
}

TEST(XmlWriter, BalancedDocument) {
  XmlWriter xml;
  xml.open("Root", true).element("A", "x<y").element("N", std::uint64_t{42}).element("I", std::int64_t{-1});
  xml.open("Inner").element("B", true).element("C", false).empty("E").close();
  xml.open("Unclosed").text("t&t");
  std::string out = std::move(xml).finish();
  EXPECT_EQ(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><A>x&lt;y</A><N>42</N><I>-1</I>"
            "<Inner><B>true</B><C>false</C><E/></Inner><Unclosed>t&amp;t</Unclosed></Root>");
}

}  // namespace
}  // namespace blobseal::s3
