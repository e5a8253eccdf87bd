#include "focus/audio_slots.hpp"

#include <gtest/gtest.h>

#include <set>

namespace chorus::focus {
namespace {

std::function<bool(std::uint64_t)> in(std::set<std::uint64_t> keys) {
  return [keys = std::move(keys)](std::uint64_t k) { return keys.count(k) != 0; };
}

TEST(SpeechActivity, LevelsOutrankSilenceAndFadeWhenTheSpeakerStops) {
  SpeechActivity speaker, silent, dtx, no_extension;
  for (int i = 0; i < 10; ++i) {  // one 200 ms interval: 10 packets of 20 ms
    speaker.onPacket(30, 80);     // −30 dBov
    silent.onPacket(127, 80);     // silence, without DTX
    no_extension.onPacket(std::nullopt, 90);
  }
  dtx.onPacket(127, 1);
  for (auto* a : {&speaker, &silent, &dtx, &no_extension}) a->roll();
  EXPECT_EQ(speaker.score(), 10u * 97u);
  EXPECT_EQ(silent.score(), 0u);
  EXPECT_EQ(dtx.score(), 0u);
  EXPECT_EQ(no_extension.score(), 10u * 45u);
  // Stopped: halves every interval and is gone within a dozen.
  for (int i = 0; i < 12; ++i) speaker.roll();
  EXPECT_EQ(speaker.score(), 0u);
}

TEST(SpeechActivity, OnlyTheLevelBitsCount) {
  SpeechActivity a;
  a.onPacket(0x80 | 27, 0);  // a V bit left in the byte does not make it louder than 0 dBov
  a.roll();
  EXPECT_EQ(a.score(), 100u);
}

TEST(AssignAudioSlots, FillsEmptySlotsWithTheLoudestSubscribedTracks) {
  const std::vector<RankedAudio> ranked{{7, 900}, {3, 500}, {9, 400}, {4, 0}};
  std::vector<AudioSlotState> slots(2);
  // Track 3 is not subscribed: 7 and 9 are wanted.
  auto moves = assignAudioSlots(ranked, in({7, 9, 4}), slots, 1000, 1000);
  EXPECT_EQ(moves, (std::vector<AudioSlotMove>{{0, 7}, {1, 9}}));
}

TEST(AssignAudioSlots, SilentTracksFillEmptySlotsButNeverDisplaceOthers) {
  const std::vector<RankedAudio> ranked{{1, 0}, {2, 0}, {3, 0}};
  std::vector<AudioSlotState> slots{{3, 0, 0}, {0, 0, 0}};
  auto moves = assignAudioSlots(ranked, in({1, 2, 3}), slots, 5000, 1000);
  // 1 and 2 are wanted (first in the ranking); 1 takes the empty slot, 2 does not push silent 3 out.
  EXPECT_EQ(moves, (std::vector<AudioSlotMove>{{1, 1}}));
}

TEST(AssignAudioSlots, ASpeakerReplacesTheQuietestHolderOnceItsHoldIsOver) {
  const std::vector<RankedAudio> ranked{{5, 800}, {1, 300}, {2, 100}};
  std::vector<AudioSlotState> slots{{1, 0, 300}, {2, 0, 100}};
  // Held since 0: at 500 ms (hold 1000) the speaker waits; at 1000 ms it takes the quieter holder's slot.
  EXPECT_TRUE(assignAudioSlots(ranked, in({1, 2, 5}), slots, 500, 1000).empty());
  EXPECT_EQ(assignAudioSlots(ranked, in({1, 2, 5}), slots, 1000, 1000), (std::vector<AudioSlotMove>{{1, 5}}));
}

TEST(AssignAudioSlots, ASilentHolderGivesWayAtOnce) {
  const std::vector<RankedAudio> ranked{{5, 800}, {1, 300}, {2, 0}};
  std::vector<AudioSlotState> slots{{1, 900, 300}, {2, 900, 0}};
  EXPECT_EQ(assignAudioSlots(ranked, in({1, 2, 5}), slots, 1000, 1000), (std::vector<AudioSlotMove>{{1, 5}}));
}

TEST(AssignAudioSlots, WantedHoldersStayWhereTheyAre) {
  const std::vector<RankedAudio> ranked{{2, 900}, {1, 800}};
  std::vector<AudioSlotState> slots{{1, 0, 800}, {2, 0, 900}};
  EXPECT_TRUE(assignAudioSlots(ranked, in({1, 2}), slots, 10'000, 1000).empty());
}

TEST(AssignAudioSlots, TwoNewSpeakersTakeTwoDifferentSlots) {
  const std::vector<RankedAudio> ranked{{8, 900}, {9, 800}, {1, 10}, {2, 5}};
  std::vector<AudioSlotState> slots{{1, 0, 10}, {2, 0, 5}};
  EXPECT_EQ(assignAudioSlots(ranked, in({1, 2, 8, 9}), slots, 5000, 1000),
            (std::vector<AudioSlotMove>{{0, 9}, {1, 8}}));  // 8 (louder) took the quietest holder's slot
}

TEST(AssignAudioSlots, NoSlotsNoMoves) {
  const std::vector<RankedAudio> ranked{{1, 5}};
  EXPECT_TRUE(assignAudioSlots(ranked, in({1}), {}, 0, 0).empty());
}

}  // namespace
}  // namespace chorus::focus
