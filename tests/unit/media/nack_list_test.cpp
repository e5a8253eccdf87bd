#include "media/rtp/nack_list.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace chorus::media {
namespace {

constexpr NackPolicy kPolicy{/*retry_ms=*/100, /*max_tries=*/3, /*max_age_ms=*/1000};

struct NackResult {
  std::vector<std::uint16_t> seqs;  // sorted
  std::size_t given_up{0};
};

NackResult dueAt(NackList& l, TimeMs now, const NackPolicy& policy = kPolicy) {
  std::array<std::uint16_t, NackList::kCapacity> out{};
  const auto d = l.due(now, policy, out);
  NackResult r;
  r.seqs.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(d.count));
  std::sort(r.seqs.begin(), r.seqs.end());
  r.given_up = d.given_up;
  return r;
}

using Seqs = std::vector<std::uint16_t>;

TEST(NackList, EmptyHasNothingDue) {
  NackList l;
  EXPECT_TRUE(l.empty());
  const NackResult r = dueAt(l, 0);
  EXPECT_TRUE(r.seqs.empty());
  EXPECT_EQ(r.given_up, 0u);
}

TEST(NackList, NewGapIsDueAtOnceThenEveryRetryInterval) {
  NackList l;
  ASSERT_TRUE(l.add(10, 13, 1000));  // 10, 11, 12
  EXPECT_EQ(l.size(), 3u);
  EXPECT_EQ(dueAt(l, 1000).seqs, (Seqs{10, 11, 12}));
  EXPECT_TRUE(dueAt(l, 1050).seqs.empty());  // asked 50 ms ago
  EXPECT_EQ(dueAt(l, 1100).seqs, (Seqs{10, 11, 12}));
  EXPECT_TRUE(dueAt(l, 1199).seqs.empty());
  EXPECT_EQ(dueAt(l, 1200).seqs, (Seqs{10, 11, 12}));
  EXPECT_EQ(l.size(), 3u);
  // Three tries made: given up at the next look, nothing more is asked.
  const NackResult r = dueAt(l, 1300);
  EXPECT_TRUE(r.seqs.empty());
  EXPECT_EQ(r.given_up, 3u);
  EXPECT_TRUE(l.empty());
}

TEST(NackList, EntriesAgeOut) {
  NackList l;
  const NackPolicy many_tries{100, 100, 1000};
  ASSERT_TRUE(l.add(1, 3, 0));
  ASSERT_TRUE(l.add(5, 6, 500));
  EXPECT_EQ(dueAt(l, 500, many_tries).seqs, (Seqs{1, 2, 5}));
  EXPECT_EQ(dueAt(l, 1000, many_tries).seqs, (Seqs{1, 2, 5}));  // exactly max_age: still asked
  const NackResult r = dueAt(l, 1001, many_tries);
  EXPECT_EQ(r.given_up, 2u);    // 1 and 2 are older than max_age
  EXPECT_TRUE(r.seqs.empty());  // 5 was asked 1 ms ago
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(dueAt(l, 1100, many_tries).seqs, (Seqs{5}));
  EXPECT_EQ(dueAt(l, 1501, many_tries).given_up, 1u);
  EXPECT_TRUE(l.empty());
}

// A retransmission that arrives after its entry was given up (a slow sender) still counts as recovered, once;
// the memory holds the last kGivenUpMemory entries given up.
TEST(NackList, GivenUpEntriesAreRememberedForALateRetransmission) {
  NackList l;
  ASSERT_TRUE(l.add(10, 12, 0));  // 10, 11
  EXPECT_EQ(dueAt(l, 0).seqs, (Seqs{10, 11}));
  EXPECT_EQ(dueAt(l, 100).seqs, (Seqs{10, 11}));
  EXPECT_EQ(dueAt(l, 200).seqs, (Seqs{10, 11}));
  EXPECT_EQ(dueAt(l, 300).given_up, 2u);
  EXPECT_TRUE(l.empty());
  EXPECT_FALSE(l.contains(10));
  EXPECT_TRUE(l.wasGivenUp(10));
  EXPECT_TRUE(l.wasGivenUp(11));
  EXPECT_FALSE(l.wasGivenUp(12));
  EXPECT_TRUE(l.recovered(10));
  EXPECT_FALSE(l.wasGivenUp(10));
  EXPECT_FALSE(l.recovered(10));            // only once
  EXPECT_TRUE(dueAt(l, 400).seqs.empty());  // never asked for again

  // Only the last kGivenUpMemory are kept.
  const auto n = static_cast<std::int64_t>(NackList::kGivenUpMemory);
  ASSERT_TRUE(l.add(100, 100 + n, 1000));
  EXPECT_EQ(dueAt(l, 3000).given_up, NackList::kGivenUpMemory);  // too old
  EXPECT_FALSE(l.wasGivenUp(11));
  for (std::int64_t e = 100; e < 100 + n; ++e) EXPECT_TRUE(l.wasGivenUp(e)) << e;
  l.clear();
  EXPECT_FALSE(l.wasGivenUp(100));
  EXPECT_FALSE(l.recovered(100));
}

TEST(NackList, RecoveredPacketsLeaveTheList) {
  NackList l;
  ASSERT_TRUE(l.add(100, 105, 0));
  EXPECT_TRUE(l.recovered(102));
  EXPECT_FALSE(l.recovered(102));  // only once
  EXPECT_FALSE(l.recovered(99));   // never missing
  EXPECT_EQ(l.size(), 4u);
  EXPECT_EQ(dueAt(l, 0).seqs, (Seqs{100, 101, 103, 104}));
}

TEST(NackList, BoundedByItsCapacity) {
  NackList l;
  ASSERT_TRUE(l.add(0, NackList::kCapacity - 1, 0));
  EXPECT_FALSE(l.add(1000, 1002, 0));  // two more do not fit: nothing is added
  EXPECT_EQ(l.size(), NackList::kCapacity - 1);
  EXPECT_TRUE(l.add(1000, 1001, 0));  // one does
  EXPECT_EQ(l.size(), NackList::kCapacity);
  EXPECT_FALSE(l.add(2000, 2001, 0));
  EXPECT_EQ(l.size(), NackList::kCapacity);

  NackList fresh;
  EXPECT_FALSE(fresh.add(0, NackList::kCapacity + 1, 0));  // a gap larger than the list
  EXPECT_TRUE(fresh.empty());

  l.clear();
  EXPECT_TRUE(l.empty());
  EXPECT_TRUE(dueAt(l, 0).seqs.empty());
}

TEST(NackList, DueWritesOnlyWhatFitsTheOthersWait) {
  NackList l;
  ASSERT_TRUE(l.add(0, 5, 0));
  std::array<std::uint16_t, 2> out{};
  auto d = l.due(0, kPolicy, out);
  EXPECT_EQ(d.count, 2u);
  std::vector<std::uint16_t> asked(out.begin(), out.end());
  d = l.due(0, kPolicy, out);  // the next two, not yet tried
  EXPECT_EQ(d.count, 2u);
  asked.insert(asked.end(), out.begin(), out.end());
  d = l.due(0, kPolicy, out);
  EXPECT_EQ(d.count, 1u);
  asked.push_back(out[0]);
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (Seqs{0, 1, 2, 3, 4}));
  EXPECT_EQ(l.due(0, kPolicy, out).count, 0u);  // all asked at 0
}

TEST(NackList, ExtendedNumbersAreAskedAsSixteenBitSequenceNumbers) {
  NackList l;
  ASSERT_TRUE(l.add(65534, 65538, 0));  // across the wrap: 65534, 65535, 0, 1
  EXPECT_EQ(dueAt(l, 0).seqs, (Seqs{0, 1, 65534, 65535}));
  EXPECT_TRUE(l.recovered(65536));
  EXPECT_EQ(l.size(), 3u);
}

}  // namespace
}  // namespace chorus::media
