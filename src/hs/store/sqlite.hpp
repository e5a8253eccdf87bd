#pragma once
// Thin RAII wrapper over sqlite3: a connection with a prepared-statement cache, statements, transactions.
// Runtime SQLite failures throw StoreError; the API layer turns that into a 500 M_UNKNOWN after the
// transaction has rolled back, so an acknowledged write is always a committed one.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace chorus::hs {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Binds by 1-based index; returns *this for chaining.
  Stmt& bind(int idx, std::int64_t v);
  Stmt& bind(int idx, std::string_view v);
  Stmt& bind(int idx, const std::string& v) { return bind(idx, std::string_view(v)); }
  Stmt& bind(int idx, const char* v) { return bind(idx, std::string_view(v)); }
  Stmt& bind(int idx, const std::optional<std::string>& v);
  Stmt& bindNull(int idx);

  // Steps once; true when a row is available.
  bool step();
  // Runs to completion (for writes).
  void run();
  void reset();

  std::int64_t colInt(int i) const;
  std::string colText(int i) const;
  std::optional<std::string> colOptText(int i) const;
  bool colIsNull(int i) const;

 private:
  sqlite3_stmt* s_;
};

// A prepared statement borrowed from the cache; resets and clears bindings when it goes out of scope.
class Query {
 public:
  explicit Query(Stmt& s) : s_(&s) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query() { s_->reset(); }
  Stmt* operator->() { return s_; }
  Stmt& operator*() { return *s_; }

 private:
  Stmt* s_;
};

class Db {
 public:
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Opens (creating) the file; throws StoreError on failure.
  void open(const std::string& path);
  void exec(const std::string& sql);
  Query query(const std::string& sql);
  std::int64_t lastInsertRowid() const;
  int changes() const;

 private:
  sqlite3* db_{nullptr};
  std::map<std::string, std::unique_ptr<Stmt>> cache_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Db& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Db* db_;
  bool done_{false};
};

}  // namespace chorus::hs
