// S3 error responses: the HTTP status of each S3 error code and the <Error> document.
#pragma once

#include <string>
#include <string_view>

namespace blobseal::s3 {

// The HTTP status AWS S3 documents for an error code ("NoSuchKey" → 404, "InvalidRange" → 416,
// "MissingContentLength" → 411, "NotModified" → 304, …). 500 for a code this table does not know, so that an
// unexpected reason is never reported as the client's fault.
int s3_error_status(std::string_view code);

// The body of an error response:
//   <?xml version="1.0" encoding="UTF-8"?>
//   <Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error>
// Every field is escaped; the message is for people and must not carry secrets.
std::string render_error_xml(std::string_view code, std::string_view message, std::string_view resource,
                             std::string_view request_id);

}  // namespace blobseal::s3
