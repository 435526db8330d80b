// Runs the ObjectStore conformance suite against the upstream S3 store, on the real upstream named by the
// environment (tests/upstream/with_upstream.sh starts one: Ceph RGW or s3rver). Without one, nothing is
// instantiated and the binary reports no tests.
#include "object_store_conformance.h"
#include "s3_upstream.h"

namespace blobseal::store::testing {
namespace {

std::vector<StoreUnderTestFactory> upstream_factories() {
  auto environment = upstream_environment();
  if (!environment) return {};
  std::string name = environment->kind.empty() ? "Upstream" : environment->kind;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return {StoreUnderTestFactory{"S3_" + name, [e = *environment] { return std::make_unique<S3StoreUnderTest>(e); }}};
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ObjectStoreConformance);
INSTANTIATE_TEST_SUITE_P(S3, ObjectStoreConformance, ::testing::ValuesIn(upstream_factories()),
                         [](const ::testing::TestParamInfo<StoreUnderTestFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace blobseal::store::testing
