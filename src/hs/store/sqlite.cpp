#include "hs/store/sqlite.hpp"

#include <sqlite3.h>

namespace chorus::hs {

namespace {
[[noreturn]] void throwDb(sqlite3* db, std::string_view what) {
  throw StoreError(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "no database"));
}
}  // namespace

Stmt::~Stmt() {
  sqlite3_finalize(s_);
}

Stmt& Stmt::bind(int idx, std::int64_t v) {
  if (sqlite3_bind_int64(s_, idx, v) != SQLITE_OK) throwDb(sqlite3_db_handle(s_), "bind");
  return *this;
}
Stmt& Stmt::bind(int idx, std::string_view v) {
  if (sqlite3_bind_text(s_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
    throwDb(sqlite3_db_handle(s_), "bind");
  }
  return *this;
}
Stmt& Stmt::bind(int idx, const std::optional<std::string>& v) {
  return v ? bind(idx, *v) : bindNull(idx);
}
Stmt& Stmt::bindNull(int idx) {
  if (sqlite3_bind_null(s_, idx) != SQLITE_OK) throwDb(sqlite3_db_handle(s_), "bind");
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throwDb(sqlite3_db_handle(s_), "step");
}
void Stmt::run() {
  while (step()) {
  }
}
void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}
std::int64_t Stmt::colInt(int i) const {
  return sqlite3_column_int64(s_, i);
}
std::string Stmt::colText(int i) const {
  const auto* p = sqlite3_column_text(s_, i);
  const int n = sqlite3_column_bytes(s_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
}
std::optional<std::string> Stmt::colOptText(int i) const {
  if (colIsNull(i)) return std::nullopt;
  return colText(i);
}
bool Stmt::colIsNull(int i) const {
  return sqlite3_column_type(s_, i) == SQLITE_NULL;
}

Db::~Db() {
  cache_.clear();
  if (db_) sqlite3_close(db_);
}

void Db::open(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    throwDb(db_, "open " + path);
  }
  sqlite3_busy_timeout(db_, 5000);
}

void Db::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw StoreError("exec: " + msg);
  }
}

Query Db::query(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                           nullptr) != SQLITE_OK) {
      throwDb(db_, "prepare " + sql);
    }
    it = cache_.emplace(sql, std::make_unique<Stmt>(s)).first;
  }
  return Query(*it->second);
}

std::int64_t Db::lastInsertRowid() const {
  return sqlite3_last_insert_rowid(db_);
}
int Db::changes() const {
  return sqlite3_changes(db_);
}

Transaction::Transaction(Db& db) : db_(&db) {
  db_->exec("BEGIN IMMEDIATE");
}
Transaction::~Transaction() {
  if (!done_) {
    try {
      db_->exec("ROLLBACK");
    } catch (const StoreError&) {
      // Nothing more we can do; the connection stays usable or the next statement reports it.
    }
  }
}
void Transaction::commit() {
  db_->exec("COMMIT");
  done_ = true;
}

}  // namespace chorus::hs
