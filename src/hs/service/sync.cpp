// /sync and to-device queues. Tokens are "s<E>_<T>": E = last event stream position the client has seen,
// T = last to-device position delivered to this device (see docs/hs.md).
#include <algorithm>

#include "hs/service/homeserver.hpp"
#include "hs/service/json_args.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace json = boost::json;

namespace {

std::int64_t timelineLimit(const json::value& filter) {
  if (!filter.is_object()) return 10;
  const auto* room = filter.get_object().if_contains("room");
  if (!room || !room->is_object()) return 10;
  const auto* tl = room->get_object().if_contains("timeline");
  if (!tl || !tl->is_object()) return 10;
  const auto* lim = tl->get_object().if_contains("limit");
  if (!lim) return 10;
  return std::clamp<std::int64_t>(asInt(*lim).value_or(10), 0, 1000);
}

json::object strip(const json::object& ev) {
  json::object o;
  for (auto key : {"type", "state_key", "sender", "content"}) {
    if (const auto* v = ev.if_contains(key)) o[key] = *v;
  }
  return o;
}

}  // namespace

std::optional<SyncToken> parseSyncToken(const std::string& s) {
  if (s.size() < 4 || s[0] != 's') return std::nullopt;
  auto digits = [](const std::string& d) {
    return !d.empty() && d.size() <= 18 && d.find_first_not_of("0123456789") == std::string::npos;
  };
  const auto us = s.find('_');
  if (us == std::string::npos) return std::nullopt;
  const auto us2 = s.find('_', us + 1);
  const std::string a = s.substr(1, us - 1);
  const std::string b = s.substr(us + 1, us2 == std::string::npos ? std::string::npos : us2 - us - 1);
  const std::string c = us2 == std::string::npos ? "0" : s.substr(us2 + 1);
  if (!digits(a) || !digits(b) || !digits(c)) return std::nullopt;
  return SyncToken{std::stoll(a), std::stoll(b), std::stoll(c)};
}

MxResult<json::object> Homeserver::sendToDevice(const Auth& auth, const std::string& type,
                                                const std::string& txn_id, const json::object& body) try {
  if (type.empty() || type.size() > 255) return invalidParam("Invalid event type");
  const std::string kind = "sendToDevice";
  if (auto prior = store_.txn(auth.token, kind, txn_id)) return json::object{};
  auto messages = optObject(body, "messages");
  if (!messages) return messages.error();
  if (!*messages) return mxError(400, "M_MISSING_PARAM", "missing 'messages'");
  struct Item {
    std::string user, device;
    const json::object* content;
  };
  std::vector<Item> items;
  for (const auto& [user, devs] : **messages) {
    if (!devs.is_object()) return badJson("'messages." + std::string(user) + "' must be an object");
    for (const auto& [dev, content] : devs.get_object()) {
      if (!content.is_object()) {
        return badJson("'messages." + std::string(user) + "." + std::string(dev) + "' must be an object");
      }
      items.push_back({std::string(user), std::string(dev), &content.get_object()});
      if (items.size() > cfg_.max_messages_per_to_device_request) {
        return mxError(413, "M_TOO_LARGE", "Too many messages in one request");
      }
    }
  }
  // Expand "*" and drop unknown users/devices (as Synapse does); then check the queue bounds before writing.
  std::vector<std::pair<Item, std::string>> targets;  // item, concrete device
  for (const auto& it : items) {
    if (it.device == "*") {
      for (const auto& d : store_.devices(it.user)) targets.emplace_back(it, d.device_id);
    } else if (store_.deviceExists(it.user, it.device)) {
      targets.emplace_back(it, it.device);
    }
  }
  for (const auto& [it, dev] : targets) {
    if (store_.countToDevice(it.user, dev) >= cfg_.max_to_device_per_device) {
      MxError e = mxError(429, "M_LIMIT_EXCEEDED", "To-device queue of " + it.user + "/" + dev + " is full");
      e.extra["retry_after_ms"] = 1000;
      return e;
    }
  }
  auto txn = store_.begin();
  for (const auto& [it, dev] : targets) {
    json::object ev{{"type", type}, {"sender", auth.user_id}, {"content", *it.content}};
    const std::string text = json::serialize(ev);
    if (text.size() > cfg_.max_event_bytes) return mxError(413, "M_TOO_LARGE", "To-device message too large");
    store_.insertToDevice(it.user, dev, text);
    pending_wake_.insert(it.user);
  }
  store_.insertTxn(auth.token, kind, txn_id, "{}");
  txn.commit();
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("sendToDevice", e);
}

MxResult<SyncResult> Homeserver::sync(const Auth& auth, const SyncRequest& req) try {
  std::optional<SyncToken> since;
  if (req.since && !req.since->empty()) {
    since = parseSyncToken(*req.since);
    if (!since) return invalidParam("Invalid 'since' token");
  }
  json::value filter;
  if (req.filter && !req.filter->empty()) {
    boost::system::error_code ec;
    if ((*req.filter)[0] == '{') {
      filter = json::parse(*req.filter, ec);
      if (ec) return mxError(400, "M_NOT_JSON", "'filter' is not valid JSON");
    } else if (req.filter->size() <= 18 && req.filter->find_first_not_of("0123456789") == std::string::npos) {
      if (auto f = store_.filter(auth.user_id, std::stoll(*req.filter))) filter = json::parse(*f, ec);
    }
  }
  const std::int64_t limit = timelineLimit(filter);
  const bool initial = !since || req.full_state;
  const std::int64_t e_since = since ? std::min(since->events, store_.maxEventPos()) : 0;
  const std::int64_t e_now = store_.maxEventPos();

  SyncResult out;
  // To-device: what the client acknowledged with `since` goes; the rest is (re)delivered in arrival order.
  // Only tokens we issued can acknowledge anything: T never exceeds the highest position handed out.
  const std::int64_t t_now = store_.maxToDevicePos();
  const std::int64_t t_since = since ? std::min(since->to_device, t_now) : 0;
  if (since && t_since > 0 && store_.hasToDeviceUpTo(auth.user_id, auth.device_id, t_since)) {
    auto txn = store_.begin();
    store_.deleteToDevice(auth.user_id, auth.device_id, t_since);
    txn.commit();
  }
  auto rows = store_.toDevice(auth.user_id, auth.device_id, t_since, cfg_.max_to_device_per_sync);
  std::int64_t t_next = t_now;
  if (rows.size() >= cfg_.max_to_device_per_sync) t_next = rows.back().pos;
  json::array to_device;
  for (const auto& r : rows) {
    boost::system::error_code ec;
    auto v = json::parse(r.json, ec);
    if (!ec) to_device.push_back(std::move(v));
  }
  if (!to_device.empty()) out.empty = false;

  json::object join, invite, leave;
  auto timelineOf = [&](const std::string& room_id, std::int64_t after, std::int64_t upto, json::object& room,
                        bool full) {
    auto evs = store_.eventsBackward(room_id, after, upto, static_cast<std::size_t>(limit) + 1);
    const bool limited = static_cast<std::int64_t>(evs.size()) > limit;
    if (limited) evs.pop_back();
    std::reverse(evs.begin(), evs.end());
    const std::int64_t first = evs.empty() ? upto + 1 : evs.front().pos;
    json::array state;
    if (full) {
      for (const auto& e : store_.currentState(room_id)) {
        if (e.pos < first) state.push_back(clientEvent(e, &auth));
      }
    } else if (limited) {
      for (const auto& e : store_.stateChangedBetween(room_id, after, first))
        state.push_back(clientEvent(e, &auth));
    }
    json::array timeline;
    for (const auto& e : evs) timeline.push_back(clientEvent(e, &auth));
    room["state"] = json::object{{"events", std::move(state)}};
    room["timeline"] = json::object{{"events", std::move(timeline)},
                                    {"limited", limited},
                                    {"prev_batch", "t" + std::to_string(first - 1)}};
    return !evs.empty();
  };
  for (const auto& m : store_.membershipsOf(auth.user_id)) {
    if (m.membership == "join") {
      json::object room;
      const bool full = initial || m.pos > e_since;
      const bool any = timelineOf(m.room_id, full ? 0 : e_since, e_now, room, full);
      if (!full && !any) continue;
      room["ephemeral"] = json::object{{"events", json::array{}}};
      room["account_data"] = json::object{{"events", json::array{}}};
      room["unread_notifications"] = json::object{{"notification_count", 0}, {"highlight_count", 0}};
      room["summary"] = json::object{};
      join[m.room_id] = std::move(room);
    } else if (m.membership == "invite") {
      if (!initial && m.pos <= e_since) continue;
      json::array stripped;
      for (const auto& e : store_.currentState(m.room_id)) {
        const bool keep = e.type == "m.room.create" || e.type == "m.room.join_rules" ||
                          e.type == "m.room.name" || e.type == "m.room.canonical_alias" ||
                          e.type == "m.room.avatar" || e.type == "m.room.encryption" ||
                          (e.type == "m.room.member" && e.state_key && *e.state_key == auth.user_id);
        if (!keep) continue;
        auto ev = clientEvent(e, &auth);
        stripped.push_back(strip(ev));
      }
      invite[m.room_id] = json::object{{"invite_state", json::object{{"events", std::move(stripped)}}}};
    } else if (m.membership == "leave" || m.membership == "ban") {
      if (initial || m.pos <= e_since) continue;
      json::object room;
      timelineOf(m.room_id, e_since, m.pos, room, false);
      room["account_data"] = json::object{{"events", json::array{}}};
      leave[m.room_id] = std::move(room);
    }
  }
  if (!join.empty() || !invite.empty() || !leave.empty()) out.empty = false;

  // Device lists (E2EE): changes since the token's positions; only incremental syncs report them.
  const std::int64_t d_now = store_.maxDeviceListPos();
  json::array changed, left;
  if (since) {
    auto delta = deviceListsSince(auth.user_id, e_since, e_now, std::min(since->device_lists, d_now), d_now);
    for (auto& u : delta.changed) changed.push_back(json::string(u));
    for (auto& u : delta.left) left.push_back(json::string(u));
    if (!changed.empty() || !left.empty()) out.empty = false;
  }

  out.body["next_batch"] =
      "s" + std::to_string(e_now) + "_" + std::to_string(t_next) + "_" + std::to_string(d_now);
  out.body["rooms"] =
      json::object{{"join", std::move(join)}, {"invite", std::move(invite)}, {"leave", std::move(leave)}};
  out.body["to_device"] = json::object{{"events", std::move(to_device)}};
  out.body["account_data"] = json::object{{"events", json::array{}}};
  out.body["presence"] = json::object{{"events", json::array{}}};
  out.body["device_lists"] = json::object{{"changed", std::move(changed)}, {"left", std::move(left)}};
  std::vector<std::pair<std::string, std::int64_t>> otk_counts;
  std::vector<std::string> unused_fallback;
  store_.keyCountsForSync(auth.user_id, auth.device_id, otk_counts, unused_fallback);
  json::object counts{{"signed_curve25519", 0}};  // always present: clients decide uploads by it
  for (const auto& [alg, n] : otk_counts) counts[alg] = n;
  out.body["device_one_time_keys_count"] = std::move(counts);
  json::array fallback;
  for (auto& alg : unused_fallback) fallback.push_back(json::string(alg));
  out.body["org.matrix.msc2732.device_unused_fallback_key_types"] = fallback;
  out.body["device_unused_fallback_key_types"] = std::move(fallback);
  return out;
} catch (const StoreError& e) {
  return storeFailure("sync", e);
}

}  // namespace chorus::hs
