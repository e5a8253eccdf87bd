// Rooms: createRoom, membership, state and message events, and the auth rules that guard them.
#include <algorithm>

#include "hs/service/auth_rules.hpp"
#include "hs/service/homeserver.hpp"
#include "hs/service/json_args.hpp"
#include "hs/service/password.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace json = boost::json;

namespace {

constexpr std::string_view kMember = "m.room.member";
constexpr std::string_view kPowerLevels = "m.room.power_levels";
constexpr std::string_view kCreate = "m.room.create";
constexpr std::string_view kJoinRules = "m.room.join_rules";

std::optional<json::object> contentOf(const std::optional<EventRow>& e) {
  if (!e) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(e->json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* c = v.get_object().if_contains("content");
  if (!c || !c->is_object()) return std::nullopt;
  return c->get_object();
}

// Parses "s<E>_<T>" (a sync token) or "t<E>" (a pagination token) into the event stream position.
std::optional<std::int64_t> parseEventPos(const std::string& tok) {
  if (tok.size() < 2 || (tok[0] != 's' && tok[0] != 't')) return std::nullopt;
  const auto end = tok.find('_');
  const std::string digits = tok.substr(1, end == std::string::npos ? std::string::npos : end - 1);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(digits);
}

bool isUserId(std::string_view s) {
  return s.size() >= 3 && s[0] == '@' && s.find(':') != std::string_view::npos;
}

}  // namespace

std::string Homeserver::newEventId() {
  return "$" + randomAlnum(43);
}

std::string Homeserver::membershipOf(const std::string& room_id, const std::string& user_id) {
  auto c = contentOf(store_.stateEvent(room_id, std::string(kMember), user_id));
  if (!c) return "leave";
  auto* m = c->if_contains("membership");
  return m && m->is_string() ? std::string(m->get_string()) : "leave";
}

MxStatus Homeserver::requireJoined(const Auth& auth, const std::string& room_id) {
  if (!store_.roomExists(room_id)) return notFound("Unknown room " + room_id);
  if (membershipOf(room_id, auth.user_id) != "join") {
    return forbidden("User " + auth.user_id + " is not joined to room " + room_id);
  }
  return mxOk();
}

void Homeserver::wakeRoom(const std::string& room_id) {
  for (auto& u : store_.joinedOrInvited(room_id)) pending_wake_.insert(std::move(u));
}

MxStatus Homeserver::checkAuth(const std::string& room_id, const std::string& sender, const std::string& type,
                               const std::optional<std::string>& state_key, const json::object& content) {
  if (type == kCreate) return forbidden("m.room.create may only be the first event of a room");
  if (state_key && !state_key->empty() && (*state_key)[0] == '@' && *state_key != sender && type != kMember) {
    return forbidden("State key " + *state_key + " is a user ID other than the sender " + sender);
  }
  auto create = contentOf(store_.stateEvent(room_id, std::string(kCreate), ""));
  std::string creator;
  if (create) {
    if (auto* c = create->if_contains("creator"); c && c->is_string()) creator = std::string(c->get_string());
  }
  auto pl_opt = contentOf(store_.stateEvent(room_id, std::string(kPowerLevels), ""));
  const json::object* pl = pl_opt ? &*pl_opt : nullptr;
  const std::int64_t sender_level = userLevel(pl, sender, creator);
  const std::string sender_membership = membershipOf(room_id, sender);

  if (type == kMember) {
    if (!state_key || !isUserId(*state_key)) return badJson("m.room.member needs a user ID as state_key");
    auto m = reqString(content, "membership");
    if (!m) return m.error();
    const std::string& target = *state_key;
    const std::string target_membership = membershipOf(room_id, target);
    const std::int64_t target_level = userLevel(pl, target, creator);
    const std::string& membership = *m;
    if (membership == "join") {
      if (sender != target) return forbidden("Cannot force another user to join");
      if (target_membership == "ban") return forbidden(sender + " is banned from the room");
      if (target_membership == "join" || target_membership == "invite") return mxOk();
      auto jr = contentOf(store_.stateEvent(room_id, std::string(kJoinRules), ""));
      std::string rule = "invite";
      if (jr) {
        if (auto* r = jr->if_contains("join_rule"); r && r->is_string()) rule = std::string(r->get_string());
      }
      if (rule == "public") return mxOk();
      return forbidden("You are not invited to this room");
    }
    if (membership == "invite") {
      if (sender_membership != "join") return forbidden(sender + " is not in the room");
      if (target_membership == "ban") return forbidden(target + " is banned from the room");
      if (target_membership == "join") return forbidden(target + " is already in the room");
      const std::int64_t need = namedLevel(pl, "invite");
      if (sender_level < need) {
        return forbidden("You don't have permission to invite users: needs power level " +
                         std::to_string(need));
      }
      return mxOk();
    }
    if (membership == "leave") {
      if (sender == target) {
        if (sender_membership == "join" || sender_membership == "invite" || sender_membership == "knock") {
          return mxOk();
        }
        return forbidden(sender + " is not in the room");
      }
      if (sender_membership != "join") return forbidden(sender + " is not in the room");
      if (target_membership == "ban" && sender_level < namedLevel(pl, "ban")) {
        return forbidden("You don't have permission to unban users");
      }
      if (sender_level < namedLevel(pl, "kick") || target_level >= sender_level) {
        return forbidden("You don't have permission to kick " + target);
      }
      return mxOk();
    }
    if (membership == "ban") {
      if (sender_membership != "join") return forbidden(sender + " is not in the room");
      if (sender_level < namedLevel(pl, "ban") || target_level >= sender_level) {
        return forbidden("You don't have permission to ban " + target);
      }
      return mxOk();
    }
    return badJson("'membership' must be one of join, invite, leave, ban");
  }

  if (sender_membership != "join") return forbidden("User " + sender + " is not joined to room " + room_id);
  const std::int64_t need = eventLevel(pl, type, state_key.has_value());
  if (sender_level < need) {
    return forbidden("You don't have permission to send " + type + ": needs power level " +
                     std::to_string(need) + ", you have " + std::to_string(sender_level));
  }
  if (type == kPowerLevels) {
    if (auto st = validatePowerLevels(content); !st) return st.error();
    if (auto st = checkPowerLevelsChange(pl, content, sender, sender_level); !st) return st.error();
  }
  if (type == kJoinRules) {
    if (auto r = optString(content, "join_rule"); !r) return r.error();
  }
  return mxOk();
}

MxResult<EventRow> Homeserver::appendEvent(const std::string& room_id, const std::string& sender,
                                           const std::string& type,
                                           const std::optional<std::string>& state_key,
                                           const json::object& content, const std::string& txn_device,
                                           const std::string& txn_id) {
  EventRow e;
  e.event_id = newEventId();
  e.room_id = room_id;
  e.type = type;
  e.state_key = state_key;
  e.sender = sender;
  e.origin_ts = clock_.nowMs();
  e.txn_device = txn_device;
  e.txn_id = txn_id;
  json::object ev{{"event_id", e.event_id}, {"room_id", room_id}, {"sender", sender},
                  {"type", type},           {"content", content}, {"origin_server_ts", e.origin_ts}};
  if (state_key) {
    ev["state_key"] = *state_key;
    auto prev = store_.stateEvent(room_id, type, *state_key);
    if (prev) {
      json::object u{{"replaces_state", prev->event_id}};
      if (auto pc = contentOf(prev)) u["prev_content"] = std::move(*pc);
      ev["unsigned"] = std::move(u);
    }
  }
  e.json = json::serialize(ev);
  if (e.json.size() > cfg_.max_event_bytes) {
    return mxError(413, "M_TOO_LARGE",
                   "Event is larger than " + std::to_string(cfg_.max_event_bytes) + " bytes");
  }
  e.pos = store_.insertEvent(e);
  if (state_key) {
    store_.setCurrentState(room_id, type, *state_key, e.pos);
    if (type == kMember) {
      std::string m = "leave";
      if (auto* mv = content.if_contains("membership"); mv && mv->is_string())
        m = std::string(mv->get_string());
      store_.setMembership(room_id, *state_key, m, e.pos);
      pending_wake_.insert(*state_key);
    }
  }
  wakeRoom(room_id);
  return e;
}

MxResult<json::object> Homeserver::changeMembership(const std::string& room_id, const std::string& sender,
                                                    const std::string& target, const std::string& membership,
                                                    const json::object* extra) {
  json::object content{{"membership", membership}};
  if (extra) {
    if (auto r = optString(*extra, "reason"); !r) {
      return r.error();
    } else if (*r) {
      content["reason"] = **r;
    }
  }
  if (membership == "join" || membership == "invite") {
    if (auto u = store_.user(target)) {
      if (!u->displayname.empty()) content["displayname"] = u->displayname;
      if (!u->avatar_url.empty()) content["avatar_url"] = u->avatar_url;
    }
  }
  if (auto st = checkAuth(room_id, sender, std::string(kMember), target, content); !st) return st.error();
  auto txn = store_.begin();
  auto e = appendEvent(room_id, sender, std::string(kMember), target, content, "", "");
  if (!e) return e.error();
  txn.commit();
  return json::object{{"event_id", e->event_id}};
}

MxResult<json::object> Homeserver::createRoom(const Auth& auth, const json::object& body) try {
  auto preset = optString(body, "preset");
  if (!preset) return preset.error();
  auto visibility = optString(body, "visibility");
  if (!visibility) return visibility.error();
  auto name = optString(body, "name");
  if (!name) return name.error();
  auto topic = optString(body, "topic");
  if (!topic) return topic.error();
  auto alias_name = optString(body, "room_alias_name");
  if (!alias_name) return alias_name.error();
  auto room_version = optString(body, "room_version");
  if (!room_version) return room_version.error();
  auto invite = optArray(body, "invite");
  if (!invite) return invite.error();
  auto initial_state = optArray(body, "initial_state");
  if (!initial_state) return initial_state.error();
  auto pl_override = optObject(body, "power_level_content_override");
  if (!pl_override) return pl_override.error();
  auto creation_content = optObject(body, "creation_content");
  if (!creation_content) return creation_content.error();

  std::string p =
      preset->value_or(visibility->value_or("private") == "public" ? "public_chat" : "private_chat");
  if (p != "public_chat" && p != "private_chat" && p != "trusted_private_chat") {
    return badJson("'preset' must be one of public_chat, private_chat, trusted_private_chat");
  }
  const std::string version = room_version->value_or("10");
  if (version.empty() || version.size() > 2 || version.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(version) < 1 || std::stoi(version) > 11) {
    return mxError(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + version);
  }
  std::vector<std::string> invitees;
  if (*invite) {
    for (std::size_t i = 0; i < (*invite)->size(); ++i) {
      const auto& v = (**invite)[i];
      if (!v.is_string() || !isUserId(v.get_string())) {
        return badJson("'invite[" + std::to_string(i) + "]' must be a user ID");
      }
      std::string uid(v.get_string());
      if (!store_.user(uid)) return notFound("Unknown user " + uid);
      if (uid != auth.user_id) invitees.push_back(std::move(uid));
    }
  }
  struct StateItem {
    std::string type, state_key;
    json::object content;
  };
  std::vector<StateItem> initial;
  if (*initial_state) {
    for (std::size_t i = 0; i < (*initial_state)->size(); ++i) {
      const auto& v = (**initial_state)[i];
      const std::string where = "initial_state[" + std::to_string(i) + "]";
      if (!v.is_object()) return badJson("'" + where + "' must be an object");
      const auto& o = v.get_object();
      auto t = reqString(o, "type");
      if (!t) return badJson("'" + where + ".type' must be a string");
      auto sk = optString(o, "state_key");
      if (!sk) return badJson("'" + where + ".state_key' must be a string");
      auto c = optObject(o, "content");
      if (!c || !*c) return badJson("'" + where + ".content' must be an object");
      if (*t == kCreate || *t == kMember) return badJson("'" + where + "' may not set " + *t);
      if (t->empty() || t->size() > 255) return invalidParam("Invalid event type in '" + where + "'");
      initial.push_back({*t, sk->value_or(""), **c});
    }
  }
  json::object pl = defaultPowerLevels(auth.user_id);
  if (p == "trusted_private_chat") {
    for (const auto& u : invitees) pl["users"].get_object()[u] = 100;
  }
  if (*pl_override) {
    for (const auto& [k, v] : **pl_override) pl[k] = v;
    if (auto st = validatePowerLevels(pl); !st) return st.error();
  }
  std::optional<std::string> alias;
  if (*alias_name) {
    const std::string& a = **alias_name;
    if (a.empty() || a.find(':') != std::string::npos || a.find('#') != std::string::npos || a.size() > 200) {
      return invalidParam("Invalid room_alias_name");
    }
    alias = "#" + a + ":" + cfg_.server_name;
    if (store_.aliasRoom(*alias))
      return mxError(400, "M_ROOM_IN_USE", "Room alias " + *alias + " already taken");
  }

  const std::string room_id = "!" + randomAlnum(18) + ":" + cfg_.server_name;
  auto txn = store_.begin();
  store_.insertRoom(room_id, auth.user_id, clock_.nowMs());
  auto add = [&](const std::string& type, const std::string& sk, json::object content) -> MxStatus {
    auto e = appendEvent(room_id, auth.user_id, type, sk, content, "", "");
    if (!e) return e.error();
    return mxOk();
  };
  json::object create{{"creator", auth.user_id}, {"room_version", version}};
  if (*creation_content) {
    for (const auto& [k, v] : **creation_content) {
      if (k != "creator" && k != "room_version") create[k] = v;
    }
  }
  json::object member{{"membership", "join"}};
  if (auto u = store_.user(auth.user_id); u && !u->displayname.empty())
    member["displayname"] = u->displayname;
  std::vector<std::tuple<std::string, std::string, json::object>> evs;
  evs.emplace_back(std::string(kCreate), "", std::move(create));
  evs.emplace_back(std::string(kMember), auth.user_id, std::move(member));
  evs.emplace_back(std::string(kPowerLevels), "", std::move(pl));
  if (alias) evs.emplace_back("m.room.canonical_alias", "", json::object{{"alias", *alias}});
  evs.emplace_back(std::string(kJoinRules), "",
                   json::object{{"join_rule", p == "public_chat" ? "public" : "invite"}});
  evs.emplace_back("m.room.history_visibility", "", json::object{{"history_visibility", "shared"}});
  if (p != "public_chat")
    evs.emplace_back("m.room.guest_access", "", json::object{{"guest_access", "can_join"}});
  // From here on the events are the client's: initial_state, name and topic pass the same auth rules as a
  // PUT /state would (issue #10: an initial_state call.member for someone else's user id was accepted).
  const std::size_t first_checked = evs.size();
  for (auto& s : initial) evs.emplace_back(s.type, s.state_key, std::move(s.content));
  if (*name) evs.emplace_back("m.room.name", "", json::object{{"name", **name}});
  if (*topic) evs.emplace_back("m.room.topic", "", json::object{{"topic", **topic}});
  for (std::size_t i = 0; i < evs.size(); ++i) {
    auto& [type, sk, content] = evs[i];
    if (i >= first_checked) {
      if (auto st = checkAuth(room_id, auth.user_id, type, sk, content); !st) return st.error();
    }
    if (auto st = add(type, sk, std::move(content)); !st) return st.error();
  }
  for (const auto& u : invitees) {
    json::object c{{"membership", "invite"}};
    if (auto row = store_.user(u); row && !row->displayname.empty()) c["displayname"] = row->displayname;
    if (auto st = add(std::string(kMember), u, std::move(c)); !st) return st.error();
  }
  if (alias) store_.insertAlias(*alias, room_id, auth.user_id);
  txn.commit();
  json::object out{{"room_id", room_id}};
  if (alias) out["room_alias"] = *alias;
  return out;
} catch (const StoreError& e) {
  return storeFailure("createRoom", e);
}

MxResult<json::object> Homeserver::join(const Auth& auth, const std::string& target) try {
  std::string room_id = target;
  if (!target.empty() && target[0] == '#') {
    auto r = store_.aliasRoom(target);
    if (!r) return notFound("Room alias " + target + " not found");
    room_id = *r;
  } else if (target.empty() || target[0] != '!') {
    return invalidParam(target + " is not a room ID or alias");
  }
  if (!store_.roomExists(room_id)) return notFound("Unknown room " + room_id);
  if (membershipOf(room_id, auth.user_id) == "join") return json::object{{"room_id", room_id}};
  auto r = changeMembership(room_id, auth.user_id, auth.user_id, "join", nullptr);
  if (!r) return r.error();
  return json::object{{"room_id", room_id}};
} catch (const StoreError& e) {
  return storeFailure("join", e);
}

MxResult<json::object> Homeserver::membership(const Auth& auth, const std::string& room_id,
                                              const std::string& action, const json::object& body) try {
  if (action == "join") return join(auth, room_id);
  if (!store_.roomExists(room_id)) return notFound("Unknown room " + room_id);
  if (action == "leave") {
    auto r = changeMembership(room_id, auth.user_id, auth.user_id, "leave", &body);
    if (!r) return r.error();
    return json::object{};
  }
  auto target = reqString(body, "user_id");
  if (!target) return target.error();
  if (!isUserId(*target)) return invalidParam("'user_id' must be a user ID");
  std::string membership;
  if (action == "invite") {
    if (!store_.user(*target)) return notFound("Unknown user " + *target);
    membership = "invite";
  } else if (action == "kick") {
    membership = "leave";
  } else if (action == "ban") {
    membership = "ban";
  } else if (action == "unban") {
    if (membershipOf(room_id, *target) != "ban") return forbidden(*target + " is not banned");
    membership = "leave";
  } else {
    return mxError(404, "M_UNRECOGNIZED", "Unrecognized request");
  }
  auto r = changeMembership(room_id, auth.user_id, *target, membership, &body);
  if (!r) return r.error();
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("membership", e);
}

MxResult<json::object> Homeserver::sendEvent(const Auth& auth, const std::string& room_id,
                                             const std::string& type,
                                             const std::optional<std::string>& state_key,
                                             const json::object& content, const std::string& txn_id) try {
  if (type.empty() || type.size() > 255) return invalidParam("Invalid event type");
  const std::string kind = "send\n" + room_id;
  if (!state_key) {
    if (auto prior = store_.txn(auth.token, kind, txn_id)) {
      boost::system::error_code ec;
      auto v = json::parse(*prior, ec);
      if (!ec && v.is_object()) return v.get_object();
    }
  }
  if (!store_.roomExists(room_id)) return notFound("Unknown room " + room_id);
  if (auto st = checkAuth(room_id, auth.user_id, type, state_key, content); !st) return st.error();
  auto txn = store_.begin();
  auto e = appendEvent(room_id, auth.user_id, type, state_key, content, state_key ? "" : auth.device_id,
                       state_key ? "" : txn_id);
  if (!e) return e.error();
  json::object out{{"event_id", e->event_id}};
  if (!state_key) store_.insertTxn(auth.token, kind, txn_id, json::serialize(out));
  txn.commit();
  return out;
} catch (const StoreError& e) {
  return storeFailure("sendEvent", e);
}

MxResult<json::array> Homeserver::roomState(const Auth& auth, const std::string& room_id) try {
  if (auto st = requireJoined(auth, room_id); !st) return st.error();
  json::array out;
  for (const auto& e : store_.currentState(room_id)) out.push_back(clientEvent(e, &auth));
  return out;
} catch (const StoreError& e) {
  return storeFailure("roomState", e);
}

MxResult<json::object> Homeserver::stateContent(const Auth& auth, const std::string& room_id,
                                                const std::string& type, const std::string& state_key) try {
  if (auto st = requireJoined(auth, room_id); !st) return st.error();
  auto c = contentOf(store_.stateEvent(room_id, type, state_key));
  if (!c) return notFound("Event not found");
  return std::move(*c);
} catch (const StoreError& e) {
  return storeFailure("stateContent", e);
}

MxResult<json::object> Homeserver::members(const Auth& auth, const std::string& room_id) try {
  if (auto st = requireJoined(auth, room_id); !st) return st.error();
  json::array chunk;
  for (const auto& e : store_.currentState(room_id)) {
    if (e.type == kMember) chunk.push_back(clientEvent(e, &auth));
  }
  return json::object{{"chunk", std::move(chunk)}};
} catch (const StoreError& e) {
  return storeFailure("members", e);
}

MxResult<json::object> Homeserver::messages(const Auth& auth, const std::string& room_id,
                                            const MessagesRequest& req) try {
  if (!store_.roomExists(room_id)) return notFound("Unknown room " + room_id);
  std::int64_t visible_upto = store_.maxEventPos();
  const std::string m = membershipOf(room_id, auth.user_id);
  if (m != "join") {
    // A former member sees history up to its leave.
    std::optional<std::int64_t> left_at;
    for (const auto& row : store_.membershipsOf(auth.user_id)) {
      if (row.room_id == room_id && (row.membership == "leave" || row.membership == "ban")) left_at = row.pos;
    }
    if (!left_at) return forbidden("User " + auth.user_id + " is not in room " + room_id);
    visible_upto = *left_at;
  }
  if (req.dir != 'b' && req.dir != 'f') return invalidParam("'dir' must be b or f");
  const std::size_t limit = static_cast<std::size_t>(std::clamp<std::int64_t>(req.limit, 1, 1000));
  std::int64_t from = req.dir == 'b' ? visible_upto : 0;
  if (req.from) {
    auto p = parseEventPos(*req.from);
    if (!p) return invalidParam("Invalid 'from' token");
    from = *p;
  }
  std::int64_t to = req.dir == 'b' ? 0 : visible_upto;
  if (req.to) {
    auto p = parseEventPos(*req.to);
    if (!p) return invalidParam("Invalid 'to' token");
    to = *p;
  }
  json::object out{{"start", "t" + std::to_string(from)}};
  json::array chunk;
  std::vector<EventRow> rows;
  if (req.dir == 'b') {
    rows = store_.eventsBackward(room_id, to, std::min(from, visible_upto), limit);
    if (rows.size() == limit && rows.back().pos - 1 > to)
      out["end"] = "t" + std::to_string(rows.back().pos - 1);
  } else {
    rows = store_.eventsForward(room_id, from, std::min(to, visible_upto), limit);
    if (!rows.empty()) out["end"] = "t" + std::to_string(rows.back().pos);
  }
  for (const auto& e : rows) chunk.push_back(clientEvent(e, &auth));
  out["chunk"] = std::move(chunk);
  out["state"] = json::array{};
  return out;
} catch (const StoreError& e) {
  return storeFailure("messages", e);
}

MxResult<json::object> Homeserver::joinedRooms(const Auth& auth) try {
  json::array rooms;
  for (const auto& m : store_.membershipsOf(auth.user_id)) {
    if (m.membership == "join") rooms.push_back(json::string(m.room_id));
  }
  return json::object{{"joined_rooms", std::move(rooms)}};
} catch (const StoreError& e) {
  return storeFailure("joinedRooms", e);
}

MxResult<json::object> Homeserver::resolveAlias(const std::string& alias) try {
  auto r = store_.aliasRoom(alias);
  if (!r) return notFound("Room alias " + alias + " not found");
  return json::object{{"room_id", *r}, {"servers", json::array{json::string(cfg_.server_name)}}};
} catch (const StoreError& e) {
  return storeFailure("resolveAlias", e);
}

MxResult<json::object> Homeserver::putAlias(const Auth& auth, const std::string& alias,
                                            const json::object& body) try {
  auto room_id = reqString(body, "room_id");
  if (!room_id) return room_id.error();
  const std::string suffix = ":" + cfg_.server_name;
  if (alias.size() < 2 + suffix.size() || alias[0] != '#' ||
      alias.compare(alias.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return invalidParam("Alias must look like #name" + suffix);
  }
  if (auto st = requireJoined(auth, *room_id); !st) return st.error();
  if (store_.aliasRoom(alias)) return mxError(409, "M_UNKNOWN", "Room alias " + alias + " already exists");
  auto txn = store_.begin();
  store_.insertAlias(alias, *room_id, auth.user_id);
  txn.commit();
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("putAlias", e);
}

MxResult<json::object> Homeserver::deleteAlias(const Auth& auth, const std::string& alias) try {
  auto creator = store_.aliasCreator(alias);
  if (!creator) return notFound("Room alias " + alias + " not found");
  auto u = store_.user(auth.user_id);
  if (*creator != auth.user_id && !(u && u->admin)) return forbidden("You did not create this alias");
  auto txn = store_.begin();
  store_.deleteAlias(alias);
  txn.commit();
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("deleteAlias", e);
}

}  // namespace chorus::hs
