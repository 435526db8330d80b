// Errors as values: every function that can fail returns Result<T> (the value or an Error, never both).
// The code tells the caller what to do (retry, fix state, give up); the message is for people and never
// carries secret material.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace blobseal {

enum class ErrorCode {
  kInvalidArgument,     // the caller's input is malformed (bad key name, bad range, bad flag)
  kNotFound,            // no such object / key / version
  kAlreadyExists,       // create-only operation found something in place
  kFailedPrecondition,  // state must be fixed first (keyring permissions, retired key version, condition failed)
  kPermissionDenied,    // the caller may not do this
  kUnavailable,         // a dependency is down or busy: retrying later may succeed
  kDataLoss,            // integrity failure: an AEAD tag, commitment or MAC did not verify, or data is truncated
  kOutOfRange,          // a read past the end, an unsatisfiable range
  kResourceExhausted,   // a size or count limit was hit
  kUnimplemented,       // a format version, suite or feature this build does not handle
  kInternal,            // a bug or an unexpected system failure (I/O errors carry errno text)
  kCancelled,           // the operation was stopped on purpose
};

std::string_view to_string(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  // `reason` is a machine-readable refinement of the code for front ends that must tell cases apart
  // ("NoSuchUpload" vs "NoSuchKey", "EntityTooSmall" vs "InvalidPart"); S3's code names are used where they fit.
  Error(ErrorCode code, std::string message, std::string reason)
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& reason() const { return reason_; }
  // "<code>: <message>", for logs and the CLI.
  std::string to_string() const;

  // Prefixes the message with context ("opening photos/a.jpg: ...") keeping the code.
  Error with_context(std::string_view context) const;

 private:
  ErrorCode code_;
  std::string message_;
  std::string reason_;
};

template <typename T>
using Result = tl::expected<T, Error>;

using Status = Result<void>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message, std::string reason) {
  return tl::unexpected<Error>(Error(code, std::move(message), std::move(reason)));
}

inline tl::unexpected<Error> make_error(Error error) { return tl::unexpected<Error>(std::move(error)); }

// An Error from the current errno, with the operation and path named.
Error errno_error(std::string_view operation, std::string_view path);

}  // namespace blobseal

// Propagates the error of a Result-returning expression, or yields its value.
#define BLOBSEAL_TRY(expr)                                                    \
  ({                                                                          \
    auto blobseal_try_result_ = (expr);                                       \
    if (!blobseal_try_result_) return tl::unexpected(blobseal_try_result_.error()); \
    std::move(blobseal_try_result_).value();                                   \
  })

#define BLOBSEAL_TRY_STATUS(expr)                                             \
  do {                                                                        \
    auto blobseal_try_status_ = (expr);                                       \
    if (!blobseal_try_status_) return tl::unexpected(blobseal_try_status_.error()); \
  } while (0)
