// Runs the ObjectStore conformance suite against the local store, each test in a fresh directory.
#include "object_store_conformance.h"
#include "store/local/local_store.h"
#include "test_sources.h"

namespace blobseal::store::testing {
namespace {

class LocalStoreUnderTest final : public StoreUnderTest {
 public:
  LocalStoreUnderTest() : sandbox_("store-conformance"), root_(sandbox_.path() / "store") {}

  Result<std::unique_ptr<ObjectStore>> create_empty() override {
    auto store = BLOBSEAL_TRY(LocalStore::open_directory(root_));
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  std::optional<std::filesystem::path> root() const override { return root_; }
  std::optional<std::filesystem::path> sandbox() const override { return sandbox_.path(); }
  bool is_expected_root_entry(const std::string& name) const override {
    return name == "data" || name == "tmp" || name == "index.sqlite" || name == "index.sqlite-wal" ||
           name == "index.sqlite-shm";
  }

 private:
  TemporaryDirectory sandbox_;
  std::filesystem::path root_;
};

INSTANTIATE_TEST_SUITE_P(Local, ObjectStoreConformance,
                         ::testing::Values(StoreUnderTestFactory{
                             "Local", [] { return std::make_unique<LocalStoreUnderTest>(); }}),
                         [](const ::testing::TestParamInfo<StoreUnderTestFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace blobseal::store::testing
