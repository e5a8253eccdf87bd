#include "media/rtp/retransmission_buffer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace chorus::media {
namespace {

using Result = RetransmissionBuffer::StoreResult;

std::vector<std::uint8_t> packetFor(std::uint16_t seq, std::size_t size = 100) {
  std::vector<std::uint8_t> v(size, static_cast<std::uint8_t>(seq * 7));
  if (size >= 2) {
    v[0] = static_cast<std::uint8_t>(seq >> 8);
    v[1] = static_cast<std::uint8_t>(seq);
  }
  return v;
}

bool holds(const RetransmissionBuffer& b, std::uint16_t seq, TimeMs now, std::size_t size = 100) {
  auto p = b.get(seq, now);
  if (!p) return false;
  auto want = packetFor(seq, size);
  return p->size() == want.size() && std::equal(want.begin(), want.end(), p->begin());
}

TEST(RetransmissionBuffer, StoreAndGet) {
  RetransmissionBuffer b({16, 200, 1000});
  EXPECT_EQ(b.capacity(), 16u);
  EXPECT_FALSE(b.get(1, 0));
  for (std::uint16_t s = 1; s <= 10; ++s) EXPECT_EQ(b.store(s, packetFor(s), 0), Result::Stored);
  EXPECT_EQ(b.size(), 10u);
  for (std::uint16_t s = 1; s <= 10; ++s) EXPECT_TRUE(holds(b, s, 0)) << s;
  EXPECT_FALSE(b.get(0, 0));
  EXPECT_FALSE(b.get(11, 0));
  EXPECT_EQ(b.store(5, packetFor(5), 0), Result::Replaced);
}

TEST(RetransmissionBuffer, CapacityRoundsUpAndEvictsOldest) {
  RetransmissionBuffer b({1000, 64, 10'000});
  EXPECT_EQ(b.capacity(), 1024u);
  for (int i = 0; i < 2000; ++i)
    b.store(static_cast<std::uint16_t>(i), packetFor(static_cast<std::uint16_t>(i), 64), 0);
  EXPECT_FALSE(b.get(975, 0));
  EXPECT_TRUE(holds(b, 976, 0, 64));
  EXPECT_TRUE(holds(b, 1999, 0, 64));
  EXPECT_EQ(b.size(), 1024u);
}

TEST(RetransmissionBuffer, Wraparound) {
  RetransmissionBuffer b({64, 128, 10'000});
  for (std::uint32_t i = 65400; i < 65536 + 20; ++i) {
    const auto s = static_cast<std::uint16_t>(i);
    EXPECT_NE(b.store(s, packetFor(s), 0), Result::TooOld);
  }
  // The newest 64 are 65492 .. 65535, 0 .. 19.
  EXPECT_TRUE(holds(b, 65535, 0));
  EXPECT_TRUE(holds(b, 0, 0));
  EXPECT_TRUE(holds(b, 19, 0));
  EXPECT_TRUE(holds(b, 65492, 0));
  EXPECT_FALSE(b.get(65491, 0));
  EXPECT_FALSE(b.get(20, 0));
  EXPECT_EQ(b.store(65491, packetFor(65491), 0), Result::TooOld);
}

TEST(RetransmissionBuffer, StaleSlotAfterGapIsAMiss) {
  RetransmissionBuffer b({16, 128, 10'000});
  b.store(5, packetFor(5), 0);
  // Jump forward by exactly the capacity: seq 21 takes slot 5, then 5 is gone.
  b.store(21, packetFor(21), 0);
  EXPECT_FALSE(b.get(5, 0));
  EXPECT_TRUE(holds(b, 21, 0));
  // A slot holding an entry from before a gap: 22..36 not stored, slot of 37 still has nothing; 6 never
  // stored.
  b.store(37, packetFor(37), 0);
  EXPECT_FALSE(b.get(21, 0));  // now more than capacity behind the newest
  EXPECT_FALSE(b.get(36, 0));
}

TEST(RetransmissionBuffer, AgeTooLargeAndTooOld) {
  RetransmissionBuffer b({32, 100, 500});
  EXPECT_EQ(b.store(100, packetFor(100), 1000), Result::Stored);
  EXPECT_TRUE(b.get(100, 1500));
  EXPECT_FALSE(b.get(100, 1501));
  EXPECT_EQ(b.store(101, packetFor(101, 101), 1000), Result::TooLarge);
  EXPECT_EQ(b.store(101, packetFor(101, 100), 1000), Result::Stored);
  EXPECT_EQ(b.store(200, packetFor(200), 1000), Result::Stored);
  EXPECT_EQ(b.store(150, packetFor(150), 1000), Result::TooOld);
  EXPECT_EQ(b.store(169, packetFor(169), 1000), Result::Stored);
}

TEST(RetransmissionBuffer, LargeJumpRestartsTheBuffer) {
  RetransmissionBuffer b({32, 100, 10'000});
  b.store(1000, packetFor(1000), 0);
  b.store(1001, packetFor(1001), 0);
  EXPECT_EQ(b.store(30000, packetFor(30000), 0), Result::Restarted);
  EXPECT_FALSE(b.get(1001, 0));
  EXPECT_TRUE(holds(b, 30000, 0));
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(b.store(30001, packetFor(30001), 0), Result::Stored);
  // Backwards by more than the restart distance (a new stream starting low) also restarts.
  EXPECT_EQ(b.store(5, packetFor(5), 0), Result::Restarted);
  EXPECT_TRUE(holds(b, 5, 0));
  b.clear();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_FALSE(b.get(5, 0));
}

TEST(RetransmissionBuffer, EmptyPacketAndFullWrapCycles) {
  RetransmissionBuffer b({8, 16, 10'000});
  EXPECT_EQ(b.store(1, ByteSpan(), 0), Result::Stored);
  ASSERT_TRUE(b.get(1, 0));
  EXPECT_TRUE(b.get(1, 0)->empty());
  // Several full 16-bit cycles: each get after store returns the right bytes.
  for (std::uint32_t i = 2; i < 3 * 65536; i += 3) {
    const auto s = static_cast<std::uint16_t>(i);
    ASSERT_NE(b.store(s, packetFor(s, 16), 0), Result::TooOld) << i;
    ASSERT_TRUE(holds(b, s, 0, 16)) << i;
    ASSERT_FALSE(b.get(static_cast<std::uint16_t>(s - 24), 0)) << i;
  }
}

TEST(RetransmissionBuffer, StartsSmallAndGrowsOnlyWhileFreshPacketsWouldBeOverwritten) {
  RetransmissionBufferConfig c;
  c.capacity = 256;
  c.initial_capacity = 64;
  c.max_packet_size = 128;
  c.max_age_ms = 1000;
  RetransmissionBuffer b(c);
  EXPECT_EQ(b.capacity(), 64u);
  EXPECT_EQ(b.maxCapacity(), 256u);
  std::uint16_t seq = 0;
  TimeMs now = 0;
  auto put = [&](TimeMs step) {
    b.store(seq, packetFor(seq), now);
    ++seq;
    now += step;
  };
  // 30 packets/s for 10 s: a slot is reused only after ~2 s, when its packet is older than max_age: no
  // growth.
  for (int i = 0; i < 300; ++i) put(33);
  EXPECT_EQ(b.capacity(), 64u);
  // 150 packets/s: 64 slots hold 0.43 s, so it doubles until max_age fits (256 slots = 1.7 s).
  for (int i = 0; i < 300; ++i) put(6);
  EXPECT_EQ(b.capacity(), 256u);
  // Every packet of the last second is there, with its bytes, across the re-placements.
  for (std::uint16_t s = static_cast<std::uint16_t>(seq - 160); s != seq; ++s)
    EXPECT_TRUE(holds(b, s, now)) << s;
  // At the maximum it evicts the oldest as before.
  for (int i = 0; i < 600; ++i) put(0);
  EXPECT_EQ(b.capacity(), 256u);
  EXPECT_EQ(b.size(), 256u);
  EXPECT_FALSE(b.get(static_cast<std::uint16_t>(seq - 257), now));
  EXPECT_TRUE(holds(b, static_cast<std::uint16_t>(seq - 256), now));
}

TEST(RetransmissionBuffer, ResendIsRefusedWithinTheMinimumInterval) {
  RetransmissionBuffer b({16, 200, 1000});
  ASSERT_EQ(b.store(7, packetFor(7), 0), Result::Stored);
  EXPECT_TRUE(b.getForResend(7, 10, 100));
  EXPECT_FALSE(b.getForResend(7, 50, 100)) << "asked again too soon";
  EXPECT_TRUE(b.get(7, 50)) << "still there for get()";
  EXPECT_TRUE(b.getForResend(7, 110, 100));
  EXPECT_FALSE(b.getForResend(8, 110, 100));
  ASSERT_EQ(b.store(7, packetFor(7), 120), Result::Replaced);  // stored again: may be resent at once
  EXPECT_TRUE(b.getForResend(7, 125, 100));
}

}  // namespace
}  // namespace chorus::media
