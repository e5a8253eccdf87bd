#include "matrix/to_device_queue.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace chorus::matrix {
namespace {

namespace json = boost::json;

proto::SendToDevice msg(const std::string& user, const std::string& device, int n) {
  return proto::SendToDevice{static_cast<std::uint64_t>(n), "m.call.candidates", user, device,
                             json::object{{"n", n}}};
}

// Sends are held until the test completes them; sealing is immediate unless told otherwise.
struct Harness {
  struct Put {
    std::string type;
    std::string txn;
    json::object messages;
    std::function<void(Result<json::object>)> done;
    int n() const {
      for (const auto& [user, devices] : messages) {
        for (const auto& [device, content] : devices.as_object())
          return static_cast<int>(content.at("n").as_int64());
      }
      return -1;
    }
  };
  std::vector<Put> puts;
  std::vector<std::pair<int, bool>> finished;  // (n, ok)
  int txn{0};
  bool seal_fails{false};
  std::function<void(const proto::SendToDevice&)> on_done;
  ToDeviceQueue queue;

  explicit Harness(ToDeviceQueue::Limits limits = {})
      : queue(
            limits,
            [this](const proto::SendToDevice& m, std::function<void(Result<ToDeviceQueue::Sealed>)> sealed) {
              if (seal_fails) return sealed(fail(Code::FailedPrecondition, "no Olm session"));
              sealed(ToDeviceQueue::Sealed{m.type, m.content, false});
            },
            [this](const std::string& type, const std::string& t, json::object messages,
                   std::function<void(Result<json::object>)> done) {
              puts.push_back(Put{type, t, std::move(messages), std::move(done)});
            },
            [this] { return "txn" + std::to_string(++txn); },
            [this](const proto::SendToDevice& m, const Status& r) {
              finished.emplace_back(static_cast<int>(m.id), static_cast<bool>(r));
              if (on_done) on_done(m);
            }) {}

  void complete(std::size_t i, bool ok = true) {
    auto done = std::move(puts.at(i).done);
    done(ok ? Result<json::object>(json::object{}) : Result<json::object>(fail(Code::Unavailable, "503")));
  }
};

TEST(ToDeviceQueue, OneInFlightPerDeviceInOrderDevicesInParallel) {
  Harness h;
  ASSERT_TRUE(h.queue.push(msg("@a:hs", "A", 1)));
  ASSERT_TRUE(h.queue.push(msg("@a:hs", "A", 2)));
  ASSERT_TRUE(h.queue.push(msg("@b:hs", "B", 3)));
  ASSERT_EQ(h.puts.size(), 2u);  // a's first and b's first; a's second waits
  EXPECT_EQ(h.puts[0].n(), 1);
  EXPECT_EQ(h.puts[1].n(), 3);
  EXPECT_EQ(h.puts[0].type, "m.call.candidates");
  EXPECT_TRUE(h.puts[0].messages.at("@a:hs").as_object().contains("A"));
  EXPECT_EQ(h.queue.queued(), 3u);
  h.complete(0);
  ASSERT_EQ(h.puts.size(), 3u);
  EXPECT_EQ(h.puts[2].n(), 2);
  h.complete(1);
  h.complete(2);
  EXPECT_TRUE(h.queue.idle());
  EXPECT_EQ(h.finished, (std::vector<std::pair<int, bool>>{{1, true}, {3, true}, {2, true}}));
}

TEST(ToDeviceQueue, TransactionIdsAreFixedAtPushAndDistinct) {
  Harness h;
  h.queue.push(msg("@a:hs", "A", 1));
  h.queue.push(msg("@a:hs", "A", 2));
  h.complete(0);
  ASSERT_EQ(h.puts.size(), 2u);
  EXPECT_EQ(h.puts[0].txn, "txn1");
  EXPECT_EQ(h.puts[1].txn, "txn2");
}

TEST(ToDeviceQueue, FailuresAreReportedAndTheQueueMovesOn) {
  Harness h;
  h.queue.push(msg("@a:hs", "A", 1));
  h.queue.push(msg("@a:hs", "A", 2));
  h.complete(0, false);  // the homeserver refused
  ASSERT_EQ(h.puts.size(), 2u);
  h.seal_fails = true;  // the next one cannot be sealed: never sent, reported
  h.queue.push(msg("@a:hs", "A", 3));
  h.complete(1);
  EXPECT_EQ(h.puts.size(), 2u);
  EXPECT_TRUE(h.queue.idle());
  EXPECT_EQ(h.finished, (std::vector<std::pair<int, bool>>{{1, false}, {2, true}, {3, false}}));
}

TEST(ToDeviceQueue, BoundedPerDeviceAndInAll) {
  Harness h(ToDeviceQueue::Limits{3, 5});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(h.queue.push(msg("@a:hs", "A", i)));
  EXPECT_FALSE(h.queue.push(msg("@a:hs", "A", 99)));  // A is full
  EXPECT_TRUE(h.queue.push(msg("@b:hs", "B", 10)));
  EXPECT_TRUE(h.queue.push(msg("@c:hs", "C", 11)));
  EXPECT_FALSE(h.queue.push(msg("@d:hs", "D", 12)));  // 5 in all
  EXPECT_EQ(h.queue.refused(), 2u);
  EXPECT_EQ(h.queue.queued(), 5u);
  h.complete(0);  // A's first done: room again
  EXPECT_TRUE(h.queue.push(msg("@d:hs", "D", 13)));
}

TEST(ToDeviceQueue, DoneMayQueueMoreForTheSameDevice) {
  Harness h;
  int pushed = 0;
  h.on_done = [&](const proto::SendToDevice& m) {
    if (m.id == 1 && pushed++ == 0) h.queue.push(msg("@a:hs", "A", 5));
  };
  h.queue.push(msg("@a:hs", "A", 1));
  h.queue.push(msg("@a:hs", "A", 2));
  h.complete(0);
  ASSERT_EQ(h.puts.size(), 2u);  // still one in flight for A: 2, then 5
  EXPECT_EQ(h.puts[1].n(), 2);
  h.complete(1);
  ASSERT_EQ(h.puts.size(), 3u);
  EXPECT_EQ(h.puts[2].n(), 5);
  h.complete(2);
  EXPECT_TRUE(h.queue.idle());
}

// A peer that keeps us busy cannot grow memory: 10 000 pushes to one device never hold more than the bound.
TEST(ToDeviceQueue, AFloodStaysWithinTheBound) {
  Harness h(ToDeviceQueue::Limits{16, 64});
  std::size_t accepted = 0;
  for (int i = 0; i < 10'000; ++i) accepted += h.queue.push(msg("@m:hs", "M" + std::to_string(i % 8), i));
  EXPECT_EQ(accepted, 64u);
  EXPECT_EQ(h.queue.queued(), 64u);
  EXPECT_EQ(h.queue.refused(), 10'000u - 64u);
}

}  // namespace
}  // namespace chorus::matrix
