#include "core/seq_reorderer.hpp"

#include <gtest/gtest.h>

namespace chorus::core {
namespace {

SeqItem item(const std::string& call_id, std::optional<std::uint64_t> seq,
             proto::SignalType type = proto::SignalType::Candidates, std::size_t bytes = 100) {
  SeqItem it;
  it.sender = "@bob:hs";
  it.signal.type = type;
  it.signal.call_id = call_id;
  it.signal.device_id = "BOB";
  it.signal.seq = seq;
  it.bytes = bytes;
  return it;
}

std::vector<std::uint64_t> seqs(const std::vector<SeqItem>& items) {
  std::vector<std::uint64_t> v;
  for (const auto& i : items) v.push_back(i.signal.seq.value_or(UINT64_MAX));
  return v;
}

TEST(SeqReorderer, InOrderPassesThrough) {
  SeqReorderer r(SeqConfig{});
  for (std::uint64_t s = 0; s < 5; ++s) {
    auto res = r.push(item("c1", s), 0);
    EXPECT_EQ(seqs(res.ready), std::vector<std::uint64_t>{s});
  }
  EXPECT_EQ(r.bufferedCount(), 0u);
}

TEST(SeqReorderer, ReordersAndReleasesContiguousRuns) {
  SeqReorderer r(SeqConfig{});
  EXPECT_TRUE(r.push(item("c1", 2), 0).ready.empty());
  EXPECT_TRUE(r.push(item("c1", 1), 0).ready.empty());
  EXPECT_EQ(r.bufferedCount(), 2u);
  auto res = r.push(item("c1", 0), 0);
  EXPECT_EQ(seqs(res.ready), (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(r.bufferedCount(), 0u);
  EXPECT_EQ(r.bufferedBytes(), 0u);
}

TEST(SeqReorderer, KeysAreIndependentPerCallId) {
  SeqReorderer r(SeqConfig{});
  EXPECT_TRUE(r.push(item("c1", 1), 0).ready.empty());
  EXPECT_EQ(seqs(r.push(item("c2", 0), 0).ready), std::vector<std::uint64_t>{0});
}

TEST(SeqReorderer, InviteStartsAWindowAtItsOwnSeq) {
  SeqReorderer r(SeqConfig{});
  EXPECT_EQ(seqs(r.push(item("c1", 5, proto::SignalType::Invite), 0).ready), std::vector<std::uint64_t>{5});
  EXPECT_EQ(seqs(r.push(item("c1", 6), 0).ready), std::vector<std::uint64_t>{6});
}

TEST(SeqReorderer, MissingSeqIsDeliveredAtOnce) {
  SeqReorderer r(SeqConfig{});
  auto res = r.push(item("c1", std::nullopt), 0);
  EXPECT_EQ(res.ready.size(), 1u);
  EXPECT_EQ(r.keyCount(), 0u);
}

TEST(SeqReorderer, DuplicatesAndOldSeqsAreDropped) {
  SeqReorderer r(SeqConfig{});
  (void)r.push(item("c1", 0), 0);
  auto dup = r.push(item("c1", 0), 0);
  EXPECT_TRUE(dup.ready.empty());
  EXPECT_EQ(dup.dropped, SeqDrop::Duplicate);
  (void)r.push(item("c1", 3), 0);
  EXPECT_EQ(r.push(item("c1", 3), 0).dropped, SeqDrop::Duplicate);
  EXPECT_EQ(r.bufferedCount(), 1u);
}

TEST(SeqReorderer, BeyondTheWindowIsDropped) {
  SeqConfig cfg;
  cfg.window = 8;
  SeqReorderer r(cfg);
  EXPECT_EQ(r.push(item("c1", 9), 0).dropped, SeqDrop::BeyondWindow);
  EXPECT_FALSE(r.push(item("c1", 8), 0).dropped);
  EXPECT_EQ(r.push(item("c1", 99'999'999'999ULL), 0).dropped, SeqDrop::BeyondWindow);
}

TEST(SeqReorderer, PerKeyCountAndByteCapsHold) {
  SeqConfig cfg;
  cfg.window = 1000;
  cfg.max_buffered_per_key = 4;
  cfg.max_bytes_per_key = 1000;
  SeqReorderer r(cfg);
  for (std::uint64_t s = 1; s <= 10; ++s) (void)r.push(item("c1", s), 0);
  EXPECT_EQ(r.bufferedCount(), 4u);
  for (std::uint64_t s = 1; s <= 10; ++s) (void)r.push(item("c2", s, proto::SignalType::Candidates, 400), 0);
  EXPECT_EQ(r.bufferedBytes(), 4u * 100 + 2u * 400);
}

TEST(SeqReorderer, TotalBytesAndKeysAreBounded) {
  SeqConfig cfg;
  cfg.max_keys = 10;
  cfg.max_total_bytes = 2000;
  SeqReorderer r(cfg);
  std::uint64_t dropped_keys = 0, dropped_full = 0;
  for (int k = 0; k < 100; ++k) {
    auto res = r.push(item("c" + std::to_string(k), 3), 0);
    if (res.dropped == SeqDrop::TooManyKeys) ++dropped_keys;
    if (res.dropped == SeqDrop::BufferFull) ++dropped_full;
  }
  EXPECT_LE(r.keyCount(), 10u);
  EXPECT_LE(r.bufferedBytes(), 2000u);
  EXPECT_GT(dropped_keys + dropped_full, 0u);
}

TEST(SeqReorderer, IdleKeysAreEvictedForNewOnes) {
  SeqConfig cfg;
  cfg.max_keys = 2;
  SeqReorderer r(cfg);
  (void)r.push(item("a", 0), 0);
  (void)r.push(item("b", 0), 1);
  EXPECT_EQ(r.push(item("c", 0), 2).ready.size(), 1u);
  EXPECT_EQ(r.keyCount(), 2u);
}

TEST(SeqReorderer, GapTimeoutReleasesEverythingHeldInOrder) {
  SeqConfig cfg;
  cfg.gap_timeout_ms = 10'000;
  SeqReorderer r(cfg);
  (void)r.push(item("c1", 0), 0);
  (void)r.push(item("c1", 4), 1'000);
  (void)r.push(item("c1", 2), 2'000);
  EXPECT_EQ(r.nextTimeout(), 11'000);
  EXPECT_TRUE(r.onTimeout(10'999).empty());
  auto out = r.onTimeout(11'000);
  EXPECT_EQ(seqs(out), (std::vector<std::uint64_t>{2, 4}));
  EXPECT_EQ(r.gapsSkipped(), 2u);  // seqs 1 and 3
  EXPECT_FALSE(r.nextTimeout());
  EXPECT_EQ(seqs(r.push(item("c1", 5), 12'000).ready), std::vector<std::uint64_t>{5});
}

TEST(SeqReorderer, TheReviewAttackDoesNotGrowMemory) {
  SeqReorderer r(SeqConfig{});
  (void)r.push(item("c1", 1), 0);
  for (std::uint64_t i = 0; i < 100'000; ++i) {
    EXPECT_EQ(r.push(item("c1", 99'999'999'999ULL - i), 0).dropped, SeqDrop::BeyondWindow);
  }
  EXPECT_EQ(r.bufferedCount(), 1u);
  EXPECT_EQ(r.keyCount(), 1u);
}

TEST(SeqReorderer, ForgetFreesTheKey) {
  SeqReorderer r(SeqConfig{});
  (void)r.push(item("c1", 3), 0);
  r.forget(SeqKey{"@bob:hs", "BOB", "c1"});
  EXPECT_EQ(r.keyCount(), 0u);
  EXPECT_EQ(r.bufferedBytes(), 0u);
}

}  // namespace
}  // namespace chorus::core
