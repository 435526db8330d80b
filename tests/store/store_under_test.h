// What the ObjectStore conformance suite needs from a store implementation (Arrow's GenericFileSystemTest model):
// a way to make a fresh empty store, plus what the implementation can show about itself. A new implementation
// (store/s3/) adds one StoreUnderTest and one INSTANTIATE_TEST_SUITE_P line, and runs every test unchanged.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "store/object_store.h"

namespace blobseal::store::testing {

class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;

  // A new, empty store that belongs to one test; it is destroyed before this object.
  virtual Result<std::unique_ptr<ObjectStore>> create_empty() = 0;

  // For a store kept in a local directory: that directory, and the directory around it, which no key may write
  // into. nullopt for a remote store, whose containment tests are then skipped.
  virtual std::optional<std::filesystem::path> root() const { return std::nullopt; }
  virtual std::optional<std::filesystem::path> sandbox() const { return std::nullopt; }

  // Whether the service under the store replaces an object's bytes and its ETag together, so that a reader never
  // pairs one write's body with another write's ETag. False for s3rver, a fake that writes an object's data and
  // metadata files in place one after the other (../shared/RECIPES.md): the tests of concurrent compare-and-swap
  // on one key are skipped there (they run on Ceph RGW and on the local store).
  virtual bool atomic_object_replacement() const { return true; }

  // The names a store root may contain; anything else there means something leaked.
  virtual bool is_expected_root_entry(const std::string& /*name*/) const { return true; }
};

struct StoreUnderTestFactory {
  std::string name;  // becomes the test-name suffix
  std::function<std::unique_ptr<StoreUnderTest>()> make;

  friend void PrintTo(const StoreUnderTestFactory& factory, std::ostream* out) { *out << factory.name; }
};

}  // namespace blobseal::store::testing
