// The ObjectStore conformance suite: every test runs against every implementation instantiated with
// INSTANTIATE_TEST_SUITE_P(<Name>, ObjectStoreConformance, ...) (local_store_conformance.cc for the local store).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "store/object_store.h"
#include "store_under_test.h"

namespace blobseal::store::testing {

class ObjectStoreConformance : public ::testing::TestWithParam<StoreUnderTestFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // put() with a string body, header and metadata.
  Result<ObjectInfo> put(std::string_view key, const std::string& body, const std::string& header = "h",
                         const std::map<std::string, std::string>& metadata = {},
                         std::optional<std::string> if_generation_match = std::nullopt);
  // The body of `key`, or a string starting with "<" describing the failure.
  std::string read(std::string_view key);

  std::unique_ptr<StoreUnderTest> under_test_;
  std::unique_ptr<ObjectStore> store_;
};

}  // namespace blobseal::store::testing
