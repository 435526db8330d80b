// Builds the configured object store by name ("local", "s3"). Explicit registration, as for key managers.
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

// Registers "local" (config: "root" → directory) and "s3" (an upstream S3 bucket; settings in
// store/s3/s3_store.h, s3_store_options()).
void register_builtin_stores(StoreRegistry& registry);

}  // namespace blobseal::store
