// The cases every KeyManager must pass. Instantiations live next to each provider's tests
// (local_keyring_conformance_test.cc for the keyring file and BLOB_KEY).
#include "key_manager_conformance.h"

#include <atomic>
#include <thread>

#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

// Shaped like the engine's associated data (FORMAT.md: "blobseal.dev/dek@v1" || 0 || location || object id).
Bytes location_aad(std::string_view key, std::uint8_t object_id_byte = 7) {
  Bytes aad = bytes_of("blobseal.dev/dek@v1");
  aad.push_back(0);
  for (std::string_view part : {std::string_view("tenant"), std::string_view("bucket"), key}) {
    put_u32(aad, static_cast<std::uint32_t>(part.size()));
    put_bytes(aad, as_bytes(part));
  }
  aad.insert(aad.end(), 16, object_id_byte);
  return aad;
}

bool mentions(const Error& error, std::string_view text) { return error.message().find(text) != std::string::npos; }

TEST_P(KeyManagerConformance, GeneratesFreshDataKeysThatUnwrap) {
  Bytes aad = location_aad("photos/a.jpg");
  auto first = manager().generate_data_key(aad);
  auto second = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(first));
  ASSERT_TRUE(ok(second));
  EXPECT_EQ(first->plaintext.size(), kDataKeySize);
  EXPECT_FALSE(same_bytes(first->plaintext.view(), second->plaintext.view())) << "two data keys are equal";
  EXPECT_FALSE(same_bytes(first->wrapped.ciphertext, second->wrapped.ciphertext));

  auto unwrapped = manager().unwrap(first->wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), first->plaintext.view())) << "unwrap returned another key";
}

TEST_P(KeyManagerConformance, WrapsAnExistingDataKey) {
  SecretBytes data_key(kDataKeySize);
  for (std::size_t i = 0; i < data_key.size(); ++i) data_key.data()[i] = static_cast<std::uint8_t>(i * 7 + 1);
  Bytes aad = location_aad("docs/report.pdf");
  auto wrapped = manager().wrap(data_key, aad);
  ASSERT_TRUE(ok(wrapped));
  auto again = manager().wrap(data_key, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_FALSE(same_bytes(wrapped->ciphertext, again->ciphertext)) << "wrapping is deterministic";
  auto unwrapped = manager().unwrap(*wrapped, aad);
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key.view()));
}

TEST_P(KeyManagerConformance, WrappedKeyNamesProviderKeyAndCurrentVersion) {
  auto data_key = manager().generate_data_key(location_aad("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.provider, manager().id());
  EXPECT_FALSE(manager().id().empty());
  EXPECT_EQ(data_key->wrapped.key_id, harness().default_key_id());
  EXPECT_GE(data_key->wrapped.version, 1u);
  auto rewrap = manager().needs_rewrap(data_key->wrapped);
  ASSERT_TRUE(ok(rewrap));
  EXPECT_FALSE(*rewrap);

  // Naming the default key explicitly is the same as naming none.
  auto named = manager().generate_data_key(location_aad("a"), harness().default_key_id());
  ASSERT_TRUE(ok(named));
  EXPECT_EQ(named->wrapped.key_id, data_key->wrapped.key_id);
  EXPECT_EQ(named->wrapped.version, data_key->wrapped.version);
}

TEST_P(KeyManagerConformance, WrongAssociatedDataIsDataLoss) {
  Bytes aad = location_aad("photos/a.jpg");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));

  // Another object key, another object id, no associated data, one flipped bit.
  Bytes flipped = aad;
  flipped[flipped.size() / 2] ^= 0x01;
  for (const Bytes& other : {location_aad("photos/b.jpg"), location_aad("photos/a.jpg", 8), Bytes{}, flipped}) {
    auto unwrapped = manager().unwrap(data_key->wrapped, other);
    EXPECT_TRUE(fails_with(unwrapped, ErrorCode::kDataLoss));
  }
}

TEST_P(KeyManagerConformance, EveryFlippedByteOfTheWrappedKeyIsDataLoss) {
  Bytes aad = location_aad("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  for (std::size_t i = 0; i < data_key->wrapped.ciphertext.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
      WrappedKey tampered = data_key->wrapped;
      tampered.ciphertext[i] ^= mask;
      auto unwrapped = manager().unwrap(tampered, aad);
      EXPECT_TRUE(fails_with(unwrapped, ErrorCode::kDataLoss)) << "byte " << i << " mask " << int{mask};
    }
  }
}

TEST_P(KeyManagerConformance, TruncatedOrExtendedWrappedKeyIsDataLoss) {
  Bytes aad = location_aad("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  const Bytes& good = data_key->wrapped.ciphertext;
  std::vector<Bytes> variants = {Bytes{}, Bytes(good.begin(), good.end() - 1), Bytes(good.begin() + 1, good.end())};
  Bytes longer = good;
  longer.push_back(0);
  variants.push_back(longer);
  for (const Bytes& ciphertext : variants) {
    WrappedKey tampered = data_key->wrapped;
    tampered.ciphertext = ciphertext;
    EXPECT_TRUE(fails_with(manager().unwrap(tampered, aad), ErrorCode::kDataLoss)) << ciphertext.size() << " bytes";
  }
}

TEST_P(KeyManagerConformance, UnknownVersionIsNotFoundNamingKeyAndVersion) {
  Bytes aad = location_aad("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  WrappedKey unknown = data_key->wrapped;
  unknown.version = data_key->wrapped.version + 1000;
  auto unwrapped = manager().unwrap(unknown, aad);
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kNotFound));
  EXPECT_TRUE(mentions(unwrapped.error(), harness().default_key_id())) << unwrapped.error().message();
  EXPECT_TRUE(mentions(unwrapped.error(), std::to_string(unknown.version))) << unwrapped.error().message();
}

TEST_P(KeyManagerConformance, UnknownKeyIsNotFoundNamingTheKey) {
  Bytes aad = location_aad("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  WrappedKey unknown = data_key->wrapped;
  unknown.key_id = "no-such-key";
  auto unwrapped = manager().unwrap(unknown, aad);
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kNotFound));
  EXPECT_TRUE(mentions(unwrapped.error(), "no-such-key")) << unwrapped.error().message();

  auto generated = manager().generate_data_key(aad, "no-such-key");
  ASSERT_TRUE(fails_with(generated, ErrorCode::kNotFound));
  EXPECT_TRUE(mentions(generated.error(), "no-such-key")) << generated.error().message();
  SecretBytes some_key(kDataKeySize);
  EXPECT_TRUE(fails_with(manager().wrap(some_key, aad, "no-such-key"), ErrorCode::kNotFound));
  EXPECT_TRUE(fails_with(manager().needs_rewrap(unknown), ErrorCode::kNotFound));
}

TEST_P(KeyManagerConformance, WrappedKeyOfAnotherProviderIsRefused) {
  Bytes aad = location_aad("x");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  WrappedKey foreign = data_key->wrapped;
  foreign.provider = manager().id() + "-other";
  auto unwrapped = manager().unwrap(foreign, aad);
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(mentions(unwrapped.error(), foreign.provider)) << unwrapped.error().message();
  EXPECT_TRUE(fails_with(manager().needs_rewrap(foreign), ErrorCode::kFailedPrecondition));
}

TEST_P(KeyManagerConformance, DataKeyOfTheWrongSizeIsRefused) {
  for (std::size_t size : {0, 16, 31, 33, 64}) {
    SecretBytes data_key(size);
    EXPECT_TRUE(fails_with(manager().wrap(data_key, location_aad("x")), ErrorCode::kInvalidArgument)) << size;
  }
}

TEST_P(KeyManagerConformance, DataKeysWrappedBeforeRotationStillUnwrap) {
  if (!harness().can_rotate()) GTEST_SKIP() << GetParam().name << " cannot rotate";
  Bytes aad = location_aad("old/object");
  auto old_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  auto new_version = harness().rotate_default_key();
  ASSERT_TRUE(ok(new_version));
  EXPECT_GT(*new_version, old_key->wrapped.version);

  auto new_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  EXPECT_EQ(new_key->wrapped.version, *new_version) << "new wraps do not use the rotated version";
  EXPECT_EQ(new_key->wrapped.key_id, old_key->wrapped.key_id);

  auto old_unwrapped = manager().unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(old_unwrapped));
  EXPECT_TRUE(same_bytes(old_unwrapped->view(), old_key->plaintext.view()));
  auto new_unwrapped = manager().unwrap(new_key->wrapped, aad);
  ASSERT_TRUE(ok(new_unwrapped));
  EXPECT_TRUE(same_bytes(new_unwrapped->view(), new_key->plaintext.view()));
}

TEST_P(KeyManagerConformance, NeedsRewrapIsTrueOnlyForOlderVersions) {
  if (!harness().can_rotate()) GTEST_SKIP() << GetParam().name << " cannot rotate";
  Bytes aad = location_aad("x");
  auto old_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  ASSERT_TRUE(ok(harness().rotate_default_key()));
  auto new_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));

  auto old_needs = manager().needs_rewrap(old_key->wrapped);
  auto new_needs = manager().needs_rewrap(new_key->wrapped);
  ASSERT_TRUE(ok(old_needs));
  ASSERT_TRUE(ok(new_needs));
  EXPECT_TRUE(*old_needs);
  EXPECT_FALSE(*new_needs);

  // Rewrap: unwrap the old, wrap under the current version; the data key is unchanged.
  auto data_key = manager().unwrap(old_key->wrapped, aad);
  ASSERT_TRUE(ok(data_key));
  auto rewrapped = manager().wrap(*data_key, aad, old_key->wrapped.key_id);
  ASSERT_TRUE(ok(rewrapped));
  EXPECT_EQ(rewrapped->version, new_key->wrapped.version);
  auto needs = manager().needs_rewrap(*rewrapped);
  ASSERT_TRUE(ok(needs));
  EXPECT_FALSE(*needs);
  auto again = manager().unwrap(*rewrapped, aad);
  ASSERT_TRUE(ok(again));
  EXPECT_TRUE(same_bytes(again->view(), old_key->plaintext.view()));
}

TEST_P(KeyManagerConformance, AWrappedKeyRelabelledWithAnotherVersionIsDataLoss) {
  if (!harness().can_rotate()) GTEST_SKIP() << GetParam().name << " cannot rotate";
  Bytes aad = location_aad("x");
  auto old_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(old_key));
  ASSERT_TRUE(ok(harness().rotate_default_key()));
  auto new_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(new_key));
  WrappedKey relabelled = old_key->wrapped;
  relabelled.version = new_key->wrapped.version;
  EXPECT_TRUE(fails_with(manager().unwrap(relabelled, aad), ErrorCode::kDataLoss));
  relabelled = new_key->wrapped;
  relabelled.version = old_key->wrapped.version;
  EXPECT_TRUE(fails_with(manager().unwrap(relabelled, aad), ErrorCode::kDataLoss));
}

TEST_P(KeyManagerConformance, DescribeListsTheDefaultKeyWithItsCurrentVersion) {
  auto data_key = manager().generate_data_key(location_aad("x"));
  ASSERT_TRUE(ok(data_key));
  auto keys = manager().describe();
  ASSERT_TRUE(ok(keys));
  int defaults = 0;
  for (const auto& key : *keys) {
    EXPECT_FALSE(key.versions.empty()) << key.key_id;
    for (std::size_t i = 1; i < key.versions.size(); ++i)
      EXPECT_LT(key.versions[i - 1].version, key.versions[i].version) << key.key_id << ": versions not ascending";
    int current = 0;
    for (const auto& v : key.versions) current += v.state == KeyVersionState::kCurrent;
    EXPECT_LE(current, 1) << key.key_id;
    if (!key.is_default) continue;
    ++defaults;
    EXPECT_EQ(key.key_id, harness().default_key_id());
    EXPECT_EQ(current, 1);
    for (const auto& v : key.versions)
      if (v.state == KeyVersionState::kCurrent) {
        EXPECT_EQ(v.version, data_key->wrapped.version);
      }
  }
  EXPECT_EQ(defaults, 1);
}

TEST_P(KeyManagerConformance, DescribeShowsRotatedVersions) {
  if (!harness().can_rotate()) GTEST_SKIP() << GetParam().name << " cannot rotate";
  auto before = manager().generate_data_key(location_aad("x"));
  ASSERT_TRUE(ok(before));
  auto rotated = harness().rotate_default_key();
  ASSERT_TRUE(ok(rotated));
  auto keys = manager().describe();
  ASSERT_TRUE(ok(keys));
  bool saw_old = false, saw_new = false;
  for (const auto& key : *keys) {
    if (key.key_id != harness().default_key_id()) continue;
    for (const auto& v : key.versions) {
      if (v.version == before->wrapped.version) {
        saw_old = true;
        EXPECT_EQ(v.state, KeyVersionState::kActive);
      }
      if (v.version == *rotated) {
        saw_new = true;
        EXPECT_EQ(v.state, KeyVersionState::kCurrent);
      }
    }
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

TEST_P(KeyManagerConformance, HealthIsOk) { EXPECT_TRUE(ok(manager().health())); }

TEST_P(KeyManagerConformance, ConcurrentWrapsAndUnwrapsAgree) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        Bytes aad = location_aad("object-" + std::to_string(t) + "-" + std::to_string(i));
        auto data_key = manager().generate_data_key(aad);
        if (!data_key) {
          ++failures;
          continue;
        }
        auto unwrapped = manager().unwrap(data_key->wrapped, aad);
        if (!unwrapped || !same_bytes(unwrapped->view(), data_key->plaintext.view())) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(KeyManagerConformance, NoKeyMaterialInErrorsOrDescribe) {
  Bytes aad = location_aad("secret/object");
  auto data_key = manager().generate_data_key(aad);
  ASSERT_TRUE(ok(data_key));
  if (harness().can_rotate()) {
    ASSERT_TRUE(ok(harness().rotate_default_key()));
  }
  std::vector<std::string> secrets = harness().secret_strings();
  if (secrets.empty()) GTEST_SKIP() << GetParam().name << " does not reveal its key material";
  // The data key is a secret too.
  for (auto& s : secret_encodings(data_key->plaintext.view())) secrets.push_back(s);

  std::vector<std::string> texts;
  auto collect = [&](const auto& result) {
    if (!result) texts.push_back(result.error().to_string());
  };
  WrappedKey tampered = data_key->wrapped;
  tampered.ciphertext[20] ^= 1;
  collect(manager().unwrap(tampered, aad));
  collect(manager().unwrap(data_key->wrapped, location_aad("elsewhere")));
  WrappedKey unknown = data_key->wrapped;
  unknown.version += 1000;
  collect(manager().unwrap(unknown, aad));
  unknown = data_key->wrapped;
  unknown.key_id = "missing";
  collect(manager().unwrap(unknown, aad));
  collect(manager().generate_data_key(aad, "missing"));
  WrappedKey foreign = data_key->wrapped;
  foreign.provider = "other";
  collect(manager().unwrap(foreign, aad));
  SecretBytes short_key(16);
  collect(manager().wrap(short_key, aad));
  EXPECT_GE(texts.size(), 7u);

  auto keys = manager().describe();
  ASSERT_TRUE(ok(keys));
  texts.push_back(describe_text(*keys));
  for (const auto& text : texts) EXPECT_FALSE(contains_secret(text, secrets)) << "key material leaked into a message";
}

}  // namespace
}  // namespace blobseal::keys::testing
