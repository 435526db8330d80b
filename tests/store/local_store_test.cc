// What only the local store has: its directory layout, data files named by random ids, hard-linked copies,
// orphan collection that never races a writer, stale temporary files, the registry entry, damage on disk.
#include <sqlite3.h>
#include <sys/file.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "list_model.h"
#include "store/local/commit_watch.h"
#include "store/local/sqlite_connection.h"
#include "store/local/local_store.h"
#include "store/registry.h"
#include "test_sources.h"

namespace blobseal::store {
namespace {

namespace fs = std::filesystem;
using testing::bytes_of;
using testing::pattern_string;
using testing::read_body;
using testing::StringSource;
using testing::TemporaryDirectory;

// The index row's data file, read with SQLite directly (the schema is documented in object_index.h).
std::string data_file_of(const fs::path& root, const std::string& key) {
  sqlite3* db = nullptr;
  std::string id;
  if (sqlite3_open_v2((root / "index.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, "SELECT data_file FROM objects WHERE key = ?1", -1, &statement, nullptr);
    sqlite3_bind_blob(statement, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(statement) == SQLITE_ROW)
      id = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return id;
}

fs::path data_path(const fs::path& root, const std::string& id) { return root / "data" / id.substr(0, 2) / id; }

std::vector<fs::path> files_under(const fs::path& directory) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(directory))
    if (!entry.is_directory()) files.push_back(entry.path());
  return files;
}

void set_age(const fs::path& path, std::chrono::seconds age) {
  struct timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= age.count();
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = LocalStore::open_directory(root_);
    ASSERT_TRUE(store) << store.error().to_string();
    store_ = std::move(*store);
  }

  Result<ObjectInfo> put(const std::string& key, const std::string& body, const std::string& header = "h") {
    StringSource source(body);
    PutOptions options;
    options.header = bytes_of(header);
    return store_->put(key, source, options);
  }
  std::string read(const std::string& key) {
    auto object = store_->open(key);
    if (!object) return "<" + object.error().to_string() + ">";
    return read_body(**object);
  }

  TemporaryDirectory dir_{"local-store"};
  fs::path root_ = dir_.path() / "store";
  std::unique_ptr<LocalStore> store_;
};

// ---- opening ----------------------------------------------------------------------------------------------------

TEST_F(LocalStoreTest, TheRegistryBuildsLocalStoresFromConfiguration) {
  StoreRegistry registry;
  register_builtin_stores(registry);
  auto store = registry.create("local", {{"root", (dir_.path() / "via-registry").string()}});
  ASSERT_TRUE(store) << store.error().to_string();
  StringSource body(std::string("x"));
  ASSERT_TRUE((*store)->put("k", body, {}));
  EXPECT_NE(dynamic_cast<LocalStore*>(store->get()), nullptr);

  auto unknown = registry.create("nfs", {{"root", "/x"}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message().find("local"), std::string::npos) << unknown.error().message();
  auto no_root = registry.create("local", {});
  ASSERT_FALSE(no_root);
  EXPECT_EQ(no_root.error().code(), ErrorCode::kInvalidArgument);
  auto typo = registry.create("local", {{"root", (dir_.path() / "r").string()}, {"rot", "x"}});
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(typo.error().message().find("rot"), std::string::npos);
}

TEST_F(LocalStoreTest, TheRootIsCreatedPrivateWithItsParents) {
  fs::path nested = dir_.path() / "a" / "b" / "c";
  auto store = LocalStore::open_directory(nested);
  ASSERT_TRUE(store) << store.error().to_string();
  for (const fs::path& p : {dir_.path() / "a", dir_.path() / "a" / "b", nested, nested / "data", nested / "tmp"}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << p;
  }
  StringSource body(std::string("x"));
  ASSERT_TRUE((*store)->put("k", body, {}));
  for (const char* name : {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat((nested / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  write_file(dir_.path() / "file", "not a directory");
  auto on_file = LocalStore::open_directory(dir_.path() / "file");
  ASSERT_FALSE(on_file);
  EXPECT_EQ(on_file.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(LocalStore::open_directory(""));
}

TEST_F(LocalStoreTest, AnIndexFromANewerSchemaIsRefused) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "index.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 2", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = LocalStore::open_directory(root_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kUnimplemented);
  EXPECT_NE(store.error().message().find("version 2"), std::string::npos) << store.error().message();
}

TEST_F(LocalStoreTest, ObjectsSurviveReopeningAndASecondInstanceSeesThem) {
  std::string body = pattern_string(1, 300000);
  ASSERT_TRUE(put("persisted", body, "env"));
  auto second = LocalStore::open_directory(root_);  // what another process opening the same root does
  ASSERT_TRUE(second);
  auto object = (*second)->open("persisted");
  ASSERT_TRUE(object);
  EXPECT_TRUE(read_body(**object) == body);
  StringSource other(std::string("from the second instance"));
  ASSERT_TRUE((*second)->put("other", other, {}));
  EXPECT_EQ(read("other"), "from the second instance");

  store_.reset();
  second->reset();
  auto reopened = LocalStore::open_directory(root_);
  ASSERT_TRUE(reopened);
  auto again = (*reopened)->open("persisted");
  ASSERT_TRUE(again);
  EXPECT_TRUE(read_body(**again) == body);
  EXPECT_EQ((*again)->info().header, bytes_of("env"));
}

// ---- files on disk ----------------------------------------------------------------------------------------------

TEST_F(LocalStoreTest, BodiesAreFilesNamedByRandomIdsAndNothingElse) {
  std::vector<std::string> keys = {"../../etc/passwd", "/abs", "a/../../b", std::string(1024, 'x'), "Ab", "aB", "k"};
  for (const auto& key : keys) ASSERT_TRUE(put(key, "body " + key));
  const std::regex data_name("[0-9a-f]{2}/([0-9a-f]{32})");
  std::set<std::string> ids;
  for (const fs::path& file : files_under(root_ / "data")) {
    std::string relative = fs::relative(file, root_ / "data").string();
    std::smatch match;
    ASSERT_TRUE(std::regex_match(relative, match, data_name)) << relative;
    EXPECT_EQ(relative.substr(0, 2), match[1].str().substr(0, 2));
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0400u) << "bodies are read-only";
    ids.insert(match[1].str());
  }
  EXPECT_EQ(ids.size(), keys.size());
  for (const auto& key : keys) EXPECT_EQ(ids.count(data_file_of(root_, key)), 1u) << key;
  EXPECT_TRUE(fs::is_empty(root_ / "tmp"));
}

TEST_F(LocalStoreTest, ReplacingOrRemovingUnlinksTheOldBody) {
  ASSERT_TRUE(put("k", "first"));
  std::string first = data_file_of(root_, "k");
  ASSERT_TRUE(put("k", "second"));
  std::string second = data_file_of(root_, "k");
  EXPECT_NE(first, second);
  EXPECT_FALSE(fs::exists(data_path(root_, first)));
  EXPECT_TRUE(fs::exists(data_path(root_, second)));
  ASSERT_TRUE(store_->remove("k"));
  EXPECT_FALSE(fs::exists(data_path(root_, second)));
  EXPECT_TRUE(files_under(root_ / "data").empty());
}

TEST_F(LocalStoreTest, CopyHardLinksAndReplaceHeaderLeavesTheBodyFileAlone) {
  std::string body = pattern_string(2, 1 << 20);
  auto source = put("src", body);
  ASSERT_TRUE(source);
  fs::path source_file = data_path(root_, data_file_of(root_, "src"));
  struct stat before {};
  ASSERT_EQ(::stat(source_file.c_str(), &before), 0);

  ASSERT_TRUE(store_->copy("src", "dst", {}));
  fs::path copy_file = data_path(root_, data_file_of(root_, "dst"));
  EXPECT_NE(copy_file, source_file);
  struct stat copied {};
  ASSERT_EQ(::stat(copy_file.c_str(), &copied), 0);
  EXPECT_EQ(copied.st_ino, before.st_ino) << "a copy links the same bytes";
  EXPECT_EQ(copied.st_nlink, 2u);

  auto head = store_->head("src");
  ASSERT_TRUE(store_->replace_header("src", head->generation, bytes_of("rewrapped"), {}));
  struct stat after {};
  ASSERT_EQ(::stat(source_file.c_str(), &after), 0) << "replace_header must keep the same data file";
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);

  ASSERT_TRUE(store_->remove("src"));
  EXPECT_TRUE(read("dst") == body);
  ASSERT_EQ(::stat(copy_file.c_str(), &copied), 0);
  EXPECT_EQ(copied.st_nlink, 1u);
}

TEST_F(LocalStoreTest, AMissingOrTruncatedBodyIsDataLossNotNotFound) {
  ASSERT_TRUE(put("missing", "some bytes"));
  ASSERT_TRUE(put("truncated", "some more bytes"));
  fs::remove(data_path(root_, data_file_of(root_, "missing")));
  auto missing = store_->open("missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kDataLoss) << missing.error().to_string();
  EXPECT_TRUE(store_->head("missing")) << "the index row is intact";

  fs::path truncated = data_path(root_, data_file_of(root_, "truncated"));
  ::chmod(truncated.c_str(), 0600);
  ASSERT_EQ(::truncate(truncated.c_str(), 4), 0);
  auto short_body = store_->open("truncated");
  ASSERT_FALSE(short_body);
  EXPECT_EQ(short_body.error().code(), ErrorCode::kDataLoss) << short_body.error().to_string();
}

// ---- index rows kept between reads (entry_cache.h, commit_watch.h) ---------------------------------------------

// Runs store_writer (store_writer.cc) in a process of its own, as the CLI runs beside a server; returns its status.
int run_store_writer(std::vector<std::string> args) {
  std::vector<char*> argv{const_cast<char*>(BLOBSEAL_STORE_WRITER)};
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, BLOBSEAL_STORE_WRITER, nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST_F(LocalStoreTest, TheCommitWatchSeesEveryCommitAndNothingElse) {
  ASSERT_TRUE(put("k", "body"));
  auto connection = local::SqliteConnection::open((root_ / "index.sqlite").string(), {});
  ASSERT_TRUE(connection) << connection.error().to_string();
  ASSERT_TRUE((*connection)->execute("BEGIN; SELECT count(*) FROM objects; COMMIT;"));
  auto watch = local::CommitWatch::open(**connection);
  ASSERT_TRUE(watch) << watch.error().to_string();
  auto before = (*watch)->snapshot();
  ASSERT_TRUE(before) << "the WAL index header is not where sqlite.org/walformat.html says: nothing would ever be kept";
  ASSERT_TRUE(store_->head("k"));
  ASSERT_EQ(read("k"), "body");
  EXPECT_TRUE((*watch)->unchanged_since(*before)) << "reads must not look like commits";

  ASSERT_TRUE(put("k", "another body"));
  EXPECT_FALSE((*watch)->unchanged_since(*before));
  auto after_put = (*watch)->snapshot();
  ASSERT_TRUE(after_put);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "index.sqlite").c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "UPDATE objects SET generation = 'g'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_FALSE((*watch)->unchanged_since(*after_put));
}

TEST_F(LocalStoreTest, AKeptRowNeverOutlivesAWriteByAnotherProcess) {
  ASSERT_TRUE(put("k", "old body"));
  // Read twice, so that the row is kept and the second read may come from what was kept.
  ASSERT_EQ(read("k"), "old body");
  ASSERT_EQ(read("k"), "old body");
  ASSERT_TRUE(store_->head("k"));

  ASSERT_EQ(run_store_writer({root_.string(), "put", "k", "new body from another process"}), 0);
  EXPECT_EQ(read("k"), "new body from another process");
  EXPECT_EQ(read("k"), "new body from another process");

  ASSERT_EQ(run_store_writer({root_.string(), "remove", "k"}), 0);
  auto gone = store_->open("k");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound) << gone.error().to_string();
  EXPECT_FALSE(store_->head("k"));

  // A key known absent is found once another process creates it.
  ASSERT_EQ(run_store_writer({root_.string(), "put", "k", "back again"}), 0);
  EXPECT_EQ(read("k"), "back again");
}

TEST_F(LocalStoreTest, AKeptRowNeverOutlivesAWriteByASecondStoreOnTheSameDirectory) {
  auto second = LocalStore::open_directory(root_);
  ASSERT_TRUE(second) << second.error().to_string();
  ASSERT_TRUE(put("k", "old body"));
  ASSERT_EQ(read("k"), "old body");
  ASSERT_EQ(read("k"), "old body");
  for (int round = 0; round < 20; ++round) {
    std::string body = fmt::format("body {}", round);
    StringSource source(body);
    PutOptions options;
    options.header = bytes_of("h");
    ASSERT_TRUE((*second)->put("k", source, options));
    ASSERT_EQ(read("k"), body) << "round " << round;
    ASSERT_EQ(store_->head("k")->body_size, body.size());
  }
  ASSERT_TRUE((*second)->remove("k"));
  EXPECT_FALSE(store_->open("k"));
}

TEST_F(LocalStoreTest, AKeptRowNeverOutlivesAWriteBySQLiteItself) {
  // Another program (the sqlite3 shell, an operator's script restoring a row) follows no protocol of ours.
  auto written = put("k", "body");
  ASSERT_TRUE(written);
  ASSERT_EQ(store_->head("k")->generation, written->generation);
  ASSERT_EQ(store_->head("k")->generation, written->generation);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ / "index.sqlite").c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "UPDATE objects SET generation = 'set-by-sqlite'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto info = store_->head("k");
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->generation, "set-by-sqlite");
}

TEST_F(LocalStoreTest, AKeptDataFileIsReadAgainAtEveryOpen) {
  // Descriptors are kept, bytes are not: damage on disk after a read is seen by the next one, as without keeping.
  ASSERT_TRUE(put("k", "original bytes"));
  ASSERT_EQ(read("k"), "original bytes");
  fs::path file = data_path(root_, data_file_of(root_, "k"));
  ::chmod(file.c_str(), 0600);
  {
    std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(0);
    out.write("damaged!", 8);
  }
  EXPECT_EQ(read("k"), "damaged! bytes");
  // Replaced, the old file is no longer read (its descriptor is dropped, and the row names another file).
  ASSERT_TRUE(put("k", "replacement"));
  EXPECT_EQ(read("k"), "replacement");
}

TEST_F(LocalStoreTest, ConcurrentReadersNeverSeeAnOlderBodyThanTheLastCompletedWrite) {
  auto second = LocalStore::open_directory(root_);
  ASSERT_TRUE(second) << second.error().to_string();
  ASSERT_TRUE(put("k", "0"));
  std::atomic<int> completed{0};
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      while (!done) {
        int floor = completed.load();
        std::string body = read("k");
        if (body.starts_with("<") || std::stoi(body) < floor) ++violations;
      }
    });
  for (int i = 1; i <= 100; ++i) {
    StringSource source(std::to_string(i));
    PutOptions options;
    options.header = bytes_of("h");
    ASSERT_TRUE((*second)->put("k", source, options));
    completed = i;
  }
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(violations.load(), 0);
}

// ---- failures and orphans ---------------------------------------------------------------------------------------

TEST_F(LocalStoreTest, FailedPutsAndCopiesLeaveNoFiles) {
  ASSERT_TRUE(put("k", "old"));
  StringSource failing(pattern_string(3, 3 << 20), 2 << 20);
  EXPECT_FALSE(store_->put("k", failing, {}));
  PutOptions bad_finalize;
  bad_finalize.finalize_header = []() -> Result<Bytes> { return make_error(ErrorCode::kInternal, "no"); };
  StringSource body(std::string("new"));
  EXPECT_FALSE(store_->put("k", body, bad_finalize));
  PutOptions only_if_absent;
  only_if_absent.if_generation_match = "";
  StringSource again(std::string("new"));
  EXPECT_EQ(store_->put("k", again, only_if_absent).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->copy("k", "k", only_if_absent).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(store_->copy("k", "k2", bad_finalize));
  PutOptions oversized;
  oversized.header = Bytes((16 << 20) + 1, 0);
  StringSource small(std::string("x"));
  EXPECT_EQ(store_->put("k3", small, oversized).error().code(), ErrorCode::kResourceExhausted);

  EXPECT_EQ(read("k"), "old");
  EXPECT_EQ(files_under(root_ / "data").size(), 1u);
  EXPECT_TRUE(fs::is_empty(root_ / "tmp"));
  auto orphans = store_->orphan_data_files();
  ASSERT_TRUE(orphans);
  EXPECT_TRUE(orphans->empty());
}

TEST_F(LocalStoreTest, OrphansAreListedNeverShownAndCollectedByAge) {
  ASSERT_TRUE(put("real", "real body"));
  // What a crash leaves: a body renamed into data/ but never committed, and a half-written temporary file.
  std::string orphan_id = "0123456789abcdef0123456789abcdef";
  std::string temp_id = "fedcba9876543210fedcba9876543210";
  fs::create_directories(root_ / "data" / "01");
  write_file(data_path(root_, orphan_id), "orphan");
  write_file(root_ / "tmp" / temp_id, "partial");
  write_file(root_ / "tmp" / "not-ours.txt", "left alone");  // not an id: not the store's file

  auto listed = store_->list({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].key, "real");

  auto orphans = store_->orphan_data_files();
  ASSERT_TRUE(orphans);
  std::sort(orphans->begin(), orphans->end());
  EXPECT_EQ(*orphans, (std::vector<std::string>{"data/01/" + orphan_id, "tmp/" + temp_id}));

  ASSERT_TRUE(store_->remove_orphans(std::chrono::hours(1)));
  EXPECT_TRUE(fs::exists(data_path(root_, orphan_id))) << "younger than min_age";
  set_age(data_path(root_, orphan_id), std::chrono::hours(2));
  ASSERT_TRUE(store_->remove_orphans(std::chrono::hours(1)));
  EXPECT_FALSE(fs::exists(data_path(root_, orphan_id)));
  EXPECT_TRUE(fs::exists(root_ / "tmp" / temp_id));
  ASSERT_TRUE(store_->remove_orphans(std::chrono::seconds(0)));
  EXPECT_FALSE(fs::exists(root_ / "tmp" / temp_id));
  EXPECT_TRUE(fs::exists(root_ / "tmp" / "not-ours.txt"));
  EXPECT_EQ(read("real"), "real body");
  EXPECT_TRUE(store_->orphan_data_files()->empty());
}

TEST_F(LocalStoreTest, StaleTemporaryFilesAreRemovedWhenTheStoreOpens) {
  std::string stale = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  std::string young = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  std::string held = "cccccccccccccccccccccccccccccccc";
  for (const auto& id : {stale, young, held}) write_file(root_ / "tmp" / id, "partial body");
  set_age(root_ / "tmp" / stale, std::chrono::hours(2));
  set_age(root_ / "tmp" / held, std::chrono::hours(2));
  // A writer in another process holds its file for as long as it writes, however old the file looks.
  int fd = ::open((root_ / "tmp" / held).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_SH), 0);

  auto reopened = LocalStore::open_directory(root_);
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(fs::exists(root_ / "tmp" / stale));
  EXPECT_TRUE(fs::exists(root_ / "tmp" / young));
  EXPECT_TRUE(fs::exists(root_ / "tmp" / held));
  auto orphans = (*reopened)->orphan_data_files();
  ASSERT_TRUE(orphans);
  EXPECT_EQ(*orphans, std::vector<std::string>{"tmp/" + young}) << "a held file is no orphan";
  ::close(fd);
}

// Blocks a store operation at a known point until released.
class Gate {
 public:
  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    arrived_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
  }
  void wait_for_arrival() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return arrived_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool arrived_ = false;
  bool released_ = false;
};

// A body that stops halfway until its gate opens.
class GatedSource final : public ByteSource {
 public:
  GatedSource(std::string data, Gate& gate) : data_(std::move(data)), gate_(gate) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (position_ >= data_.size() / 2 && !passed_) {
      passed_ = true;
      gate_.arrive_and_wait();
    }
    std::size_t n = std::min(out.size(), data_.size() - position_);
    if (!passed_) n = std::min(n, data_.size() / 2 - position_);
    std::memcpy(out.data(), data_.data() + position_, n);
    position_ += n;
    return n;
  }

 private:
  std::string data_;
  Gate& gate_;
  std::size_t position_ = 0;
  bool passed_ = false;
};

TEST_F(LocalStoreTest, CollectionNeverTakesAFileAWriterStillHolds) {
  // Another instance on the same root, as `blobseal verify --gc` in another process would be, collects with
  // min_age 0 while writes are paused at each point where their file exists but no row names it yet.
  auto collector = LocalStore::open_directory(root_);
  ASSERT_TRUE(collector);
  std::string body = pattern_string(4, 3 << 20);

  auto collect_and_expect_nothing = [&](const char* when) {
    auto orphans = (*collector)->orphan_data_files();
    ASSERT_TRUE(orphans);
    EXPECT_TRUE(orphans->empty()) << when << ": " << (orphans->empty() ? "" : orphans->front());
    std::size_t files = files_under(root_).size();
    ASSERT_TRUE((*collector)->remove_orphans(std::chrono::seconds(0)));
    EXPECT_EQ(files_under(root_).size(), files) << when << ": a held file was deleted";
  };

  {  // 1. halfway through the body, in tmp/
    Gate gate;
    GatedSource source(body, gate);
    auto put = std::async(std::launch::async, [&] { return store_->put("streaming", source, {}); });
    gate.wait_for_arrival();
    EXPECT_EQ(files_under(root_ / "tmp").size(), 1u);
    collect_and_expect_nothing("while streaming");
    gate.release();
    auto result = put.get();
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_TRUE(read("streaming") == body);
  }
  {  // 2. published into data/, before the commit (finalize_header runs there)
    Gate gate;
    StringSource source(body);
    PutOptions options;
    options.finalize_header = [&]() -> Result<Bytes> {
      gate.arrive_and_wait();
      return bytes_of("final");
    };
    auto put = std::async(std::launch::async, [&] { return store_->put("publishing", source, options); });
    gate.wait_for_arrival();
    collect_and_expect_nothing("between rename and commit");
    gate.release();
    auto result = put.get();
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_TRUE(read("publishing") == body);
  }
  {  // 3. a copy's hard link, which carries the source's old modification time, before the commit
    set_age(data_path(root_, data_file_of(root_, "publishing")), std::chrono::hours(5));
    Gate gate;
    PutOptions options;
    options.finalize_header = [&]() -> Result<Bytes> {
      gate.arrive_and_wait();
      return bytes_of("copied");
    };
    auto copy = std::async(std::launch::async, [&] { return store_->copy("publishing", "copied", options); });
    gate.wait_for_arrival();
    collect_and_expect_nothing("between link and commit");
    ASSERT_TRUE((*collector)->remove_orphans(std::chrono::hours(1)));
    gate.release();
    auto result = copy.get();
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_TRUE(read("copied") == body);
  }
  auto orphans = store_->orphan_data_files();
  ASSERT_TRUE(orphans);
  EXPECT_TRUE(orphans->empty());
}

TEST_F(LocalStoreTest, OpenRetriesWhenTheBodyIsReplacedUnderIt) {
  // Readers race a writer that replaces the key as fast as it can: every open either returns a whole body or,
  // never, a spurious NotFound or DataLoss.
  ASSERT_TRUE(put("hot", pattern_string(0, 1000), "0"));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 1; i < 200 && !stop; ++i) ASSERT_TRUE(put("hot", pattern_string(i, 1000 + i), std::to_string(i)));
    stop = true;
  });
  int opens = 0;
  while (!stop) {
    auto object = store_->open("hot");
    ASSERT_TRUE(object) << object.error().to_string();
    int version = std::stoi(std::string(as_string_view((*object)->info().header)));
    ASSERT_TRUE(read_body(**object) == pattern_string(version, 1000 + version));
    ++opens;
  }
  writer.join();
  EXPECT_GT(opens, 0);
}

}  // namespace
}  // namespace blobseal::store
