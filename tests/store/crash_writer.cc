// store_crash_writer ROOT LOG SEED: puts, replaces, re-headers and removes objects k0..k19 (crash_objects.h) in the
// local store at ROOT, forever, until it is killed. It starts from whatever the store holds.
//
// Before each operation it appends "B <op> ..." to LOG and after it "E", each line with one write(2), so whoever
// kills it knows which operations completed and which one, at most, was in flight:
//   B P <key index> <version> <size>   put of a new version (header rewraps 0)
//   B H <key index> <version> <size> <rewraps>   replace_header of the current version
//   B R <key index>                    remove
// Any store error ends the process with status 2 and the error on stderr.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>

#include <fmt/format.h>

#include "crash_objects.h"
#include "store/local/local_store.h"

using namespace blobseal;
using namespace blobseal::store;
using namespace blobseal::store::testing;

namespace {

[[noreturn]] void die(std::string_view what, const Error& error) {
  std::fprintf(stderr, "store_crash_writer: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               error.to_string().c_str());
  std::exit(2);
}

void log_line(int fd, const std::string& line) {
  std::string text = line + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::perror("store_crash_writer: log");
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: store_crash_writer ROOT LOG SEED\n");
    return 64;
  }
  auto store = LocalStore::open_directory(argv[1]);
  if (!store) die("open", store.error());
  int log = ::open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log < 0) {
    std::perror("store_crash_writer: open log");
    return 2;
  }

  // Continue from the store's state.
  std::optional<CrashVersion> current[kCrashKeyCount];
  std::uint64_t next_version = 1;
  for (int k = 0; k < kCrashKeyCount; ++k) {
    auto head = (*store)->head(crash_key(k));
    if (!head) {
      if (head.error().code() != ErrorCode::kNotFound) die("head", head.error());
      continue;
    }
    current[k] = parse_crash_header(head->header);
    if (!current[k]) die("head", Error(ErrorCode::kDataLoss, "unparseable header of " + crash_key(k)));
    next_version = std::max(next_version, current[k]->version + 1);
  }
  log_line(log, "S");

  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  for (;;) {
    int k = static_cast<int>(rng() % kCrashKeyCount);
    std::string key = crash_key(k);
    std::uint64_t dice = rng() % 100;
    if (dice < 80 || !current[k]) {
      CrashVersion v{k, next_version++, choose_crash_body_size(rng), 0};
      log_line(log, fmt::format("B P {} {} {}", k, v.version, v.size));
      CrashBodySource body(v);
      PutOptions options;
      options.header = encode_crash_header(v);
      auto put = (*store)->put(key, body, options);
      if (!put) die("put", put.error());
      current[k] = v;
    } else if (dice < 93) {
      auto head = (*store)->head(key);
      if (!head) die("head", head.error());
      CrashVersion v = *current[k];
      ++v.rewraps;
      log_line(log, fmt::format("B H {} {} {} {}", k, v.version, v.size, v.rewraps));
      auto replaced = (*store)->replace_header(key, head->generation, encode_crash_header(v), head->metadata);
      if (!replaced) die("replace_header", replaced.error());
      current[k] = v;
    } else {
      log_line(log, fmt::format("B R {}", k));
      auto removed = (*store)->remove(key);
      if (!removed) die("remove", removed.error());
      current[k].reset();
    }
    log_line(log, "E");
  }
}
