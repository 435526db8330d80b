#include "process.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace blobseal::testing {

namespace {
std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}
}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  // A child that exits early (refusing tampered input) closes its stdin; writes to it must fail, not kill us.
  static const bool ignore_sigpipe = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)ignore_sigpipe;
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& name : options.unset_env) env.erase(name);
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.feed_stdin) {
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, options.stdin_file.empty() ? "/dev/null" : options.stdin_file.c_str(),
                                     O_RDONLY, 0);
  }
  if (!options.stdout_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, options.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  } else {
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) std::abort();
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ProcessResult result;
  if (rc != 0) {
    result.stderr_text = std::string("spawn failed: ") + std::strerror(rc);
    return result;
  }
  if (in_pipe[0] >= 0) ::close(in_pipe[0]);
  if (out_pipe[1] >= 0) ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  std::thread feeder, drainer;
  if (options.feed_stdin)
    feeder = std::thread([&] {
      options.feed_stdin(in_pipe[1]);
      ::close(in_pipe[1]);
    });
  if (out_pipe[0] >= 0)
    drainer = std::thread([&] {
      if (options.drain_stdout) options.drain_stdout(out_pipe[0]);
      else result.stdout_text = read_all(out_pipe[0]);
      ::close(out_pipe[0]);
    });
  result.stderr_text = read_all(err_pipe[0]);
  ::close(err_pipe[0]);
  if (feeder.joinable()) feeder.join();
  if (drainer.joinable()) drainer.join();

  int status = 0;
  struct rusage usage {};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.max_rss_kib = usage.ru_maxrss;
  return result;
}

void fill_pseudo_random(std::uint64_t seed, std::uint64_t offset, std::uint8_t* out, std::size_t size) {
  // Each 8-byte word depends only on (seed, word index), so any offset can be regenerated.
  for (std::size_t i = 0; i < size;) {
    std::uint64_t word_index = (offset + i) / 8;
    std::uint64_t x = seed ^ (word_index * 0x9E3779B97F4A7C15ull);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    std::size_t byte = (offset + i) % 8;
    for (; byte < 8 && i < size; ++byte, ++i) out[i] = static_cast<std::uint8_t>(x >> (8 * byte));
  }
}

}  // namespace blobseal::testing
