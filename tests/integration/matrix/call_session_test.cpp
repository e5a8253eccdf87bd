// Three CallSessions (the real Matrix shell) on a real chorus hs over HTTP, with fake media: the mesh forms
// through /sync and sendToDevice, a leave ends the legs, and a "crashed" session is removed by its MSC4140
// delayed leave.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "hs/config.hpp"
#include "hs/server.hpp"
#include "matrix/sync_loop.hpp"
#include "session/call_session.hpp"
#include "sim/fake_media.hpp"

namespace chorus {
namespace {

namespace json = boost::json;

class FakeBackend final : public session::MediaBackend {
 public:
  FakeBackend(matrix::EventLoop& loop, std::string who, const Clock& clock)
      : loop_(loop), media_(who, clock) {}
  void execute(const core::Action& a) override {
    media_.execute(a);
    loop_.post([this] {
      for (auto& in : media_.takeResults()) session->input(in);
    });
  }
  session::CallSession* session{nullptr};
  sim::FakeMedia& media() { return media_; }

 private:
  matrix::EventLoop& loop_;
  sim::FakeMedia media_;
};

struct Member {
  std::string user;
  std::unique_ptr<matrix::Client> client;
  std::unique_ptr<FakeBackend> backend;
  std::unique_ptr<session::CallSession> session;
};

class CallSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("chorus-matrix-it-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    hs::ServerConfig cfg;
    cfg.listen_host = "127.0.0.1";
    cfg.listen_port = 0;
    cfg.data_dir = dir_.string();
    cfg.server_name = "localhost";
    cfg.rate_per_second = 0;
    cfg.synchronous = "normal";
    hs::useTestKdf(cfg);
    for (const char* u : {"alice", "bob", "carol"})
      ASSERT_TRUE(hs::Server::registerUser(cfg, u, "pw", false));
    server_ = std::make_unique<hs::Server>(cfg);
    ASSERT_TRUE(server_->start());
  }
  void TearDown() override {
    members_.clear();
    server_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs the loop until pred() holds (checked every 50 ms) or timeout.
  bool runUntil(const std::function<bool()>& pred, TimeMs timeout_ms) {
    bool ok = false;
    const TimeMs deadline = clock_.nowMs() + timeout_ms;
    std::function<void()> check = [&] {
      if (pred()) {
        ok = true;
        loop_.stop();
      } else if (clock_.nowMs() > deadline) {
        loop_.stop();
      } else {
        loop_.setTimer(50, check);
      }
    };
    loop_.setTimer(0, check);
    loop_.run();
    return ok;
  }

  Result<json::object> blocking(const std::function<void(matrix::Client::Reply)>& start) {
    std::optional<Result<json::object>> out;
    start([&](Result<json::object> r) { out = std::move(r); });
    runUntil([&] { return out.has_value(); }, 10'000);
    if (!out) return fail(Code::DeadlineExceeded, "no reply");
    return std::move(*out);
  }

  Member& join(const std::string& user, bool create) {
    auto m = std::make_unique<Member>();
    m->user = user;
    m->client = std::make_unique<matrix::Client>(loop_, server_->baseUrl());
    EXPECT_TRUE(blocking([&](auto cb) { m->client->login(user, "pw", "", cb); }));
    m->backend = std::make_unique<FakeBackend>(loop_, user, clock_);
    session::SessionConfig sc;
    sc.room = "#it:localhost";
    sc.create_call = create;
    sc.feeds = {core::LocalFeed{"stream-" + user, "m.usermedia", false, false}};
    sc.delayed_leave_ms = 1'500;
    sc.delayed_restart_ms = 500;
    sc.sync_timeout_ms = 5'000;
    sc.core.caller_candidate_batch_ms = 50;
    sc.core.callee_candidate_batch_ms = 50;
    m->session = std::make_unique<session::CallSession>(loop_, *m->client, sc, m->backend.get(),
                                                        [](const core::Action&) {});
    m->backend->session = m->session.get();
    std::optional<Status> ready;
    m->session->start([&](Status st) { ready = st; });
    EXPECT_TRUE(runUntil([&] { return ready.has_value(); }, 10'000));
    EXPECT_TRUE(ready && *ready) << (ready && !*ready ? ready->error().toString() : "");
    members_.push_back(std::move(m));
    return *members_.back();
  }

  static bool connectedTo(const Member& a, const Member& b) {
    const auto* call = a.session->call();
    const std::string device = b.client->deviceId();
    const auto* leg = call ? call->legFor(b.client->userId(), device) : nullptr;
    return leg && leg->state() == core::LegState::Connected;
  }

  bool allConnected() {
    for (auto& a : members_) {
      for (auto& b : members_) {
        if (a != b && !connectedTo(*a, *b)) return false;
      }
    }
    return true;
  }

  std::filesystem::path dir_;
  std::unique_ptr<hs::Server> server_;
  matrix::EventLoop loop_;
  SystemClock clock_;
  std::vector<std::unique_ptr<Member>> members_;
};

TEST_F(CallSessionTest, MeshFormsLeaveEndsLegsAndACrashIsRemovedByTheDelayedLeave) {
  // alice creates the room (members may send call state) and the call.
  matrix::Client admin(loop_, server_->baseUrl());
  ASSERT_TRUE(blocking([&](auto cb) { admin.login("alice", "pw", "", cb); }));
  json::object body{{"preset", "public_chat"},
                    {"room_alias_name", "it"},
                    {"power_level_content_override",
                     json::object{{"events", json::object{{"org.matrix.msc3401.call.member", 0}}}}}};
  ASSERT_TRUE(blocking([&](auto cb) { admin.createRoom(body, cb); }));

  Member& alice = join("alice", true);
  Member& bob = join("bob", false);
  Member& carol = join("carol", false);
  EXPECT_TRUE(alice.session->delayedEventsSupported());
  ASSERT_TRUE(runUntil([&] { return allConnected(); }, 20'000)) << "the mesh did not form";
  EXPECT_EQ(alice.session->call()->participants().size(), 2u);

  // carol leaves: alice and bob end their legs to her.
  bool left = false;
  carol.session->leave([&] { left = true; });
  ASSERT_TRUE(runUntil(
      [&] {
        return left && !alice.session->call()->legFor("@carol:localhost", carol.client->deviceId()) &&
               !bob.session->call()->legFor("@carol:localhost", carol.client->deviceId());
      },
      10'000));
  EXPECT_EQ(alice.session->call()->participants().size(), 1u);

  // bob "crashes": no more syncs, sends or delayed-event restarts. The homeserver sends his delayed leave.
  const TimeMs crashed_at = clock_.nowMs();
  bob.session->abandonForTest();
  ASSERT_TRUE(runUntil([&] { return alice.session->call()->participants().empty(); }, 10'000))
      << "bob's device was not removed by the delayed leave";
  const TimeMs took = clock_.nowMs() - crashed_at;
  EXPECT_LE(took, 1'500 + 2'000) << "delayed leave of 1.5 s plus sync latency";
  EXPECT_EQ(alice.session->call()->legFor("@bob:localhost", bob.client->deviceId()), nullptr);
}

// matrix::SyncLoop (shared by CallSession and chorus focus) against the real server: the first /sync returns
// at once, later ones long-poll and resume from next_batch (a state change arrives in a batch of its own),
// stop() ends the loop; against a port nobody listens on it backs off (doubling, capped) until told to stop.
TEST_F(CallSessionTest, SyncLoopResumesLongPollsAndBacksOff) {
  matrix::Client client(loop_, server_->baseUrl());
  ASSERT_TRUE(blocking([&](auto cb) { client.login("alice", "pw", "", cb); }));
  auto room = blocking([&](auto cb) { client.createRoom(json::object{{"preset", "public_chat"}}, cb); });
  ASSERT_TRUE(room);
  const std::string room_id(room->at("room_id").as_string());

  std::vector<std::string> seen;  // state event types, in the order the batches brought them
  std::uint64_t batches = 0;
  std::uint64_t tokens = 0;
  matrix::SyncLoop sync(
      loop_, client, matrix::SyncLoop::Config{5'000, 100, 400}, [&] { return ++tokens; },
      [&](const matrix::SyncBatch& b, std::uint64_t token) {
        EXPECT_EQ(token, batches + 1);  // the token taken when this request left
        ++batches;
        if (auto it = b.join.find(room_id); it != b.join.end()) {
          for (const auto& ev : it->second.state) seen.push_back(ev.type);
        }
      },
      [&](const Error& e, bool, TimeMs) {
        ADD_FAILURE() << "sync failed: " << e.message;
        return true;
      });
  sync.start();
  ASSERT_TRUE(runUntil([&] { return batches >= 1; }, 5'000));
  EXPECT_TRUE(sync.syncedOnce());
  const std::string first_since = sync.since();
  EXPECT_FALSE(first_since.empty());
  // The loop is now long-polling; a new state event wakes it with a batch that has just that.
  const std::size_t before = seen.size();
  ASSERT_TRUE(blocking([&](auto cb) {
    client.putState(room_id, "org.example.probe", "", json::object{{"n", 1}}, cb);
  }));
  ASSERT_TRUE(runUntil([&] { return seen.size() > before; }, 5'000));
  EXPECT_EQ(seen.back(), "org.example.probe");
  EXPECT_NE(sync.since(), first_since);
  EXPECT_EQ(sync.failures(), 0u);
  sync.stop();
  const auto after_stop = batches;
  ASSERT_TRUE(blocking([&](auto cb) {
    client.putState(room_id, "org.example.probe", "", json::object{{"n", 2}}, cb);
  }));
  runUntil([] { return false; }, 300);
  EXPECT_EQ(batches, after_stop);  // nothing after stop()

  // A homeserver that is not there: back-off 100, 200, 400, 400 ms, then the callback stops it.
  matrix::Client gone(loop_, "http://127.0.0.1:9");
  std::vector<TimeMs> backoffs;
  matrix::SyncLoop dead(
      loop_, gone, matrix::SyncLoop::Config{5'000, 100, 400}, nullptr,
      [&](const matrix::SyncBatch&, std::uint64_t) { ADD_FAILURE() << "no batch expected"; },
      [&](const Error&, bool synced_once, TimeMs retry_in_ms) {
        EXPECT_FALSE(synced_once);
        backoffs.push_back(retry_in_ms);
        return backoffs.size() < 4;
      });
  dead.start();
  ASSERT_TRUE(runUntil([&] { return backoffs.size() >= 4; }, 30'000));
  runUntil([] { return false; }, 600);
  EXPECT_EQ(backoffs, (std::vector<TimeMs>{100, 200, 400, 400}));
  EXPECT_EQ(dead.failures(), 4u);
}

}  // namespace
}  // namespace chorus
