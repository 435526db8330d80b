#include "cli/rewrap.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/progress.h"
#include "cli/session.h"
#include "engine/engine.h"
#include "obs/json_lines_file_sink.h"

namespace blobseal::cli {

namespace {

// ---- the walker ------------------------------------------------------------------------------------------------

std::atomic<bool> g_walk_stop{false};
extern "C" void on_walk_signal(int) { g_walk_stop = true; }

// Spaces the objects of all workers `1 / rate` seconds apart.
class RateLimit {
 public:
  explicit RateLimit(double rate)
      : interval_(rate > 0 ? std::chrono::duration<double>(1.0 / rate) : std::chrono::duration<double>(0)) {}
  void wait() {
    if (interval_.count() == 0) return;
    std::chrono::steady_clock::time_point slot;
    {
      std::lock_guard lock(mu_);
      auto now = std::chrono::steady_clock::now();
      next_ = std::max(next_, now);
      slot = next_;
      next_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval_);
    }
    std::this_thread::sleep_until(slot);
  }

 private:
  std::chrono::duration<double> interval_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_{};
};

// Where a walk resumes: every key up to `after` is done, and so are the keys in `done` (finished in the page that
// was interrupted, so that a resumed reencrypt does not seal them a second time).
struct Checkpoint {
  std::string after;
  std::set<std::string> done;
};

// The checkpoint also names the command and its selection, so that it is not resumed by another walk.
Result<Checkpoint> read_checkpoint(const std::string& path, const std::string& command, const std::string& selection) {
  std::ifstream in(path);
  if (!in) return Checkpoint{};
  nlohmann::json saved = nlohmann::json::parse(in, nullptr, false);
  auto malformed = [&] {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("checkpoint {} is not a blobseal {} checkpoint; remove "
                                                               "it to start over", path, command));
  };
  if (saved.is_discarded() || !saved.is_object() || !saved.contains("after") || !saved["after"].is_string())
    return malformed();
  if (saved.contains("command") && saved["command"] != command) return malformed();
  if (saved.contains("selection") && saved["selection"] != selection)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("checkpoint {} was written by a {} of other objects ({}); give the same selectors, "
                                  "or remove it to start over", path, command, saved["selection"].dump()));
  Checkpoint checkpoint;
  checkpoint.after = saved["after"].get<std::string>();
  if (saved.contains("done")) {
    if (!saved["done"].is_array()) return malformed();
    for (const auto& key : saved["done"]) {
      if (!key.is_string()) return malformed();
      checkpoint.done.insert(key.get<std::string>());
    }
  }
  return checkpoint;
}

Status write_checkpoint(const std::string& path, const std::string& command, const std::string& selection,
                        const Checkpoint& checkpoint) {
  nlohmann::json out{{"after", checkpoint.after}, {"command", command}};
  if (!selection.empty()) out["selection"] = selection;
  if (!checkpoint.done.empty()) out["done"] = checkpoint.done;
  std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << out.dump() << "\n";
    file.flush();
    if (!file) return make_error(ErrorCode::kUnavailable, fmt::format("cannot write checkpoint {}", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) return make_error(errno_error("rename", temporary));
  return {};
}

// What became of one object of a walk.
enum class ObjectOutcome {
  kSkipped,    // not counted: an internal record, or outside the selection
  kChanged,    // rewrapped / re-encrypted (in a dry run: would be)
  kUnchanged,  // nothing to do (already on the current key version)
  kReplaced,   // a client replaced it during the run; nothing left to do
};

// One walk over a store: what it calls each object, and how it reports.
struct StoreWalk {
  std::string command;       // "rewrap": messages and the checkpoint
  std::string audit_action;  // "Rewrap"; "RewrapDryRun" in a dry run
  std::string changed_json, would_change_json;  // report fields: "rewrapped", "to_rewrap"
  std::string changed_text, would_change_text;  // "rewrapped", "to rewrap"
  std::string unchanged_json, unchanged_text;   // empty: the walk has no such objects
  bool reports_replaced = false;
  std::string list_prefix;   // only store keys under it are listed
  std::string selection;     // the selectors, recorded in the checkpoint
  // Called from several threads at once. NotFound counts the object as removed during the run; any other error, as
  // failed.
  std::function<Result<ObjectOutcome>(engine::Engine& engine, const std::string& storage_key)> process;
};

int run_walk(const GlobalOptions& global, const StoreWalkOptions& options, const StoreWalk& walk) {
  const char* name = walk.command.c_str();
  std::string root = options.directory.empty() ? global.store : options.directory;
  auto session = open_session(global, root);
  if (!session) return fail(name, session.error());
  Checkpoint checkpoint;
  if (!options.checkpoint.empty()) {
    auto saved = read_checkpoint(options.checkpoint, walk.command, walk.selection);
    if (!saved) return fail(name, saved.error());
    checkpoint = std::move(*saved);
  }
  std::unique_ptr<obs::JsonLinesFileSink> audit;
  if (!options.audit_log.empty()) {
    auto sink = obs::JsonLinesFileSink::open(options.audit_log, {});
    if (!sink) return fail(name, sink.error());
    audit = std::move(*sink);
  }
  g_walk_stop = false;
  struct sigaction action {};
  action.sa_handler = on_walk_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);

  std::atomic<std::uint64_t> examined{0}, changed{0}, unchanged{0}, replaced{0}, gone{0}, failed{0};
  std::mutex failures_mu;
  std::vector<std::pair<std::string, std::string>> failures;  // storage key, error
  RateLimit limit(options.rate);
  Progress progress(options.dry_run ? walk.command + " (dry run)" : walk.command, std::nullopt,
                    !global.quiet && !options.json);
  unsigned workers = std::max(1u, options.concurrency);
  auto& engine = *session->engine;
  std::string audit_action = options.dry_run ? walk.audit_action + "DryRun" : walk.audit_action;

  // True when the object needs no further visit (everything but a failure).
  auto process = [&](const std::string& key) -> bool {
    limit.wait();
    auto outcome = walk.process(engine, key);
    obs::AuditEvent event;
    event.time = std::chrono::system_clock::now();
    event.action = audit_action;
    if (auto location = engine::Engine::location_of(key)) {
      event.bucket = location->bucket;
      event.key = location->key;
    } else {
      event.key = key;
    }
    if (!outcome && outcome.error().code() == ErrorCode::kNotFound) {
      ++gone;
      return true;
    }
    if (outcome && *outcome == ObjectOutcome::kSkipped) return true;
    ++examined;
    if (!outcome) {
      ++failed;
      // The audit line carries the whole error, not just its code: which chunk, which key version.
      event.error_code = outcome.error().to_string();
      {
        std::lock_guard lock(failures_mu);
        failures.emplace_back(key, outcome.error().to_string());
      }
      if (audit) audit->record(std::move(event));
      return false;
    }
    switch (*outcome) {
      case ObjectOutcome::kChanged:
        ++changed;
        if (audit) audit->record(std::move(event));
        break;
      case ObjectOutcome::kUnchanged:
        ++unchanged;
        break;
      case ObjectOutcome::kReplaced:
        ++replaced;
        break;
      case ObjectOutcome::kSkipped:
        break;
    }
    return true;
  };

  auto save = [&](const std::set<std::string>& done) -> Status {
    if (options.checkpoint.empty()) return {};
    Checkpoint now{checkpoint.after, {}};
    for (const auto& key : done)
      if (key > now.after) now.done.insert(key);
    return write_checkpoint(options.checkpoint, walk.command, walk.selection, now);
  };

  bool finished = false;
  Status walked = [&]() -> Status {
    for (;;) {
      store::ListRequest request;
      request.prefix = walk.list_prefix;
      request.start_after = checkpoint.after;
      request.max_keys = std::max<std::size_t>(1, options.batch);
      auto page = BLOBSEAL_TRY(session->store->list(request));
      std::vector<std::string> keys;
      for (const auto& info : page.objects)
        if (!checkpoint.done.contains(info.key)) keys.push_back(info.key);
      std::vector<char> done(keys.size(), 0);  // written by one worker each, read after the join
      std::atomic<std::size_t> next{0};
      std::vector<std::thread> threads;
      for (unsigned i = 0; i < workers; ++i)
        threads.emplace_back([&] {
          for (std::size_t k; !g_walk_stop && (k = next++) < keys.size();) done[k] = process(keys[k]) ? 1 : 0;
        });
      for (auto& t : threads) t.join();
      progress.set_items(examined);
      if (g_walk_stop) {
        // This page resumes from its start, without the objects finished in it.
        std::set<std::string> finished_keys = checkpoint.done;
        for (std::size_t k = 0; k < keys.size(); ++k)
          if (done[k]) finished_keys.insert(keys[k]);
        return save(finished_keys);
      }
      if (!page.truncated) {
        finished = true;
        return {};
      }
      checkpoint.after = page.next_start_after;
      std::erase_if(checkpoint.done, [&](const std::string& key) { return key <= checkpoint.after; });
      BLOBSEAL_TRY_STATUS(save(checkpoint.done));
    }
  }();
  progress.finish();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (audit) (void)audit->flush();
  if (!walked) return fail(name, walked.error());
  if (finished && !options.checkpoint.empty()) std::remove(options.checkpoint.c_str());

  if (options.json) {
    nlohmann::json failed_list = nlohmann::json::array();
    for (const auto& [key, error] : failures) failed_list.push_back({{"key", key}, {"error", error}});
    nlohmann::json out{{"objects", examined.load()}};
    out[options.dry_run ? walk.would_change_json : walk.changed_json] = changed.load();
    if (!walk.unchanged_json.empty()) out[walk.unchanged_json] = unchanged.load();
    if (walk.reports_replaced) out["replaced_during_run"] = replaced.load();
    out["removed_during_run"] = gone.load();
    out["failed"] = failed_list;
    out["complete"] = finished;
    out["dry_run"] = options.dry_run;
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& [key, error] : failures) std::printf("FAILED %s: %s\n", key.c_str(), error.c_str());
    std::string line = fmt::format("{} objects: {} {}", examined.load(), changed.load(),
                                   options.dry_run ? walk.would_change_text : walk.changed_text);
    if (!walk.unchanged_text.empty()) line += fmt::format(", {} {}", unchanged.load(), walk.unchanged_text);
    if (walk.reports_replaced) line += fmt::format(", {} replaced by clients during the run", replaced.load());
    line += fmt::format(", {} failed{}", failed.load(), finished ? "" : "; interrupted");
    std::printf("%s\n", line.c_str());
  }
  if (!finished) {
    std::fprintf(stderr, "blobseal %s: interrupted%s\n", name,
                 options.checkpoint.empty() ? "" : "; run it again with the same --checkpoint to resume");
    return 130;
  }
  return failed > 0 ? 1 : 0;
}

// ---- selectors -----------------------------------------------------------------------------------------------

// "KEY" or "KEY:VERSION" (a key name may itself hold colons; only a decimal suffix is a version).
struct KeySelector {
  std::string key_id;
  std::optional<std::uint32_t> version;
};

Result<KeySelector> parse_key_selector(const std::string& text) {
  KeySelector selector{text, std::nullopt};
  auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    std::string digits = text.substr(colon + 1);
    if (!digits.empty() && digits.size() <= 9 && std::all_of(digits.begin(), digits.end(), ::isdigit)) {
      selector.key_id = text.substr(0, colon);
      selector.version = static_cast<std::uint32_t>(std::stoul(digits));
    }
  }
  if (selector.key_id.empty())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("--key expects KEY or KEY:VERSION, got {:?}", text));
  return selector;
}

// Unix seconds ("1767225600") or RFC 3339 ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00.5+01:00"), as nanoseconds
// since the epoch.
Result<std::int64_t> parse_time(const std::string& text) {
  auto bad = [&] {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--sealed-before expects an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds, "
                                  "got {:?}", text));
  };
  // Nanoseconds since the epoch end in 2262; a later time selects as "now" would.
  auto to_ns = [](std::int64_t seconds, std::int64_t fraction_ns) -> std::int64_t {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    if (seconds > (kMax - fraction_ns) / 1000000000) return kMax;
    return seconds * 1000000000 + fraction_ns;
  };
  if (!text.empty() && text.size() <= 12 && std::all_of(text.begin(), text.end(), ::isdigit))
    return to_ns(std::stoll(text), 0);
  int year, month, day, hour, minute, second, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
                  &consumed) != 6 || consumed != 19)
    return bad();
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return bad();
  std::string_view rest(text.c_str() + consumed);
  std::int64_t fraction_ns = 0;
  if (rest.starts_with('.')) {
    rest.remove_prefix(1);
    std::int64_t scale = 100000000;
    std::size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      fraction_ns += (rest[digits] - '0') * scale;
      scale /= 10;
      ++digits;
    }
    if (digits == 0) return bad();
    rest.remove_prefix(digits);
  }
  std::int64_t offset_s = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
             std::isdigit(static_cast<unsigned char>(rest[1])) && std::isdigit(static_cast<unsigned char>(rest[2])) &&
             std::isdigit(static_cast<unsigned char>(rest[4])) && std::isdigit(static_cast<unsigned char>(rest[5]))) {
    int hours = (rest[1] - '0') * 10 + (rest[2] - '0'), minutes = (rest[4] - '0') * 10 + (rest[5] - '0');
    if (hours > 23 || minutes > 59) return bad();
    offset_s = (hours * 3600 + minutes * 60) * (rest[0] == '-' ? -1 : 1);
  } else {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::int64_t seconds = static_cast<std::int64_t>(timegm(&tm)) - offset_s;
  return to_ns(seconds, fraction_ns);
}

}  // namespace

// ---- rewrap ----------------------------------------------------------------------------------------------------

int run_rewrap(const GlobalOptions& global, const RewrapCommand& command) {
  StoreWalk walk;
  walk.command = "rewrap";
  walk.audit_action = "Rewrap";
  walk.changed_json = "rewrapped";
  walk.would_change_json = "to_rewrap";
  walk.changed_text = "rewrapped";
  walk.would_change_text = "to rewrap";
  walk.unchanged_json = "already_current";
  walk.unchanged_text = "already on the current key version";
  bool dry_run = command.dry_run;
  walk.process = [dry_run](engine::Engine& engine, const std::string& key) -> Result<ObjectOutcome> {
    Result<std::optional<bool>> outcome = std::optional<bool>();
    // An object replaced or removed during the run: a replacement is sealed under the current version already (it
    // is checked again), a removal needs nothing. A refusal for the key's state (a reason set, see
    // engine::kKeyDisabledReason) will not change by asking again.
    for (int attempt = 0; attempt < 3; ++attempt) {
      outcome = dry_run ? engine.needs_rewrap_stored(key) : engine.rewrap_stored(key);
      if (outcome || outcome.error().code() != ErrorCode::kFailedPrecondition || !outcome.error().reason().empty())
        break;
    }
    if (!outcome) return make_error(outcome.error());
    if (!*outcome) return ObjectOutcome::kSkipped;  // an internal record without a data key of its own
    return **outcome ? ObjectOutcome::kChanged : ObjectOutcome::kUnchanged;
  };
  return run_walk(global, command, walk);
}

// ---- reencrypt -------------------------------------------------------------------------------------------------

int run_reencrypt(const GlobalOptions& global, const ReencryptCommand& command) {
  engine::ReencryptSelection selection;
  selection.bucket = command.bucket;
  selection.prefix = command.prefix;
  auto usage = [](const Error& error) {
    fail("reencrypt", error);
    return 2;
  };
  if (command.bucket && command.bucket->find('/') != std::string::npos)
    return usage(Error(ErrorCode::kInvalidArgument, fmt::format("--bucket {:?} is not a bucket name", *command.bucket)));
  if (!command.key.empty()) {
    auto key = parse_key_selector(command.key);
    if (!key) return usage(key.error());
    selection.key_id = key->key_id;
    selection.key_version = key->version;
  }
  if (!command.sealed_before.empty()) {
    auto before = parse_time(command.sealed_before);
    if (!before) return usage(before.error());
    selection.sealed_before_unix_ns = *before;
  }

  StoreWalk walk;
  walk.command = "reencrypt";
  walk.audit_action = "Reencrypt";
  walk.changed_json = "reencrypted";
  walk.would_change_json = "to_reencrypt";
  walk.changed_text = "re-encrypted";
  walk.would_change_text = "to re-encrypt";
  walk.reports_replaced = true;
  // With a bucket, only its keys are listed; without one, the prefix is matched in every bucket.
  if (selection.bucket) walk.list_prefix = *selection.bucket + "/" + selection.prefix;
  nlohmann::json selectors = nlohmann::json::object();
  if (selection.bucket) selectors["bucket"] = *selection.bucket;
  if (!selection.prefix.empty()) selectors["prefix"] = selection.prefix;
  if (selection.key_id) selectors["key"] = command.key;
  if (selection.sealed_before_unix_ns) selectors["sealed_before_ns"] = *selection.sealed_before_unix_ns;
  walk.selection = selectors.dump();
  bool dry_run = command.dry_run;
  walk.process = [selection, dry_run](engine::Engine& engine, const std::string& key) -> Result<ObjectOutcome> {
    auto outcome = BLOBSEAL_TRY(engine.reencrypt_stored(key, selection, dry_run));
    if (!outcome) return ObjectOutcome::kSkipped;
    if (*outcome == engine::ReencryptOutcome::kReplacedMeanwhile) return ObjectOutcome::kReplaced;
    return ObjectOutcome::kChanged;
  };
  return run_walk(global, command, walk);
}

}  // namespace blobseal::cli
