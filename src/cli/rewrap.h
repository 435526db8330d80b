// `blobseal rewrap`: after a key rotation, rewrites the envelope of every object whose data key is not under the
// current key version (the data key is unwrapped and wrapped again; no object data is read or re-encrypted).
#pragma once

#include <string>

#include "cli/commands.h"

namespace blobseal::cli {

struct RewrapCommand {
  std::string directory;   // the store (default: --store)
  unsigned concurrency = 4;
  std::string checkpoint;  // progress file: a rerun resumes after the last finished page; removed when done
  bool dry_run = false;    // count what would be rewrapped, write nothing
  double rate = 0;         // at most this many objects per second; 0: no limit
  std::size_t batch = 1000;  // objects listed at a time; the checkpoint advances after each batch
  std::string audit_log;   // one JSON line per rewrapped or failed object
  bool json = false;
};

// 0 when every object is on the current key version (or was rewrapped), 1 when some failed, 130 when interrupted
// (SIGINT/SIGTERM; the checkpoint names where to resume).
int run_rewrap(const GlobalOptions& global, const RewrapCommand& command);

}  // namespace blobseal::cli
