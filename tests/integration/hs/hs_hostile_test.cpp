// Issue #10, the homeserver side: each test reproduces one attack of a hostile member or HTTP client and
// asserts the defence (docs/hs.md "Hostile members and clients").
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "base/clock.hpp"
#include "hs/service/homeserver.hpp"
#include "hs/store/store.hpp"
#include "hs_fixture.hpp"

namespace chorus::hs::test {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

const std::string P = "/_matrix/client/v3";

// Strict parse (Boost.JSON rejects invalid UTF-8 by default): what every client library does.
bool strictJson(const std::string& raw) {
  boost::system::error_code ec;
  auto v = json::parse(raw, ec);
  return !ec && v.is_object();
}

// A raw connection from a chosen loopback source address (127.0.0.0/8 is all local on Linux).
std::unique_ptr<tcp::socket> rawConnect(asio::io_context& ioc, std::uint16_t port, const std::string& from,
                                        boost::system::error_code& ec) {
  auto s = std::make_unique<tcp::socket>(ioc);
  s->open(tcp::v4(), ec);
  if (!ec) s->bind({asio::ip::make_address(from), 0}, ec);
  if (!ec) s->connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  return s;
}

// Sends raw bytes and reads until the server closes (or 5 s pass).
std::string rawExchange(std::uint16_t port, const std::string& bytes) {
  asio::io_context ioc;
  boost::system::error_code ec;
  auto s = rawConnect(ioc, port, "127.0.0.1", ec);
  if (ec) return "connect failed: " + ec.message();
  asio::write(*s, asio::buffer(bytes), ec);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  s->non_blocking(true);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = s->read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// ---- 1. Invalid UTF-8 in path parameters; the server never emits invalid JSON. ----

TEST(HsHostile, InvalidUtf8PathParametersAre400AndSyncStaysValid) {
  TestServer hs;
  auto& mx = hs.mx();
  auto& http = hs.http();
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(mx.join(b, room).status, 200);
  mx.sync(a);
  mx.sync(b);
  const std::string R = P + "/rooms/" + enc(room);
  struct Attack {
    const char* method;
    std::string path;
  };
  const std::vector<Attack> attacks = {
      {"PUT", R + "/send/%FF%FE/t1"},             // event type (the reported attack)
      {"PUT", R + "/state/%FF/"},                 // state event type (the reported attack)
      {"PUT", R + "/state/m.custom/%C0%AF"},      // overlong '/' as state key
      {"PUT", R + "/state/m.custom/%ED%A0%80"},   // a UTF-16 surrogate as state key
      {"PUT", R + "/send/m.room.message/%FF"},    // txn id
      {"PUT", R + "/send/m.room.message/a%00b"},  // NUL in the txn id
      {"PUT", P + "/rooms/%21%FF%3Alocalhost/send/m.room.message/t2"},  // room id
      {"POST", P + "/join/%21%FF%3Alocalhost"},
      {"GET", P + "/profile/%40%FF%3Alocalhost"},    // user id
      {"PUT", P + "/sendToDevice/%F5%80%80%80/t3"},  // above U+10FFFF
      {"GET", P + "/sync?since=%FF"},                // query parameter
      {"PUT", R + "/send/m.room.message/t4?org.matrix.msc4140.delay=%FF"},
  };
  for (const auto& atk : attacks) {
    auto r = http.request(atk.method, atk.path, std::string(R"({"body":"x"})"), a.token);
    EXPECT_EQ(r.status, 400) << atk.method << " " << atk.path << ": " << r.raw;
    EXPECT_EQ(r.errcode(), "M_INVALID_PARAM") << atk.method << " " << atk.path;
  }
  // Valid non-ASCII parameters still work.
  auto ok = http.request("PUT", R + "/send/m.r%C3%A9action/t5", std::string(R"({"body":"x"})"), a.token);
  EXPECT_EQ(ok.status, 200) << ok.raw;
  // Everyone's /sync is still valid JSON and carries the valid event.
  for (User* u : {&a, &b}) {
    auto r = http.get(P + "/sync?since=" + enc(u->since), u->token);
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(strictJson(r.raw)) << u->user_id;
    bool seen = false;
    for (const auto& e : timelineEvents(r.obj(), room))
      seen |= e.as_object().at("type").as_string() ==
              "m.r\xC3\xA9"
              "action";
    EXPECT_TRUE(seen) << u->user_id;
  }
}

TEST(HsHostile, InvalidUtf8AlreadyInTheDatabaseIsServedAsValidJson) {
  std::string dir;
  User a, b;
  std::string room;
  {
    TestServer hs;
    hs.release();
    dir = hs.dir();
    a = hs.mx().registerUser("alice");
    b = hs.mx().registerUser("bob");
    room = hs.mx().createRoom(a, json::object{{"preset", "public_chat"}});
    ASSERT_EQ(hs.mx().join(b, room).status, 200);
  }
  {
    // What an older server stored for the attack: raw bytes in the event type and state key.
    ServerConfig cfg = testConfig(dir);
    Store store(dir, cfg.synchronous);
    SystemClock clock;
    Homeserver direct(cfg, store, clock, nullptr);
    Auth auth{a.user_id, a.device_id, a.token};
    ASSERT_TRUE(direct.sendEvent(auth, room, "\xFF\xFE", std::nullopt, json::object{{"k", "v"}}, "t1"));
    ASSERT_TRUE(direct.sendEvent(auth, room, "m.bad\xFF", std::string("\xC0\xAF"), json::object{}, ""));
  }
  TestServer hs({}, dir);
  auto& http = hs.http();
  for (User* u : {&a, &b}) {
    auto r = http.get(P + "/sync", u->token);
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(strictJson(r.raw)) << "/sync of " << u->user_id;
    bool repaired = false;
    for (const auto& e : timelineEvents(r.obj(), room))
      repaired |= e.as_object().at("type").as_string() == "\xEF\xBF\xBD\xEF\xBF\xBD";
    EXPECT_TRUE(repaired) << "the bad type is served as U+FFFD U+FFFD";
    auto m = http.get(P + "/rooms/" + enc(room) + "/messages?dir=b&limit=50", u->token);
    ASSERT_EQ(m.status, 200);
    EXPECT_TRUE(strictJson(m.raw)) << "/messages";
    auto st = http.get(P + "/rooms/" + enc(room) + "/state", u->token);
    ASSERT_EQ(st.status, 200);
    boost::system::error_code ec;
    auto sv = json::parse(st.raw, ec);
    EXPECT_FALSE(ec) << "/state";
  }
  hs.release();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// ---- 2. Slowloris. ----

struct Trickler {
  std::vector<std::unique_ptr<tcp::socket>> socks;
  int refused{0};  // closed by the server straight away
};

// Opens n connections from `from`, sends a request line each; counts those the server closes at once.
void openTricklers(asio::io_context& ioc, std::uint16_t port, const std::string& from, int n, Trickler& t) {
  for (int i = 0; i < n; ++i) {
    boost::system::error_code ec;
    auto s = rawConnect(ioc, port, from, ec);
    if (ec) {
      ++t.refused;
      continue;
    }
    asio::write(*s, asio::buffer(std::string("GET /_matrix/client/versions HTTP/1.1\r\n")), ec);
    s->non_blocking(true);
    t.socks.push_back(std::move(s));
  }
}

// Sends one more header line on every socket; returns how many are closed (by the server).
int trickle(Trickler& t) {
  int closed = 0;
  for (auto& s : t.socks) {
    boost::system::error_code ec;
    char c;
    s->read_some(asio::buffer(&c, 1), ec);
    if (ec != asio::error::would_block) {
      ++closed;  // EOF or reset: the server closed it
      continue;
    }
    asio::write(*s, asio::buffer(std::string("X-Slow: 1\r\n")), ec);
    if (ec && ec != asio::error::would_block) ++closed;
  }
  return closed;
}

TEST(HsHostile, SlowlorisDoesNotLockClientsOut) {
  TestServer hs([](ServerConfig& c) {
    c.max_connections = 300;
    c.max_connections_per_address = 40;
    c.connection_reserve = 40;
    c.head_timeout_ms = 1500;
  });
  auto a = hs.mx().registerUser("alice");
  const auto port = hs.server().port();
  asio::io_context ioc;
  // One address opens 150 connections: 40 are kept, the rest are refused at once.
  Trickler one;
  openTricklers(ioc, port, "127.0.0.2", 150, one);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(trickle(one), 110) << "only max_connections_per_address from one address";
  // 25 addresses x 12 connections: once the reserve is reached only new addresses get in.
  Trickler many;
  for (int i = 0; i < 25; ++i) openTricklers(ioc, port, "127.0.1." + std::to_string(i + 1), 12, many);
  std::this_thread::sleep_for(200ms);
  const int many_refused = trickle(many);
  EXPECT_GT(many_refused, 0);
  // While they trickle, a normal client is served promptly.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = hs.http().get(P + "/account/whoami", a.token);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(took, 500ms);
  // Trickling does not extend the head deadline: after it every trickler is closed.
  const auto start = std::chrono::steady_clock::now();
  int open_one = 0, open_many = 0;
  while (std::chrono::steady_clock::now() - start < 4s) {
    open_one = static_cast<int>(one.socks.size()) - trickle(one);
    open_many = static_cast<int>(many.socks.size()) - trickle(many);
    if (open_one == 0 && open_many == 0) break;
    std::this_thread::sleep_for(200ms);
  }
  const auto closed_after = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(open_one, 0);
  EXPECT_EQ(open_many, 0);
  EXPECT_LT(closed_after, 3s);
  // The same address may connect again once its connections are gone.
  boost::system::error_code ec;
  auto again = rawConnect(ioc, port, "127.0.0.2", ec);
  ASSERT_FALSE(ec);
  asio::write(*again, asio::buffer(std::string("GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")),
              ec);
  char buf[64] = {};
  again->read_some(asio::buffer(buf, sizeof buf - 1), ec);
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 200", 0), 0u) << buf;
}

TEST(HsHostile, IdleKeepAliveConnectionsAreClosed) {
  TestServer hs([](ServerConfig& c) {
    c.idle_timeout_ms = 300;
    c.head_timeout_ms = 5000;
  });
  asio::io_context ioc;
  boost::system::error_code ec;
  auto s = rawConnect(ioc, hs.server().port(), "127.0.0.1", ec);
  ASSERT_FALSE(ec);
  asio::write(*s, asio::buffer(std::string("GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")), ec);
  std::string got;
  char buf[4096];
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    const std::size_t n = s->read_some(asio::buffer(buf), ec);
    if (ec) break;
    got.append(buf, n);
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_LT(took, 3s) << "closed after idle_timeout, not after head_timeout";
}

// ---- 3. Request smuggling. ----

TEST(HsHostile, RequestSmugglingIsRejected) {
  TestServer hs;
  auto& mx = hs.mx();
  auto a = mx.registerUser("alice");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  const auto port = hs.server().port();
  // The smuggled request would post a message; if it ran, the room would have it.
  const std::string smuggled = "PUT " + P + "/rooms/" + enc(room) +
                               "/send/m.room.message/smuggled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                               a.token + "\r\nContent-Length: 2\r\n\r\n{}";
  const std::string body = R"({"type":"m.login.password","user":"alice","password":"nope"})";
  struct Case {
    std::string te;
    bool with_cl;
    const char* status;
  };
  for (const Case& c :
       {Case{"xchunked", true, "HTTP/1.1 400"}, Case{"chunked, identity", true, "HTTP/1.1 400"},
        Case{"chunked", true, "HTTP/1.1 400"}, Case{"xchunked", false, "HTTP/1.1 501"},
        Case{"gzip, chunked", false, "HTTP/1.1 501"}, Case{"chunked, chunked", false, "HTTP/1.1 400"}}) {
    std::string req = "POST " + P + "/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + c.te + "\r\n";
    if (c.with_cl) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body + smuggled;
    const std::string out = rawExchange(port, req);
    EXPECT_EQ(out.rfind(c.status, 0), 0u) << c.te << ": " << out.substr(0, 200);
    EXPECT_EQ(count(out, "HTTP/1.1 "), 1u) << c.te << ": one answer, then the connection is closed";
  }
  // Plain chunked framing still works (the body is read: a wrong password, not a framing error).
  char len[16];
  std::snprintf(len, sizeof len, "%zx", body.size());
  const std::string out = rawExchange(port, "POST " + P +
                                                "/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                                "Connection: close\r\n\r\n" +
                                                std::string(len) + "\r\n" + body + "\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 403", 0), 0u) << out.substr(0, 200);
  // The smuggled message never ran.
  auto msgs = hs.http().get(P + "/rooms/" + enc(room) + "/messages?dir=b&limit=100", a.token);
  ASSERT_EQ(msgs.status, 200);
  for (const auto& e : msgs.obj().at("chunk").as_array()) {
    EXPECT_NE(e.as_object().at("type").as_string(), "m.room.message") << json::serialize(e);
  }
}

// ---- 4. createRoom initial_state goes through the auth rules. ----

TEST(HsHostile, InitialStateCannotClaimAnotherUsersStateKey) {
  TestServer hs;
  auto& mx = hs.mx();
  auto alice = mx.registerUser("alice");
  auto mallory = mx.registerUser("mallory");
  const json::object member_content{{"memberships", json::array{}}};
  json::object body{{"preset", "public_chat"},
                    {"initial_state", json::array{json::object{{"type", "org.matrix.msc3401.call.member"},
                                                               {"state_key", alice.user_id},
                                                               {"content", member_content}}}}};
  auto r = hs.http().post(P + "/createRoom", body, mallory.token);
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_EQ(r.errcode(), "M_FORBIDDEN");
  // The same errcode as the direct PUT in a room of mallory's own.
  const std::string own = mx.createRoom(mallory, json::object{{"preset", "public_chat"}});
  auto direct = mx.putState(mallory, own, "org.matrix.msc3401.call.member", alice.user_id, member_content);
  EXPECT_EQ(direct.status, r.status);
  EXPECT_EQ(direct.errcode(), r.errcode());
  // Nothing of the refused room exists: mallory is only in the room she made afterwards.
  auto rooms = hs.http().get(P + "/joined_rooms", mallory.token);
  ASSERT_EQ(rooms.status, 200);
  EXPECT_EQ(rooms.obj().at("joined_rooms").as_array().size(), 1u);
  // Her own state key is fine.
  body["initial_state"].as_array()[0].as_object()["state_key"] = mallory.user_id;
  r = hs.http().post(P + "/createRoom", body, mallory.token);
  EXPECT_EQ(r.status, 200) << r.raw;
}

// ---- 5. Login brute force. ----

Resp tryLogin(const HttpClient& http, const std::string& user, const std::string& password) {
  return http.post(P + "/login",
                   json::object{{"type", "m.login.password"},
                                {"identifier", json::object{{"type", "m.id.user"}, {"user", user}}},
                                {"password", password}});
}

TEST(HsHostile, LoginGuessingIsLimitedPerCanonicalUser) {
  TestServer hs([](ServerConfig& c) {
    c.login_limits = true;
    c.login_free_failures = 4;
    c.login_free_failures_per_address = 1000;
    c.login_backoff_ms = 60000;
  });
  hs.mx().registerUser("alice", "right");
  hs.mx().registerUser("bob", "bobpw");
  const std::vector<std::string> names = {"alice", "@alice:localhost", "ALICE", "@Alice:localhost"};
  int forbidden = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto r =
        tryLogin(hs.http(), names[static_cast<std::size_t>(i) % names.size()], "guess" + std::to_string(i));
    if (r.status == 403) {
      ++forbidden;
      EXPECT_EQ(limited, 0) << "no guess is checked once the user is locked";
    } else {
      ASSERT_EQ(r.status, 429) << r.raw;
      ++limited;
      EXPECT_EQ(r.errcode(), "M_LIMIT_EXCEEDED");
      EXPECT_GT(r.obj().at("retry_after_ms").as_int64(), 50000);
      EXPECT_FALSE(r.headers["retry-after"].empty());
    }
  }
  EXPECT_EQ(forbidden, 4) << "4 failures, then locked: all four spellings share one bucket";
  EXPECT_EQ(limited, 8);
  // The locked user is locked even with the right password; another user logs in from the same address.
  EXPECT_EQ(tryLogin(hs.http(), "alice", "right").status, 429);
  EXPECT_EQ(tryLogin(hs.http(), "bob", "bobpw").status, 200);
  // The guesser locked out only (alice, its address): the real alice on another machine logs in.
  EXPECT_EQ(tryLogin(hs.http().fromSource("127.0.0.2"), "alice", "right").status, 200);
}

TEST(HsHostile, DistributedGuessingLocksTheUserEverywhere) {
  TestServer hs([](ServerConfig& c) {
    c.login_limits = true;
    c.login_free_failures = 2;
    c.login_free_failures_per_user = 6;
    c.login_free_failures_per_address = 1000;
    c.login_backoff_ms = 60000;
  });
  hs.mx().registerUser("alice", "right");
  // Three addresses, two guesses each (each pair stays under its own limit): the user's count reaches 6.
  for (const char* source : {"127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(tryLogin(hs.http().fromSource(source), "alice", "guess").status, 403) << source;
    }
  }
  auto r = tryLogin(hs.http().fromSource("127.0.0.6"), "alice", "right");
  EXPECT_EQ(r.status, 429) << "the user is locked from every address once the per-user limit is reached";
  EXPECT_EQ(r.errcode(), "M_LIMIT_EXCEEDED");
}

TEST(HsHostile, LoginGuessingIsLimitedPerAddress) {
  TestServer hs([](ServerConfig& c) {
    c.login_limits = true;
    c.login_free_failures = 1000;
    c.login_free_failures_per_address = 6;
    c.login_backoff_ms = 300;
  });
  hs.mx().registerUser("bob", "bobpw");
  int limited = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = tryLogin(hs.http(), "user" + std::to_string(i), "x");  // a different name every time
    if (r.status == 429) ++limited;
  }
  EXPECT_EQ(limited, 4) << "6 failures from the address, then locked";
  auto r = tryLogin(hs.http(), "bob", "bobpw");
  EXPECT_EQ(r.status, 429) << "the address is locked";
  // Backoff, not a ban: after retry_after_ms the address may try again.
  std::this_thread::sleep_for(std::chrono::milliseconds(r.obj().at("retry_after_ms").as_int64() + 20));
  EXPECT_EQ(tryLogin(hs.http(), "bob", "bobpw").status, 200);
}

TEST(HsHostile, PasswordHashingDoesNotBlockTheIoThread) {
  TestServer hs([](ServerConfig& c) {
    c.login_limits = false;  // measure the pool, not the limiter
    c.kdf_opslimit = 3;      // a real Argon2id cost
    c.kdf_memlimit_bytes = 32u << 20;
    c.kdf_threads = 1;
    c.kdf_queue = 3;
  });
  auto bob = hs.mx().registerUser("bob", "bobpw");
  // What one check costs here.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(tryLogin(hs.http(), "bob", "bobpw").status, 200);
  const auto kdf = std::chrono::steady_clock::now() - t0;
  // Six attackers keep the pool busy and its queue full.
  std::atomic<bool> stop{false};
  std::atomic<int> checked{0}, queue_full{0};
  std::vector<std::thread> attackers;
  for (int i = 0; i < 6; ++i) {
    attackers.emplace_back([&] {
      while (!stop) {
        auto r = tryLogin(hs.http(), "bob", "guess");
        if (r.status == 403) ++checked;
        if (r.status == 429 && r.errcode() == "M_LIMIT_EXCEEDED") {
          ++queue_full;
          std::this_thread::sleep_for(5ms);
        }
      }
    });
  }
  std::this_thread::sleep_for(100ms);
  std::vector<std::chrono::steady_clock::duration> lat;
  for (int i = 0; i < 30; ++i) {
    t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(hs.http().get(P + "/account/whoami", bob.token).status, 200);
    lat.push_back(std::chrono::steady_clock::now() - t0);
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  for (auto& t : attackers) t.join();
  std::sort(lat.begin(), lat.end());
  const auto p50 = lat[lat.size() / 2];
  std::printf(
      "whoami during the login flood: p50 %.1f ms, max %.1f ms; one KDF %.1f ms; %d checked, %d queue-full\n",
      std::chrono::duration<double, std::milli>(p50).count(),
      std::chrono::duration<double, std::milli>(lat.back()).count(),
      std::chrono::duration<double, std::milli>(kdf).count(), checked.load(), queue_full.load());
  EXPECT_GT(checked.load(), 3);
  EXPECT_GT(queue_full.load(), 0) << "the bounded queue overflowed into 429s";
  EXPECT_LT(p50, kdf / 2) << "whoami p50 " << std::chrono::duration<double, std::milli>(p50).count()
                          << " ms, one KDF " << std::chrono::duration<double, std::milli>(kdf).count()
                          << " ms";
  // The correct login still works after the attack.
  EXPECT_EQ(tryLogin(hs.http(), "bob", "bobpw").status, 200);
}

TEST(HsHostile, RegistrationHashesOnTheBoundedKdfPool) {
  // kdf_queue 0: every request that needs a hash overflows, so it must have gone through the pool's gate.
  TestServer hs([](ServerConfig& c) { c.kdf_queue = 0; });
  const json::object req{
      {"username", "eve"}, {"password", "pw"}, {"auth", json::object{{"type", "m.login.dummy"}}}};
  auto r = hs.http().post(P + "/register", req);
  EXPECT_EQ(r.status, 429) << r.raw;
  EXPECT_EQ(r.errcode(), "M_LIMIT_EXCEEDED");
  EXPECT_GT(r.obj().at("retry_after_ms").as_int64(), 0);
  // The UIA challenge costs no hash.
  EXPECT_EQ(hs.http().post(P + "/register", json::object{{"username", "eve"}, {"password", "pw"}}).status,
            401);
  // With room in the queue, the hash made on the pool is the one stored: eve can log in.
  TestServer ok;
  auto eve = ok.mx().registerUser("eve", "evepw");
  EXPECT_EQ(ok.mx().login("eve", "evepw").user_id, eve.user_id);
  EXPECT_EQ(tryLogin(ok.http(), "eve", "wrong").status, 403);
}

}  // namespace
}  // namespace chorus::hs::test
