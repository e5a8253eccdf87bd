#pragma once
// Blocking HTTP/JSON client for the homeserver tests (Boost.Beast; one connection per request).
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <boost/json.hpp>

namespace chorus::hs::test {

struct Resp {
  int status{0};
  std::string raw;
  boost::json::value body;                     // null when the body is not JSON
  std::map<std::string, std::string> headers;  // lower-case names
  std::string errcode() const;
  const boost::json::object& obj() const;
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
  // The same server, connected to from another local address (e.g. "127.0.0.2": a second client machine).
  HttpClient fromSource(std::string source) const {
    HttpClient c(host_, port_);
    c.source_ = std::move(source);
    return c;
  }
  // body: raw text sent as-is (nullopt: no body).
  Resp request(const std::string& method, const std::string& target,
               const std::optional<std::string>& body = {}, const std::string& token = {},
               const std::map<std::string, std::string>& headers = {}) const;
  Resp get(const std::string& target, const std::string& token = {}) const {
    return request("GET", target, {}, token);
  }
  Resp put(const std::string& target, const boost::json::value& v, const std::string& token = {}) const {
    return request("PUT", target, boost::json::serialize(v), token);
  }
  Resp post(const std::string& target, const boost::json::value& v, const std::string& token = {}) const {
    return request("POST", target, boost::json::serialize(v), token);
  }
  std::uint16_t port() const { return port_; }

 private:
  std::string host_;
  std::uint16_t port_;
  std::string source_;
};

// Percent-encodes one path segment.
std::string enc(const std::string& s);

// A logged-in Matrix user.
struct User {
  std::string user_id;
  std::string device_id;
  std::string token;
  std::string since;  // next_batch of the last sync()
};

class Mx {
 public:
  explicit Mx(const HttpClient& http) : http_(http) {}
  static constexpr const char* kP = "/_matrix/client/v3";

  // POST /register (m.login.dummy); the server must have open registration.
  User registerUser(const std::string& name, const std::string& password = "pw");
  User login(const std::string& name, const std::string& password = "pw", const std::string& device_id = {});
  std::string createRoom(const User& u, const boost::json::object& body = {});
  Resp join(const User& u, const std::string& room_or_alias);
  Resp putState(const User& u, const std::string& room, const std::string& type, const std::string& key,
                const boost::json::object& content);
  Resp send(const User& u, const std::string& room, const std::string& type,
            const boost::json::object& content, const std::string& txn);
  Resp sendToDevice(const User& u, const std::string& type, const std::string& txn,
                    const boost::json::object& messages);
  // GET /sync with the user's since token; updates it. timeout_ms < 0: no timeout parameter.
  boost::json::object sync(User& u, int timeout_ms = 0, const std::string& extra = {});
  const HttpClient& http() const { return http_; }

 private:
  const HttpClient& http_;
};

// Helpers over a /sync body.
const boost::json::object* joinedRoom(const boost::json::object& sync, const std::string& room_id);
boost::json::array timelineEvents(const boost::json::object& sync, const std::string& room_id);
boost::json::array stateEvents(const boost::json::object& sync, const std::string& room_id);
boost::json::array toDeviceEvents(const boost::json::object& sync);

// A client-server API v3 path: p("/sync") is "/_matrix/client/v3/sync".
inline std::string p(const std::string& rest) {
  return std::string(Mx::kP) + rest;
}

}  // namespace chorus::hs::test
