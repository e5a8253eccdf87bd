#include "bench/hs/load_bench.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "hs/config.hpp"
#include "hs/server.hpp"

namespace chorus::hs {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

std::string enc(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// One keep-alive HTTP connection, reconnecting on error.
class Conn {
 public:
  Conn(asio::io_context& ioc, std::uint16_t port) : ioc_(ioc), port_(port) {}

  asio::awaitable<std::optional<json::value>> call(http::verb verb, const std::string& target,
                                                   const std::string& token, const std::string& body = {}) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!stream_) {
        stream_ = std::make_unique<beast::tcp_stream>(ioc_);
        auto [ec] = co_await stream_->async_connect(
            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), kTuple);
        if (ec) {
          stream_.reset();
          continue;
        }
      }
      http::request<http::string_body> req{verb, target, 11};
      req.set(http::field::host, "127.0.0.1");
      if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
      if (verb != http::verb::get) {
        req.set(http::field::content_type, "application/json");
        req.body() = body.empty() ? "{}" : body;
      }
      req.keep_alive(true);
      req.prepare_payload();
      stream_->expires_after(std::chrono::seconds(90));
      auto [wec, wn] = co_await http::async_write(*stream_, req, kTuple);
      (void)wn;
      if (wec) {
        stream_.reset();
        continue;
      }
      http::response<http::string_body> res;
      auto [rec, rn] = co_await http::async_read(*stream_, buf_, res, kTuple);
      (void)rn;
      if (rec) {
        stream_.reset();
        continue;
      }
      if (!res.keep_alive()) stream_.reset();
      if (res.result_int() != 200) co_return std::nullopt;
      boost::system::error_code ec;
      auto v = json::parse(res.body(), ec);
      if (ec) co_return std::nullopt;
      co_return v;
    }
    co_return std::nullopt;
  }

 private:
  asio::io_context& ioc_;
  std::uint16_t port_;
  std::unique_ptr<beast::tcp_stream> stream_;
  beast::flat_buffer buf_;
};

struct Device {
  std::string user_id, device_id, token, since;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

struct Bench {
  asio::io_context& ioc;
  std::uint16_t port;
  bool stopping{false};

  asio::awaitable<std::vector<Device>> registerMany(const std::string& prefix, int n) {
    std::vector<Device> out(static_cast<std::size_t>(n));
    int next = 0;
    auto worker = [&]() -> asio::awaitable<void> {
      Conn c(ioc, port);
      while (next < n) {
        const int i = next++;
        json::object body{{"username", prefix + std::to_string(i)},
                          {"password", "pw"},
                          {"auth", json::object{{"type", "m.login.dummy"}}}};
        auto r = co_await c.call(http::verb::post, "/_matrix/client/v3/register", "", json::serialize(body));
        if (!r) continue;
        auto& o = r->as_object();
        out[static_cast<std::size_t>(i)] = Device{std::string(o.at("user_id").as_string()),
                                                  std::string(o.at("device_id").as_string()),
                                                  std::string(o.at("access_token").as_string()),
                                                  {}};
      }
    };
    std::vector<asio::awaitable<void>> ws;
    // 16 concurrent registrations.
    auto group = std::make_shared<int>(0);
    for (int w = 0; w < 16; ++w) {
      asio::co_spawn(ioc, worker(), [group](std::exception_ptr) { --*group; });
      ++*group;
    }
    asio::steady_timer t(ioc);
    while (*group > 0) {
      t.expires_after(std::chrono::milliseconds(5));
      co_await t.async_wait(kTuple);
    }
    co_return out;
  }

  // A current sync token: positions are global, so one token serves every device as its starting point.
  asio::awaitable<std::string> currentToken(const Device& d) {
    Conn c(ioc, port);
    auto r =
        co_await c.call(http::verb::get,
                        "/_matrix/client/v3/sync?timeout=0&filter=" +
                            enc(R"({"room":{"timeline":{"limit":0},"state":{"lazy_load_members":true}}})"),
                        d.token);
    co_return r ? std::string(r->as_object().at("next_batch").as_string()) : std::string();
  }

  // Long-polls /sync for one device; calls onEvent(kind, sent_us) for each to-device or timeline event.
  template <typename F>
  asio::awaitable<void> poll(Device& d, F onEvent, int* live) {
    Conn c(ioc, port);
    ++*live;
    while (!stopping) {
      auto r = co_await c.call(http::verb::get, "/_matrix/client/v3/sync?timeout=30000&since=" + enc(d.since),
                               d.token);
      if (!r) {
        if (stopping) break;
        continue;
      }
      const auto& o = r->as_object();
      const std::int64_t at = nowUs();
      d.since = std::string(o.at("next_batch").as_string());
      for (const auto& e : o.at("to_device").at("events").as_array()) {
        if (const auto* t = e.at("content").as_object().if_contains("t")) onEvent(at - t->as_int64());
      }
      for (const auto& [room, data] : o.at("rooms").at("join").as_object()) {
        for (const auto& e : data.at("timeline").at("events").as_array()) {
          const auto& c2 = e.at("content").as_object();
          if (const auto* t = c2.if_contains("t")) onEvent(at - t->as_int64());
        }
      }
    }
    --*live;
  }

  asio::awaitable<void> waitIdle(const int& live) {
    const auto deadline = Clock::now() + std::chrono::seconds(40);
    while (live > 0 && Clock::now() < deadline) co_await sleepMs(5);
  }

  asio::awaitable<void> sleepMs(int ms) {
    asio::steady_timer t(ioc, std::chrono::milliseconds(ms));
    co_await t.async_wait(kTuple);
  }

  asio::awaitable<json::object> toDeviceRun(int n_devices, int messages) {
    auto devices = co_await registerMany("td" + std::to_string(n_devices) + "_", n_devices);
    auto senders = co_await registerMany("sender" + std::to_string(n_devices) + "_", 1);
    const std::string tok = co_await currentToken(devices[0]);
    for (auto& d : devices) d.since = tok;
    std::vector<double> lat_ms;
    lat_ms.reserve(static_cast<std::size_t>(messages));
    int received = 0, live = 0;
    Clock::time_point last_rx;
    stopping = false;
    for (auto& d : devices) {
      asio::co_spawn(ioc,
                     poll(
                         d,
                         [&](std::int64_t us) {
                           lat_ms.push_back(static_cast<double>(us) / 1000.0);
                           ++received;
                           last_rx = Clock::now();
                         },
                         &live),
                     asio::detached);
    }
    while (live < n_devices) co_await sleepMs(5);
    co_await sleepMs(200);  // every poll is parked on the server
    const auto start = Clock::now();
    int next = 0, sent_ok = 0;
    std::mt19937 rng(42);
    auto sender = [&](int w) -> asio::awaitable<void> {
      Conn c(ioc, port);
      int k = 0;
      while (next < messages) {
        const int i = next++;
        const Device& to = devices[rng() % devices.size()];
        json::object msg{
            {"messages", json::object{{to.user_id, json::object{{to.device_id,
                                                                 json::object{{"i", i}, {"t", nowUs()}}}}}}}};
        auto r = co_await c.call(
            http::verb::put,
            "/_matrix/client/v3/sendToDevice/m.bench/" + std::to_string(w) + "_" + std::to_string(k++),
            senders[0].token, json::serialize(msg));
        if (r) ++sent_ok;
      }
    };
    auto busy = std::make_shared<int>(0);
    for (int w = 0; w < 8; ++w) {
      ++*busy;
      asio::co_spawn(ioc, sender(w), [busy](std::exception_ptr) { --*busy; });
    }
    while (*busy > 0) co_await sleepMs(2);
    const auto sent_done = Clock::now();
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (received < sent_ok && Clock::now() < deadline) co_await sleepMs(2);
    const double secs = std::chrono::duration<double>((received ? last_rx : Clock::now()) - start).count();
    // Wake every poller with one last message so that all of them end before this frame goes away.
    stopping = true;
    json::object all;
    for (const auto& d : devices) all[d.user_id] = json::object{{d.device_id, json::object{{"stop", true}}}};
    Conn stopper(ioc, port);
    json::object stop_body;
    stop_body["messages"] = std::move(all);
    const std::string stop_target = std::string("/_matrix/client/v3/sendToDevice/m.bench.stop/stop");
    const std::string stop_text = json::serialize(stop_body);
    co_await stopper.call(http::verb::put, stop_target, senders[0].token, stop_text);
    co_await waitIdle(live);
    co_return json::object{{"devices", n_devices},
                           {"messages_sent", sent_ok},
                           {"messages_delivered", received},
                           {"send_seconds", std::chrono::duration<double>(sent_done - start).count()},
                           {"messages_per_second", secs > 0 ? received / secs : 0.0},
                           {"latency_p50_ms", percentile(lat_ms, 0.50)},
                           {"latency_p99_ms", percentile(lat_ms, 0.99)},
                           {"latency_max_ms", percentile(lat_ms, 1.0)}};
  }

  asio::awaitable<json::object> fanoutRun(int members, int rounds) {
    auto users = co_await registerMany("fan_", members);
    Conn c0(ioc, port);
    auto cr = co_await c0.call(http::verb::post, "/_matrix/client/v3/createRoom", users[0].token,
                               R"({"preset":"public_chat"})");
    if (!cr) co_return json::object{{"error", "createRoom failed"}};
    const std::string room(cr->as_object().at("room_id").as_string());
    int next = 1;
    auto joiner = [&]() -> asio::awaitable<void> {
      Conn c(ioc, port);
      while (next < members) {
        const int i = next++;
        co_await c.call(http::verb::post, "/_matrix/client/v3/join/" + enc(room),
                        users[static_cast<std::size_t>(i)].token);
      }
    };
    auto busy = std::make_shared<int>(0);
    for (int w = 0; w < 8; ++w) {
      ++*busy;
      asio::co_spawn(ioc, joiner(), [busy](std::exception_ptr) { --*busy; });
    }
    while (*busy > 0) co_await sleepMs(5);
    const std::string tok = co_await currentToken(users[0]);
    for (auto& u : users) u.since = tok;
    std::vector<double> lat_ms, completion_ms;
    int received = 0, live = 0;
    stopping = false;
    for (auto& u : users) {
      asio::co_spawn(ioc,
                     poll(
                         u,
                         [&](std::int64_t us) {
                           lat_ms.push_back(static_cast<double>(us) / 1000.0);
                           ++received;
                         },
                         &live),
                     asio::detached);
    }
    while (live < members) co_await sleepMs(5);
    co_await sleepMs(300);
    for (int r = 0; r < rounds; ++r) {
      const int target = received + members;
      const auto start = Clock::now();
      json::object content{
          {"m.calls", json::array{json::object{{"m.call_id", "bench"}, {"m.devices", json::array{}}}}},
          {"t", nowUs()}};
      co_await c0.call(http::verb::put,
                       "/_matrix/client/v3/rooms/" + enc(room) + "/state/org.matrix.msc3401.call.member/" +
                           enc(users[0].user_id),
                       users[0].token, json::serialize(content));
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (received < target && Clock::now() < deadline) co_await sleepMs(1);
      completion_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      co_await sleepMs(100);
    }
    stopping = true;
    const std::string stop_target = "/_matrix/client/v3/rooms/" + enc(room) + "/send/m.bench.stop/stop";
    co_await c0.call(http::verb::put, stop_target, users[0].token, std::string("{}"));
    co_await waitIdle(live);
    co_return json::object{{"members", members},
                           {"rounds", rounds},
                           {"deliveries", received},
                           {"fanout_complete_p50_ms", percentile(completion_ms, 0.5)},
                           {"fanout_complete_max_ms", percentile(completion_ms, 1.0)},
                           {"latency_p50_ms", percentile(lat_ms, 0.50)},
                           {"latency_p99_ms", percentile(lat_ms, 0.99)}};
  }
};

}  // namespace

Result<json::object> runLoadBench(const LoadBenchOptions& opt) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::string dir = (std::filesystem::temp_directory_path() / "chorus-hs-bench-XXXXXX").string();
  if (!mkdtemp(dir.data())) return fail(Code::Internal, "mkdtemp failed");
  ServerConfig cfg;
  cfg.listen_host = "127.0.0.1";
  cfg.listen_port = 0;
  cfg.data_dir = dir;
  cfg.open_registration = true;
  cfg.rate_per_second = 0;
  cfg.synchronous = opt.synchronous;
  cfg.max_long_polls_per_user = 4;
  cfg.max_connections = 16384;
  cfg.max_connections_per_address = 0;  // every client is on 127.0.0.1
  cfg.login_limits = false;
  useTestKdf(cfg);
  json::object out{{"synchronous", opt.synchronous}};
  {
    Server server(cfg);
    if (auto st = server.start(); !st) return fail(st.error());
    asio::io_context ioc;
    Bench bench{ioc, server.port()};
    json::array td_runs;
    json::object fan;
    std::atomic<bool> done{false};
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (int n : opt.devices) td_runs.push_back(co_await bench.toDeviceRun(n, opt.messages));
          if (opt.fanout_members > 0) fan = co_await bench.fanoutRun(opt.fanout_members, opt.fanout_rounds);
        },
        [&](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              fan["error"] = ex.what();
            }
          }
          done = true;
        });
    // Run until the orchestration is done; the pollers are then still parked on the server.
    std::thread client([&] { ioc.run(); });
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    server.stop();  // answers every parked long-poll; the pollers see stopping and end
    ioc.stop();
    client.join();
    out["to_device"] = std::move(td_runs);
    if (opt.fanout_members > 0) out["sync_fanout_call_member"] = std::move(fan);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

}  // namespace chorus::hs
