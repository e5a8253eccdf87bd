#include "hs_client.hpp"

#include <stdexcept>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace chorus::hs::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

std::string Resp::errcode() const {
  if (!body.is_object()) return {};
  const auto* e = body.get_object().if_contains("errcode");
  return e && e->is_string() ? std::string(e->get_string()) : std::string();
}

const json::object& Resp::obj() const {
  static const json::object kEmpty;
  return body.is_object() ? body.get_object() : kEmpty;
}

Resp HttpClient::request(const std::string& method, const std::string& target,
                         const std::optional<std::string>& body, const std::string& token,
                         const std::map<std::string, std::string>& headers) const {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(90));
  const asio::ip::tcp::endpoint server(asio::ip::make_address(host_), port_);
  if (!source_.empty()) {
    stream.socket().open(server.protocol());
    stream.socket().bind(asio::ip::tcp::endpoint(asio::ip::make_address(source_), 0));
  }
  stream.connect(server);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host_ + ":" + std::to_string(port_));
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = *body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  beast::error_code wec;
  http::write(stream, req, wec);  // the server may answer (e.g. 413) and stop reading before we are done
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  beast::error_code rec;
  http::read(stream, buf, parser, rec);
  if (rec) throw beast::system_error(wec ? wec : rec);
  auto res = parser.release();
  Resp r;
  r.status = static_cast<int>(res.result_int());
  r.raw = res.body();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  boost::system::error_code ec;
  r.body = json::parse(r.raw, ec);
  if (ec) r.body = nullptr;
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return r;
}

std::string enc(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

namespace {
void expectOk(const Resp& r, const std::string& what) {
  if (r.status != 200) throw std::runtime_error(what + " -> " + std::to_string(r.status) + " " + r.raw);
}
}  // namespace

User Mx::registerUser(const std::string& name, const std::string& password) {
  auto r = http_.post(
      std::string(kP) + "/register",
      json::object{
          {"username", name}, {"password", password}, {"auth", json::object{{"type", "m.login.dummy"}}}});
  expectOk(r, "register " + name);
  const auto& o = r.obj();
  return User{std::string(o.at("user_id").as_string()),
              std::string(o.at("device_id").as_string()),
              std::string(o.at("access_token").as_string()),
              {}};
}

User Mx::login(const std::string& name, const std::string& password, const std::string& device_id) {
  json::object body{{"type", "m.login.password"},
                    {"identifier", json::object{{"type", "m.id.user"}, {"user", name}}},
                    {"password", password}};
  if (!device_id.empty()) body["device_id"] = device_id;
  auto r = http_.post(std::string(kP) + "/login", body);
  expectOk(r, "login " + name);
  const auto& o = r.obj();
  return User{std::string(o.at("user_id").as_string()),
              std::string(o.at("device_id").as_string()),
              std::string(o.at("access_token").as_string()),
              {}};
}

std::string Mx::createRoom(const User& u, const json::object& body) {
  auto r = http_.post(std::string(kP) + "/createRoom", body, u.token);
  expectOk(r, "createRoom");
  return std::string(r.obj().at("room_id").as_string());
}

Resp Mx::join(const User& u, const std::string& room) {
  return http_.post(std::string(kP) + "/join/" + enc(room), json::object{}, u.token);
}

Resp Mx::putState(const User& u, const std::string& room, const std::string& type, const std::string& key,
                  const json::object& content) {
  return http_.put(std::string(kP) + "/rooms/" + enc(room) + "/state/" + enc(type) + "/" + enc(key), content,
                   u.token);
}

Resp Mx::send(const User& u, const std::string& room, const std::string& type, const json::object& content,
              const std::string& txn) {
  return http_.put(std::string(kP) + "/rooms/" + enc(room) + "/send/" + enc(type) + "/" + enc(txn), content,
                   u.token);
}

Resp Mx::sendToDevice(const User& u, const std::string& type, const std::string& txn,
                      const json::object& messages) {
  return http_.put(std::string(kP) + "/sendToDevice/" + enc(type) + "/" + enc(txn),
                   json::object{{"messages", messages}}, u.token);
}

json::object Mx::sync(User& u, int timeout_ms, const std::string& extra) {
  std::string t = std::string(kP) + "/sync?";
  if (timeout_ms >= 0) t += "timeout=" + std::to_string(timeout_ms) + "&";
  if (!u.since.empty()) t += "since=" + enc(u.since) + "&";
  t += extra;
  auto r = http_.get(t, u.token);
  expectOk(r, "sync");
  u.since = std::string(r.obj().at("next_batch").as_string());
  return r.obj();
}

const json::object* joinedRoom(const json::object& sync, const std::string& room_id) {
  const auto* rooms = sync.if_contains("rooms");
  if (!rooms) return nullptr;
  const auto* join = rooms->as_object().if_contains("join");
  if (!join) return nullptr;
  const auto* r = join->as_object().if_contains(room_id);
  return r ? &r->as_object() : nullptr;
}

json::array timelineEvents(const json::object& sync, const std::string& room_id) {
  const auto* r = joinedRoom(sync, room_id);
  if (!r) return {};
  return r->at("timeline").at("events").as_array();
}

json::array stateEvents(const json::object& sync, const std::string& room_id) {
  const auto* r = joinedRoom(sync, room_id);
  if (!r) return {};
  return r->at("state").at("events").as_array();
}

json::array toDeviceEvents(const json::object& sync) {
  const auto* td = sync.if_contains("to_device");
  if (!td) return {};
  return td->as_object().at("events").as_array();
}

}  // namespace chorus::hs::test
