#include "hs/config.hpp"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace chorus::hs {
namespace json = boost::json;

namespace {

Status wrongType(std::string_view key, std::string_view want) {
  return fail(Code::InvalidArgument, "config: '" + std::string(key) + "' must be " + std::string(want));
}

template <typename T>
Status readInt(const json::value& v, std::string_view key, T& out) {
  if (const auto* i = v.if_int64()) {
    if (*i < 0) return wrongType(key, "a non-negative integer");
    out = static_cast<T>(*i);
    return ok();
  }
  if (const auto* u = v.if_uint64()) {
    out = static_cast<T>(*u);
    return ok();
  }
  return wrongType(key, "an integer");
}

Status readNumber(const json::value& v, std::string_view key, double& out) {
  if (v.is_number()) {
    out = v.to_number<double>();
    return ok();
  }
  return wrongType(key, "a number");
}

Status readString(const json::value& v, std::string_view key, std::string& out) {
  if (!v.is_string()) return wrongType(key, "a string");
  out = std::string(v.get_string());
  return ok();
}

}  // namespace

Status parseListen(const std::string& listen, ServerConfig& cfg) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return fail(Code::InvalidArgument, "--listen must be HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = listen.substr(colon + 1);
  if (host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return fail(Code::InvalidArgument, "--listen must be HOST:PORT, got " + listen);
  }
  cfg.listen_host = host;
  cfg.listen_port = static_cast<std::uint16_t>(std::stoi(port));
  return ok();
}

void useTestKdf(ServerConfig& cfg) {
  cfg.kdf_opslimit = 1;
  cfg.kdf_memlimit_bytes = 8192;
}

Status loadConfigFile(const std::string& path, ServerConfig& cfg) {
  std::ifstream in(path);
  if (!in) return fail(Code::NotFound, "config: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value root = json::parse(ss.str(), ec);
  if (ec || !root.is_object())
    return fail(Code::InvalidArgument, "config: " + path + " is not a JSON object");
  for (const auto& [k, v] : root.get_object()) {
    Status st = ok();
    if (k == "listen") {
      std::string s;
      st = readString(v, k, s);
      if (st) st = parseListen(s, cfg);
    } else if (k == "server_name") {
      st = readString(v, k, cfg.server_name);
    } else if (k == "open_registration") {
      if (!v.is_bool()) return wrongType(k, "a boolean");
      cfg.open_registration = v.get_bool();
    } else if (k == "synchronous") {
      st = readString(v, k, cfg.synchronous);
      if (st && cfg.synchronous != "full" && cfg.synchronous != "normal")
        return wrongType(k, "\"full\" or \"normal\"");
    } else if (k == "max_body_bytes") {
      st = readInt(v, k, cfg.max_body_bytes);
    } else if (k == "max_event_bytes") {
      st = readInt(v, k, cfg.max_event_bytes);
    } else if (k == "max_connections") {
      st = readInt(v, k, cfg.max_connections);
    } else if (k == "max_connections_per_address") {
      st = readInt(v, k, cfg.max_connections_per_address);
    } else if (k == "connection_reserve") {
      st = readInt(v, k, cfg.connection_reserve);
    } else if (k == "head_timeout_ms") {
      st = readInt(v, k, cfg.head_timeout_ms);
    } else if (k == "idle_timeout_ms") {
      st = readInt(v, k, cfg.idle_timeout_ms);
    } else if (k == "body_timeout_ms") {
      st = readInt(v, k, cfg.body_timeout_ms);
    } else if (k == "login_limits") {
      if (!v.is_bool()) return wrongType(k, "a boolean");
      cfg.login_limits = v.get_bool();
    } else if (k == "login_free_failures") {
      st = readInt(v, k, cfg.login_free_failures);
    } else if (k == "login_free_failures_per_user") {
      st = readInt(v, k, cfg.login_free_failures_per_user);
    } else if (k == "login_free_failures_per_address") {
      st = readInt(v, k, cfg.login_free_failures_per_address);
    } else if (k == "login_backoff_ms") {
      st = readInt(v, k, cfg.login_backoff_ms);
    } else if (k == "login_max_backoff_ms") {
      st = readInt(v, k, cfg.login_max_backoff_ms);
    } else if (k == "kdf_threads") {
      st = readInt(v, k, cfg.kdf_threads);
    } else if (k == "kdf_queue") {
      st = readInt(v, k, cfg.kdf_queue);
    } else if (k == "max_long_polls_per_user") {
      st = readInt(v, k, cfg.max_long_polls_per_user);
    } else if (k == "max_sync_timeout_ms") {
      st = readInt(v, k, cfg.max_sync_timeout_ms);
    } else if (k == "max_to_device_per_device") {
      st = readInt(v, k, cfg.max_to_device_per_device);
    } else if (k == "rate_per_second") {
      st = readNumber(v, k, cfg.rate_per_second);
    } else if (k == "rate_burst") {
      st = readNumber(v, k, cfg.rate_burst);
    } else if (k == "max_one_time_keys_per_device") {
      st = readInt(v, k, cfg.max_one_time_keys_per_device);
    } else if (k == "max_key_bytes") {
      st = readInt(v, k, cfg.max_key_bytes);
    } else if (k == "max_device_keys_bytes") {
      st = readInt(v, k, cfg.max_device_keys_bytes);
    } else if (k == "max_keys_query_users") {
      st = readInt(v, k, cfg.max_keys_query_users);
    } else if (k == "max_keys_claim") {
      st = readInt(v, k, cfg.max_keys_claim);
    } else if (k == "max_delay_ms") {
      st = readInt(v, k, cfg.max_delay_ms);
    } else if (k == "max_scheduled_per_user") {
      st = readInt(v, k, cfg.max_scheduled_per_user);
    } else if (k == "kdf_opslimit") {
      st = readInt(v, k, cfg.kdf_opslimit);
    } else if (k == "kdf_memlimit_bytes") {
      st = readInt(v, k, cfg.kdf_memlimit_bytes);
    } else if (k == "turn") {
      if (!v.is_object()) return wrongType(k, "an object");
      for (const auto& [tk, tv] : v.get_object()) {
        if (tk == "uris") {
          if (!tv.is_array()) return wrongType("turn.uris", "an array of strings");
          cfg.turn.uris.clear();
          for (const auto& u : tv.get_array()) {
            if (!u.is_string()) return wrongType("turn.uris", "an array of strings");
            cfg.turn.uris.emplace_back(u.get_string());
          }
        } else if (tk == "username") {
          st = readString(tv, "turn.username", cfg.turn.username);
        } else if (tk == "password") {
          st = readString(tv, "turn.password", cfg.turn.password);
        } else if (tk == "ttl") {
          st = readInt(tv, "turn.ttl", cfg.turn.ttl_s);
        } else {
          return fail(Code::InvalidArgument, "config: unknown key turn." + std::string(tk));
        }
        if (!st) return st;
      }
    } else {
      return fail(Code::InvalidArgument, "config: unknown key " + std::string(k));
    }
    if (!st) return st;
  }
  return ok();
}

}  // namespace chorus::hs
