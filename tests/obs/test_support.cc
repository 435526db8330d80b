#include "test_support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace blobseal::obs::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/blobseal-obs-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

namespace {

// The end of the sample's key: after the closing '}' of its labels (label values may hold spaces, quotes and
// braces, escaped as the format says), or at the first space.
std::size_t key_end(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  if (i == line.size() || line[i] == ' ') return i;
  bool quoted = false;
  for (++i; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '}') {
      return i + 1;
    }
  }
  return line.size();
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace

Samples parse_samples(std::string_view exposition) {
  Samples samples;
  for (auto line : lines_of(exposition)) {
    if (line.empty() || line.front() == '#') continue;
    std::size_t end = key_end(line);
    std::string value(line.substr(end));
    samples[std::string(line.substr(0, end))] = std::strtod(value.c_str(), nullptr);
  }
  return samples;
}

std::map<std::string, std::string> parse_types(std::string_view exposition) {
  std::map<std::string, std::string> types;
  for (auto line : lines_of(exposition)) {
    if (!line.starts_with("# TYPE ")) continue;
    line.remove_prefix(7);
    auto space = line.find(' ');
    types[std::string(line.substr(0, space))] = std::string(line.substr(space + 1));
  }
  return types;
}

std::vector<std::string> help_names(std::string_view exposition) {
  std::vector<std::string> names;
  for (auto line : lines_of(exposition)) {
    if (!line.starts_with("# HELP ")) continue;
    line.remove_prefix(7);
    names.emplace_back(line.substr(0, line.find(' ')));
  }
  return names;
}

std::vector<std::string> label_values(const Samples& samples, std::string_view name, std::string_view label) {
  std::vector<std::string> values;
  std::string prefix = std::string(name) + "{";
  std::string needle = std::string(label) + "=\"";
  for (const auto& [key, value] : samples) {
    if (!key.starts_with(prefix)) continue;
    // Label pairs are `name="value"` separated by commas; find ours at a pair boundary.
    std::size_t at = prefix.size();
    while (at < key.size()) {
      if (key.compare(at, needle.size(), needle) == 0) {
        std::string out;
        for (std::size_t i = at + needle.size(); i < key.size() && key[i] != '"'; ++i) {
          if (key[i] == '\\' && i + 1 < key.size()) ++i;
          out.push_back(key[i]);
        }
        values.push_back(out);
        break;
      }
      // Skip this pair.
      std::size_t open = key.find('"', at);
      if (open == std::string::npos) break;
      std::size_t i = open + 1;
      while (i < key.size() && key[i] != '"') i += key[i] == '\\' ? 2 : 1;
      at = i + 2;  // past the closing quote and the comma
    }
  }
  return values;
}

ProcessResult promtool_check_metrics(std::string_view exposition) {
  TempDir dir;
  std::string input = dir.file("exposition.txt");
  std::ofstream(input, std::ios::binary) << exposition;

  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open(input.c_str(), O_RDONLY);
    if (in < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(out[0]);
    ::execl(BLOBSEAL_PROMTOOL, "promtool", "check", "metrics", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  ProcessResult result;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::string text = read_file(path);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace blobseal::obs::testing
