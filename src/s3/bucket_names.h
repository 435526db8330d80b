// S3's naming rules for general purpose buckets.
#pragma once

#include <string_view>

#include "core/error.h"

namespace blobseal::s3 {

// Checks `name` against S3's rules for general purpose buckets: 3 to 63 characters of lowercase letters, digits,
// '.' and '-'; a letter or digit first and last; no ".." and, so that every name is a valid DNS host label sequence
// for virtual-hosted-style requests, no ".-" or "-."; not an IPv4 address in dotted decimal form ("192.168.5.4");
// not one of the reserved prefixes "xn--", "sthree-", "amzn-s3-demo-" or suffixes "-s3alias", "--ol-s3", ".mrap",
// "--x-s3", "--table-s3". InvalidArgument with reason "InvalidBucketName" and a message that names the rule broken.
Status check_bucket_name(std::string_view name);

}  // namespace blobseal::s3
