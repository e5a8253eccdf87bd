// End-to-end encryption: /keys/upload, /keys/query, /keys/claim, /keys/changes, the device-list stream behind
// /sync's device_lists, device management. The server stores keys as the client signed them and never
// looks inside (it cannot check signatures it has no reason to trust); see docs/hs.md "End-to-end
// encryption".
#include <algorithm>
#include <map>
#include <set>

#include "hs/service/homeserver.hpp"
#include "hs/service/json_args.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace json = boost::json;

namespace {

MxError tooLarge(std::string why) {
  return mxError(413, "M_TOO_LARGE", std::move(why));
}

std::string serverOf(const std::string& user_id) {
  const auto colon = user_id.find(':');
  return colon == std::string::npos ? std::string() : user_id.substr(colon + 1);
}

// "algorithm:key id", both parts non-empty, at most 255 bytes. Returns the algorithm.
std::optional<std::string> keyAlgorithm(std::string_view key_id) {
  const auto colon = key_id.find(':');
  if (key_id.size() > 255 || colon == std::string_view::npos || colon == 0 || colon + 1 == key_id.size()) {
    return std::nullopt;
  }
  return std::string(key_id.substr(0, colon));
}

json::value parseStored(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value() : v;
}

struct ParsedKey {
  std::string key_id, algorithm, json;
};

// One-time or fallback keys: {"alg:id": "<key>" | {"key": ..., "signatures": ...}}.
MxResult<std::vector<ParsedKey>> parseKeys(const json::object& keys, std::string_view field,
                                           std::size_t max_bytes, std::size_t max_count) {
  std::vector<ParsedKey> out;
  for (const auto& [id, v] : keys) {
    auto alg = keyAlgorithm(id);
    if (!alg) return invalidParam("'" + std::string(field) + "' key ids must be <algorithm>:<id>");
    if (!v.is_object() && !v.is_string()) {
      return badJson("'" + std::string(field) + "." + std::string(id) + "' must be an object or a string");
    }
    std::string text = json::serialize(v);
    if (text.size() > max_bytes)
      return tooLarge("'" + std::string(field) + "." + std::string(id) + "' is too large");
    out.push_back({std::string(id), *alg, std::move(text)});
    if (out.size() > max_count) return tooLarge("Too many keys in '" + std::string(field) + "'");
  }
  return out;
}

}  // namespace

void Homeserver::deviceListChanged(const std::string& user_id) {
  store_.insertDeviceListChange(user_id);
  pending_wake_.insert(user_id);
  for (auto& u : store_.usersSharingRooms(user_id)) pending_wake_.insert(std::move(u));
}

json::object Homeserver::oneTimeKeyCounts(const std::string& user_id, const std::string& device_id) {
  // Clients read signed_curve25519 to decide how many keys to upload: always present.
  json::object counts{{"signed_curve25519", 0}};
  for (const auto& [alg, n] : store_.oneTimeKeyCounts(user_id, device_id)) counts[alg] = n;
  return counts;
}

Homeserver::DeviceListDelta Homeserver::deviceListsSince(const std::string& user_id, std::int64_t e_since,
                                                         std::int64_t e_upto, std::int64_t d_since,
                                                         std::int64_t d_upto) {
  DeviceListDelta out;
  std::vector<std::string> key_changes;
  if (d_upto > d_since) key_changes = store_.deviceListChanges(d_since, d_upto);
  std::vector<Store::MemberChange> member_changes;
  if (e_upto > e_since && store_.maxMembershipPos() > e_since) {
    member_changes = store_.memberChangesSince(user_id, e_since);
  }
  if (key_changes.empty() && member_changes.empty()) return out;
  const auto sharing_list = store_.usersSharingRooms(user_id);
  const std::set<std::string> sharing(sharing_list.begin(), sharing_list.end());
  std::set<std::string> changed, left;
  for (const auto& u : key_changes) {
    if (u == user_id || sharing.count(u)) changed.insert(u);
  }
  for (const auto& c : member_changes) {
    const bool gone = c.membership == "leave" || c.membership == "ban";
    if (c.user_id == user_id) {
      // Our own join brings every member's devices in; our leave may end sharing with them.
      if (c.membership != "join" && !gone) continue;
      for (const auto& m : store_.joinedMembers(c.room_id)) {
        if (m == user_id) continue;
        if (sharing.count(m)) {
          if (c.membership == "join") changed.insert(m);
        } else {
          left.insert(m);
        }
      }
    } else if (c.membership == "join" && sharing.count(c.user_id)) {
      changed.insert(c.user_id);
    } else if (gone && !sharing.count(c.user_id)) {
      left.insert(c.user_id);
    }
  }
  out.changed.assign(changed.begin(), changed.end());
  out.left.assign(left.begin(), left.end());
  return out;
}

MxResult<json::object> Homeserver::keysUpload(const Auth& auth, const json::object& body) try {
  auto dk = optObject(body, "device_keys");
  if (!dk) return dk.error();
  auto otk = optObject(body, "one_time_keys");
  if (!otk) return otk.error();
  auto fb = optObject(body, "fallback_keys");
  if (!fb) return fb.error();
  if (!*fb) {
    fb = optObject(body, "org.matrix.msc2732.fallback_keys");
    if (!fb) return fb.error();
  }

  std::optional<std::string> device_keys;
  if (*dk) {
    const json::object& d = **dk;
    auto uid = reqString(d, "user_id");
    if (!uid) return uid.error();
    auto did = reqString(d, "device_id");
    if (!did) return did.error();
    if (*uid != auth.user_id || *did != auth.device_id) {
      return invalidParam("'device_keys' must name the uploading user and device (" + auth.user_id + ", " +
                          auth.device_id + ")");
    }
    auto algs = optArray(d, "algorithms");
    if (!algs) return algs.error();
    if (!*algs) return mxError(400, "M_MISSING_PARAM", "missing 'device_keys.algorithms'");
    for (const auto& a : **algs) {
      if (!a.is_string()) return badJson("'device_keys.algorithms' must be an array of strings");
    }
    auto keys = optObject(d, "keys");
    if (!keys) return keys.error();
    if (!*keys) return mxError(400, "M_MISSING_PARAM", "missing 'device_keys.keys'");
    for (const auto& [id, k] : **keys) {
      if (!keyAlgorithm(id) || !k.is_string()) {
        return badJson("'device_keys.keys' must map <algorithm>:<device id> to strings");
      }
    }
    auto sigs = optObject(d, "signatures");
    if (!sigs) return sigs.error();
    device_keys = json::serialize(d);
    if (device_keys->size() > cfg_.max_device_keys_bytes) return tooLarge("'device_keys' is too large");
  }
  const auto max_otks =
      static_cast<std::size_t>(std::max<std::int64_t>(cfg_.max_one_time_keys_per_device, 0));
  std::vector<ParsedKey> one_time, fallback;
  if (*otk) {
    auto parsed = parseKeys(**otk, "one_time_keys", cfg_.max_key_bytes, max_otks);
    if (!parsed) return parsed.error();
    one_time = std::move(*parsed);
  }
  if (*fb) {
    auto parsed = parseKeys(**fb, "fallback_keys", cfg_.max_key_bytes, 16);
    if (!parsed) return parsed.error();
    fallback = std::move(*parsed);
    std::set<std::string> algs;
    for (const auto& k : fallback) {
      if (!algs.insert(k.algorithm).second) return invalidParam("One fallback key per algorithm");
    }
  }

  // A one-time key id is used once: re-uploading the same key is a no-op, a different key under it an error.
  std::size_t fresh = 0;
  for (const auto& k : one_time) {
    auto old = store_.oneTimeKey(auth.user_id, auth.device_id, k.key_id);
    if (!old) {
      ++fresh;
    } else if (*old != k.json) {
      return invalidParam("One time key " + k.key_id + " already exists with another value");
    }
  }
  if (fresh > 0 && store_.countOneTimeKeys(auth.user_id, auth.device_id) + static_cast<std::int64_t>(fresh) >
                       cfg_.max_one_time_keys_per_device) {
    return tooLarge("Too many one-time keys for this device (at most " +
                    std::to_string(cfg_.max_one_time_keys_per_device) + ")");
  }

  auto txn = store_.begin();
  if (device_keys && store_.deviceKeys(auth.user_id, auth.device_id) != device_keys) {
    store_.setDeviceKeys(auth.user_id, auth.device_id, *device_keys);
    deviceListChanged(auth.user_id);
  }
  for (const auto& k : one_time)
    store_.insertOneTimeKey(auth.user_id, auth.device_id, k.key_id, k.algorithm, k.json);
  for (const auto& k : fallback) {
    auto old = store_.fallbackKey(auth.user_id, auth.device_id, k.algorithm);
    const bool same = old && old->key_id == k.key_id && old->json == k.json;
    store_.setFallbackKey(auth.user_id, auth.device_id, {k.algorithm, k.key_id, k.json, same && old->used});
  }
  txn.commit();
  return json::object{{"one_time_key_counts", oneTimeKeyCounts(auth.user_id, auth.device_id)}};
} catch (const StoreError& e) {
  return storeFailure("keysUpload", e);
}

MxResult<json::object> Homeserver::keysQuery(const Auth& /*auth*/, const json::object& body) try {
  auto req = optObject(body, "device_keys");
  if (!req) return req.error();
  if (!*req) return mxError(400, "M_MISSING_PARAM", "missing 'device_keys'");
  if ((*req)->size() > cfg_.max_keys_query_users) {
    return tooLarge("Too many users in one query (at most " + std::to_string(cfg_.max_keys_query_users) +
                    ")");
  }
  std::size_t requested = 0;
  for (const auto& [user, devs] : **req) {
    if (devs.is_null()) continue;
    if (!devs.is_array()) return badJson("'device_keys." + std::string(user) + "' must be an array");
    for (const auto& d : devs.get_array()) {
      if (!d.is_string())
        return badJson("'device_keys." + std::string(user) + "' must be an array of strings");
    }
    requested += devs.get_array().size();
    if (requested > cfg_.max_keys_claim) return tooLarge("Too many devices in one query");
  }
  json::object out, failures;
  for (const auto& [user_key, devs] : **req) {
    const std::string user(user_key);
    if (serverOf(user) != cfg_.server_name) {
      failures[serverOf(user)] = json::object{{"status", 503}, {"message", "This server does not federate"}};
      continue;
    }
    std::set<std::string> wanted;
    if (devs.is_array()) {
      for (const auto& d : devs.get_array()) wanted.insert(std::string(d.get_string()));
    }
    json::object user_out;
    for (const auto& d : store_.devices(user)) {
      if (!wanted.empty() && !wanted.count(d.device_id)) continue;
      auto text = store_.deviceKeys(user, d.device_id);
      if (!text) continue;
      json::value v = parseStored(*text);
      if (!v.is_object()) continue;
      if (!d.display_name.empty()) {
        json::object& o = v.get_object();
        if (auto* u = o.if_contains("unsigned"); !u || !u->is_object()) o["unsigned"] = json::object{};
        o["unsigned"].get_object()["device_display_name"] = d.display_name;
      }
      user_out[d.device_id] = std::move(v);
    }
    out[user] = std::move(user_out);
  }
  return json::object{{"device_keys", std::move(out)},
                      {"failures", std::move(failures)},
                      {"master_keys", json::object{}},
                      {"self_signing_keys", json::object{}},
                      {"user_signing_keys", json::object{}}};
} catch (const StoreError& e) {
  return storeFailure("keysQuery", e);
}

MxResult<json::object> Homeserver::keysClaim(const Auth& /*auth*/, const json::object& body) try {
  auto req = optObject(body, "one_time_keys");
  if (!req) return req.error();
  if (!*req) return mxError(400, "M_MISSING_PARAM", "missing 'one_time_keys'");
  struct Claim {
    std::string user, device, algorithm;
  };
  std::vector<Claim> claims;
  for (const auto& [user, devs] : **req) {
    if (!devs.is_object()) return badJson("'one_time_keys." + std::string(user) + "' must be an object");
    for (const auto& [dev, alg] : devs.get_object()) {
      if (!alg.is_string() || alg.get_string().empty() || alg.get_string().size() > 255) {
        return badJson("'one_time_keys." + std::string(user) + "." + std::string(dev) +
                       "' must be an algorithm name");
      }
      claims.push_back({std::string(user), std::string(dev), std::string(alg.get_string())});
      if (claims.size() > cfg_.max_keys_claim) {
        return tooLarge("Too many keys claimed at once (at most " + std::to_string(cfg_.max_keys_claim) +
                        ")");
      }
    }
  }
  json::object out, failures;
  auto txn = store_.begin();
  for (const auto& c : claims) {
    if (serverOf(c.user) != cfg_.server_name) {
      failures[serverOf(c.user)] =
          json::object{{"status", 503}, {"message", "This server does not federate"}};
      continue;
    }
    std::optional<std::pair<std::string, std::string>> got;  // key id, json
    if (auto k = store_.takeOneTimeKey(c.user, c.device, c.algorithm)) {
      got.emplace(k->key_id, k->json);
    } else if (auto f = store_.fallbackKey(c.user, c.device, c.algorithm)) {
      // No one-time key left: the fallback key, marked used so that the device replaces it.
      if (!f->used) store_.markFallbackUsed(c.user, c.device, c.algorithm);
      got.emplace(f->key_id, f->json);
    }
    if (!got) continue;
    json::value v = parseStored(got->second);
    if (v.is_null()) continue;
    auto& user_out = out[c.user];
    if (!user_out.is_object()) user_out = json::object{};
    auto& dev_out = user_out.get_object()[c.device];
    if (!dev_out.is_object()) dev_out = json::object{};
    dev_out.get_object()[got->first] = std::move(v);
  }
  txn.commit();
  return json::object{{"one_time_keys", std::move(out)}, {"failures", std::move(failures)}};
} catch (const StoreError& e) {
  return storeFailure("keysClaim", e);
}

MxResult<json::object> Homeserver::keysChanges(const Auth& auth, const std::string& from,
                                               const std::string& to) try {
  auto f = parseSyncToken(from);
  if (!f) return invalidParam("Invalid 'from' token");
  std::int64_t e_to = store_.maxEventPos(), d_to = store_.maxDeviceListPos();
  if (!to.empty()) {
    auto t = parseSyncToken(to);
    if (!t) return invalidParam("Invalid 'to' token");
    e_to = std::min(e_to, t->events);
    d_to = std::min(d_to, t->device_lists);
  }
  auto delta = deviceListsSince(auth.user_id, f->events, e_to, f->device_lists, d_to);
  json::array changed, left;
  for (auto& u : delta.changed) changed.push_back(json::string(u));
  for (auto& u : delta.left) left.push_back(json::string(u));
  return json::object{{"changed", std::move(changed)}, {"left", std::move(left)}};
} catch (const StoreError& e) {
  return storeFailure("keysChanges", e);
}

MxResult<json::object> Homeserver::updateDevice(const Auth& auth, const std::string& device_id,
                                                const json::object& body) try {
  auto name = optString(body, "display_name");
  if (!name) return name.error();
  if (*name && (*name)->size() > 255) return invalidParam("'display_name' is longer than 255 bytes");
  std::optional<DeviceRow> row;
  for (auto& d : store_.devices(auth.user_id)) {
    if (d.device_id == device_id) row = std::move(d);
  }
  if (!row) return notFound("Unknown device");
  if (*name && **name != row->display_name) {
    auto txn = store_.begin();
    store_.setDeviceDisplayName(auth.user_id, device_id, **name);
    if (store_.deviceKeys(auth.user_id, device_id)) deviceListChanged(auth.user_id);  // query shows the name
    txn.commit();
  }
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("updateDevice", e);
}

MxStatus Homeserver::deleteDevices(const Auth& auth, const std::vector<std::string>& device_ids) try {
  auto txn = store_.begin();
  bool any = false;
  for (const auto& d : device_ids) {
    if (!store_.deviceExists(auth.user_id, d)) continue;
    store_.deleteDevice(auth.user_id, d);
    any = true;
  }
  if (any) deviceListChanged(auth.user_id);
  txn.commit();
  return mxOk();
} catch (const StoreError& e) {
  return storeFailure("deleteDevices", e);
}

MxResult<json::object> Homeserver::joinedMembers(const Auth& auth, const std::string& room_id) try {
  if (auto st = requireJoined(auth, room_id); !st) return st.error();
  json::object joined;
  for (const auto& e : store_.currentState(room_id)) {
    if (e.type != "m.room.member" || !e.state_key) continue;
    json::value v = parseStored(e.json);
    if (!v.is_object()) continue;
    const auto* c = v.get_object().if_contains("content");
    if (!c || !c->is_object()) continue;
    const auto* m = c->get_object().if_contains("membership");
    if (!m || !m->is_string() || m->get_string() != "join") continue;
    json::object info;
    for (const char* field : {"displayname", "avatar_url"}) {
      if (const auto* f = c->get_object().if_contains(field); f && f->is_string()) {
        info[field == std::string_view("displayname") ? "display_name" : field] = *f;
      }
    }
    joined[*e.state_key] = std::move(info);
  }
  return json::object{{"joined", std::move(joined)}};
} catch (const StoreError& e) {
  return storeFailure("joinedMembers", e);
}

}  // namespace chorus::hs
