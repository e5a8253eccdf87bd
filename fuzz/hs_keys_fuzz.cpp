// libFuzzer target: the E2EE key endpoints of `chorus hs` (issue #13). An input is
//   <endpoint byte><body>
// and runs through ClientApi::handle as alice (device ALICE) of a fixture in which alice and bob have
// uploaded device keys, one-time keys and a fallback key, so that query and claim reach stored keys.
// Endpoints: /keys/upload, /keys/query, /keys/claim, /keys/changes?from=<body>, PUT /devices/ALICE, DELETE
// /devices/BOB2, POST /delete_devices. With the byte's top bit set, alice's /sync follows. Must never crash,
// and every answer must be strictly valid JSON.
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
    std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-hs-keys-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    cfg.data_dir = tmpl;
    cfg.synchronous = "normal";
    cfg.rate_per_second = 0;
    cfg.login_limits = false;
    cfg.max_sync_timeout_ms = 0;
    cfg.kdf_threads = 0;
    cfg.max_one_time_keys_per_device = 64;  // small, so the cap is reached
    useTestKdf(cfg);
    store = std::make_unique<Store>(cfg.data_dir, cfg.synchronous);
    hs = std::make_unique<Homeserver>(cfg, *store, clock, nullptr);
    notifier = std::make_unique<Notifier>(ioc);
    api = std::make_unique<ClientApi>(*hs, *notifier, cfg);
    if (!hs->createUser("alice", "pw", false) || !hs->createUser("bob", "pw", false)) std::abort();
    alice = login("alice", "ALICE");
    const std::string bob = login("bob", "BOB");
    for (const auto& [token, user, dev] :
         {std::tuple{alice, "@alice:localhost", "ALICE"}, std::tuple{bob, "@bob:localhost", "BOB"}}) {
      json::object body{
          {"device_keys",
           {{"user_id", user},
            {"device_id", dev},
            {"algorithms", {"m.olm.v1.curve25519-aes-sha2"}},
            {"keys", {{std::string("ed25519:") + dev, "E"}, {std::string("curve25519:") + dev, "C"}}},
            {"signatures", json::object{}}}},
          {"one_time_keys",
           {{"signed_curve25519:1", {{"key", "k1"}}}, {"signed_curve25519:2", {{"key", "k2"}}}}},
          {"fallback_keys", {{"signed_curve25519:F", {{"key", "f"}}}}}};
      run({"POST", "/_matrix/client/v3/keys/upload", "Bearer " + token, json::serialize(body), ""});
    }
    room({"POST", "/_matrix/client/v3/createRoom", "Bearer " + alice, R"({"preset":"public_chat"})", ""});
  }
  void room(HttpRequest req) {
    auto r = json::parse(run(std::move(req)).body);
    const std::string id(r.at("room_id").as_string());
    std::string enc;
    for (char c : id)
      enc += c == '!' ? std::string("%21") : c == ':' ? std::string("%3A") : std::string(1, c);
    run({"POST", "/_matrix/client/v3/join/" + enc, "Bearer " + login("bob", "BOB2"), "{}", ""});
  }
  std::string login(const std::string& user, const std::string& device) {
    auto r = run({"POST", "/_matrix/client/v3/login", "",
                  R"({"type":"m.login.password","user":")" + user + R"(","password":"pw","device_id":")" +
                      device + R"("})",
                  ""});
    return std::string(json::parse(r.body).at("access_token").as_string());
  }
  ~Fixture() {
    api.reset();
    std::error_code ec;
    std::filesystem::remove_all(cfg.data_dir, ec);
  }

  HttpResponse run(HttpRequest req) {
    HttpResponse out;
    asio::co_spawn(ioc, api->handle(std::move(req)), [&](std::exception_ptr e, HttpResponse r) {
      if (e) std::abort();
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
  std::string alice;
};

void checkJson(const HttpResponse& res) {
  if (res.status < 100 || res.status > 599) __builtin_trap();
  boost::system::error_code ec;
  (void)json::parse(res.body, ec);  // strict: rejects invalid UTF-8
  if (ec) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  if (size < 1) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const char* kPaths[][2] = {
      {"POST", "keys/upload"},    {"POST", "keys/query"},        {"POST", "keys/claim"},
      {"GET", "keys/changes"},    {"PUT", "devices/ALICE"},      {"DELETE", "devices/BOB2"},
      {"POST", "delete_devices"}, {"POST", "keys/upload/ALICE"},
  };
  const auto& ep = kPaths[(data[0] & 0x7f) % (sizeof kPaths / sizeof kPaths[0])];
  HttpRequest req;
  req.method = ep[0];
  req.target = std::string("/_matrix/client/v3/") + ep[1];
  req.authorization = "Bearer " + fx.alice;
  if (req.method == "GET") {
    // The body becomes the query string's "from" (percent-encoded bytes).
    std::string q;
    static const char* kHex = "0123456789ABCDEF";
    for (unsigned char c : body) {
      q += '%';
      q += kHex[c >> 4];
      q += kHex[c & 15];
    }
    req.target += "?from=" + q;
  } else {
    req.body = body;
  }
  checkJson(fx.run(std::move(req)));
  if (data[0] & 0x80)
    checkJson(fx.run({"GET", "/_matrix/client/v3/sync?since=s0_0_0", "Bearer " + fx.alice, "", ""}));
  // alice may have deleted her own device (the password is "pw"): log in again.
  if (!fx.hs->authenticate(fx.alice)) fx.alice = fx.login("alice", "ALICE");
  return 0;
}
