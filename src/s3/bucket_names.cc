#include "s3/bucket_names.h"

#include <fmt/format.h>

namespace blobseal::s3 {

namespace {

tl::unexpected<Error> invalid(std::string_view rule) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("The specified bucket is not valid: {}.", rule),
                    "InvalidBucketName");
}

bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Four dot-separated groups of 1 to 3 digits.
bool looks_like_ipv4(std::string_view name) {
  int groups = 0;
  while (true) {
    std::size_t digits = 0;
    while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
    if (digits == 0 || digits > 3) return false;
    ++groups;
    name.remove_prefix(digits);
    if (name.empty()) return groups == 4;
    if (name.front() != '.') return false;
    name.remove_prefix(1);
  }
}

}  // namespace

Status check_bucket_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return invalid("bucket names must be between 3 and 63 characters long");
  for (char c : name)
    if (!is_lower_or_digit(c) && c != '.' && c != '-')
      return invalid("bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-)");
  if (!is_lower_or_digit(name.front()) || !is_lower_or_digit(name.back()))
    return invalid("bucket names must begin and end with a letter or number");
  if (name.find("..") != std::string_view::npos) return invalid("bucket names must not contain two adjacent periods");
  if (name.find(".-") != std::string_view::npos || name.find("-.") != std::string_view::npos)
    return invalid("each dot-separated label must begin and end with a letter or number");
  if (looks_like_ipv4(name)) return invalid("bucket names must not be formatted as an IP address");
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"})
    if (name.starts_with(prefix)) return invalid(fmt::format("bucket names must not start with \"{}\"", prefix));
  for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"})
    if (name.ends_with(suffix)) return invalid(fmt::format("bucket names must not end with \"{}\"", suffix));
  return {};
}

}  // namespace blobseal::s3
