#pragma once
// Persistent state of the homeserver in one SQLite database (WAL). Every method is synchronous; callers group
// writes in a Transaction (begin()) and commit before they acknowledge. Schema: see docs/hs.md.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hs/store/sqlite.hpp"

namespace chorus::hs {

struct UserRow {
  std::string user_id;
  std::string password_hash;
  bool admin{false};
  std::string displayname;
  std::string avatar_url;
};

struct DeviceRow {
  std::string device_id;
  std::string display_name;
  std::int64_t last_seen_ts{0};
};

struct TokenInfo {
  std::string user_id;
  std::string device_id;
};

struct EventRow {
  std::int64_t pos{0};  // stream position, strictly increasing over the whole server
  std::string event_id;
  std::string room_id;
  std::string type;
  std::optional<std::string> state_key;
  std::string sender;
  std::int64_t origin_ts{0};
  std::string json;  // the client-format event (without unsigned.age)
  std::string txn_device;
  std::string txn_id;
};

struct MembershipRow {
  std::string room_id;
  std::string membership;
  std::int64_t pos{0};
};

struct ToDeviceRow {
  std::int64_t pos{0};
  std::string json;
};

struct OneTimeKeyRow {
  std::string key_id;  // "algorithm:id"
  std::string json;    // the key (a JSON string or object)
};

struct FallbackKeyRow {
  std::string algorithm;
  std::string key_id;
  std::string json;
  bool used{false};
};

struct DelayedRow {
  std::string delay_id;
  std::string user_id;
  std::string device_id;
  std::string room_id;
  std::string type;
  std::optional<std::string> state_key;
  std::string content;  // JSON object text
  std::int64_t delay_ms{0};
  std::int64_t send_at{0};  // wall clock ms
  std::string status;       // scheduled | sent | cancelled | failed
  std::string event_id;
  std::string error;
  std::int64_t finalised_ts{0};
};

class Store {
 public:
  // Opens or creates DIR/hs.sqlite3. synchronous: "full" or "normal". Throws StoreError.
  Store(const std::string& dir, const std::string& synchronous);

  Db& db() { return db_; }
  Transaction begin() { return Transaction(db_); }

  std::optional<std::string> meta(const std::string& key);
  void setMeta(const std::string& key, const std::string& value);

  // Users, devices, tokens.
  std::optional<UserRow> user(const std::string& user_id);
  void insertUser(const UserRow& u, std::int64_t now);
  void setProfile(const std::string& user_id, const std::string& field, const std::string& value);
  void upsertDevice(const std::string& user_id, const std::string& device_id, const std::string& display_name,
                    std::int64_t now);
  std::vector<DeviceRow> devices(const std::string& user_id);
  bool deviceExists(const std::string& user_id, const std::string& device_id);
  void deleteDevice(const std::string& user_id, const std::string& device_id);
  void insertToken(const std::string& token, const std::string& user_id, const std::string& device_id);
  std::optional<TokenInfo> token(const std::string& token);
  void deleteToken(const std::string& token);
  std::vector<std::string> tokensOfUser(const std::string& user_id);

  std::int64_t insertFilter(const std::string& user_id, const std::string& json);
  std::optional<std::string> filter(const std::string& user_id, std::int64_t id);
  std::optional<std::int64_t> findFilter(const std::string& user_id, const std::string& json);

  // Rooms and events.
  void insertRoom(const std::string& room_id, const std::string& creator, std::int64_t now);
  bool roomExists(const std::string& room_id);
  std::int64_t insertEvent(const EventRow& e);  // returns its pos
  void setCurrentState(const std::string& room_id, const std::string& type, const std::string& state_key,
                       std::int64_t pos);
  std::optional<EventRow> stateEvent(const std::string& room_id, const std::string& type,
                                     const std::string& state_key);
  std::vector<EventRow> currentState(const std::string& room_id);
  // Current-state events that changed in (after, before).
  std::vector<EventRow> stateChangedBetween(const std::string& room_id, std::int64_t after,
                                            std::int64_t before);
  void setMembership(const std::string& room_id, const std::string& user_id, const std::string& membership,
                     std::int64_t pos);
  std::vector<MembershipRow> membershipsOf(const std::string& user_id);
  // Users whose membership in the room is one of join / invite.
  std::vector<std::string> joinedOrInvited(const std::string& room_id);
  std::vector<std::string> joinedMembers(const std::string& room_id);
  // Up to `limit` events with after < pos <= upto, newest first.
  std::vector<EventRow> eventsBackward(const std::string& room_id, std::int64_t after, std::int64_t upto,
                                       std::size_t limit);
  // Up to `limit` events with pos > after (and <= upto), oldest first.
  std::vector<EventRow> eventsForward(const std::string& room_id, std::int64_t after, std::int64_t upto,
                                      std::size_t limit);
  std::int64_t maxEventPos();

  std::optional<std::string> aliasRoom(const std::string& alias);
  void insertAlias(const std::string& alias, const std::string& room_id, const std::string& creator);
  bool deleteAlias(const std::string& alias);
  std::optional<std::string> aliasCreator(const std::string& alias);

  // To-device queues.
  std::int64_t insertToDevice(const std::string& user_id, const std::string& device_id,
                              const std::string& json);
  std::vector<ToDeviceRow> toDevice(const std::string& user_id, const std::string& device_id,
                                    std::int64_t after, std::size_t limit);
  void deleteToDevice(const std::string& user_id, const std::string& device_id, std::int64_t upto);
  bool hasToDeviceUpTo(const std::string& user_id, const std::string& device_id, std::int64_t upto);
  void deleteToDeviceAll(const std::string& user_id, const std::string& device_id);
  std::int64_t countToDevice(const std::string& user_id, const std::string& device_id);
  std::int64_t maxToDevicePos();

  // Idempotency of PUT .../{txnId}: the stored response per (access token, kind, txn id).
  std::optional<std::string> txn(const std::string& token, const std::string& kind,
                                 const std::string& txn_id);
  void insertTxn(const std::string& token, const std::string& kind, const std::string& txn_id,
                 const std::string& response);
  void deleteTxnsOfToken(const std::string& token);
  static constexpr int kMaxTxnsPerToken = 1000;

  // End-to-end encryption keys (docs/hs.md "End-to-end encryption").
  std::optional<std::string> deviceKeys(const std::string& user_id, const std::string& device_id);
  void setDeviceKeys(const std::string& user_id, const std::string& device_id, const std::string& json);
  std::optional<std::string> oneTimeKey(const std::string& user_id, const std::string& device_id,
                                        const std::string& key_id);
  void insertOneTimeKey(const std::string& user_id, const std::string& device_id, const std::string& key_id,
                        const std::string& algorithm, const std::string& json);
  // Removes and returns the oldest one-time key of the algorithm.
  std::optional<OneTimeKeyRow> takeOneTimeKey(const std::string& user_id, const std::string& device_id,
                                              const std::string& algorithm);
  // (algorithm, count) of the device's unclaimed one-time keys.
  std::vector<std::pair<std::string, std::int64_t>> oneTimeKeyCounts(const std::string& user_id,
                                                                     const std::string& device_id);
  // One statement for /sync: (algorithm, count) of unclaimed one-time keys and the algorithms of unused
  // fallback keys.
  void keyCountsForSync(const std::string& user_id, const std::string& device_id,
                        std::vector<std::pair<std::string, std::int64_t>>& one_time,
                        std::vector<std::string>& unused_fallback);
  std::int64_t countOneTimeKeys(const std::string& user_id, const std::string& device_id);
  std::optional<FallbackKeyRow> fallbackKey(const std::string& user_id, const std::string& device_id,
                                            const std::string& algorithm);
  std::vector<FallbackKeyRow> fallbackKeys(const std::string& user_id, const std::string& device_id);
  void setFallbackKey(const std::string& user_id, const std::string& device_id, const FallbackKeyRow& k);
  void markFallbackUsed(const std::string& user_id, const std::string& device_id,
                        const std::string& algorithm);
  // Device-list stream: one row per user (the newest change); returns its position.
  std::int64_t insertDeviceListChange(const std::string& user_id);
  // Users whose devices changed at a position in (after, upto].
  std::vector<std::string> deviceListChanges(std::int64_t after, std::int64_t upto);
  std::int64_t maxDeviceListPos() const { return max_device_list_pos_; }
  // The newest position at which any membership changed.
  std::int64_t maxMembershipPos() const { return max_membership_pos_; }
  // Users joined to a room the user is joined to (including the user).
  std::vector<std::string> usersSharingRooms(const std::string& user_id);
  bool sharesRoom(const std::string& a, const std::string& b);
  // Memberships changed after `after` in the rooms `user_id` is joined to (or left after `after`).
  struct MemberChange {
    std::string room_id;
    std::string user_id;
    std::string membership;
  };
  std::vector<MemberChange> memberChangesSince(const std::string& user_id, std::int64_t after);
  void setDeviceDisplayName(const std::string& user_id, const std::string& device_id,
                            const std::string& name);

  // MSC4140 delayed events.
  void insertDelayed(const DelayedRow& d);
  std::optional<DelayedRow> delayed(const std::string& delay_id);
  std::vector<DelayedRow> delayedOfUser(const std::string& user_id);
  std::vector<DelayedRow> scheduledDelayed();
  std::int64_t countScheduled(const std::string& user_id);
  void updateDelayed(const DelayedRow& d);

 private:
  Db db_;
  std::int64_t max_event_pos_{0};
  std::int64_t max_membership_pos_{0};   // newest memberships.pos (cached: /sync skips device-list work)
  std::int64_t max_device_list_pos_{0};  // newest device_lists.pos
  std::uint64_t txn_inserts_{0};
};

}  // namespace chorus::hs
