// Acknowledged writes survive kill -9 of the real `chorus hs` process; SIGTERM shuts it down cleanly.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "hs_fixture.hpp"
#include "hs_process.hpp"

#ifdef CHORUS_BIN
namespace chorus::hs::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::vector<std::string> kFlags = {"--fast-kdf", "--no-rate-limit", "--open-registration"};
#ifdef __SANITIZE_ADDRESS__
constexpr auto kReadyBudget = 3s;  // sanitizer builds start slower
#else
constexpr auto kReadyBudget = 1s;  // "ready to serve within a second"
#endif

TEST(HsProcessTest, StartsFastAndStopsOnSigterm) {
  const std::string dir = makeTempDir("chorus-hs-proc-");
  const auto t0 = std::chrono::steady_clock::now();
  HsProcess proc(CHORUS_BIN, dir, kFlags);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kReadyBudget);
  HttpClient http("127.0.0.1", proc.port());
  Mx mx(http);
  auto a = mx.registerUser("alice");
  mx.sync(a);
  // A long-poll in flight is answered, then the process exits 0.
  std::thread waiter([&] {
    try {
      http.get("/_matrix/client/v3/sync?timeout=30000&since=" + enc(a.since), a.token);
    } catch (...) {
    }
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(proc.terminate(3s), 0);
  waiter.join();
  // `chorus hs register` on the same data dir, then the account logs in on a new process.
  const std::string cmd = std::string(CHORUS_BIN) + " hs register --data " + dir +
                          " --user bob --password secret --admin > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  HsProcess proc2(CHORUS_BIN, dir, kFlags);
  HttpClient http2("127.0.0.1", proc2.port());
  Mx mx2(http2);
  EXPECT_EQ(mx2.login("bob", "secret").user_id, "@bob:localhost");
  EXPECT_EQ(mx2.login("alice").user_id, "@alice:localhost");
  proc2.kill9();
  std::filesystem::remove_all(dir);
}

TEST(HsProcessTest, Kill9MidStreamLosesNothingAcknowledged) {
  const std::string dir = makeTempDir("chorus-hs-kill-");
  User a, b;
  std::string room;
  std::mutex mu;
  std::set<int> acked_todevice;
  std::set<int> acked_state;
  {
    HsProcess proc(CHORUS_BIN, dir, kFlags);  // default synchronous=full
    HttpClient http("127.0.0.1", proc.port());
    Mx mx(http);
    a = mx.registerUser("alice");
    b = mx.registerUser("bob");
    room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
    ASSERT_EQ(mx.join(b, room).status, 200);
    std::atomic<bool> stop{false};
    auto todevice = [&](int base) {
      for (int i = base; !stop; i += 2) {
        try {
          auto r =
              mx.sendToDevice(a, "m.test", "td" + std::to_string(i),
                              json::object{{b.user_id, json::object{{b.device_id, json::object{{"i", i}}}}}});
          if (r.status == 200) {
            std::lock_guard<std::mutex> lock(mu);
            acked_todevice.insert(i);
          }
        } catch (...) {
          return;  // the server is gone
        }
      }
    };
    auto state = [&]() {
      for (int i = 0; !stop; ++i) {
        try {
          auto r = mx.putState(a, room, "m.test.state", "k" + std::to_string(i), json::object{{"i", i}});
          if (r.status == 200) {
            std::lock_guard<std::mutex> lock(mu);
            acked_state.insert(i);
          }
        } catch (...) {
          return;
        }
      }
    };
    std::thread t1(todevice, 0), t2(todevice, 1), t3(state);
    std::this_thread::sleep_for(1500ms);
    proc.kill9();  // mid-stream: requests are in flight right now
    stop = true;
    t1.join();
    t2.join();
    t3.join();
  }
  std::printf("acknowledged before kill -9: %zu to-device, %zu state events\n", acked_todevice.size(),
              acked_state.size());
  ASSERT_GT(acked_todevice.size(), 20u);
  ASSERT_GT(acked_state.size(), 10u);

  HsProcess proc(CHORUS_BIN, dir, kFlags);
  HttpClient http("127.0.0.1", proc.port());
  Mx mx(http);
  // Every acknowledged state event is there.
  int missing_state = 0;
  for (int i : acked_state) {
    auto r = http.get("/_matrix/client/v3/rooms/" + enc(room) + "/state/m.test.state/k" + std::to_string(i),
                      a.token);
    if (r.status != 200 || r.obj().at("i").as_int64() != i) ++missing_state;
  }
  EXPECT_EQ(missing_state, 0);
  // Every acknowledged to-device message is delivered, each sender's stream in order.
  std::set<int> delivered;
  int last_even = -2, last_odd = -1;
  bool ordered = true;
  for (int round = 0; round < 1000; ++round) {
    auto s = mx.sync(b);
    auto evs = toDeviceEvents(s);
    if (evs.empty()) break;
    for (const auto& e : evs) {
      const int i = static_cast<int>(e.at("content").at("i").as_int64());
      int& last = (i % 2 == 0) ? last_even : last_odd;
      if (i <= last) ordered = false;
      last = i;
      delivered.insert(i);
    }
  }
  EXPECT_TRUE(ordered);
  int missing_td = 0;
  for (int i : acked_todevice) missing_td += delivered.count(i) == 0;
  EXPECT_EQ(missing_td, 0) << "acked " << acked_todevice.size() << ", delivered " << delivered.size();
  proc.kill9();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chorus::hs::test
#endif
