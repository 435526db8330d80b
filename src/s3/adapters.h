// Everything the S3 front end (s3_handler.cc) uses between HTTP and the engine, in one include: request-body parsers
// and response renderers, S3 error statuses, Range and dates, tags, bucket names, and SigV4 authentication.
#pragma once

#include "s3/bucket_names.h"
#include "s3/errors.h"
#include "s3/http_date.h"
#include "s3/range.h"
#include "s3/sigv4.h"
#include "s3/tags.h"
#include "s3/xml.h"
#include "s3/xml_responses.h"
#include "s3/xml_writer.h"
