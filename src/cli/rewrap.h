// The store walks that follow a key incident, sharing one walker (concurrency, checkpoint, rate limit, batches,
// SIGINT/SIGTERM, audit log, progress, report):
// - `blobseal rewrap`: after a key rotation, rewrites the envelope of every object whose data key is not under the
//   current key version (the data key is unwrapped and wrapped again; no object data is read or re-encrypted).
// - `blobseal reencrypt`: when data keys themselves may have leaked, seals the selected objects again under fresh
//   data keys (read, verify, re-encrypt), keeping everything a client sees.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "cli/commands.h"

namespace blobseal::cli {

// The options every store walk takes.
struct StoreWalkOptions {
  std::string directory;   // the store (default: --store)
  unsigned concurrency = 4;
  std::string checkpoint;  // progress file: a rerun resumes where the interrupted one stopped; removed when done
  bool dry_run = false;    // count what would be changed, write nothing
  double rate = 0;         // at most this many objects per second; 0: no limit
  std::size_t batch = 1000;  // objects listed at a time; the checkpoint advances after each batch
  std::string audit_log;   // one JSON line per changed or failed object
  bool json = false;
};

struct RewrapCommand : StoreWalkOptions {};

// 0 when every object is on the current key version (or was rewrapped), 1 when some failed, 130 when interrupted
// (SIGINT/SIGTERM; the checkpoint names where to resume).
int run_rewrap(const GlobalOptions& global, const RewrapCommand& command);

// Which objects to re-encrypt; every selector given must match, and none selects every object.
struct ReencryptCommand : StoreWalkOptions {
  std::optional<std::string> bucket;  // "" is the CLI's own namespace (objects stored with `blobseal put`)
  std::string prefix;                 // of the object key
  std::string key;                    // KEY or KEY:VERSION: data keys wrapped under that key (version)
  std::string sealed_before;          // RFC 3339 time or Unix seconds: objects sealed before it
};

// Same exit codes as run_rewrap; 2 for a malformed selector.
int run_reencrypt(const GlobalOptions& global, const ReencryptCommand& command);

}  // namespace blobseal::cli
