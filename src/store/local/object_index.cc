#include "store/local/object_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/bytes.h"
#include "store/local/commit_watch.h"
#include "store/local/entry_cache.h"
#include "store/local/sqlite_connection.h"

namespace blobseal::store::local {

namespace {

constexpr std::int64_t kSchemaVersion = 1;
// Idle read connections kept for reuse; more are opened under load and closed when returned.
constexpr std::size_t kMaxIdleReaders = 8;

constexpr std::string_view kColumns = "key, data_file, body_size, modified_ns, generation, header, metadata";

constexpr std::string_view kCreateSchema = R"sql(
CREATE TABLE IF NOT EXISTS objects (
  key BLOB PRIMARY KEY NOT NULL,
  data_file TEXT NOT NULL UNIQUE,
  body_size INTEGER NOT NULL,
  modified_ns INTEGER NOT NULL,
  generation TEXT NOT NULL,
  header BLOB NOT NULL,
  metadata BLOB NOT NULL
);
)sql";

Bytes encode_metadata(const std::map<std::string, std::string>& metadata) {
  Bytes out;
  put_u32(out, static_cast<std::uint32_t>(metadata.size()));
  for (const auto& [name, value] : metadata) {
    put_u32(out, static_cast<std::uint32_t>(name.size()));
    put_bytes(out, as_bytes(name));
    put_u32(out, static_cast<std::uint32_t>(value.size()));
    put_bytes(out, as_bytes(value));
  }
  return out;
}

Result<std::map<std::string, std::string>> decode_metadata(ByteSpan encoded) {
  ByteReader reader(encoded);
  std::map<std::string, std::string> metadata;
  auto count = reader.u32();
  for (std::uint32_t i = 0; count && reader.ok() && i < *count; ++i) {
    auto name_size = reader.u32();
    auto name = reader.bytes(name_size.value_or(0));
    auto value_size = reader.u32();
    auto value = reader.bytes(value_size.value_or(0));
    if (!reader.ok()) break;
    metadata.emplace(as_string_view(*name), as_string_view(*value));
  }
  if (!count || !reader.ok() || reader.remaining() != 0)
    return make_error(ErrorCode::kDataLoss, "index: a row's metadata is malformed");
  return metadata;
}

// Reads a row selected with kColumns.
Result<IndexEntry> read_entry(const SqliteStatement& row) {
  IndexEntry entry;
  entry.info.key = row.column_string(0);
  entry.data_file = row.column_string(1);
  entry.info.body_size = static_cast<std::uint64_t>(row.column_int64(2));
  entry.info.modified_unix_ns = row.column_int64(3);
  entry.info.generation = row.column_string(4);
  entry.info.header = row.column_bytes(5);
  Bytes metadata = row.column_bytes(6);
  auto decoded = decode_metadata(metadata);
  if (!decoded) return make_error(decoded.error().with_context(fmt::format("object {:?}", entry.info.key)));
  entry.info.metadata = std::move(*decoded);
  return entry;
}

// Binds an entry to the parameters ?1..?7 in kColumns order.
void bind_entry(SqliteStatement& statement, const IndexEntry& entry) {
  statement.bind_blob(1, as_bytes(entry.info.key))
      .bind_text(2, entry.data_file)
      .bind_int64(3, static_cast<std::int64_t>(entry.info.body_size))
      .bind_int64(4, entry.info.modified_unix_ns)
      .bind_text(5, entry.info.generation)
      .bind_blob(6, entry.info.header)
      .bind_blob(7, encode_metadata(entry.info.metadata));
}

Status create_schema(SqliteConnection& db) {
  // WAL lets readers proceed during a write and makes each commit one synced append to the log.
  {
    auto mode = BLOBSEAL_TRY(db.prepare("PRAGMA journal_mode = WAL"));
    if (!BLOBSEAL_TRY(mode.step()) || mode.column_string(0) != "wal")
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("index {}: the file system does not support SQLite's WAL mode", db.path()));
  }
  auto transaction = BLOBSEAL_TRY(SqliteTransaction::begin(db));
  std::int64_t version = 0;
  {
    auto version_query = BLOBSEAL_TRY(db.prepare("PRAGMA user_version"));
    BLOBSEAL_TRY(version_query.step());
    version = version_query.column_int64(0);
  }
  if (version > kSchemaVersion)
    return make_error(ErrorCode::kUnimplemented,
                      fmt::format("index {} has schema version {}; this build reads version {}", db.path(), version,
                                  kSchemaVersion));
  if (version < kSchemaVersion) {
    BLOBSEAL_TRY_STATUS(db.execute(std::string(kCreateSchema)));
    BLOBSEAL_TRY_STATUS(db.execute(fmt::format("PRAGMA user_version = {}", kSchemaVersion)));
  }
  return transaction.commit();
}

}  // namespace

// A read connection borrowed from the pool, given back when the lease ends.
class ObjectIndex::ReaderLease {
 public:
  ReaderLease(ObjectIndex& index, std::unique_ptr<SqliteConnection> connection)
      : index_(&index), connection_(std::move(connection)) {}
  ReaderLease(ReaderLease&& other) noexcept = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (!connection_) return;
    std::lock_guard lock(index_->readers_mutex_);
    if (index_->idle_readers_.size() < kMaxIdleReaders) index_->idle_readers_.push_back(std::move(connection_));
  }
  SqliteConnection& operator*() { return *connection_; }
  SqliteConnection* operator->() { return connection_.get(); }

 private:
  ObjectIndex* index_;
  std::unique_ptr<SqliteConnection> connection_;
};

ObjectIndex::ObjectIndex(std::string path, std::unique_ptr<SqliteConnection> writer,
                         std::unique_ptr<CommitWatch> commits)
    : path_(std::move(path)),
      writer_(std::move(writer)),
      commits_(std::move(commits)),
      cache_(std::make_unique<EntryCache>()) {}

ObjectIndex::~ObjectIndex() = default;

Result<std::unique_ptr<ObjectIndex>> ObjectIndex::open(const std::string& path) {
  // Created here rather than by SQLite (0644 less the umask) so that it is private; SQLite gives the -wal and
  // -shm files the database file's mode. An existing file is not opened here: closing a descriptor of it would drop
  // every POSIX lock this process holds on it, those of SQLite connections already open on it included.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else {
    if (errno != EEXIST) return make_error(errno_error("open", path));
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return make_error(errno_error("lstat", path));
    if (!S_ISREG(st.st_mode))
      return make_error(ErrorCode::kFailedPrecondition, fmt::format("{} is not a regular file", path));
  }
  auto writer = BLOBSEAL_TRY(SqliteConnection::open(path, {}));
  BLOBSEAL_TRY_STATUS(create_schema(*writer));
  // The writer has run a transaction in WAL mode, so its WAL index is mapped. Without it, every find() reads.
  auto commits = CommitWatch::open(*writer);
  return std::unique_ptr<ObjectIndex>(
      new ObjectIndex(path, std::move(writer), commits ? std::move(*commits) : nullptr));
}

Result<ObjectIndex::ReaderLease> ObjectIndex::lease_reader() {
  {
    std::lock_guard lock(readers_mutex_);
    if (!idle_readers_.empty()) {
      auto connection = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(*this, std::move(connection));
    }
  }
  SqliteOpenOptions options;
  options.read_only = true;
  auto connection = BLOBSEAL_TRY(SqliteConnection::open(path_, options));
  return ReaderLease(*this, std::move(connection));
}

Result<std::optional<IndexEntry>> ObjectIndex::find(std::string_view key) {
  if (!commits_) return read(key);
  std::optional<CommitWatch::Snapshot> version = commits_->snapshot();
  if (version)
    if (auto kept = cache_->find(key, *version)) return std::move(*kept);
  auto entry = BLOBSEAL_TRY(read(key));
  if (version && commits_->unchanged_since(*version)) cache_->keep(key, entry, *version);
  return entry;
}

Result<std::optional<IndexEntry>> ObjectIndex::read(std::string_view key) {
  static const std::string sql = fmt::format("SELECT {} FROM objects WHERE key = ?1", kColumns);
  auto reader = BLOBSEAL_TRY(lease_reader());
  auto query = BLOBSEAL_TRY(reader->cached(sql));
  query->bind_blob(1, as_bytes(key));
  if (!BLOBSEAL_TRY(query->step())) return std::optional<IndexEntry>();
  return std::optional<IndexEntry>(BLOBSEAL_TRY(read_entry(*query)));
}

Result<Replaced> ObjectIndex::upsert(const IndexEntry& entry, const std::optional<std::string>& if_generation_match) {
  std::lock_guard lock(writer_mutex_);
  auto transaction = BLOBSEAL_TRY(SqliteTransaction::begin(*writer_));
  Replaced replaced;
  std::optional<std::string> generation;
  {
    auto current = BLOBSEAL_TRY(writer_->prepare("SELECT generation, data_file FROM objects WHERE key = ?1"));
    current.bind_blob(1, as_bytes(entry.info.key));
    if (BLOBSEAL_TRY(current.step())) {
      generation = current.column_string(0);
      replaced.data_file = current.column_string(1);
    }
  }
  if (if_generation_match && generation.value_or("") != *if_generation_match) {
    return make_error(ErrorCode::kFailedPrecondition,
                      if_generation_match->empty()
                          ? fmt::format("object {:?} already exists", entry.info.key)
                          : fmt::format("object {:?} is no longer generation {}", entry.info.key, *if_generation_match));
  }
  auto insert = BLOBSEAL_TRY(writer_->prepare(
      fmt::format("INSERT OR REPLACE INTO objects ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", kColumns)));
  bind_entry(insert, entry);
  BLOBSEAL_TRY_STATUS(insert.run());
  BLOBSEAL_TRY_STATUS(transaction.commit());
  return replaced;
}

Result<ObjectInfo> ObjectIndex::replace_header(std::string_view key, std::string_view expected_generation,
                                               std::string_view new_generation, const Bytes& header,
                                               const std::map<std::string, std::string>& metadata) {
  std::lock_guard lock(writer_mutex_);
  auto transaction = BLOBSEAL_TRY(SqliteTransaction::begin(*writer_));
  auto update = BLOBSEAL_TRY(writer_->prepare(fmt::format(
      "UPDATE objects SET header = ?1, metadata = ?2, generation = ?3 WHERE key = ?4 AND generation = ?5 "
      "RETURNING {}",
      kColumns)));
  update.bind_blob(1, header)
      .bind_blob(2, encode_metadata(metadata))
      .bind_text(3, new_generation)
      .bind_blob(4, as_bytes(key))
      .bind_text(5, expected_generation);
  if (!BLOBSEAL_TRY(update.step())) {
    auto exists = BLOBSEAL_TRY(writer_->prepare("SELECT 1 FROM objects WHERE key = ?1"));
    exists.bind_blob(1, as_bytes(key));
    if (!BLOBSEAL_TRY(exists.step())) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", key));
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("object {:?} is no longer generation {}", key, expected_generation));
  }
  auto entry = BLOBSEAL_TRY(read_entry(update));
  BLOBSEAL_TRY_STATUS(update.run());
  BLOBSEAL_TRY_STATUS(transaction.commit());
  return std::move(entry.info);
}

Result<std::string> ObjectIndex::erase(std::string_view key) {
  std::lock_guard lock(writer_mutex_);
  auto transaction = BLOBSEAL_TRY(SqliteTransaction::begin(*writer_));
  auto erase = BLOBSEAL_TRY(writer_->prepare("DELETE FROM objects WHERE key = ?1 RETURNING data_file"));
  erase.bind_blob(1, as_bytes(key));
  if (!BLOBSEAL_TRY(erase.step())) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", key));
  std::string data_file = erase.column_string(0);
  BLOBSEAL_TRY_STATUS(erase.run());
  BLOBSEAL_TRY_STATUS(transaction.commit());
  return data_file;
}

Status ObjectIndex::scan(const KeyRange& range, std::size_t limit, const RowVisitor& visit) {
  auto reader = BLOBSEAL_TRY(lease_reader());
  std::string sql = fmt::format("SELECT {} FROM objects WHERE key {} ?1{} ORDER BY key LIMIT ?3", kColumns,
                                range.lower_inclusive ? ">=" : ">", range.upper ? " AND key < ?2" : "");
  auto query = BLOBSEAL_TRY(reader->prepare(sql));
  query.bind_blob(1, as_bytes(range.lower));
  if (range.upper) query.bind_blob(2, as_bytes(*range.upper));
  query.bind_int64(3, static_cast<std::int64_t>(limit));
  while (BLOBSEAL_TRY(query.step()))
    if (!visit(BLOBSEAL_TRY(read_entry(query)).info)) break;
  return {};
}

Result<bool> ObjectIndex::references(std::string_view data_file) {
  auto reader = BLOBSEAL_TRY(lease_reader());
  auto query = BLOBSEAL_TRY(reader->prepare("SELECT 1 FROM objects WHERE data_file = ?1"));
  query.bind_text(1, data_file);
  return query.step();
}

Status ObjectIndex::insert_for_testing(std::span<const IndexEntry> entries) {
  std::lock_guard lock(writer_mutex_);
  auto transaction = BLOBSEAL_TRY(SqliteTransaction::begin(*writer_));
  auto insert = BLOBSEAL_TRY(
      writer_->prepare(fmt::format("INSERT INTO objects ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", kColumns)));
  for (const IndexEntry& entry : entries) {
    insert.reset();
    bind_entry(insert, entry);
    BLOBSEAL_TRY_STATUS(insert.run());
  }
  return transaction.commit();
}

}  // namespace blobseal::store::local
