// Builds the configured object store by name ("local"; later "s3"). Explicit registration, as for key managers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "store/object_store.h"

namespace blobseal::store {

using StoreConfig = std::map<std::string, std::string>;
using StoreFactory = std::function<Result<std::unique_ptr<ObjectStore>>(const StoreConfig&)>;

class StoreRegistry {
 public:
  void add(std::string name, StoreFactory factory);
  Result<std::unique_ptr<ObjectStore>> create(const std::string& name, const StoreConfig& config) const;

 private:
  std::map<std::string, StoreFactory> factories_;
};

// Registers "local" (config: "root" → directory).
void register_builtin_stores(StoreRegistry& registry);

}  // namespace blobseal::store
