#pragma once
// The Matrix client-server semantics of `chorus hs`, without HTTP: accounts, rooms and the auth rules, /sync,
// to-device queues and MSC4140 delayed events. JSON in, JSON out; errors are MxError values: a store failure
// (the transaction has rolled back) comes back as 500 M_UNKNOWN, never as an exception, so callers above the
// service need nothing of the store. Single-threaded: the owner calls it from one thread (the server's
// io_context). Every write commits before the call returns.
#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/clock.hpp"
#include "hs/config.hpp"
#include "hs/mx_error.hpp"

namespace chorus::hs {

class Store;
struct EventRow;
struct DelayedRow;

struct Auth {
  std::string user_id;
  std::string device_id;
  std::string token;
};

struct SyncRequest {
  std::optional<std::string> since;
  std::optional<std::string> filter;  // a filter id or inline JSON
  bool full_state{false};
};

// A /sync token "s<E>_<T>_<D>": event, to-device and device-list stream positions. Tokens of older servers
// ("s<E>_<T>") parse with D = 0 (every device-list change is reported once more, which is safe).
struct SyncToken {
  std::int64_t events{0};
  std::int64_t to_device{0};
  std::int64_t device_lists{0};
};
std::optional<SyncToken> parseSyncToken(const std::string& s);

struct SyncResult {
  boost::json::object body;
  bool empty{true};  // nothing for the client: a long-poll may wait
};

struct MessagesRequest {
  std::optional<std::string> from;
  std::optional<std::string> to;
  char dir{'b'};
  std::int64_t limit{10};
};

class Homeserver {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Something a /sync of this user would return may have arrived.
    virtual void onUserWake(const std::string& user_id) = 0;
    // The set or timing of scheduled delayed events changed.
    virtual void onDelayedScheduleChanged() = 0;
  };

  // Borrowed: store, clock and listener outlive this.
  Homeserver(const ServerConfig& cfg, Store& store, const Clock& clock, Listener* listener);

  const ServerConfig& config() const { return cfg_; }
  std::string userId(std::string_view localpart) const;

  // Accounts.
  // password_hash: an Argon2id hash of `password` made off the I/O thread (nullptr: hash here).
  MxResult<std::string> createUser(const std::string& localpart, const std::string& password, bool admin,
                                   const std::string* password_hash = nullptr);
  MxResult<boost::json::object> registerRequest(const boost::json::object& body,
                                                const std::string* password_hash = nullptr);
  MxResult<boost::json::object> registerAvailable(const std::string& username);
  MxResult<boost::json::object> login(const boost::json::object& body);
  // login() in three steps, so that the password check (Argon2id) can run off the I/O thread:
  // loginPrepare parses the body and looks the user up; verifyPassword(attempt) is thread-safe (pure);
  // loginFinish creates the device and the token once the password matched.
  struct LoginAttempt {
    std::string user_id;        // canonical "@local:server"
    std::string password_hash;  // "" when the user does not exist (verify fails)
    std::string password;
    std::optional<std::string> device_id;
    std::string display_name;
  };
  MxResult<LoginAttempt> loginPrepare(const boost::json::object& body);
  static bool checkPassword(const LoginAttempt& a);
  MxResult<boost::json::object> loginFinish(const LoginAttempt& a);
  // The login bucket of a claimed user name: "alice", "@alice:server" and "ALICE" are one user.
  std::string canonicalLoginName(std::string_view claimed) const;
  MxResult<Auth> authenticate(const std::string& token);
  MxStatus logout(const Auth& auth, bool all);
  MxResult<boost::json::object> devices(const Auth& auth);
  MxResult<boost::json::object> device(const Auth& auth, const std::string& device_id);
  MxResult<boost::json::object> postFilter(const Auth& auth, const std::string& user_id,
                                           const boost::json::object& body);
  MxResult<boost::json::object> getFilter(const Auth& auth, const std::string& user_id,
                                          const std::string& id);
  MxResult<boost::json::object> profile(const std::string& user_id, const std::string& field);
  MxResult<boost::json::object> setProfile(const Auth& auth, const std::string& user_id,
                                           const std::string& field, const boost::json::object& body);

  // Rooms (rooms.cpp).
  MxResult<boost::json::object> createRoom(const Auth& auth, const boost::json::object& body);
  MxResult<boost::json::object> join(const Auth& auth, const std::string& room_id_or_alias);
  // action: invite | leave | kick | ban | unban
  MxResult<boost::json::object> membership(const Auth& auth, const std::string& room_id,
                                           const std::string& action, const boost::json::object& body);
  // state_key set: a state event (PUT /state); else a message (PUT /send, idempotent per token + txn_id).
  MxResult<boost::json::object> sendEvent(const Auth& auth, const std::string& room_id,
                                          const std::string& type,
                                          const std::optional<std::string>& state_key,
                                          const boost::json::object& content, const std::string& txn_id);
  MxResult<boost::json::array> roomState(const Auth& auth, const std::string& room_id);
  MxResult<boost::json::object> stateContent(const Auth& auth, const std::string& room_id,
                                             const std::string& type, const std::string& state_key);
  MxResult<boost::json::object> members(const Auth& auth, const std::string& room_id);
  MxResult<boost::json::object> messages(const Auth& auth, const std::string& room_id,
                                         const MessagesRequest& req);
  MxResult<boost::json::object> joinedRooms(const Auth& auth);
  MxResult<boost::json::object> resolveAlias(const std::string& alias);
  MxResult<boost::json::object> putAlias(const Auth& auth, const std::string& alias,
                                         const boost::json::object& body);
  MxResult<boost::json::object> deleteAlias(const Auth& auth, const std::string& alias);

  // To-device and sync (sync.cpp).
  MxResult<boost::json::object> sendToDevice(const Auth& auth, const std::string& type,
                                             const std::string& txn_id, const boost::json::object& body);
  MxResult<SyncResult> sync(const Auth& auth, const SyncRequest& req);

  // End-to-end encryption keys and devices (keys.cpp).
  MxResult<boost::json::object> keysUpload(const Auth& auth, const boost::json::object& body);
  MxResult<boost::json::object> keysQuery(const Auth& auth, const boost::json::object& body);
  MxResult<boost::json::object> keysClaim(const Auth& auth, const boost::json::object& body);
  // to: "" = now.
  MxResult<boost::json::object> keysChanges(const Auth& auth, const std::string& from, const std::string& to);
  MxResult<boost::json::object> updateDevice(const Auth& auth, const std::string& device_id,
                                             const boost::json::object& body);
  // Deletes devices of auth.user_id with their tokens, queues and keys (the router did the user-interactive
  // authentication); unknown ids are ignored.
  MxStatus deleteDevices(const Auth& auth, const std::vector<std::string>& device_ids);
  MxResult<boost::json::object> joinedMembers(const Auth& auth, const std::string& room_id);
  struct DeviceListDelta {
    std::vector<std::string> changed, left;
  };
  // Users whose devices changed, or who started (changed) or stopped (left) sharing a room with user_id,
  // between the stream positions (e_since, d_since) and (e_upto, d_upto).
  DeviceListDelta deviceListsSince(const std::string& user_id, std::int64_t e_since, std::int64_t e_upto,
                                   std::int64_t d_since, std::int64_t d_upto);
  boost::json::object oneTimeKeyCounts(const std::string& user_id, const std::string& device_id);

  // MSC4140 delayed events (delayed_events.cpp).
  MxResult<boost::json::object> scheduleDelayed(const Auth& auth, const std::string& room_id,
                                                const std::string& type,
                                                const std::optional<std::string>& state_key,
                                                const boost::json::object& content, std::int64_t delay_ms,
                                                const std::string& txn_id, bool final_api);
  // action: send | cancel | restart
  MxResult<boost::json::object> delayedAction(const Auth& auth, const std::string& delay_id,
                                              const std::string& action);
  MxResult<boost::json::object> delayedList(const Auth& auth);
  MxResult<boost::json::object> delayedGet(const Auth& auth, const std::string& delay_id);
  // Earliest send_at (wall ms) among scheduled delayed events.
  std::optional<std::int64_t> nextDelayedDue();
  // Sends every delayed event that is due; returns how many were finalised.
  int runDueDelayed();

  // Notifies listeners of everything written since the last flush; called after each commit.
  void flushWakes();

 private:
  // A store failure inside a public call: logged, and the 500 M_UNKNOWN the client gets.
  static MxError storeFailure(const char* where, const std::exception& e);
  MxResult<EventRow> appendEvent(const std::string& room_id, const std::string& sender,
                                 const std::string& type, const std::optional<std::string>& state_key,
                                 const boost::json::object& content, const std::string& txn_device,
                                 const std::string& txn_id);
  MxStatus checkAuth(const std::string& room_id, const std::string& sender, const std::string& type,
                     const std::optional<std::string>& state_key, const boost::json::object& content);
  MxResult<boost::json::object> changeMembership(const std::string& room_id, const std::string& sender,
                                                 const std::string& target, const std::string& membership,
                                                 const boost::json::object* extra);
  std::string newEventId();
  std::string membershipOf(const std::string& room_id, const std::string& user_id);
  MxStatus requireJoined(const Auth& auth, const std::string& room_id);
  void wakeRoom(const std::string& room_id);
  // Records a change of the user's device list (inside the caller's transaction) and wakes everyone who
  // shares a room with the user.
  void deviceListChanged(const std::string& user_id);
  boost::json::object clientEvent(const EventRow& e, const Auth* viewer) const;
  MxResult<boost::json::object> sendDelayedNow(DelayedRow& d);

  const ServerConfig& cfg_;
  Store& store_;
  const Clock& clock_;
  Listener* listener_;
  std::set<std::string> pending_wake_;
  bool delayed_changed_{false};
};

}  // namespace chorus::hs
