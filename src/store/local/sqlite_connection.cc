#include "store/local/sqlite_connection.h"

#include <sqlite3.h>

#include <fmt/format.h>

namespace blobseal::store::local {

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  ErrorCode code = ErrorCode::kInternal;
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = ErrorCode::kUnavailable;
      break;
    case SQLITE_FULL:
      code = ErrorCode::kResourceExhausted;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = ErrorCode::kDataLoss;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      code = ErrorCode::kPermissionDenied;
      break;
    default:
      break;
  }
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error(code, fmt::format("index: {}: {}", what, detail));
}

// ---- SqliteStatement ---------------------------------------------------------------------------------------------

SqliteStatement::~SqliteStatement() {
  if (statement_ != nullptr) sqlite3_finalize(statement_);
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_), statement_(other.statement_), bind_error_(other.bind_error_) {
  other.statement_ = nullptr;
}

SqliteStatement& SqliteStatement::bind_blob(int index, ByteSpan value) {
  // A zero-length blob must not bind as NULL: SQLite binds a NULL pointer as NULL, so pass a valid one.
  static const std::uint8_t kEmpty = 0;
  const void* data = value.empty() ? &kEmpty : value.data();
  int rc = sqlite3_bind_blob64(statement_, index, data, value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

SqliteStatement& SqliteStatement::bind_text(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

SqliteStatement& SqliteStatement::bind_int64(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(statement_, index, value);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Result<bool> SqliteStatement::step() {
  if (bind_error_ != 0) return make_error(sqlite_error(db_, bind_error_, "binding a parameter"));
  int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return make_error(sqlite_error(db_, rc, "executing a statement"));
}

Status SqliteStatement::run() {
  while (BLOBSEAL_TRY(step())) {
  }
  return {};
}

void SqliteStatement::reset() {
  sqlite3_reset(statement_);
  bind_error_ = 0;
}

std::int64_t SqliteStatement::column_int64(int index) const { return sqlite3_column_int64(statement_, index); }

std::string SqliteStatement::column_string(int index) const {
  const void* data = sqlite3_column_blob(statement_, index);
  int size = sqlite3_column_bytes(statement_, index);
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

Bytes SqliteStatement::column_bytes(int index) const {
  const void* data = sqlite3_column_blob(statement_, index);
  int size = sqlite3_column_bytes(statement_, index);
  if (data == nullptr || size <= 0) return {};
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  return Bytes(bytes, bytes + size);
}

bool SqliteStatement::column_is_null(int index) const {
  return sqlite3_column_type(statement_, index) == SQLITE_NULL;
}

// ---- SqliteConnection --------------------------------------------------------------------------------------------

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path,
                                                                  const SqliteOpenOptions& options) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error error = sqlite_error(db, rc, fmt::format("opening {}", path));
    sqlite3_close(db);  // a handle is returned even on failure
    return make_error(std::move(error));
  }
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(db, path));
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
  BLOBSEAL_TRY_STATUS(connection->execute("PRAGMA synchronous = FULL"));
  if (options.read_only) BLOBSEAL_TRY_STATUS(connection->execute("PRAGMA query_only = ON"));
  return connection;
}

SqliteConnection::~SqliteConnection() {
  cache_.clear();
  sqlite3_close(db_);
}

Result<SqliteConnection::CachedStatement> SqliteConnection::cached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto statement = BLOBSEAL_TRY(prepare(sql));
    it = cache_.emplace(std::string(sql), std::make_unique<SqliteStatement>(std::move(statement))).first;
  }
  it->second->reset();
  return CachedStatement(*it->second);
}

Result<SqliteStatement> SqliteConnection::prepare(std::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &statement, nullptr);
  if (rc != SQLITE_OK) return make_error(sqlite_error(db_, rc, "preparing a statement"));
  return SqliteStatement(db_, statement);
}

Status SqliteConnection::execute(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return make_error(sqlite_error(db_, rc, sql));
  return {};
}

std::int64_t SqliteConnection::changes() const { return sqlite3_changes64(db_); }

Result<const void*> SqliteConnection::wal_index() const {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || file == nullptr ||
      file->pMethods == nullptr || file->pMethods->iVersion < 2 || file->pMethods->xShmMap == nullptr)
    return make_error(ErrorCode::kFailedPrecondition, fmt::format("{}: no shared-memory WAL index", path_));
  void volatile* region = nullptr;
  constexpr int kRegionSize = 32 * 1024;  // what SQLite maps the WAL index by
  int rc = file->pMethods->xShmMap(file, 0, kRegionSize, 0, &region);
  if (rc != SQLITE_OK || region == nullptr)
    return make_error(ErrorCode::kFailedPrecondition, fmt::format("{}: the WAL index is not mapped", path_));
  return const_cast<const void*>(region);
}

// ---- SqliteTransaction -------------------------------------------------------------------------------------------

Result<SqliteTransaction> SqliteTransaction::begin(SqliteConnection& connection) {
  BLOBSEAL_TRY_STATUS(connection.execute("BEGIN IMMEDIATE"));
  return SqliteTransaction(connection);
}

SqliteTransaction::~SqliteTransaction() {
  if (connection_ != nullptr) (void)connection_->execute("ROLLBACK");
}

Status SqliteTransaction::commit() {
  SqliteConnection* connection = connection_;
  auto status = connection->execute("COMMIT");
  // A failed COMMIT may leave the transaction open (SQLITE_BUSY); the destructor's ROLLBACK then ends it.
  if (status) connection_ = nullptr;
  return status;
}

}  // namespace blobseal::store::local
