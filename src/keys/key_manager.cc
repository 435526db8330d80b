#include "keys/key_manager.h"

namespace blobseal::keys {

std::string_view to_string(KeyVersionState state) {
  switch (state) {
    case KeyVersionState::kCurrent: return "current";
    case KeyVersionState::kActive: return "active";
    case KeyVersionState::kExpired: return "expired";
    case KeyVersionState::kRetired: return "retired";
    case KeyVersionState::kDestroyed: return "destroyed";
  }
  return "unknown";
}

}  // namespace blobseal::keys
