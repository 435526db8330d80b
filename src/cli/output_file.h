// Output to a named file that appears only when complete: written to a temporary file beside it and renamed on
// commit(); a failure (or destruction without commit) removes the temporary file and leaves any existing file as
// it was. Without a path, writes go to stdout.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/byte_stream.h"

namespace blobseal::cli {

class OutputFile {
 public:
  static Result<std::unique_ptr<OutputFile>> open(const std::optional<std::string>& path);
  ~OutputFile();
  ByteSink& sink() { return *sink_; }
  // fsyncs and renames into place (no-op for stdout).
  Status commit();

 private:
  OutputFile() = default;
  std::optional<std::string> path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
  std::unique_ptr<ByteSink> sink_;
};

// The input named on the command line, or stdin; `size` is known for regular files.
struct InputFile {
  std::unique_ptr<ByteSource> source;
  std::optional<std::uint64_t> size;
  std::unique_ptr<RandomAccessSource> random_access;  // regular files only
};
Result<InputFile> open_input(const std::optional<std::string>& path);

}  // namespace blobseal::cli
