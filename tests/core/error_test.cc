// Errors as values: codes, messages, context, errno mapping, and the propagation macros.
#include <cerrno>
#include <cstring>
#include <set>

#include <gtest/gtest.h>

#include "core/error.h"

namespace blobseal {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument, ErrorCode::kNotFound,          ErrorCode::kAlreadyExists, ErrorCode::kFailedPrecondition,
    ErrorCode::kPermissionDenied, ErrorCode::kUnavailable,      ErrorCode::kDataLoss,      ErrorCode::kOutOfRange,
    ErrorCode::kResourceExhausted, ErrorCode::kUnimplemented,   ErrorCode::kInternal,      ErrorCode::kCancelled,
};

TEST(ErrorCode, EveryCodeHasItsOwnName) {
  std::set<std::string_view> names;
  for (ErrorCode code : kAllCodes) {
    std::string_view name = to_string(code);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown error");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(kAllCodes));
  EXPECT_EQ(to_string(ErrorCode::kDataLoss), "integrity failure");
  EXPECT_EQ(to_string(ErrorCode::kNotFound), "not found");
  EXPECT_EQ(to_string(static_cast<ErrorCode>(999)), "unknown error");
}

TEST(Error, CarriesCodeMessageAndReason) {
  Error plain(ErrorCode::kNotFound, "no such key");
  EXPECT_EQ(plain.code(), ErrorCode::kNotFound);
  EXPECT_EQ(plain.message(), "no such key");
  EXPECT_EQ(plain.reason(), "");
  EXPECT_EQ(plain.to_string(), "not found: no such key");

  Error refined(ErrorCode::kNotFound, "upload gone", "NoSuchUpload");
  EXPECT_EQ(refined.reason(), "NoSuchUpload");
  EXPECT_EQ(refined.to_string(), "not found: upload gone");
}

TEST(Error, WithContextPrefixesTheMessageAndKeepsCodeAndReason) {
  Error e(ErrorCode::kDataLoss, "chunk 3 failed authentication", "InternalError");
  Error c = e.with_context("reading photos/a.jpg");
  EXPECT_EQ(c.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(c.reason(), "InternalError");
  EXPECT_EQ(c.message(), "reading photos/a.jpg: chunk 3 failed authentication");
  EXPECT_EQ(e.message(), "chunk 3 failed authentication") << "the original is unchanged";
}

TEST(Error, ErrnoErrorMapsTheCommonCasesAndNamesOperationAndPath) {
  struct Case {
    int err;
    ErrorCode code;
  };
  for (Case c : {Case{ENOENT, ErrorCode::kNotFound}, Case{EACCES, ErrorCode::kPermissionDenied},
                 Case{EPERM, ErrorCode::kPermissionDenied}, Case{EEXIST, ErrorCode::kAlreadyExists},
                 Case{ENOSPC, ErrorCode::kResourceExhausted}, Case{EDQUOT, ErrorCode::kResourceExhausted},
                 Case{EMFILE, ErrorCode::kResourceExhausted}, Case{ENFILE, ErrorCode::kResourceExhausted},
                 Case{EIO, ErrorCode::kInternal}, Case{EINVAL, ErrorCode::kInternal}}) {
    errno = c.err;
    Error e = errno_error("open", "/var/lib/blobseal/x");
    EXPECT_EQ(e.code(), c.code) << std::strerror(c.err);
    EXPECT_NE(e.message().find("open /var/lib/blobseal/x"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(std::strerror(c.err)), std::string::npos) << e.message();
  }
}

TEST(Result, HoldsAValueOrAnErrorNeverBoth) {
  Result<int> ok = 5;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 5);
  Result<int> bad = make_error(ErrorCode::kOutOfRange, "past the end");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kOutOfRange);
  Status fine;
  EXPECT_TRUE(fine);
  Status failed = make_error(Error(ErrorCode::kCancelled, "stopped"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "stopped");
  Status with_reason = make_error(ErrorCode::kInvalidArgument, "bad part", "InvalidPart");
  EXPECT_EQ(with_reason.error().reason(), "InvalidPart");
}

Result<int> half(int v) {
  if (v % 2 != 0) return make_error(ErrorCode::kInvalidArgument, "odd");
  return v / 2;
}

int g_after_try = 0;

Result<int> quarter(int v) {
  int h = BLOBSEAL_TRY(half(v));
  ++g_after_try;
  return BLOBSEAL_TRY(half(h));
}

Status check_even(int v) {
  BLOBSEAL_TRY_STATUS(half(v));
  ++g_after_try;
  return {};
}

TEST(TryMacros, YieldTheValueOrReturnTheErrorEarly) {
  g_after_try = 0;
  EXPECT_EQ(quarter(8).value(), 2);
  EXPECT_EQ(g_after_try, 1);
  auto odd = quarter(7);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(g_after_try, 1) << "nothing after a failed BLOBSEAL_TRY runs";
  auto odd_half = quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(odd_half);
  EXPECT_EQ(g_after_try, 2);

  EXPECT_TRUE(check_even(4));
  EXPECT_EQ(g_after_try, 3);
  auto status = check_even(5);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message(), "odd");
  EXPECT_EQ(g_after_try, 3);
}

}  // namespace
}  // namespace blobseal
