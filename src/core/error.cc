#include "core/error.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace blobseal {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kAlreadyExists: return "already exists";
    case ErrorCode::kFailedPrecondition: return "failed precondition";
    case ErrorCode::kPermissionDenied: return "permission denied";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kDataLoss: return "integrity failure";
    case ErrorCode::kOutOfRange: return "out of range";
    case ErrorCode::kResourceExhausted: return "resource exhausted";
    case ErrorCode::kUnimplemented: return "unimplemented";
    case ErrorCode::kInternal: return "internal error";
    case ErrorCode::kCancelled: return "cancelled";
  }
  return "unknown error";
}

std::string Error::to_string() const { return fmt::format("{}: {}", blobseal::to_string(code_), message_); }

Error Error::with_context(std::string_view context) const {
  return Error(code_, fmt::format("{}: {}", context, message_), reason_);
}

Error errno_error(std::string_view operation, std::string_view path) {
  int saved = errno;
  ErrorCode code = ErrorCode::kInternal;
  if (saved == ENOENT) code = ErrorCode::kNotFound;
  else if (saved == EACCES || saved == EPERM) code = ErrorCode::kPermissionDenied;
  else if (saved == EEXIST) code = ErrorCode::kAlreadyExists;
  else if (saved == ENOSPC || saved == EDQUOT || saved == EMFILE || saved == ENFILE) code = ErrorCode::kResourceExhausted;
  return Error(code, fmt::format("{} {}: {}", operation, path, std::strerror(saved)));
}

}  // namespace blobseal
