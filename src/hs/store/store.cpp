#include "hs/store/store.hpp"

#include <algorithm>
#include <filesystem>

namespace chorus::hs {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(user_id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, admin INTEGER NOT NULL,
  displayname TEXT NOT NULL DEFAULT '', avatar_url TEXT NOT NULL DEFAULT '', created_ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices(user_id TEXT NOT NULL, device_id TEXT NOT NULL, display_name TEXT NOT NULL,
  last_seen_ts INTEGER NOT NULL, PRIMARY KEY(user_id, device_id));
CREATE TABLE IF NOT EXISTS access_tokens(token TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS access_tokens_user ON access_tokens(user_id, device_id);
CREATE TABLE IF NOT EXISTS filters(filter_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms(room_id TEXT PRIMARY KEY, creator TEXT NOT NULL, created_ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(pos INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
  type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL, origin_ts INTEGER NOT NULL, json TEXT NOT NULL,
  txn_device TEXT NOT NULL DEFAULT '', txn_id TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS events_room ON events(room_id, pos);
CREATE TABLE IF NOT EXISTS current_state(room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT NOT NULL,
  pos INTEGER NOT NULL, PRIMARY KEY(room_id, type, state_key));
CREATE TABLE IF NOT EXISTS memberships(room_id TEXT NOT NULL, user_id TEXT NOT NULL, membership TEXT NOT NULL,
  pos INTEGER NOT NULL, PRIMARY KEY(room_id, user_id));
CREATE INDEX IF NOT EXISTS memberships_user ON memberships(user_id);
CREATE INDEX IF NOT EXISTS memberships_room_pos ON memberships(room_id, pos);
CREATE TABLE IF NOT EXISTS aliases(alias TEXT PRIMARY KEY, room_id TEXT NOT NULL, creator TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS to_device(pos INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
  device_id TEXT NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS to_device_target ON to_device(user_id, device_id, pos);
CREATE TABLE IF NOT EXISTS txns(token TEXT NOT NULL, kind TEXT NOT NULL, txn_id TEXT NOT NULL,
  response TEXT NOT NULL, PRIMARY KEY(token, kind, txn_id));
CREATE TABLE IF NOT EXISTS delayed_events(delay_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
  device_id TEXT NOT NULL, room_id TEXT NOT NULL, type TEXT NOT NULL, state_key TEXT, content TEXT NOT NULL,
  delay_ms INTEGER NOT NULL, send_at INTEGER NOT NULL, status TEXT NOT NULL, event_id TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '', finalised_ts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS delayed_user ON delayed_events(user_id, status);
CREATE INDEX IF NOT EXISTS delayed_status ON delayed_events(status, send_at);
CREATE TABLE IF NOT EXISTS device_keys(user_id TEXT NOT NULL, device_id TEXT NOT NULL, json TEXT NOT NULL,
  PRIMARY KEY(user_id, device_id));
CREATE TABLE IF NOT EXISTS one_time_keys(user_id TEXT NOT NULL, device_id TEXT NOT NULL, key_id TEXT NOT NULL,
  algorithm TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY(user_id, device_id, key_id));
CREATE INDEX IF NOT EXISTS one_time_keys_alg ON one_time_keys(user_id, device_id, algorithm);
CREATE TABLE IF NOT EXISTS fallback_keys(user_id TEXT NOT NULL, device_id TEXT NOT NULL, algorithm TEXT NOT NULL,
  key_id TEXT NOT NULL, json TEXT NOT NULL, used INTEGER NOT NULL, PRIMARY KEY(user_id, device_id, algorithm));
CREATE TABLE IF NOT EXISTS device_lists(pos INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE);
)sql";

constexpr const char* kEventCols =
    "pos, event_id, room_id, type, state_key, sender, origin_ts, json, txn_device, txn_id";

EventRow readEvent(Stmt& s) {
  EventRow e;
  e.pos = s.colInt(0);
  e.event_id = s.colText(1);
  e.room_id = s.colText(2);
  e.type = s.colText(3);
  e.state_key = s.colOptText(4);
  e.sender = s.colText(5);
  e.origin_ts = s.colInt(6);
  e.json = s.colText(7);
  e.txn_device = s.colText(8);
  e.txn_id = s.colText(9);
  return e;
}

constexpr const char* kDelayedCols =
    "delay_id, user_id, device_id, room_id, type, state_key, content, delay_ms, send_at, status, event_id, "
    "error, "
    "finalised_ts";

DelayedRow readDelayed(Stmt& s) {
  DelayedRow d;
  d.delay_id = s.colText(0);
  d.user_id = s.colText(1);
  d.device_id = s.colText(2);
  d.room_id = s.colText(3);
  d.type = s.colText(4);
  d.state_key = s.colOptText(5);
  d.content = s.colText(6);
  d.delay_ms = s.colInt(7);
  d.send_at = s.colInt(8);
  d.status = s.colText(9);
  d.event_id = s.colText(10);
  d.error = s.colText(11);
  d.finalised_ts = s.colInt(12);
  return d;
}

}  // namespace

Store::Store(const std::string& dir, const std::string& synchronous) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreError("cannot create data dir " + dir + ": " + ec.message());
  db_.open(dir + "/hs.sqlite3");
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec(synchronous == "normal" ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL");
  db_.exec("PRAGMA foreign_keys=OFF");
  db_.exec(kSchema);
  max_event_pos_ = 0;
  auto q = db_.query("SELECT COALESCE(MAX(pos), 0) FROM events");
  if (q->step()) max_event_pos_ = q->colInt(0);
  auto m = db_.query("SELECT COALESCE(MAX(pos), 0) FROM memberships");
  if (m->step()) max_membership_pos_ = m->colInt(0);
  auto d = db_.query(
      "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'device_lists'), 0), "
      "COALESCE((SELECT MAX(pos) FROM device_lists), 0))");
  if (d->step()) max_device_list_pos_ = d->colInt(0);
}

std::optional<std::string> Store::meta(const std::string& key) {
  auto q = db_.query("SELECT value FROM meta WHERE key = ?");
  q->bind(1, key);
  if (q->step()) return q->colText(0);
  return std::nullopt;
}
void Store::setMeta(const std::string& key, const std::string& value) {
  auto q = db_.query("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  q->bind(1, key).bind(2, value).run();
}

std::optional<UserRow> Store::user(const std::string& user_id) {
  auto q =
      db_.query("SELECT user_id, password_hash, admin, displayname, avatar_url FROM users WHERE user_id = ?");
  q->bind(1, user_id);
  if (!q->step()) return std::nullopt;
  return UserRow{q->colText(0), q->colText(1), q->colInt(2) != 0, q->colText(3), q->colText(4)};
}
void Store::insertUser(const UserRow& u, std::int64_t now) {
  auto q = db_.query(
      "INSERT INTO users(user_id, password_hash, admin, displayname, avatar_url, created_ts) "
      "VALUES(?,?,?,?,?,?)");
  q->bind(1, u.user_id).bind(2, u.password_hash).bind(3, u.admin ? 1 : 0).bind(4, u.displayname);
  q->bind(5, u.avatar_url).bind(6, now).run();
}
void Store::setProfile(const std::string& user_id, const std::string& field, const std::string& value) {
  auto q = db_.query(field == "avatar_url" ? "UPDATE users SET avatar_url = ? WHERE user_id = ?"
                                           : "UPDATE users SET displayname = ? WHERE user_id = ?");
  q->bind(1, value).bind(2, user_id).run();
}

void Store::upsertDevice(const std::string& user_id, const std::string& device_id,
                         const std::string& display_name, std::int64_t now) {
  auto q = db_.query(
      "INSERT INTO devices(user_id, device_id, display_name, last_seen_ts) VALUES(?,?,?,?) "
      "ON CONFLICT(user_id, device_id) DO UPDATE SET last_seen_ts = excluded.last_seen_ts");
  q->bind(1, user_id).bind(2, device_id).bind(3, display_name).bind(4, now).run();
}
std::vector<DeviceRow> Store::devices(const std::string& user_id) {
  auto q = db_.query(
      "SELECT device_id, display_name, last_seen_ts FROM devices WHERE user_id = ? ORDER BY device_id");
  q->bind(1, user_id);
  std::vector<DeviceRow> out;
  while (q->step()) out.push_back({q->colText(0), q->colText(1), q->colInt(2)});
  return out;
}
bool Store::deviceExists(const std::string& user_id, const std::string& device_id) {
  auto q = db_.query("SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?");
  q->bind(1, user_id).bind(2, device_id);
  return q->step();
}
void Store::deleteDevice(const std::string& user_id, const std::string& device_id) {
  {
    auto q = db_.query("DELETE FROM devices WHERE user_id = ? AND device_id = ?");
    q->bind(1, user_id).bind(2, device_id).run();
  }
  {
    auto q = db_.query("SELECT token FROM access_tokens WHERE user_id = ? AND device_id = ?");
    q->bind(1, user_id).bind(2, device_id);
    std::vector<std::string> tokens;
    while (q->step()) tokens.push_back(q->colText(0));
    for (const auto& t : tokens) {
      deleteTxnsOfToken(t);
      deleteToken(t);
    }
  }
  deleteToDeviceAll(user_id, device_id);
  for (const char* table : {"device_keys", "one_time_keys", "fallback_keys"}) {
    auto q = db_.query(std::string("DELETE FROM ") + table + " WHERE user_id = ? AND device_id = ?");
    q->bind(1, user_id).bind(2, device_id).run();
  }
}
void Store::insertToken(const std::string& token, const std::string& user_id, const std::string& device_id) {
  auto q = db_.query("INSERT INTO access_tokens(token, user_id, device_id) VALUES(?,?,?)");
  q->bind(1, token).bind(2, user_id).bind(3, device_id).run();
}
std::optional<TokenInfo> Store::token(const std::string& token) {
  auto q = db_.query("SELECT user_id, device_id FROM access_tokens WHERE token = ?");
  q->bind(1, token);
  if (!q->step()) return std::nullopt;
  return TokenInfo{q->colText(0), q->colText(1)};
}
void Store::deleteToken(const std::string& token) {
  auto q = db_.query("DELETE FROM access_tokens WHERE token = ?");
  q->bind(1, token).run();
}
std::vector<std::string> Store::tokensOfUser(const std::string& user_id) {
  auto q = db_.query("SELECT token FROM access_tokens WHERE user_id = ?");
  q->bind(1, user_id);
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->colText(0));
  return out;
}

std::int64_t Store::insertFilter(const std::string& user_id, const std::string& json) {
  auto q = db_.query("INSERT INTO filters(user_id, json) VALUES(?, ?)");
  q->bind(1, user_id).bind(2, json).run();
  return db_.lastInsertRowid();
}
std::optional<std::int64_t> Store::findFilter(const std::string& user_id, const std::string& json) {
  auto q = db_.query("SELECT filter_id FROM filters WHERE user_id = ? AND json = ? LIMIT 1");
  q->bind(1, user_id).bind(2, json);
  if (!q->step()) return std::nullopt;
  return q->colInt(0);
}

std::optional<std::string> Store::filter(const std::string& user_id, std::int64_t id) {
  auto q = db_.query("SELECT json FROM filters WHERE user_id = ? AND filter_id = ?");
  q->bind(1, user_id).bind(2, id);
  if (!q->step()) return std::nullopt;
  return q->colText(0);
}

void Store::insertRoom(const std::string& room_id, const std::string& creator, std::int64_t now) {
  auto q = db_.query("INSERT INTO rooms(room_id, creator, created_ts) VALUES(?,?,?)");
  q->bind(1, room_id).bind(2, creator).bind(3, now).run();
}
bool Store::roomExists(const std::string& room_id) {
  auto q = db_.query("SELECT 1 FROM rooms WHERE room_id = ?");
  q->bind(1, room_id);
  return q->step();
}

std::int64_t Store::insertEvent(const EventRow& e) {
  const std::int64_t pos = max_event_pos_ + 1;
  auto q = db_.query(
      "INSERT INTO events(pos, event_id, room_id, type, state_key, sender, origin_ts, json, txn_device, "
      "txn_id) "
      "VALUES(?,?,?,?,?,?,?,?,?,?)");
  q->bind(1, pos)
      .bind(2, e.event_id)
      .bind(3, e.room_id)
      .bind(4, e.type)
      .bind(5, e.state_key)
      .bind(6, e.sender);
  q->bind(7, e.origin_ts).bind(8, e.json).bind(9, e.txn_device).bind(10, e.txn_id).run();
  max_event_pos_ = pos;  // a rolled-back insert leaves a gap in positions, which is harmless
  return pos;
}
void Store::setCurrentState(const std::string& room_id, const std::string& type, const std::string& state_key,
                            std::int64_t pos) {
  auto q = db_.query("INSERT OR REPLACE INTO current_state(room_id, type, state_key, pos) VALUES(?,?,?,?)");
  q->bind(1, room_id).bind(2, type).bind(3, state_key).bind(4, pos).run();
}
std::optional<EventRow> Store::stateEvent(const std::string& room_id, const std::string& type,
                                          const std::string& state_key) {
  auto q =
      db_.query(std::string("SELECT ") + kEventCols +
                " FROM events WHERE pos = (SELECT pos FROM current_state WHERE room_id = ? AND type = ? AND "
                "state_key = ?)");
  q->bind(1, room_id).bind(2, type).bind(3, state_key);
  if (!q->step()) return std::nullopt;
  return readEvent(*q);
}
std::vector<EventRow> Store::currentState(const std::string& room_id) {
  auto q =
      db_.query(std::string("SELECT ") + kEventCols +
                " FROM events WHERE pos IN (SELECT pos FROM current_state WHERE room_id = ?) ORDER BY pos");
  q->bind(1, room_id);
  std::vector<EventRow> out;
  while (q->step()) out.push_back(readEvent(*q));
  return out;
}
std::vector<EventRow> Store::stateChangedBetween(const std::string& room_id, std::int64_t after,
                                                 std::int64_t before) {
  auto q =
      db_.query(std::string("SELECT ") + kEventCols +
                " FROM events WHERE pos IN (SELECT pos FROM current_state WHERE room_id = ? AND pos > ? AND "
                "pos < ?) ORDER BY pos");
  q->bind(1, room_id).bind(2, after).bind(3, before);
  std::vector<EventRow> out;
  while (q->step()) out.push_back(readEvent(*q));
  return out;
}
void Store::setMembership(const std::string& room_id, const std::string& user_id,
                          const std::string& membership, std::int64_t pos) {
  auto q = db_.query("INSERT OR REPLACE INTO memberships(room_id, user_id, membership, pos) VALUES(?,?,?,?)");
  q->bind(1, room_id).bind(2, user_id).bind(3, membership).bind(4, pos).run();
  max_membership_pos_ = std::max(max_membership_pos_, pos);
}
std::vector<MembershipRow> Store::membershipsOf(const std::string& user_id) {
  auto q = db_.query("SELECT room_id, membership, pos FROM memberships WHERE user_id = ? ORDER BY pos");
  q->bind(1, user_id);
  std::vector<MembershipRow> out;
  while (q->step()) out.push_back({q->colText(0), q->colText(1), q->colInt(2)});
  return out;
}
std::vector<std::string> Store::joinedOrInvited(const std::string& room_id) {
  auto q =
      db_.query("SELECT user_id FROM memberships WHERE room_id = ? AND membership IN ('join', 'invite')");
  q->bind(1, room_id);
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->colText(0));
  return out;
}
std::vector<std::string> Store::joinedMembers(const std::string& room_id) {
  auto q =
      db_.query("SELECT user_id FROM memberships WHERE room_id = ? AND membership = 'join' ORDER BY user_id");
  q->bind(1, room_id);
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->colText(0));
  return out;
}
std::vector<EventRow> Store::eventsBackward(const std::string& room_id, std::int64_t after, std::int64_t upto,
                                            std::size_t limit) {
  auto q = db_.query(std::string("SELECT ") + kEventCols +
                     " FROM events WHERE room_id = ? AND pos > ? AND pos <= ? ORDER BY pos DESC LIMIT ?");
  q->bind(1, room_id).bind(2, after).bind(3, upto).bind(4, static_cast<std::int64_t>(limit));
  std::vector<EventRow> out;
  while (q->step()) out.push_back(readEvent(*q));
  return out;
}
std::vector<EventRow> Store::eventsForward(const std::string& room_id, std::int64_t after, std::int64_t upto,
                                           std::size_t limit) {
  auto q = db_.query(std::string("SELECT ") + kEventCols +
                     " FROM events WHERE room_id = ? AND pos > ? AND pos <= ? ORDER BY pos ASC LIMIT ?");
  q->bind(1, room_id).bind(2, after).bind(3, upto).bind(4, static_cast<std::int64_t>(limit));
  std::vector<EventRow> out;
  while (q->step()) out.push_back(readEvent(*q));
  return out;
}
std::int64_t Store::maxEventPos() {
  return max_event_pos_;
}

std::optional<std::string> Store::aliasRoom(const std::string& alias) {
  auto q = db_.query("SELECT room_id FROM aliases WHERE alias = ?");
  q->bind(1, alias);
  if (!q->step()) return std::nullopt;
  return q->colText(0);
}
std::optional<std::string> Store::aliasCreator(const std::string& alias) {
  auto q = db_.query("SELECT creator FROM aliases WHERE alias = ?");
  q->bind(1, alias);
  if (!q->step()) return std::nullopt;
  return q->colText(0);
}
void Store::insertAlias(const std::string& alias, const std::string& room_id, const std::string& creator) {
  auto q = db_.query("INSERT INTO aliases(alias, room_id, creator) VALUES(?,?,?)");
  q->bind(1, alias).bind(2, room_id).bind(3, creator).run();
}
bool Store::deleteAlias(const std::string& alias) {
  auto q = db_.query("DELETE FROM aliases WHERE alias = ?");
  q->bind(1, alias).run();
  return db_.changes() > 0;
}

std::int64_t Store::insertToDevice(const std::string& user_id, const std::string& device_id,
                                   const std::string& json) {
  auto q = db_.query("INSERT INTO to_device(user_id, device_id, json) VALUES(?,?,?)");
  q->bind(1, user_id).bind(2, device_id).bind(3, json).run();
  return db_.lastInsertRowid();
}
std::vector<ToDeviceRow> Store::toDevice(const std::string& user_id, const std::string& device_id,
                                         std::int64_t after, std::size_t limit) {
  auto q = db_.query(
      "SELECT pos, json FROM to_device WHERE user_id = ? AND device_id = ? AND pos > ? ORDER BY pos LIMIT ?");
  q->bind(1, user_id).bind(2, device_id).bind(3, after).bind(4, static_cast<std::int64_t>(limit));
  std::vector<ToDeviceRow> out;
  while (q->step()) out.push_back({q->colInt(0), q->colText(1)});
  return out;
}
void Store::deleteToDevice(const std::string& user_id, const std::string& device_id, std::int64_t upto) {
  auto q = db_.query("DELETE FROM to_device WHERE user_id = ? AND device_id = ? AND pos <= ?");
  q->bind(1, user_id).bind(2, device_id).bind(3, upto).run();
}
bool Store::hasToDeviceUpTo(const std::string& user_id, const std::string& device_id, std::int64_t upto) {
  auto q = db_.query("SELECT 1 FROM to_device WHERE user_id = ? AND device_id = ? AND pos <= ? LIMIT 1");
  q->bind(1, user_id).bind(2, device_id).bind(3, upto);
  return q->step();
}
void Store::deleteToDeviceAll(const std::string& user_id, const std::string& device_id) {
  auto q = db_.query("DELETE FROM to_device WHERE user_id = ? AND device_id = ?");
  q->bind(1, user_id).bind(2, device_id).run();
}
std::int64_t Store::countToDevice(const std::string& user_id, const std::string& device_id) {
  auto q = db_.query("SELECT COUNT(*) FROM to_device WHERE user_id = ? AND device_id = ?");
  q->bind(1, user_id).bind(2, device_id);
  return q->step() ? q->colInt(0) : 0;
}
std::int64_t Store::maxToDevicePos() {
  auto q = db_.query("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'to_device'), 0)");
  return q->step() ? q->colInt(0) : 0;
}

std::optional<std::string> Store::txn(const std::string& token, const std::string& kind,
                                      const std::string& txn_id) {
  auto q = db_.query("SELECT response FROM txns WHERE token = ? AND kind = ? AND txn_id = ?");
  q->bind(1, token).bind(2, kind).bind(3, txn_id);
  if (!q->step()) return std::nullopt;
  return q->colText(0);
}
void Store::insertTxn(const std::string& token, const std::string& kind, const std::string& txn_id,
                      const std::string& response) {
  {
    auto q = db_.query("INSERT OR REPLACE INTO txns(token, kind, txn_id, response) VALUES(?,?,?,?)");
    q->bind(1, token).bind(2, kind).bind(3, txn_id).bind(4, response).run();
  }
  // Bounded: a token keeps the responses of its newest kMaxTxnsPerToken transactions (clients retry recent
  // ones).
  if (++txn_inserts_ % 64 == 0) {
    auto q = db_.query(
        "DELETE FROM txns WHERE token = ? AND rowid <= (SELECT rowid FROM txns WHERE token = ? "
        "ORDER BY rowid DESC LIMIT 1 OFFSET " +
        std::to_string(kMaxTxnsPerToken) + ")");
    q->bind(1, token).bind(2, token).run();
  }
}
void Store::deleteTxnsOfToken(const std::string& token) {
  auto q = db_.query("DELETE FROM txns WHERE token = ?");
  q->bind(1, token).run();
}

std::optional<std::string> Store::deviceKeys(const std::string& user_id, const std::string& device_id) {
  auto q = db_.query("SELECT json FROM device_keys WHERE user_id = ? AND device_id = ?");
  q->bind(1, user_id).bind(2, device_id);
  if (!q->step()) return std::nullopt;
  return q->colText(0);
}
void Store::setDeviceKeys(const std::string& user_id, const std::string& device_id, const std::string& json) {
  auto q = db_.query("INSERT OR REPLACE INTO device_keys(user_id, device_id, json) VALUES(?,?,?)");
  q->bind(1, user_id).bind(2, device_id).bind(3, json).run();
}
std::optional<std::string> Store::oneTimeKey(const std::string& user_id, const std::string& device_id,
                                             const std::string& key_id) {
  auto q = db_.query("SELECT json FROM one_time_keys WHERE user_id = ? AND device_id = ? AND key_id = ?");
  q->bind(1, user_id).bind(2, device_id).bind(3, key_id);
  if (!q->step()) return std::nullopt;
  return q->colText(0);
}
void Store::insertOneTimeKey(const std::string& user_id, const std::string& device_id,
                             const std::string& key_id, const std::string& algorithm,
                             const std::string& json) {
  auto q = db_.query(
      "INSERT OR IGNORE INTO one_time_keys(user_id, device_id, key_id, algorithm, json) VALUES(?,?,?,?,?)");
  q->bind(1, user_id).bind(2, device_id).bind(3, key_id).bind(4, algorithm).bind(5, json).run();
}
std::optional<OneTimeKeyRow> Store::takeOneTimeKey(const std::string& user_id, const std::string& device_id,
                                                   const std::string& algorithm) {
  OneTimeKeyRow row;
  {
    auto q = db_.query(
        "SELECT key_id, json FROM one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? "
        "ORDER BY rowid LIMIT 1");
    q->bind(1, user_id).bind(2, device_id).bind(3, algorithm);
    if (!q->step()) return std::nullopt;
    row = {q->colText(0), q->colText(1)};
  }
  auto q = db_.query("DELETE FROM one_time_keys WHERE user_id = ? AND device_id = ? AND key_id = ?");
  q->bind(1, user_id).bind(2, device_id).bind(3, row.key_id).run();
  return row;
}
std::vector<std::pair<std::string, std::int64_t>> Store::oneTimeKeyCounts(const std::string& user_id,
                                                                          const std::string& device_id) {
  auto q = db_.query(
      "SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm");
  q->bind(1, user_id).bind(2, device_id);
  std::vector<std::pair<std::string, std::int64_t>> out;
  while (q->step()) out.emplace_back(q->colText(0), q->colInt(1));
  return out;
}
void Store::keyCountsForSync(const std::string& user_id, const std::string& device_id,
                             std::vector<std::pair<std::string, std::int64_t>>& one_time,
                             std::vector<std::string>& unused_fallback) {
  auto q = db_.query(
      "SELECT 0, algorithm, COUNT(*) FROM one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY "
      "algorithm "
      "UNION ALL SELECT 1, algorithm, 0 FROM fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0");
  q->bind(1, user_id).bind(2, device_id).bind(3, user_id).bind(4, device_id);
  while (q->step()) {
    if (q->colInt(0) == 0) {
      one_time.emplace_back(q->colText(1), q->colInt(2));
    } else {
      unused_fallback.push_back(q->colText(1));
    }
  }
}
std::int64_t Store::countOneTimeKeys(const std::string& user_id, const std::string& device_id) {
  auto q = db_.query("SELECT COUNT(*) FROM one_time_keys WHERE user_id = ? AND device_id = ?");
  q->bind(1, user_id).bind(2, device_id);
  return q->step() ? q->colInt(0) : 0;
}
std::optional<FallbackKeyRow> Store::fallbackKey(const std::string& user_id, const std::string& device_id,
                                                 const std::string& algorithm) {
  auto q = db_.query(
      "SELECT algorithm, key_id, json, used FROM fallback_keys WHERE user_id = ? AND device_id = ? AND "
      "algorithm = ?");
  q->bind(1, user_id).bind(2, device_id).bind(3, algorithm);
  if (!q->step()) return std::nullopt;
  return FallbackKeyRow{q->colText(0), q->colText(1), q->colText(2), q->colInt(3) != 0};
}
std::vector<FallbackKeyRow> Store::fallbackKeys(const std::string& user_id, const std::string& device_id) {
  auto q = db_.query(
      "SELECT algorithm, key_id, json, used FROM fallback_keys WHERE user_id = ? AND device_id = ? ORDER BY "
      "algorithm");
  q->bind(1, user_id).bind(2, device_id);
  std::vector<FallbackKeyRow> out;
  while (q->step()) out.push_back({q->colText(0), q->colText(1), q->colText(2), q->colInt(3) != 0});
  return out;
}
void Store::setFallbackKey(const std::string& user_id, const std::string& device_id,
                           const FallbackKeyRow& k) {
  auto q = db_.query(
      "INSERT OR REPLACE INTO fallback_keys(user_id, device_id, algorithm, key_id, json, used) "
      "VALUES(?,?,?,?,?,?)");
  q->bind(1, user_id).bind(2, device_id).bind(3, k.algorithm).bind(4, k.key_id).bind(5, k.json);
  q->bind(6, static_cast<std::int64_t>(k.used ? 1 : 0)).run();
}
void Store::markFallbackUsed(const std::string& user_id, const std::string& device_id,
                             const std::string& algorithm) {
  auto q =
      db_.query("UPDATE fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?");
  q->bind(1, user_id).bind(2, device_id).bind(3, algorithm).run();
}
std::int64_t Store::insertDeviceListChange(const std::string& user_id) {
  {
    auto q = db_.query("DELETE FROM device_lists WHERE user_id = ?");
    q->bind(1, user_id).run();
  }
  // Positions come from the cached maximum, as for events: a rolled-back insert leaves a gap, never a
  // position that a token already handed out and a later change reuses.
  const std::int64_t pos = max_device_list_pos_ + 1;
  auto q = db_.query("INSERT INTO device_lists(pos, user_id) VALUES(?, ?)");
  q->bind(1, pos).bind(2, user_id).run();
  max_device_list_pos_ = pos;
  return pos;
}
std::vector<std::string> Store::deviceListChanges(std::int64_t after, std::int64_t upto) {
  auto q = db_.query("SELECT user_id FROM device_lists WHERE pos > ? AND pos <= ? ORDER BY pos");
  q->bind(1, after).bind(2, upto);
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->colText(0));
  return out;
}
std::vector<std::string> Store::usersSharingRooms(const std::string& user_id) {
  auto q = db_.query(
      "SELECT DISTINCT b.user_id FROM memberships a JOIN memberships b ON a.room_id = b.room_id "
      "WHERE a.user_id = ? AND a.membership = 'join' AND b.membership = 'join' ORDER BY b.user_id");
  q->bind(1, user_id);
  std::vector<std::string> out;
  while (q->step()) out.push_back(q->colText(0));
  return out;
}
bool Store::sharesRoom(const std::string& a, const std::string& b) {
  auto q = db_.query(
      "SELECT 1 FROM memberships x JOIN memberships y ON x.room_id = y.room_id WHERE x.user_id = ? AND "
      "x.membership = 'join' AND y.user_id = ? AND y.membership = 'join' LIMIT 1");
  q->bind(1, a).bind(2, b);
  return q->step();
}
std::vector<Store::MemberChange> Store::memberChangesSince(const std::string& user_id, std::int64_t after) {
  // Rooms the user is joined to, or whose membership of the user changed after `after` (e.g. left since).
  auto q = db_.query(
      "SELECT b.room_id, b.user_id, b.membership FROM memberships a JOIN memberships b ON a.room_id = "
      "b.room_id "
      "WHERE a.user_id = ? AND (a.membership = 'join' OR a.pos > ?) AND b.pos > ? ORDER BY b.pos");
  q->bind(1, user_id).bind(2, after).bind(3, after);
  std::vector<MemberChange> out;
  while (q->step()) out.push_back({q->colText(0), q->colText(1), q->colText(2)});
  return out;
}
void Store::setDeviceDisplayName(const std::string& user_id, const std::string& device_id,
                                 const std::string& name) {
  auto q = db_.query("UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?");
  q->bind(1, name).bind(2, user_id).bind(3, device_id).run();
}

void Store::insertDelayed(const DelayedRow& d) {
  auto q = db_.query(std::string("INSERT INTO delayed_events(") + kDelayedCols +
                     ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q->bind(1, d.delay_id).bind(2, d.user_id).bind(3, d.device_id).bind(4, d.room_id).bind(5, d.type);
  q->bind(6, d.state_key).bind(7, d.content).bind(8, d.delay_ms).bind(9, d.send_at).bind(10, d.status);
  q->bind(11, d.event_id).bind(12, d.error).bind(13, d.finalised_ts).run();
}
std::optional<DelayedRow> Store::delayed(const std::string& delay_id) {
  auto q = db_.query(std::string("SELECT ") + kDelayedCols + " FROM delayed_events WHERE delay_id = ?");
  q->bind(1, delay_id);
  if (!q->step()) return std::nullopt;
  return readDelayed(*q);
}
std::vector<DelayedRow> Store::delayedOfUser(const std::string& user_id) {
  auto q = db_.query(std::string("SELECT ") + kDelayedCols +
                     " FROM delayed_events WHERE user_id = ? ORDER BY send_at LIMIT 1000");
  q->bind(1, user_id);
  std::vector<DelayedRow> out;
  while (q->step()) out.push_back(readDelayed(*q));
  return out;
}
std::vector<DelayedRow> Store::scheduledDelayed() {
  auto q = db_.query(std::string("SELECT ") + kDelayedCols +
                     " FROM delayed_events WHERE status = 'scheduled' ORDER BY send_at");
  std::vector<DelayedRow> out;
  while (q->step()) out.push_back(readDelayed(*q));
  return out;
}
std::int64_t Store::countScheduled(const std::string& user_id) {
  auto q = db_.query("SELECT COUNT(*) FROM delayed_events WHERE user_id = ? AND status = 'scheduled'");
  q->bind(1, user_id);
  return q->step() ? q->colInt(0) : 0;
}
void Store::updateDelayed(const DelayedRow& d) {
  auto q = db_.query(
      "UPDATE delayed_events SET send_at = ?, status = ?, event_id = ?, error = ?, finalised_ts = ? "
      "WHERE delay_id = ?");
  q->bind(1, d.send_at).bind(2, d.status).bind(3, d.event_id).bind(4, d.error).bind(5, d.finalised_ts);
  q->bind(6, d.delay_id).run();
}

}  // namespace chorus::hs
