// The S3 request-body parsers, as untrusted input: shapes, errors, and the XML 1.0 rules they enforce.
#include "s3/xml.h"

#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/byte_stream.h"
#include "core/bytes.h"

namespace blobseal::s3 {
namespace {

template <typename T>
std::string reason_of(const Result<T>& r) {
  return r ? "" : r.error().reason();
}

constexpr std::string_view kNs = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

std::string delete_body(std::string_view objects, std::string_view extra = "") {
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete{}>{}{}</Delete>", kNs, extra, objects);
}

// ---- DeleteObjects ------------------------------------------------------------------------------------------

TEST(DeleteObjectsXml, Basic) {
  auto r = parse_delete_objects(delete_body(
      "<Object><Key>a.txt</Key></Object>\n  <Object><Key>b/c</Key><VersionId> v1 </VersionId></Object>",
      "<Quiet>true</Quiet>"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->quiet);
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].key, "a.txt");
  EXPECT_FALSE(r->objects[0].version_id);
  EXPECT_EQ(r->objects[1].key, "b/c");
  EXPECT_EQ(r->objects[1].version_id, "v1");
}

TEST(DeleteObjectsXml, NamespaceIsOptionalAndPrefixesWork) {
  auto plain = parse_delete_objects("<Delete><Object><Key>k</Key></Object></Delete>");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->quiet);
  auto prefixed = parse_delete_objects(
      "<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Object><s3:Key>k</s3:Key></s3:Object>"
      "</s3:Delete>");
  ASSERT_TRUE(prefixed) << prefixed.error().to_string();
  EXPECT_EQ(prefixed->objects[0].key, "k");
}

TEST(DeleteObjectsXml, KeysKeepEveryCharacter) {
  auto r = parse_delete_objects(delete_body(
      "<Object><Key> </Key></Object>"
      "<Object><Key>  lead and trail  </Key></Object>"
      "<Object><Key>a&amp;b&lt;c&gt;d&quot;e&apos;f</Key></Object>"
      "<Object><Key>cr&#13;lf&#10;tab&#9;</Key></Object>"
      "<Object><Key>&#x65E5;&#26412;</Key></Object>"
      "<Object><Key><![CDATA[<raw> & ]]>tail</Key></Object>"
      "<Object><Key>a<!-- comment -->b</Key></Object>"
      "<Object><Key>\xC3\xA9t\xC3\xA9</Key></Object>"));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->objects.size(), 8u);
  EXPECT_EQ(r->objects[0].key, " ");
  EXPECT_EQ(r->objects[1].key, "  lead and trail  ");
  EXPECT_EQ(r->objects[2].key, "a&b<c>d\"e'f");
  EXPECT_EQ(r->objects[3].key, "cr\rlf\ntab\t");
  EXPECT_EQ(r->objects[4].key, "日本");
  EXPECT_EQ(r->objects[5].key, "<raw> & tail");
  EXPECT_EQ(r->objects[6].key, "ab");
  EXPECT_EQ(r->objects[7].key, "été");
}

TEST(DeleteObjectsXml, LiteralLineEndsAreNormalized) {
  // XML 1.0 §2.11: a literal CR LF or CR in the document is a LF; only &#13; carries a CR.
  auto r = parse_delete_objects(delete_body("<Object><Key>a\r\nb\rc</Key></Object>"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->objects[0].key, "a\nb\nc");
}

TEST(DeleteObjectsXml, QuietValues) {
  for (std::string_view v : {"true", "True", "1", " true\n"})
    EXPECT_TRUE(parse_delete_objects(delete_body("<Object><Key>k</Key></Object>", fmt::format("<Quiet>{}</Quiet>", v)))->quiet);
  for (std::string_view v : {"false", "False", "0"})
    EXPECT_FALSE(parse_delete_objects(delete_body("<Object><Key>k</Key></Object>", fmt::format("<Quiet>{}</Quiet>", v)))->quiet);
  for (std::string_view v : {"", "yes", "2", "truex"})
    EXPECT_EQ(reason_of(parse_delete_objects(
                  delete_body("<Object><Key>k</Key></Object>", fmt::format("<Quiet>{}</Quiet>", v)))),
              "MalformedXML")
        << v;
}

TEST(DeleteObjectsXml, UnknownElementsAreIgnored) {
  auto r = parse_delete_objects(delete_body(
      "<Object><Key>k</Key><ETag>\"x\"</ETag><Size>3</Size><LastModifiedTime>t</LastModifiedTime></Object>",
      "<Extra><Nested/></Extra>"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->objects.size(), 1u);
}

TEST(DeleteObjectsXml, SchemaErrors) {
  for (std::string body : {
           delete_body(""),                                                          // no objects
           delete_body("<Object></Object>"),                                         // no key
           delete_body("<Object><VersionId>v</VersionId></Object>"),                 // no key
           delete_body("<Object><Key>a</Key><Key>b</Key></Object>"),                 // two keys
           delete_body("<Object><Key>k</Key></Object>", "<Quiet>true</Quiet><Quiet>true</Quiet>"),
           delete_body("<Object><Key><b>k</b></Key></Object>"),                      // element in a leaf
           delete_body("<Object>text<Key>k</Key></Object>"),                         // text in a container
           delete_body("<Object><Key>k</Key></Object>", "stray"),                    // text in the root
           std::string("<Remove><Object><Key>k</Key></Object></Remove>"),            // wrong root
           std::string("<Delete><Object><Key>k</Key></Object></Delete><Delete/>"),   // two roots
           std::string("<Delete><Object><Key>k</Key></Object></Delete>junk"),        // text after the root
       }) {
    EXPECT_EQ(reason_of(parse_delete_objects(body)), "MalformedXML") << body;
  }
}

TEST(DeleteObjectsXml, EmptyKeyMustBeSpecified) {
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key></Key></Object>"))), "UserKeyMustBeSpecified");
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key/></Object>"))), "UserKeyMustBeSpecified");
}

TEST(DeleteObjectsXml, AtMostAThousandObjects) {
  std::string objects;
  for (int i = 0; i < 1000; ++i) objects += fmt::format("<Object><Key>k{}</Key></Object>", i);
  auto ok = parse_delete_objects(delete_body(objects));
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->objects.size(), 1000u);
  EXPECT_EQ(ok->objects[999].key, "k999");
  objects += "<Object><Key>one-too-many</Key></Object>";
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body(objects))), "MalformedXML");
}

// ---- what every parser refuses ------------------------------------------------------------------------------

TEST(UntrustedXml, NotWellFormed) {
  for (std::string body : {
           std::string(""), std::string("   "), std::string("not xml"), std::string("<Delete>"),
           std::string("<Delete><Object><Key>k</Key></Object>"), std::string("<Delete></Delet>"),
           std::string("<Delete><Object><Key>k</Object></Key></Delete>"), std::string("</Delete>"),
           std::string("<Delete a=\"1></Delete>"), std::string("<Delete><!-- unterminated </Delete>"),
           std::string("<Delete><![CDATA[ unterminated </Delete>"), std::string("<?xml version=\"1.0\""),
           std::string("<Delete><Object><Key>a < b</Key></Object></Delete>"),
           std::string("<Delete><Object><Key>a & b</Key></Object></Delete>"),
       }) {
    EXPECT_EQ(reason_of(parse_delete_objects(body)), "MalformedXML") << body;
  }
}

TEST(UntrustedXml, DoctypeAndEntitiesAreRefused) {
  const std::string xxe =
      "<?xml version=\"1.0\"?><!DOCTYPE Delete [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
      "<Delete><Object><Key>&xxe;</Key></Object></Delete>";
  auto r = parse_delete_objects(xxe);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason(), "MalformedXML");
  EXPECT_EQ(r.error().message().find("root:"), std::string::npos);  // nothing of the file leaks

  const std::string billion_laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;\">]>"
      "<Tagging><TagSet><Tag><Key>k</Key><Value>&lol2;</Value></Tag></TagSet></Tagging>";
  EXPECT_EQ(reason_of(parse_tagging_xml(billion_laughs)), "MalformedXML");

  const std::string parameter_entity =
      "<!DOCTYPE x [<!ENTITY % remote SYSTEM \"http://127.0.0.1:1/x.dtd\"> %remote;]><CreateBucketConfiguration/>";
  EXPECT_EQ(reason_of(parse_create_bucket_region(parameter_entity)), "MalformedXML");

  const std::string public_dtd =
      "<!DOCTYPE Delete PUBLIC \"-//x//y\" \"http://127.0.0.1:1/d.dtd\"><Delete><Object><Key>k</Key></Object></Delete>";
  EXPECT_EQ(reason_of(parse_delete_objects(public_dtd)), "MalformedXML");

  // An undeclared entity is not passed through as text.
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key>&xxe;</Key></Object>"))), "MalformedXML");
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key>&amp</Key></Object>"))), "MalformedXML");
  EXPECT_EQ(reason_of(parse_delete_objects("<Delete a=\"&xxe;\"><Object><Key>k</Key></Object></Delete>")),
            "MalformedXML");
}

TEST(UntrustedXml, CharacterReferencesMustNameXmlCharacters) {
  for (std::string_view reference : {"&#0;", "&#x0;", "&#1;", "&#x1F;", "&#xD800;", "&#xFFFE;", "&#xFFFF;",
                                     "&#x110000;", "&#99999999999;", "&#;", "&#x;", "&#X41;", "&#-1;", "&#x-1;"}) {
    EXPECT_EQ(reason_of(parse_delete_objects(delete_body(fmt::format("<Object><Key>a{}b</Key></Object>", reference)))),
              "MalformedXML")
        << reference;
  }
  auto ok = parse_delete_objects(delete_body("<Object><Key>&#65;&#x42;&#x10FFFF;&#xFFFD;</Key></Object>"));
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->objects[0].key, "AB\xF4\x8F\xBF\xBF\xEF\xBF\xBD");
}

TEST(UntrustedXml, RawBytesMustBeXmlCharactersInUtf8) {
  for (std::string bad : {std::string("a\0b", 3), std::string("a\x01") + "b", std::string("a\x1F"),
                          std::string("\xFF"), std::string("\xC3"), std::string("\xED\xA0\x80"),
                          std::string("\xEF\xBF\xBE"), std::string("\xC0\xAF")}) {
    EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key>" + bad + "</Key></Object>"))), "MalformedXML");
  }
  // A UTF-8 byte order mark is allowed; other encodings are not.
  EXPECT_TRUE(parse_delete_objects("\xEF\xBB\xBF<Delete><Object><Key>k</Key></Object></Delete>"));
  EXPECT_EQ(reason_of(parse_delete_objects(std::string("\xFF\xFE<\0D\0", 6))), "MalformedXML");
}

TEST(UntrustedXml, SizeDepthAndElementBounds) {
  std::string big = delete_body("<Object><Key>k</Key></Object>", "<Pad>" + std::string(kMaxXmlBodyBytes, 'x') + "</Pad>");
  EXPECT_EQ(reason_of(parse_delete_objects(big)), "MalformedXML");

  std::string deep;
  for (std::size_t i = 0; i < kMaxXmlDepth; ++i) deep += "<x>";
  for (std::size_t i = 0; i < kMaxXmlDepth; ++i) deep += "</x>";
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key>k</Key></Object>", deep))), "MalformedXML");
  std::string very_deep(100000 * 3, ' ');
  for (std::size_t i = 0; i < 100000; ++i) very_deep.replace(i * 3, 3, "<x>");
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("", very_deep))), "MalformedXML");
  std::string shallow_enough;
  for (std::size_t i = 0; i + 2 < kMaxXmlDepth; ++i) shallow_enough += "<x>";
  for (std::size_t i = 0; i + 2 < kMaxXmlDepth; ++i) shallow_enough += "</x>";
  EXPECT_TRUE(parse_delete_objects(delete_body("<Object><Key>k</Key></Object>", shallow_enough)));

  std::string many;
  for (std::size_t i = 0; i < kMaxXmlElements; ++i) many += "<e/>";
  EXPECT_EQ(reason_of(parse_delete_objects(delete_body("<Object><Key>k</Key></Object>", many))), "MalformedXML");
}

TEST(UntrustedXml, CommentsProcessingInstructionsAndCdataAreNotMarkup) {
  auto r = parse_delete_objects(
      "<?xml version=\"1.0\"?><!-- <!DOCTYPE x> & --><?pi <!DOCTYPE & ?>"
      "<Delete><Object><Key><![CDATA[<!DOCTYPE &x; ]]></Key></Object></Delete><!-- after -->");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->objects[0].key, "<!DOCTYPE &x; ");
  // Attribute values may hold '>' and references.
  auto a = parse_delete_objects("<Delete note=\"a > b &amp; c\"><Object><Key>k</Key></Object></Delete>");
  EXPECT_TRUE(a) << a.error().to_string();
}

// ---- CreateBucket -------------------------------------------------------------------------------------------

TEST(CreateBucketXml, Region) {
  auto r = parse_create_bucket_region(fmt::format(
      "<CreateBucketConfiguration{}><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>", kNs));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, "eu-west-1");
  EXPECT_EQ(*parse_create_bucket_region("<CreateBucketConfiguration/>"), "");
  EXPECT_EQ(*parse_create_bucket_region("<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>"), "");
  EXPECT_EQ(*parse_create_bucket_region(
                "<CreateBucketConfiguration>\n  <LocationConstraint> us-west-2 </LocationConstraint>\n"
                "  <Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>"),
            "us-west-2");
}

TEST(CreateBucketXml, Errors) {
  EXPECT_EQ(reason_of(parse_create_bucket_region("")), "MalformedXML");
  EXPECT_EQ(reason_of(parse_create_bucket_region("<LocationConstraint>x</LocationConstraint>")), "MalformedXML");
  EXPECT_EQ(reason_of(parse_create_bucket_region(
                "<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint>"
                "<LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>")),
            "MalformedXML");
}

// ---- CompleteMultipartUpload --------------------------------------------------------------------------------

TEST(CompleteMultipartXml, Parts) {
  auto r = parse_complete_multipart(fmt::format(
      "<CompleteMultipartUpload{}>\n"
      "  <Part><PartNumber>1</PartNumber><ETag>\"a54357aff0632cce46d942af68356b38\"</ETag></Part>\n"
      "  <Part><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag><PartNumber> 2 </PartNumber>"
      "<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>\n"
      "  <Part><PartNumber>+3</PartNumber></Part>\n"
      "</CompleteMultipartUpload>",
      kNs));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].part_number, 1);
  EXPECT_EQ((*r)[0].etag, "\"a54357aff0632cce46d942af68356b38\"");
  EXPECT_EQ((*r)[1].part_number, 2);
  EXPECT_EQ((*r)[1].etag, "\"0c78aef83f66abc1fa1e8477f296d394\"");
  EXPECT_EQ((*r)[2].part_number, 3);
  EXPECT_EQ((*r)[2].etag, "");
}

TEST(CompleteMultipartXml, OrderAndRangeAreLeftToTheHandler) {
  auto r = parse_complete_multipart(
      "<CompleteMultipartUpload><Part><PartNumber>5</PartNumber><ETag>x</ETag></Part>"
      "<Part><PartNumber>0</PartNumber><ETag>y</ETag></Part><Part><PartNumber>-7</PartNumber><ETag>z</ETag></Part>"
      "<Part><PartNumber>5</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>");
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].part_number, 5);
  EXPECT_EQ((*r)[1].part_number, 0);
  EXPECT_EQ((*r)[2].part_number, -7);
}

TEST(CompleteMultipartXml, Errors) {
  for (std::string body : {
           std::string("<CompleteMultipartUpload/>"),
           std::string("<CompleteMultipartUpload></CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><PartNumber></PartNumber></Part></CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><PartNumber>1.5</PartNumber></Part></CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><PartNumber>99999999999</PartNumber></Part>"
                       "</CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber></Part>"
                       "</CompleteMultipartUpload>"),
           std::string("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a</ETag><ETag>b</ETag></Part>"
                       "</CompleteMultipartUpload>"),
           std::string("<Complete><Part><PartNumber>1</PartNumber></Part></Complete>"),
       }) {
    EXPECT_EQ(reason_of(parse_complete_multipart(body)), "MalformedXML") << body;
  }
}

TEST(CompleteMultipartXml, AtMostTenThousandParts) {
  std::string parts;
  for (int i = 1; i <= 10000; ++i) parts += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"e\"</ETag></Part>", i);
  auto ok = parse_complete_multipart("<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>");
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->size(), 10000u);
  EXPECT_EQ(ok->back().part_number, 10000);
  parts += "<Part><PartNumber>10001</PartNumber><ETag>\"e\"</ETag></Part>";
  EXPECT_EQ(reason_of(parse_complete_multipart("<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>")),
            "MalformedXML");
}

// ---- PutObjectTagging ---------------------------------------------------------------------------------------

std::string tagging_body(std::string_view tags) {
  return fmt::format("<Tagging{}><TagSet>{}</TagSet></Tagging>", kNs, tags);
}

TEST(TaggingXml, Parses) {
  auto r = parse_tagging_xml(tagging_body(
      "<Tag><Key>Project</Key><Value>Blue Sky</Value></Tag><Tag><Value></Value><Key>empty</Key></Tag>"));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, (TagSet{{"Project", "Blue Sky"}, {"empty", ""}}));
  auto none = parse_tagging_xml(tagging_body(""));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(parse_tagging_xml("<Tagging><TagSet/></Tagging>"));
}

TEST(TaggingXml, SchemaErrors) {
  for (std::string body : {
           std::string("<Tagging/>"),
           std::string("<Tagging><TagSet/><TagSet/></Tagging>"),
           tagging_body("<Tag><Key>k</Key></Tag>"),
           tagging_body("<Tag><Value>v</Value></Tag>"),
           tagging_body("<Tag><Key>k</Key><Key>k2</Key><Value>v</Value></Tag>"),
           std::string("<TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet>"),
       }) {
    EXPECT_EQ(reason_of(parse_tagging_xml(body)), "MalformedXML") << body;
  }
}

TEST(TaggingXml, TagRules) {
  std::string eleven;
  for (int i = 0; i < 11; ++i) eleven += fmt::format("<Tag><Key>k{}</Key><Value>v</Value></Tag>", i);
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body(eleven))), "BadRequest");
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body(
                "<Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag>"))),
            "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body("<Tag><Key>" + std::string(129, 'k') + "</Key><Value/></Tag>"))),
            "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body("<Tag><Key>k</Key><Value>" + std::string(257, 'v') + "</Value></Tag>"))),
            "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body("<Tag><Key>aws:x</Key><Value>v</Value></Tag>"))), "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body("<Tag><Key></Key><Value>v</Value></Tag>"))), "InvalidTag");
  EXPECT_EQ(reason_of(parse_tagging_xml(tagging_body("<Tag><Key>a&amp;b</Key><Value>v</Value></Tag>"))), "InvalidTag");
}

// ---- read_small_body ----------------------------------------------------------------------------------------

// A source that returns its data a few bytes at a time and can fail at the end.
class TrickleSource final : public ByteSource {
 public:
  TrickleSource(std::string data, std::size_t step, std::optional<Error> at_end = std::nullopt)
      : data_(std::move(data)), step_(step), at_end_(std::move(at_end)) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = std::min({out.size(), step_, data_.size() - pos_});
    if (n == 0 && at_end_) return tl::unexpected(*at_end_);
    std::copy_n(data_.data() + pos_, n, out.data());
    pos_ += n;
    return n;
  }
  std::size_t consumed() const { return pos_; }

 private:
  std::string data_;
  std::size_t step_;
  std::size_t pos_ = 0;
  std::optional<Error> at_end_;
};

TEST(ReadSmallBody, ReadsToTheEnd) {
  TrickleSource empty("", 7);
  EXPECT_EQ(read_small_body(empty, 10).value(), "");
  TrickleSource exact("0123456789", 3);
  EXPECT_EQ(read_small_body(exact, 10).value(), "0123456789");
  std::string big(100000, 'x');
  SpanSource span(as_bytes(big));
  EXPECT_EQ(read_small_body(span, big.size()).value(), big);
}

TEST(ReadSmallBody, TooBig) {
  TrickleSource over("0123456789A", 3);
  auto r = read_small_body(over, 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason(), "MaxMessageLengthExceeded");
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
  TrickleSource zero("a", 1);
  EXPECT_EQ(read_small_body(zero, 0).error().reason(), "MaxMessageLengthExceeded");
  // It stops reading soon after the limit instead of draining an endless body.
  std::string huge(1 << 20, 'x');
  TrickleSource stream(huge, 1 << 20);
  EXPECT_FALSE(read_small_body(stream, 100));
  EXPECT_LE(stream.consumed(), 100u + 16 * 1024);
}

TEST(ReadSmallBody, ErrorsPassThrough) {
  TrickleSource bad_digest("body", 2, Error(ErrorCode::kInvalidArgument, "md5 mismatch", "BadDigest"));
  auto r = read_small_body(bad_digest, 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason(), "BadDigest");
}

}  // namespace
}  // namespace blobseal::s3
