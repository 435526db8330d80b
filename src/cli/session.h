// What the store commands share: the store and key manager the global options name, and how a command reports a
// failure.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "core/error.h"
#include "engine/engine.h"

namespace blobseal::cli {

// A store, the key manager, and the engine over both; destroyed engine first.
struct Session {
  std::unique_ptr<keys::KeyManager> keys;
  std::unique_ptr<store::ObjectStore> store;
  std::unique_ptr<engine::Engine> engine;
};

// Opens the store at `root` (InvalidArgument when empty) with the key manager of `global`.
Result<Session> open_session(const GlobalOptions& global, const std::string& root);

// Prints "blobseal COMMAND: ERROR" to stderr and returns 1, the exit code of a failed command.
int fail(std::string_view command, const Error& error);

}  // namespace blobseal::cli
