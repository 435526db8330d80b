// The fixture the engine's tests share: a temporary directory holding a local keyring and a local store, an engine
// over them with the bucket acme/photos, and helpers to put, read and look at what the store holds.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "core/byte_stream.h"
#include "engine/engine.h"
#include "keys/local/local_keyring.h"
#include "store/registry.h"

namespace blobseal::engine::test {

inline std::string random_string(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class EngineFixture : public ::testing::Test {
 protected:
  // `directory_prefix` names the test's directory under the system's temporary one.
  explicit EngineFixture(std::string directory_prefix) : directory_prefix_(std::move(directory_prefix)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (directory_prefix_ + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto keyring = keys::LocalKeyring::create((dir_ / "keyring").string(), {});
    ASSERT_TRUE(keyring) << keyring.error().to_string();
    keyring_ = std::move(*keyring);
    store::StoreRegistry registry;
    store::register_builtin_stores(registry);
    auto s = registry.create("local", {{"root", (dir_ / "store").string()}});
    ASSERT_TRUE(s) << s.error().to_string();
    store_ = std::move(*s);
    engine_ = std::make_unique<Engine>(engine_store(), *keyring_);
    ASSERT_TRUE(engine_->create_bucket("acme", "photos"));
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    keyring_.reset();
    std::filesystem::remove_all(dir_);
  }
  // The store the engine is built over: the local store unless a test puts something in front of it.
  virtual store::ObjectStore& engine_store() { return *store_; }

  Result<ObjectSummary> put(const Location& at, const std::string& data, PutOptions options = {}) {
    SpanSource source(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
    return engine_->put(at, source, options);
  }

  std::string read(const Location& at, std::uint64_t pos = 0, std::optional<std::uint64_t> count = {}) {
    auto object = engine_->open(at);
    EXPECT_TRUE(object) << object.error().to_string();
    if (!object) return {};
    StringSink sink;
    auto status = object->read(pos, count.value_or(object->size() - pos), sink);
    EXPECT_TRUE(status) << status.error().to_string();
    return sink.out;
  }

  // The stored body (ciphertext) of a store key, whole.
  std::string stored_body(const std::string& key) {
    auto object = store_->open(key);
    EXPECT_TRUE(object);
    if (!object) return {};
    std::string out(object.value()->body().size(), '\0');
    (void)read_full_at(object.value()->body(), 0, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<keys::LocalKeyring> keyring_;
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<Engine> engine_;

 private:
  std::string directory_prefix_;
};

}  // namespace blobseal::engine::test
