// libFuzzer target: the homeserver's request path without sockets. An input is
//   <method byte><flags byte><target>\n<body>
// and runs through ClientApi::handle (path parsing, percent-decoding, authentication, JSON bodies, the Matrix
// rules and the SQLite store) as user alice of a small fixture. "{room}" in the target is alice's room.
// Must never crash, and every answer must be strictly valid JSON (issue #10: one stored invalid byte stopped
// every client's /sync).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "base/clock.hpp"
#include "hs/api/client_api.hpp"
#include "hs/api/notifier.hpp"
#include "hs/config.hpp"
#include "hs/service/homeserver.hpp"
#include "hs/store/store.hpp"

namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace chorus::hs;

struct Fixture {
  Fixture() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-hs-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    cfg.data_dir = tmpl;
    cfg.synchronous = "normal";
    cfg.open_registration = true;
    cfg.rate_per_second = 0;
    cfg.login_limits = true;
    cfg.login_backoff_ms = 1;
    cfg.login_max_backoff_ms = 10;
    cfg.max_sync_timeout_ms = 0;  // no long-polls: one input, one answer
    cfg.kdf_threads = 0;          // deterministic: the KDF runs inline
    useTestKdf(cfg);
    store = std::make_unique<Store>(cfg.data_dir, cfg.synchronous);
    hs = std::make_unique<Homeserver>(cfg, *store, clock, nullptr);
    notifier = std::make_unique<Notifier>(ioc);
    api = std::make_unique<ClientApi>(*hs, *notifier, cfg);
    if (!hs->createUser("alice", "pw", false)) std::abort();
    auto login = run({"POST", "/_matrix/client/v3/login", "",
                      R"({"type":"m.login.password","user":"alice","password":"pw"})", ""});
    token = std::string(json::parse(login.body).at("access_token").as_string());
    auto room =
        run({"POST", "/_matrix/client/v3/createRoom", "Bearer " + token, R"({"preset":"public_chat"})", ""});
    room_id = std::string(json::parse(room.body).at("room_id").as_string());
  }
  ~Fixture() {
    api.reset();
    std::error_code ec;
    std::filesystem::remove_all(cfg.data_dir, ec);
  }

  HttpResponse run(HttpRequest req) {
    HttpResponse out;
    asio::co_spawn(ioc, api->handle(std::move(req)), [&](std::exception_ptr e, HttpResponse r) {
      if (e) std::abort();  // ClientApi::handle turns every error into a response
      out = std::move(r);
    });
    ioc.restart();
    ioc.run();
    return out;
  }

  ServerConfig cfg;
  chorus::SystemClock clock;
  asio::io_context ioc{1};
  std::unique_ptr<Store> store;
  std::unique_ptr<Homeserver> hs;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<ClientApi> api;
  std::string token;
  std::string room_id;
};

std::string encodeRoom(const std::string& id) {
  std::string out;
  for (char c : id) {
    if (c == '!')
      out += "%21";
    else if (c == ':')
      out += "%3A";
    else
      out += c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  if (size < 2) return 0;
  static const char* kMethods[] = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"};
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t nl = in.find('\n');
  std::string target(in.substr(0, nl));
  const std::string body(nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1));
  for (auto p = target.find("{room}"); p != std::string::npos; p = target.find("{room}"))
    target.replace(p, 6, encodeRoom(fx.room_id));
  HttpRequest req;
  req.method = kMethods[data[0] % (sizeof kMethods / sizeof kMethods[0])];
  req.target = (data[1] & 1) ? target : "/_matrix/client/v3/" + target;
  req.authorization = (data[1] & 2) ? "Bearer " + fx.token : "";
  req.remote = (data[1] & 4) ? "127.0.0.1" : "";
  req.body = body;
  const bool is_static = req.target.rfind("/call", 0) == 0;
  const HttpResponse res = fx.run(std::move(req));
  if (res.status < 100 || res.status > 599) __builtin_trap();
  // Static files (/call/...) are not JSON; everything else must be strictly valid JSON.
  if (!is_static) {
    boost::system::error_code ec;
    (void)json::parse(res.body, ec);  // rejects invalid UTF-8
    if (ec && !(res.body.empty() && res.status == 301)) __builtin_trap();
  }
  return 0;
}
