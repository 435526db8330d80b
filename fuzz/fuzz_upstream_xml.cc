// Fuzzes the parsers of the upstream S3 service's XML answers (src/store/s3/upstream_bucket.h): in gateway mode
// every byte of these comes from a store blobseal does not fully trust.
//
// Input: byte 0 chooses the parser (mod 6); the rest is the answer's body.
//   0 ListObjectsV2, 1 InitiateMultipartUpload, 2 CopyObjectResult, 3 CopyPartResult,
//   4 CompleteMultipartUploadResult, 5 ListMultipartUploads.
// Properties:
//  - a failure is Unavailable with reason "UpstreamUnavailable" (never a crash, never another code that a caller
//    would take for "not found" or "precondition failed");
//  - a success obeys what the callers rely on: a truncated listing has a continuation token, an upload id and a
//    part copy's ETag are non-empty;
//  - nothing crashes, leaks or reads out of bounds.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "store/s3/upstream_bucket.h"

namespace blobseal::fuzz {
namespace {

void check_failure(const Error& e) {
  FUZZ_CHECK(e.code() == ErrorCode::kUnavailable, e.to_string());
  FUZZ_CHECK(e.reason() == "UpstreamUnavailable", "unexpected reason " + e.reason());
}

}  // namespace
}  // namespace blobseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blobseal;
  using namespace blobseal::store::s3;
  if (size < 1 || size > (1u << 20)) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto page = parse_list_objects_v2(body, "p/");
      if (!page) return fuzz::check_failure(page.error()), 0;
      FUZZ_CHECK(!page->truncated || !page->next_continuation_token.empty(), "truncated page without a token");
      break;
    }
    case 1: {
      auto id = parse_initiate_upload(body, "n");
      if (!id) return fuzz::check_failure(id.error()), 0;
      FUZZ_CHECK(!id->empty(), "empty upload id");
      break;
    }
    case 2:
    case 3:
    case 4: {
      static constexpr std::string_view kRoots[] = {"CopyObjectResult", "CopyPartResult",
                                                    "CompleteMultipartUploadResult"};
      auto etag = parse_result_etag(body, kRoots[data[0] % 6 - 2], "op", "n");
      if (!etag) return fuzz::check_failure(etag.error()), 0;
      FUZZ_CHECK(!etag->empty() || kRoots[data[0] % 6 - 2] != "CopyPartResult", "empty part copy ETag");
      break;
    }
    case 5: {
      auto page = parse_list_uploads(body, "p/");
      if (!page) return fuzz::check_failure(page.error()), 0;
      break;
    }
  }
  return 0;
}
