#include "hs/service/auth_rules.hpp"

#include <optional>
#include <set>

#include "hs/service/json_args.hpp"

namespace chorus::hs {
namespace json = boost::json;

namespace {

// Integer level from a JSON value; old rooms may hold numeric strings.
std::optional<std::int64_t> levelOf(const json::value& v) {
  if (auto i = asInt(v)) return i;
  if (v.is_string()) {
    const std::string s(v.get_string());
    if (!s.empty() && s.size() < 18 && s.find_first_not_of("-0123456789") == std::string::npos) {
      try {
        return std::stoll(s);
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::int64_t levelOr(const json::object* o, std::string_view key, std::int64_t dflt) {
  if (!o) return dflt;
  const auto* v = o->if_contains(key);
  if (!v) return dflt;
  return levelOf(*v).value_or(dflt);
}

const json::object* subObject(const json::object* o, std::string_view key) {
  if (!o) return nullptr;
  const auto* v = o->if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

constexpr std::string_view kTopLevels[] = {"users_default", "events_default", "state_default", "ban",
                                           "redact",        "kick",           "invite"};

std::int64_t topDefault(std::string_view key) {
  if (key == "users_default" || key == "events_default" || key == "invite") return 0;
  return 50;
}

}  // namespace

std::int64_t userLevel(const json::object* pl, std::string_view user_id, std::string_view creator) {
  if (!pl) return user_id == creator ? 100 : 0;
  const auto* users = subObject(pl, "users");
  if (users) {
    if (const auto* v = users->if_contains(user_id)) {
      if (auto l = levelOf(*v)) return *l;
    }
  }
  return levelOr(pl, "users_default", 0);
}

std::int64_t eventLevel(const json::object* pl, std::string_view type, bool is_state) {
  if (const auto* events = subObject(pl, "events")) {
    if (const auto* v = events->if_contains(type)) {
      if (auto l = levelOf(*v)) return *l;
    }
  }
  if (!pl) return is_state ? 50 : 0;
  return is_state ? levelOr(pl, "state_default", 50) : levelOr(pl, "events_default", 0);
}

std::int64_t namedLevel(const json::object* pl, std::string_view key) {
  if (!pl) return topDefault(key);
  return levelOr(pl, key, topDefault(key));
}

MxStatus validatePowerLevels(const json::object& content) {
  for (auto key : kTopLevels) {
    if (const auto* v = content.if_contains(key); v && !asInt(*v)) {
      return badJson("'" + std::string(key) + "' must be an integer");
    }
  }
  for (std::string_view map : {"users", "events", "notifications"}) {
    const auto* v = content.if_contains(map);
    if (!v) continue;
    if (!v->is_object()) return badJson("'" + std::string(map) + "' must be an object");
    for (const auto& [k, lv] : v->get_object()) {
      if (!asInt(lv)) return badJson("'" + std::string(map) + "." + std::string(k) + "' must be an integer");
      if (map == "users" && (k.empty() || k[0] != '@')) {
        return badJson("'users' keys must be user IDs, got '" + std::string(k) + "'");
      }
    }
  }
  return mxOk();
}

MxStatus checkPowerLevelsChange(const json::object* old_pl, const json::object& new_pl,
                                std::string_view sender, std::int64_t sender_level) {
  if (!old_pl) return mxOk();  // the first power levels event of a room
  for (auto key : kTopLevels) {
    const bool had = old_pl->contains(key), has = new_pl.contains(key);
    const std::int64_t o = levelOr(old_pl, key, topDefault(key)), n = levelOr(&new_pl, key, topDefault(key));
    if (had != has || o != n) {
      if ((had && o > sender_level) || (has && n > sender_level)) {
        return forbidden("cannot change '" + std::string(key) + "' beyond your own power level " +
                         std::to_string(sender_level));
      }
    }
  }
  for (std::string_view map : {"events", "users", "notifications"}) {
    const auto* om = subObject(old_pl, map);
    const auto* nm = subObject(&new_pl, map);
    std::set<std::string> keys;
    if (om)
      for (const auto& kv : *om) keys.emplace(kv.key());
    if (nm)
      for (const auto& kv : *nm) keys.emplace(kv.key());
    for (const auto& k : keys) {
      const json::value* ov = om ? om->if_contains(k) : nullptr;
      const json::value* nv = nm ? nm->if_contains(k) : nullptr;
      const std::optional<std::int64_t> o = ov ? levelOf(*ov) : std::nullopt;
      const std::optional<std::int64_t> n = nv ? levelOf(*nv) : std::nullopt;
      const std::int64_t ol = o.value_or(INT64_MIN), nl = n.value_or(INT64_MIN);
      if (o.has_value() == n.has_value() && ol == nl) continue;
      if (ol > sender_level || nl > sender_level) {
        return forbidden("cannot change " + std::string(map) + "['" + k + "'] beyond your own power level " +
                         std::to_string(sender_level));
      }
      if (map == "users" && k != sender && ol == sender_level) {
        return forbidden("cannot change the power level of " + k + ", who has the same level as you");
      }
    }
  }
  return mxOk();
}

json::object defaultPowerLevels(std::string_view creator) {
  json::object pl;
  pl["users"] = json::object{{creator, 100}};
  pl["users_default"] = 0;
  pl["events"] = json::object{{"m.room.name", 50},
                              {"m.room.power_levels", 100},
                              {"m.room.history_visibility", 100},
                              {"m.room.canonical_alias", 50},
                              {"m.room.avatar", 50},
                              {"m.room.tombstone", 100},
                              {"m.room.server_acl", 100},
                              {"m.room.encryption", 100},
                              // Element: everyone may join a call; only admins may start/end one.
                              {"org.matrix.msc3401.call.member", 0},
                              {"m.call.member", 0},
                              {"org.matrix.msc3401.call", 100},
                              {"m.call", 100}};
  pl["events_default"] = 0;
  pl["state_default"] = 50;
  pl["ban"] = 50;
  pl["kick"] = 50;
  pl["redact"] = 50;
  pl["invite"] = 0;
  pl["historical"] = 100;
  return pl;
}

}  // namespace chorus::hs
