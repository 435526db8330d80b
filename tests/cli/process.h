// Runs the blobseal binary as a child process for the CLI tests: arguments, environment additions, stdin/stdout
// redirection, and the child's exit code and peak RSS (from wait4's rusage, so nothing is sampled or guessed).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace blobseal::testing {

struct ProcessResult {
  int exit_code = -1;          // -1 when killed by a signal
  std::int64_t max_rss_kib = 0;
  std::string stdout_text;     // captured when no stdout file was given
  std::string stderr_text;
};

struct ProcessOptions {
  std::map<std::string, std::string> env;  // added to (or overriding) the test's environment
  std::vector<std::string> unset_env;
  std::string stdin_file;                   // empty: /dev/null unless feed_stdin is set
  std::string stdout_file;                  // empty: captured into stdout_text
  // Called with a pipe to the child's stdin (write everything, then return; the pipe is closed after).
  std::function<void(int fd)> feed_stdin;
  // Called with a pipe from the child's stdout (read until EOF); replaces capture into stdout_text.
  std::function<void(int fd)> drain_stdout;
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Pseudo-random bytes from a seed (xorshift), reproducible across processes without storing them.
void fill_pseudo_random(std::uint64_t seed, std::uint64_t offset, std::uint8_t* out, std::size_t size);

}  // namespace blobseal::testing
