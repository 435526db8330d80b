// A thin RAII layer over one SQLite connection, its prepared statements and its transactions, with SQLite's
// result codes turned into Errors. No SQL of the store's own lives here (object_index.cc has it), and sqlite3.h
// stays out of this header.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/bytes.h"
#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace blobseal::store::local {

// One prepared statement. Binds are chained; a bind that fails is reported by the next step(). Not thread-safe:
// it belongs to its connection's user.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Parameters are numbered from 1, as in SQL's ?1. Blobs and text are copied by SQLite (SQLITE_TRANSIENT).
  SqliteStatement& bind_blob(int index, ByteSpan value);
  SqliteStatement& bind_text(int index, std::string_view value);
  SqliteStatement& bind_int64(int index, std::int64_t value);

  // Advances to the next row: true when a row is available, false when the statement is done.
  Result<bool> step();
  // Steps to the end, for statements that return no rows.
  Status run();
  // Makes the statement ready to run again with new bindings (earlier bindings are kept until rebound).
  void reset();

  // Columns of the current row, numbered from 0.
  std::int64_t column_int64(int index) const;
  std::string column_string(int index) const;  // text or blob bytes, as they are
  Bytes column_bytes(int index) const;
  bool column_is_null(int index) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_;
  int bind_error_ = 0;
};

struct SqliteOpenOptions {
  bool read_only = false;  // PRAGMA query_only: the connection can never write, whatever SQL it is given
  std::chrono::milliseconds busy_timeout{10000};
};

// One database connection (SQLITE_OPEN_NOMUTEX: the owner guarantees one thread at a time). Every connection runs
// with synchronous=FULL and a busy timeout, so a second process waits for a lock instead of failing at once.
class SqliteConnection {
 public:
  // Opens (creating when missing) the database at `path`.
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path, const SqliteOpenOptions& options);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Result<SqliteStatement> prepare(std::string_view sql);

  // A statement prepared once per connection (its SQL text is the key) and reused: ready for new bindings, and
  // reset again when the lease ends, so that no read stays open on the database. For the hot queries.
  class CachedStatement {
   public:
    explicit CachedStatement(SqliteStatement& statement) : statement_(&statement) {}
    CachedStatement(CachedStatement&& other) noexcept : statement_(std::exchange(other.statement_, nullptr)) {}
    CachedStatement& operator=(CachedStatement&&) = delete;
    ~CachedStatement() {
      if (statement_ != nullptr) statement_->reset();
    }
    SqliteStatement& operator*() { return *statement_; }
    SqliteStatement* operator->() { return statement_; }

   private:
    SqliteStatement* statement_;
  };
  Result<CachedStatement> cached(std::string_view sql);

  // Runs one or more statements that return no rows we need (DDL, PRAGMA, BEGIN/COMMIT).
  Status execute(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;

  // The start of this connection's mapping of the WAL index (the -shm file, region 0), through the VFS's own xShmMap:
  // no descriptor of ours is opened or closed on that file (closing one would drop every fcntl lock the process holds
  // on it, SQLite's included). Valid until the connection closes. FailedPrecondition when the database is not in WAL
  // mode with shared memory, or no transaction has been run on this connection yet.
  Result<const void*> wal_index() const;

  const std::string& path() const { return path_; }

 private:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::map<std::string, std::unique_ptr<SqliteStatement>, std::less<>> cache_;  // finalized before db_ closes
};

// A write transaction, begun with BEGIN IMMEDIATE so the write lock is taken (or waited for, up to the busy
// timeout) before anything is read: the reads that decide a write stay true until it commits. Rolled back when
// destroyed uncommitted.
class SqliteTransaction {
 public:
  static Result<SqliteTransaction> begin(SqliteConnection& connection);
  ~SqliteTransaction();
  SqliteTransaction(SqliteTransaction&& other) noexcept : connection_(other.connection_) { other.connection_ = nullptr; }
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;

  // Durable when it returns (WAL with synchronous=FULL syncs the log at commit).
  Status commit();

 private:
  explicit SqliteTransaction(SqliteConnection& connection) : connection_(&connection) {}
  SqliteConnection* connection_;
};

// An Error for SQLite result code `rc` on `db`: busy/locked → Unavailable, full → ResourceExhausted,
// corrupt/not a database → DataLoss, anything else → Internal. The message names `what` and SQLite's text.
Error sqlite_error(sqlite3* db, int rc, std::string_view what);

}  // namespace blobseal::store::local
