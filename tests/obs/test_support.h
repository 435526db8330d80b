// Helpers for the obs tests: a scratch directory, the samples of a Prometheus exposition, and promtool.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blobseal::obs::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Sample lines of a text exposition, keyed by everything before the value: `name` or `name{l1="v1",l2="v2"}` exactly
// as rendered (prometheus-cpp sorts labels by name).
using Samples = std::map<std::string, double>;
Samples parse_samples(std::string_view exposition);

// The `# TYPE` of each family.
std::map<std::string, std::string> parse_types(std::string_view exposition);

// Names of families with a `# HELP` line.
std::vector<std::string> help_names(std::string_view exposition);

// The label values of `label` over the samples of `name` (exact metric name, e.g. "s3_requests_total").
std::vector<std::string> label_values(const Samples& samples, std::string_view name, std::string_view label);

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `promtool check metrics` with `exposition` on stdin.
ProcessResult promtool_check_metrics(std::string_view exposition);

std::string read_file(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);  // split at '\n'; a final unterminated line included

}  // namespace blobseal::obs::testing
