// The local keyring file: permissions, create, rotation, retirement, the dual-read window, following changes made by
// other processes, concurrent writers, atomic 0600 writes.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "keys/local/local_keyring.h"
#include "test_support.h"

namespace blobseal::keys::testing {
namespace {

using ::testing::HasSubstr;

Bytes aad_for(std::string_view object) { return bytes_of(std::string("blobseal-test/") + std::string(object)); }

class KeyringTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.file("keyring.json"); }

  std::unique_ptr<LocalKeyring> create(LocalKeyringOptions options = {}) {
    auto keyring = LocalKeyring::create(path(), options);
    EXPECT_TRUE(ok(keyring));
    return keyring ? std::move(*keyring) : nullptr;
  }

  std::unique_ptr<LocalKeyring> open(LocalKeyringOptions options = {}) {
    auto keyring = LocalKeyring::open(path(), options);
    EXPECT_TRUE(ok(keyring));
    return keyring ? std::move(*keyring) : nullptr;
  }

  // Versions of `key` listed in the file on disk.
  std::vector<std::uint32_t> versions_on_disk(std::string_view key = "default") const {
    std::vector<std::uint32_t> out;
    auto document = nlohmann::json::parse(read_text(path()));
    for (auto& v : document.at("keys").at(std::string(key)).at("versions")) out.push_back(v.at("version"));
    return out;
  }

  static std::optional<KeyVersionState> state_of(LocalKeyring& keyring, std::string_view key, std::uint32_t version) {
    auto keys = keyring.describe();
    if (!keys) return std::nullopt;
    for (const auto& k : *keys)
      if (k.key_id == key)
        for (const auto& v : k.versions)
          if (v.version == version) return v.state;
    return std::nullopt;
  }

  TempDir dir_;
};

// ---- create / open ----------------------------------------------------------------------------------------------

TEST_F(KeyringTest, CreateWritesA0600KeyringWithOneDefaultKey) {
  mode_t old_umask = ::umask(0);  // a careless umask must not widen the file
  auto keyring = LocalKeyring::create(path());
  ::umask(old_umask);
  ASSERT_TRUE(ok(keyring));
  EXPECT_EQ(file_mode(path()), 0600);
  EXPECT_EQ((*keyring)->path(), path());

  auto document = nlohmann::json::parse(read_text(path()));
  EXPECT_EQ(document.at("format"), "blobseal-keyring/v1");
  EXPECT_EQ(document.at("default_key"), "default");
  EXPECT_EQ(document.at("dual_read_versions"), 0);
  ASSERT_EQ(document.at("keys").size(), 1u);
  const auto& versions = document.at("keys").at("default").at("versions");
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].at("version"), 1);
  EXPECT_TRUE(versions[0].at("retired").is_null());
  auto now = std::time(nullptr);
  EXPECT_LE(std::abs(versions[0].at("created").get<std::int64_t>() - now), 60);
  auto material = from_base64(versions[0].at("material").get<std::string>());
  ASSERT_TRUE(material.has_value());
  EXPECT_EQ(material->size(), 32u);
  // Only the keyring is left in the directory: no temporary file.
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keyring.json"});

  auto data_key = (*keyring)->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "default");
  EXPECT_EQ(data_key->wrapped.version, 1u);
  EXPECT_EQ(data_key->wrapped.ciphertext.size(), 12u + 32u + 16u);
}

TEST_F(KeyringTest, CreateWithAnotherInitialKeyName) {
  LocalKeyringOptions options;
  options.initial_key = "tenant-a.v2_main";
  auto keyring = create(options);
  ASSERT_NE(keyring, nullptr);
  auto data_key = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "tenant-a.v2_main");
  EXPECT_EQ(nlohmann::json::parse(read_text(path())).at("default_key"), "tenant-a.v2_main");
}

TEST_F(KeyringTest, CreateRefusesABadKeyNameAndWritesNothing) {
  LocalKeyringOptions options;
  options.initial_key = "no/slashes";
  auto keyring = LocalKeyring::create(path(), options);
  EXPECT_TRUE(fails_with(keyring, ErrorCode::kInvalidArgument));
  EXPECT_THAT(message_of(keyring), HasSubstr("A-Z a-z 0-9 . _ -"));
  EXPECT_TRUE(dir_.entries().empty());
}

TEST_F(KeyringTest, CreateRefusesToOverwriteAKeyring) {
  ASSERT_NE(create(), nullptr);
  std::string before = read_text(path());
  auto again = LocalKeyring::create(path());
  ASSERT_TRUE(fails_with(again, ErrorCode::kAlreadyExists));
  EXPECT_EQ(message_of(again), "keyring " + path() + " already exists; refusing to overwrite it");
  EXPECT_EQ(read_text(path()), before) << "the existing keyring was modified";
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keyring.json"});
}

TEST_F(KeyringTest, CreateRefusesToOverwriteAnyFile) {
  write_text(path(), "not a keyring", 0644);
  EXPECT_TRUE(fails_with(LocalKeyring::create(path()), ErrorCode::kAlreadyExists));
  EXPECT_EQ(read_text(path()), "not a keyring");
  // Nor a dangling symbolic link.
  ASSERT_EQ(::symlink("/nonexistent/blobseal-keyring", dir_.file("link").c_str()), 0);
  EXPECT_TRUE(fails_with(LocalKeyring::create(dir_.file("link")), ErrorCode::kAlreadyExists));
}

TEST_F(KeyringTest, CreateInAMissingDirectoryIsNotFound) {
  auto keyring = LocalKeyring::create(dir_.file("no-such-dir/keyring.json"));
  EXPECT_TRUE(fails_with(keyring, ErrorCode::kNotFound));
  EXPECT_THAT(message_of(keyring), HasSubstr("no-such-dir"));
}

TEST_F(KeyringTest, OpeningAMissingKeyringSaysHowToCreateOne) {
  auto keyring = LocalKeyring::open(path());
  ASSERT_TRUE(fails_with(keyring, ErrorCode::kNotFound));
  EXPECT_EQ(message_of(keyring), "keyring " + path() + " does not exist: create one with `blobseal keys init "
                                 "--keyring " + path() + "`");
}

TEST_F(KeyringTest, OpeningADirectoryIsRefused) {
  auto keyring = LocalKeyring::open(dir_.path());
  EXPECT_TRUE(fails_with(keyring, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(keyring), HasSubstr("not a regular file"));
}

TEST_F(KeyringTest, OpenedKeyringUnwrapsWhatTheCreatorWrapped) {
  auto creator = create();
  ASSERT_NE(creator, nullptr);
  auto data_key = creator->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  auto opened = open();
  ASSERT_NE(opened, nullptr);
  auto unwrapped = opened->unwrap(data_key->wrapped, aad_for("a"));
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
}

// ---- permissions -----------------------------------------------------------------------------------------------

class KeyringModeTest : public KeyringTest, public ::testing::WithParamInterface<int> {};

TEST_P(KeyringModeTest, GroupOrWorldAccessibleKeyringIsRefused) {
  ASSERT_NE(create(), nullptr);
  ASSERT_EQ(::chmod(path().c_str(), static_cast<mode_t>(GetParam())), 0);
  auto keyring = LocalKeyring::open(path());
  ASSERT_TRUE(fails_with(keyring, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(message_of(keyring),
            fmt::format("keyring {} is accessible by group or others (mode {:04o}) but holds secret keys; refusing "
                        "to use it: run `chmod 600 {}`",
                        path(), GetParam(), path()));
}

INSTANTIATE_TEST_SUITE_P(Modes, KeyringModeTest, ::testing::Values(0644, 0640, 0604, 0660, 0606, 0620, 0602, 0610, 0601, 0666, 0777),
                         [](const ::testing::TestParamInfo<int>& info) { return fmt::format("Mode{:04o}", info.param); });

TEST_F(KeyringTest, OwnerOnlyModesAreAccepted) {
  ASSERT_NE(create(), nullptr);
  for (mode_t mode : {0600, 0400, 0700}) {
    ASSERT_EQ(::chmod(path().c_str(), mode), 0);
    EXPECT_TRUE(ok(LocalKeyring::open(path()))) << fmt::format("{:04o}", mode);
  }
}

TEST_F(KeyringTest, WidenedPermissionsAfterOpenFailHealthAndReloadButKeepTheLoadedKeys) {
  ASSERT_NE(create(), nullptr);
  auto keyring = open();
  ASSERT_NE(keyring, nullptr);
  ASSERT_EQ(::chmod(path().c_str(), 0644), 0);

  auto reloaded = keyring->reload();
  ASSERT_TRUE(fails_with(reloaded, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(reloaded), HasSubstr("chmod 600 " + path()));
  auto health = keyring->health();
  ASSERT_TRUE(fails_with(health, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(health), HasSubstr("chmod 600 " + path()));
  // The server keeps serving with the keyring it loaded while the operator fixes the file.
  auto data_key = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  // Writers refuse to touch it too.
  EXPECT_TRUE(fails_with(keyring->rotate(), ErrorCode::kFailedPrecondition));

  ASSERT_EQ(::chmod(path().c_str(), 0600), 0);
  EXPECT_TRUE(ok(keyring->health()));
}

// ---- rotation, retirement, the dual-read window ------------------------------------------------------------------

TEST_F(KeyringTest, RotateAddsAVersionThatBecomesCurrent) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto v1 = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(v1));
  auto version = keyring->rotate();
  ASSERT_TRUE(ok(version));
  EXPECT_EQ(*version, 2u);
  EXPECT_EQ(*keyring->rotate("default"), 3u);
  EXPECT_EQ(versions_on_disk(), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(file_mode(path()), 0600);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keyring.json"});

  auto v3 = keyring->generate_data_key(aad_for("b"));
  ASSERT_TRUE(ok(v3));
  EXPECT_EQ(v3->wrapped.version, 3u);
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kActive);
  EXPECT_EQ(state_of(*keyring, "default", 2), KeyVersionState::kActive);
  EXPECT_EQ(state_of(*keyring, "default", 3), KeyVersionState::kCurrent);
  EXPECT_TRUE(ok(keyring->unwrap(v1->wrapped, aad_for("a"))));
}

TEST_F(KeyringTest, RotatingAnUnknownKeyIsNotFound) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto rotated = keyring->rotate("nope");
  ASSERT_TRUE(fails_with(rotated, ErrorCode::kNotFound));
  EXPECT_EQ(message_of(rotated), "unknown key \"nope\": keyring " + path() + " has \"default\"");
}

TEST_F(KeyringTest, RetiredVersionIsRefusedWithTheExactMessageUntilUnretired) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto v1 = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(v1));
  ASSERT_TRUE(ok(keyring->rotate()));
  ASSERT_TRUE(ok(keyring->rotate()));
  ASSERT_TRUE(ok(keyring->retire("default", 1)));
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kRetired);
  EXPECT_EQ(file_mode(path()), 0600);
  auto document = nlohmann::json::parse(read_text(path()));
  EXPECT_TRUE(document.at("keys").at("default").at("versions")[0].at("retired").is_number_integer());

  auto unwrapped = keyring->unwrap(v1->wrapped, aad_for("a"));
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(message_of(unwrapped),
            "key \"default\" version 1 is retired; rewrap objects to version 3 (blobseal rewrap) or un-retire it");
  auto needs = keyring->needs_rewrap(v1->wrapped);
  ASSERT_TRUE(ok(needs));
  EXPECT_TRUE(*needs);

  // Retiring again is a no-op; un-retiring makes it readable again.
  EXPECT_TRUE(ok(keyring->retire("default", 1)));
  ASSERT_TRUE(ok(keyring->unretire("default", 1)));
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kActive);
  EXPECT_TRUE(ok(keyring->unwrap(v1->wrapped, aad_for("a"))));
  EXPECT_TRUE(ok(keyring->unretire("default", 1)));
}

TEST_F(KeyringTest, DestroyErasesARetiredVersionsMaterialForGood) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto v1 = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(v1));
  std::string material_v1 = nlohmann::json::parse(read_text(path()))["keys"]["default"]["versions"][0]["material"];
  ASSERT_TRUE(ok(keyring->rotate()));
  auto v2 = keyring->generate_data_key(aad_for("b"));
  ASSERT_TRUE(ok(v2));

  // Only a retired version can be destroyed: the current one, and an active one, are refused as they are.
  auto early = keyring->destroy("default", 1);
  ASSERT_TRUE(fails_with(early, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(message_of(early),
            "key \"default\" version 1 is not retired; rewrap objects off it (blobseal rewrap), retire it (blobseal "
            "keys retire default 1), then destroy it");
  EXPECT_TRUE(fails_with(keyring->destroy("default", 2), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(ok(keyring->unwrap(v1->wrapped, aad_for("a")))) << "a refused destroy changed the keyring";

  ASSERT_TRUE(ok(keyring->retire("default", 1)));
  ASSERT_TRUE(ok(keyring->destroy("default", 1)));
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kDestroyed);
  EXPECT_EQ(file_mode(path()), 0600);
  std::string text = read_text(path());
  EXPECT_EQ(text.find(material_v1), std::string::npos) << "the destroyed material is still in the keyring file";
  auto version1 = nlohmann::json::parse(text)["keys"]["default"]["versions"][0];
  EXPECT_FALSE(version1.contains("material"));
  EXPECT_TRUE(version1.at("destroyed").is_number_integer());

  auto gone = keyring->unwrap(v1->wrapped, aad_for("a"));
  ASSERT_TRUE(fails_with(gone, ErrorCode::kNotFound));
  EXPECT_EQ(message_of(gone),
            "key \"default\" version 1 was destroyed (blobseal keys destroy): data keys wrapped under it can never be "
            "unwrapped again");
  EXPECT_TRUE(ok(keyring->unwrap(v2->wrapped, aad_for("b")))) << "destroying version 1 harmed version 2";
  EXPECT_TRUE(fails_with(keyring->destroy("default", 1), ErrorCode::kNotFound));
  EXPECT_TRUE(fails_with(keyring->unretire("default", 1), ErrorCode::kFailedPrecondition));

  // Another process sees the destroyed version; a later rotation never reuses its number.
  auto other = open();
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(fails_with(other->unwrap(v1->wrapped, aad_for("a")), ErrorCode::kNotFound));
  auto v3 = other->rotate();
  ASSERT_TRUE(ok(v3));
  EXPECT_EQ(*v3, 3u);
  EXPECT_EQ(versions_on_disk(), (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST_F(KeyringTest, TheKeyringIsItsOwnAdministration) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  KeyManager& manager = *keyring;
  KeyAdministration* admin = manager.administration();
  ASSERT_NE(admin, nullptr);
  auto v2 = admin->rotate();
  ASSERT_TRUE(ok(v2));
  EXPECT_EQ(*v2, 2u);
  EXPECT_TRUE(ok(admin->retire("default", 1)));
  EXPECT_TRUE(ok(admin->destroy("default", 1)));
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kDestroyed);
}

TEST_F(KeyringTest, RetiringTheCurrentVersionIsRefused) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto retired = keyring->retire("default", 1);
  ASSERT_TRUE(fails_with(retired, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(message_of(retired),
            "key \"default\" version 1 is the current version (new objects are wrapped under it) and cannot be "
            "retired; rotate first (blobseal keys rotate default), rewrap objects (blobseal rewrap), then retire it");
  ASSERT_TRUE(ok(keyring->rotate()));
  EXPECT_TRUE(fails_with(keyring->retire("default", 2), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(ok(keyring->retire("default", 1)));
}

TEST_F(KeyringTest, RetiringAnUnknownVersionOrKeyIsNotFound) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto retired = keyring->retire("default", 9);
  ASSERT_TRUE(fails_with(retired, ErrorCode::kNotFound));
  EXPECT_EQ(message_of(retired), "key \"default\" has no version 9 in keyring " + path() + " (newest: version 1)");
  EXPECT_TRUE(fails_with(keyring->retire("other", 1), ErrorCode::kNotFound));
  EXPECT_TRUE(fails_with(keyring->unretire("default", 9), ErrorCode::kNotFound));
}

TEST_F(KeyringTest, UnwrapOfAnUnknownVersionNamesKeyAndVersion) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto data_key = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  WrappedKey unknown = data_key->wrapped;
  unknown.version = 7;
  auto unwrapped = keyring->unwrap(unknown, aad_for("a"));
  ASSERT_TRUE(fails_with(unwrapped, ErrorCode::kNotFound));
  EXPECT_EQ(message_of(unwrapped), "key \"default\" has no version 7 in keyring " + path() + " (newest: version 1)");
}

TEST_F(KeyringTest, DualReadWindowFromTheFileRefusesOlderVersions) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  std::vector<DataKey> keys;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      ASSERT_TRUE(ok(keyring->rotate()));
    }
    auto data_key = keyring->generate_data_key(aad_for("a"));
    ASSERT_TRUE(ok(data_key));
    keys.push_back(std::move(*data_key));
  }
  ASSERT_TRUE(ok(keyring->set_dual_read_versions(2)));
  EXPECT_EQ(nlohmann::json::parse(read_text(path())).at("dual_read_versions"), 2);

  auto v1 = keyring->unwrap(keys[0].wrapped, aad_for("a"));
  ASSERT_TRUE(fails_with(v1, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(message_of(v1),
            "key \"default\" version 1 is outside the dual-read window (2 newest versions readable); rewrap objects "
            "to version 3 (blobseal rewrap) or widen the window (--dual-read-versions)");
  EXPECT_TRUE(ok(keyring->unwrap(keys[1].wrapped, aad_for("a"))));
  EXPECT_TRUE(ok(keyring->unwrap(keys[2].wrapped, aad_for("a"))));
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kExpired);
  EXPECT_EQ(state_of(*keyring, "default", 2), KeyVersionState::kActive);
  EXPECT_EQ(state_of(*keyring, "default", 3), KeyVersionState::kCurrent);

  ASSERT_TRUE(ok(keyring->set_dual_read_versions(1)));
  auto v2 = keyring->unwrap(keys[1].wrapped, aad_for("a"));
  ASSERT_TRUE(fails_with(v2, ErrorCode::kFailedPrecondition));
  EXPECT_EQ(message_of(v2),
            "key \"default\" version 2 is outside the dual-read window (1 newest version readable); rewrap objects "
            "to version 3 (blobseal rewrap) or widen the window (--dual-read-versions)");

  ASSERT_TRUE(ok(keyring->set_dual_read_versions(0)));
  for (const auto& k : keys) EXPECT_TRUE(ok(keyring->unwrap(k.wrapped, aad_for("a"))));
}

TEST_F(KeyringTest, TheWindowCountsOnlyVersionsThatAreNotRetired) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  auto v1 = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(v1));
  ASSERT_TRUE(ok(keyring->rotate()));
  ASSERT_TRUE(ok(keyring->rotate()));
  ASSERT_TRUE(ok(keyring->set_dual_read_versions(2)));
  EXPECT_TRUE(fails_with(keyring->unwrap(v1->wrapped, aad_for("a")), ErrorCode::kFailedPrecondition));
  ASSERT_TRUE(ok(keyring->retire("default", 2)));
  // Versions 3 and 1 are now the two newest readable versions.
  EXPECT_TRUE(ok(keyring->unwrap(v1->wrapped, aad_for("a"))));
  EXPECT_EQ(state_of(*keyring, "default", 1), KeyVersionState::kActive);
  EXPECT_EQ(state_of(*keyring, "default", 2), KeyVersionState::kRetired);
}

TEST_F(KeyringTest, TheDualReadOptionOverridesTheFile) {
  auto writer = create();
  ASSERT_NE(writer, nullptr);
  auto v1 = writer->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(v1));
  ASSERT_TRUE(ok(writer->rotate()));
  ASSERT_TRUE(ok(writer->set_dual_read_versions(0)));

  LocalKeyringOptions narrow;
  narrow.dual_read_versions = 1;
  auto strict = open(narrow);
  ASSERT_NE(strict, nullptr);
  auto refused = strict->unwrap(v1->wrapped, aad_for("a"));
  ASSERT_TRUE(fails_with(refused, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(refused), HasSubstr("(1 newest version readable)"));

  ASSERT_TRUE(ok(writer->set_dual_read_versions(1)));
  LocalKeyringOptions wide;
  wide.dual_read_versions = 0;
  auto lenient = open(wide);
  ASSERT_NE(lenient, nullptr);
  EXPECT_TRUE(ok(lenient->unwrap(v1->wrapped, aad_for("a"))));
  EXPECT_TRUE(fails_with(writer->unwrap(v1->wrapped, aad_for("a")), ErrorCode::kFailedPrecondition));
}

// ---- named keys -------------------------------------------------------------------------------------------------

TEST_F(KeyringTest, AddKeyCreatesANamedKeyAtVersionOne) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  ASSERT_TRUE(ok(keyring->add_key("archive")));
  auto data_key = keyring->generate_data_key(aad_for("a"), "archive");
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "archive");
  EXPECT_EQ(data_key->wrapped.version, 1u);
  EXPECT_EQ(*keyring->rotate("archive"), 2u);
  EXPECT_EQ(versions_on_disk("default"), std::vector<std::uint32_t>{1});
  EXPECT_EQ(versions_on_disk("archive"), (std::vector<std::uint32_t>{1, 2}));

  auto duplicate = keyring->add_key("archive");
  ASSERT_TRUE(fails_with(duplicate, ErrorCode::kAlreadyExists));
  EXPECT_EQ(message_of(duplicate), "key \"archive\" already exists in keyring " + path());

  // A data key wrapped under one key does not open when relabelled as another.
  WrappedKey relabelled = data_key->wrapped;
  relabelled.key_id = "default";
  EXPECT_TRUE(fails_with(keyring->unwrap(relabelled, aad_for("a")), ErrorCode::kDataLoss));

  auto keys = keyring->describe();
  ASSERT_TRUE(ok(keys));
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].key_id, "archive");
  EXPECT_FALSE((*keys)[0].is_default);
  EXPECT_EQ((*keys)[1].key_id, "default");
  EXPECT_TRUE((*keys)[1].is_default);
}

TEST_F(KeyringTest, KeyNamesAreChecked) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  for (std::string bad : {std::string(), std::string(65, 'k'), std::string("a/b"), std::string("a b"),
                          std::string("caf\xc3\xa9"), std::string("x\n"), std::string("..\"")}) {
    auto added = keyring->add_key(bad);
    EXPECT_TRUE(fails_with(added, ErrorCode::kInvalidArgument)) << bad;
    EXPECT_THAT(message_of(added), HasSubstr("use 1 to 64 characters from A-Z a-z 0-9 . _ -"));
  }
  EXPECT_TRUE(ok(keyring->add_key(std::string(64, 'k'))));
  EXPECT_TRUE(ok(keyring->add_key("A.b_c-9")));
}

TEST_F(KeyringTest, SetDefaultKeyChangesWhatUnnamedWrapsUse) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  ASSERT_TRUE(ok(keyring->add_key("archive")));
  ASSERT_TRUE(ok(keyring->set_default_key("archive")));
  auto data_key = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.key_id, "archive");
  EXPECT_EQ(*keyring->rotate(), 2u);  // rotates the default key
  EXPECT_EQ(versions_on_disk("archive"), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_TRUE(fails_with(keyring->set_default_key("missing"), ErrorCode::kNotFound));
}

// ---- following changes made elsewhere ---------------------------------------------------------------------------

TEST_F(KeyringTest, AnotherInstanceSeesARotationOnReload) {
  auto writer = create();
  ASSERT_NE(writer, nullptr);
  auto reader = open();  // default interval: one check per second at most
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(ok(writer->rotate()));
  ASSERT_TRUE(ok(reader->reload()));
  auto data_key = reader->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  EXPECT_EQ(data_key->wrapped.version, 2u);
}

TEST_F(KeyringTest, AnotherInstanceSeesARotationWithinTheReloadInterval) {
  auto writer = create();
  ASSERT_NE(writer, nullptr);
  auto reader = open();
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(ok(writer->rotate()));
  // Within the interval the reader does not look at the file (at most one stat per second).
  auto early = reader->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(early));
  EXPECT_EQ(early->wrapped.version, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto late = reader->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(late));
  EXPECT_EQ(late->wrapped.version, 2u) << "a long-running process did not pick up the rotation";
}

TEST_F(KeyringTest, WithAZeroIntervalEveryOperationSeesTheFile) {
  auto writer = create();
  ASSERT_NE(writer, nullptr);
  LocalKeyringOptions options;
  options.reload_interval = std::chrono::milliseconds(0);
  auto reader = open(options);
  ASSERT_NE(reader, nullptr);
  for (std::uint32_t expected = 2; expected <= 4; ++expected) {
    ASSERT_TRUE(ok(writer->rotate()));
    auto data_key = reader->generate_data_key(aad_for("a"));
    ASSERT_TRUE(ok(data_key));
    EXPECT_EQ(data_key->wrapped.version, expected);
  }
  ASSERT_TRUE(ok(writer->retire("default", 2)));
  EXPECT_EQ(state_of(*reader, "default", 2), KeyVersionState::kRetired);
}

TEST_F(KeyringTest, UnwrapOfANewerVersionLooksAtTheFileAtOnce) {
  auto writer = create();
  ASSERT_NE(writer, nullptr);
  auto reader = open();
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(ok(writer->rotate()));
  auto data_key = writer->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  ASSERT_EQ(data_key->wrapped.version, 2u);
  // Another node wrapped under version 2 a moment ago: no NotFound while the reader's interval runs.
  auto unwrapped = reader->unwrap(data_key->wrapped, aad_for("a"));
  ASSERT_TRUE(ok(unwrapped));
  EXPECT_TRUE(same_bytes(unwrapped->view(), data_key->plaintext.view()));
}

TEST_F(KeyringTest, ABrokenFileKeepsTheLastGoodKeyringAndFailsHealthUntilFixed) {
  auto writer = create();
  ASSERT_NE(writer, nullptr);
  std::string good = read_text(path());
  LocalKeyringOptions options;
  options.reload_interval = std::chrono::milliseconds(0);
  auto reader = open(options);
  ASSERT_NE(reader, nullptr);

  write_text(path(), "{\"format\": \"blobseal-keyring/v1\", ", 0600);
  auto data_key = reader->generate_data_key(aad_for("a"));
  EXPECT_TRUE(ok(data_key));
  auto health = reader->health();
  ASSERT_TRUE(fails_with(health, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(health), HasSubstr("is not valid JSON"));
  EXPECT_THAT(message_of(health), HasSubstr("cannot be loaded"));

  write_text(path(), good, 0600);
  EXPECT_TRUE(ok(reader->health()));
}

TEST_F(KeyringTest, HealthFailsWhenTheKeyringIsRemoved) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  ASSERT_EQ(::unlink(path().c_str()), 0);
  auto health = keyring->health();
  EXPECT_TRUE(fails_with(health, ErrorCode::kNotFound));
  EXPECT_THAT(message_of(health), HasSubstr("does not exist"));
}

// ---- concurrent writers -----------------------------------------------------------------------------------------

TEST_F(KeyringTest, ConcurrentRotationsFromThreadsLoseNoVersion) {
  ASSERT_NE(create(), nullptr);
  constexpr int kThreads = 2;
  constexpr int kRotations = 25;
  std::atomic<int> failures{0};
  std::vector<std::vector<std::uint32_t>> returned(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto keyring = LocalKeyring::open(path());  // separate instances, as separate CLI runs would be
      if (!keyring) {
        ++failures;
        return;
      }
      for (int i = 0; i < kRotations; ++i) {
        auto version = (*keyring)->rotate();
        if (version) returned[t].push_back(*version);
        else ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);

  std::vector<std::uint32_t> expected;
  for (std::uint32_t v = 1; v <= 1 + kThreads * kRotations; ++v) expected.push_back(v);
  EXPECT_EQ(versions_on_disk(), expected);
  std::set<std::uint32_t> distinct;
  for (const auto& r : returned) distinct.insert(r.begin(), r.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kRotations)) << "two rotations got one number";
  EXPECT_EQ(file_mode(path()), 0600);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keyring.json"});
}

TEST_F(KeyringTest, ConcurrentRotationsFromProcessesLoseNoVersion) {
  ASSERT_NE(create(), nullptr);
  constexpr int kProcesses = 2;
  constexpr int kRotations = 20;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      char start;
      ::close(go[1]);
      if (::read(go[0], &start, 1) != 0) ::_exit(3);  // wait for the parent to close the pipe
      auto keyring = LocalKeyring::open(path());
      if (!keyring) ::_exit(2);
      for (int i = 0; i < kRotations; ++i)
        if (!(*keyring)->rotate()) ::_exit(1);
      ::_exit(0);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);  // start both at once
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  std::vector<std::uint32_t> expected;
  for (std::uint32_t v = 1; v <= 1 + kProcesses * kRotations; ++v) expected.push_back(v);
  EXPECT_EQ(versions_on_disk(), expected);
  EXPECT_EQ(file_mode(path()), 0600);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keyring.json"});
}

// ---- how the file is written ------------------------------------------------------------------------------------

TEST_F(KeyringTest, EveryWriteLeavesA0600File) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  ASSERT_EQ(::chmod(path().c_str(), 0400), 0);  // read-only for the owner is fine, and is replaced by 0600
  mode_t old_umask = ::umask(0);
  auto rotated = keyring->rotate();
  ::umask(old_umask);
  ASSERT_TRUE(ok(rotated));
  EXPECT_EQ(file_mode(path()), 0600);
  ASSERT_TRUE(ok(keyring->add_key("k2")));
  EXPECT_EQ(file_mode(path()), 0600);
  ASSERT_TRUE(ok(keyring->retire("default", 1)));
  EXPECT_EQ(file_mode(path()), 0600);
}

TEST_F(KeyringTest, AKeyringReachedThroughASymlinkIsReplacedAtItsTarget) {
  ASSERT_NE(create(), nullptr);
  std::string link = dir_.file("current-keyring");
  ASSERT_EQ(::symlink(path().c_str(), link.c_str()), 0);
  auto keyring = LocalKeyring::open(link);
  ASSERT_TRUE(ok(keyring));
  ASSERT_TRUE(ok((*keyring)->rotate()));
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the symbolic link was replaced by a file";
  EXPECT_EQ(versions_on_disk(), (std::vector<std::uint32_t>{1, 2}));
}

TEST_F(KeyringTest, RootRewritingAnotherUsersKeyringKeepsItsOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  ASSERT_EQ(::chown(path().c_str(), 12345, 23456), 0);
  ASSERT_TRUE(ok(keyring->rotate()));
  struct stat st {};
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 23456u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(KeyringTest, AFailedChangeWritesNothing) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  std::string before = read_text(path());
  EXPECT_FALSE(keyring->retire("default", 1));
  EXPECT_FALSE(keyring->rotate("missing"));
  EXPECT_FALSE(keyring->add_key("default"));
  EXPECT_EQ(read_text(path()), before);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"keyring.json"});
}

// ---- secrets stay secret ----------------------------------------------------------------------------------------

TEST_F(KeyringTest, NoErrorMessageOrDescriptionContainsKeyMaterial) {
  auto keyring = create();
  ASSERT_NE(keyring, nullptr);
  ASSERT_TRUE(ok(keyring->rotate()));
  ASSERT_TRUE(ok(keyring->add_key("archive")));
  auto data_key = keyring->generate_data_key(aad_for("a"));
  ASSERT_TRUE(ok(data_key));
  auto old_key = keyring->generate_data_key(aad_for("a"), "archive");
  ASSERT_TRUE(ok(old_key));
  ASSERT_TRUE(ok(keyring->rotate("archive")));
  ASSERT_TRUE(ok(keyring->retire("archive", 1)));

  std::vector<std::string> secrets = keyring_secret_strings(path());
  ASSERT_EQ(secrets.size(), 4u * 3u);
  for (auto& s : secret_encodings(data_key->plaintext.view())) secrets.push_back(s);

  std::vector<std::string> texts;
  auto collect = [&](const auto& result) {
    EXPECT_FALSE(result);
    if (!result) texts.push_back(result.error().to_string());
  };
  collect(keyring->unwrap(old_key->wrapped, aad_for("a")));  // retired
  WrappedKey tampered = data_key->wrapped;
  tampered.ciphertext.back() ^= 1;
  collect(keyring->unwrap(tampered, aad_for("a")));
  collect(keyring->unwrap(data_key->wrapped, aad_for("b")));
  collect(keyring->retire("default", 2));
  collect(keyring->retire("default", 5));
  collect(keyring->rotate("nope"));
  collect(keyring->add_key("bad name"));
  collect(LocalKeyring::create(path()));
  ASSERT_TRUE(ok(keyring->set_dual_read_versions(1)));
  WrappedKey v1 = data_key->wrapped;
  ASSERT_TRUE(ok(keyring->rotate()));
  collect(keyring->unwrap(v1, aad_for("a")));  // outside the window
  ASSERT_EQ(::chmod(path().c_str(), 0644), 0);
  collect(LocalKeyring::open(path()));
  collect(keyring->health());
  ASSERT_EQ(::chmod(path().c_str(), 0600), 0);

  auto keys = keyring->describe();
  ASSERT_TRUE(ok(keys));
  texts.push_back(describe_text(*keys));
  secrets = keyring_secret_strings(path());
  for (auto& s : secret_encodings(data_key->plaintext.view())) secrets.push_back(s);
  for (const auto& text : texts) EXPECT_FALSE(contains_secret(text, secrets)) << "key material leaked into a message";
}

// ---- BLOB_KEY keyrings have no file to manage ----------------------------------------------------------------------

TEST(BlobKeyKeyringTest, ManagementIsRefusedWithAHint) {
  auto keyring = LocalKeyring::from_blob_key(to_base64(Bytes(32, 0x42)));
  ASSERT_TRUE(ok(keyring));
  EXPECT_TRUE((*keyring)->path().empty());
  auto rotated = (*keyring)->rotate();
  ASSERT_TRUE(fails_with(rotated, ErrorCode::kFailedPrecondition));
  EXPECT_THAT(message_of(rotated), HasSubstr("blobseal keys init --keyring FILE"));
  EXPECT_TRUE(fails_with((*keyring)->add_key("x"), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(fails_with((*keyring)->retire("BLOB_KEY", 1), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(fails_with((*keyring)->unretire("BLOB_KEY", 1), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(fails_with((*keyring)->set_dual_read_versions(1), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(ok((*keyring)->reload()));
}

}  // namespace
}  // namespace blobseal::keys::testing
