#include "store/registry.h"

#include <fmt/format.h>

#include "store/local/local_store.h"
#include "store/s3/s3_store.h"

namespace blobseal::store {

void StoreRegistry::add(std::string name, StoreFactory factory) { factories_[std::move(name)] = std::move(factory); }

Result<std::unique_ptr<ObjectStore>> StoreRegistry::create(const std::string& name, const StoreConfig& config) const {
  auto found = factories_.find(name);
  if (found == factories_.end()) {
    std::string known;
    for (const auto& [known_name, factory] : factories_) known += (known.empty() ? "" : ", ") + known_name;
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown object store {:?} (available: {})", name, known.empty() ? "none" : known));
  }
  return found->second(config);
}

namespace {

Result<std::unique_ptr<ObjectStore>> create_local_store(const StoreConfig& config) {
  for (const auto& [setting, value] : config)
    if (setting != "root")
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("local store: unknown setting {:?} (the only setting is \"root\")", setting));
  auto root = config.find("root");
  if (root == config.end() || root->second.empty())
    return make_error(ErrorCode::kInvalidArgument, "local store: \"root\" (the store directory) is required");
  auto store = BLOBSEAL_TRY(LocalStore::open_directory(root->second));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

Result<std::unique_ptr<ObjectStore>> create_s3_store(const StoreConfig& config) {
  auto options = BLOBSEAL_TRY(s3_store_options(config));
  auto store = BLOBSEAL_TRY(S3Store::open_bucket(std::move(options)));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace

void register_builtin_stores(StoreRegistry& registry) {
  registry.add("local", create_local_store);
  registry.add("s3", create_s3_store);
}

}  // namespace blobseal::store
