// Object tags (S3 "object tagging"): the rules a tag set must follow, the x-amz-tagging header form, and the text
// form blobseal keeps in the sealed envelope's metadata.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace blobseal::s3 {

// Key/value pairs in the order the client gave them.
using TagSet = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::size_t kMaxObjectTags = 10;
inline constexpr std::size_t kMaxTagKeyChars = 128;    // Unicode code points
inline constexpr std::size_t kMaxTagValueChars = 256;  // Unicode code points

// Checks a tag set against S3's rules, with S3's error codes as reasons (ErrorCode::kInvalidArgument):
//  - more than 10 tags: "BadRequest" ("Object tags cannot be greater than 10");
//  - a key of 0 or more than 128 code points, a value of more than 256 (empty values are fine), text that is not
//    UTF-8 or has a character outside letters, digits, spaces and + - = . _ : / @: "InvalidTag";
//  - a key that starts with "aws:" in any case (reserved for AWS): "InvalidTag";
//  - the same key twice: "InvalidTag" ("Cannot provide multiple Tags with the same key").
// "Letters, digits, spaces" is Unicode's \p{L}, \p{N} and \p{Z}: exact for ASCII; beyond ASCII an approximation
// without Unicode tables that refuses the control, format, combining-mark, punctuation, symbol, private-use and
// emoji blocks and accepts the rest (see tags.cc).
Status validate_tags(const TagSet& tags);

// Parses the x-amz-tagging header of PutObject, CopyObject and CreateMultipartUpload: URL query parameters,
// "k1=v1&k2=v2", percent-encoded UTF-8 with '+' for a space; "k" alone is a key with an empty value; empty
// segments are skipped, so "" is no tags. A malformed escape, an empty key or a repeated key is "InvalidArgument"
// with S3's message; then the rules of validate_tags apply.
Result<TagSet> parse_tagging_header(std::string_view header);

// The stored form: the header form, every byte but A-Z a-z 0-9 - . _ ~ percent-encoded. "" for no tags.
// decode_tags(encode_tags(t)) == t for every t; decode_tags reads what encode_tags wrote and skips anything
// malformed (stored metadata is trusted, but a damaged value must not fail a GET).
std::string encode_tags(const TagSet& tags);
TagSet decode_tags(std::string_view encoded);

}  // namespace blobseal::s3
