// The pacer's rules (src/reconciler/pacer.h) on a clock the test moves: slow start, additive
// growth, the hold band, halving on late answers and connection loss (once per round trip), a
// late call counted before its answer, and the per-host ceiling. The same pacer against real
// servers slowed down: tests/integration/pacer_test.cc.
#include "reconciler/pacer.h"

#include <gtest/gtest.h>

#include <chrono>

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using Clock = Pacer::Clock;

constexpr size_t kMax = 1000;

class PacerTest : public ::testing::Test {
 protected:
  PacerTest() : pacer_(kMax, 0, true) {
    pacer_.SetSessionTimeout(6s);  // cut above 1000 ms, grow below 300 ms
    pacer_.Restart();
  }
  // One round trip: the whole window sent at now_, answered `latency` later in calls of `ops`.
  void RoundTrip(Clock::duration latency, size_t ops = 1) {
    const Clock::time_point sent = now_;
    now_ += latency;
    for (size_t done = 0, window = pacer_.window(); done < window; done += ops) {
      pacer_.OnAnswer(ops, sent, now_);
    }
  }
  Pacer pacer_;
  Clock::time_point now_ = Clock::time_point{} + 1h;
};

TEST_F(PacerTest, StartsSmallAndDoublesPerRoundTripWhileFast) {
  EXPECT_EQ(pacer_.window(), Pacer::kInitialWindow);
  RoundTrip(10ms);
  EXPECT_EQ(pacer_.window(), 2 * Pacer::kInitialWindow);
  RoundTrip(10ms);
  EXPECT_EQ(pacer_.window(), 4 * Pacer::kInitialWindow);
  for (int i = 0; i < 10; ++i) RoundTrip(10ms, 50);
  EXPECT_EQ(pacer_.window(), kMax);  // never past max_in_flight
}

TEST_F(PacerTest, HoldsBetweenTheGrowAndCutLines) {
  RoundTrip(500ms);  // above 1/20 of the session, below 1/6
  EXPECT_EQ(pacer_.window(), Pacer::kInitialWindow);
  EXPECT_EQ(pacer_.cuts(), 0u);
}

TEST_F(PacerTest, HalvesOncePerRoundTripWhenLate) {
  for (int i = 0; i < 3; ++i) RoundTrip(10ms);  // 512
  ASSERT_EQ(pacer_.window(), 8 * Pacer::kInitialWindow);
  RoundTrip(1500ms);  // every answer of the round trip late: one cut, not 512
  EXPECT_EQ(pacer_.window(), 4 * Pacer::kInitialWindow);
  EXPECT_EQ(pacer_.cuts(), 1u);
  RoundTrip(1500ms);  // the next round trip, sent after the cut, still late: cut again
  EXPECT_EQ(pacer_.window(), 2 * Pacer::kInitialWindow);
  EXPECT_EQ(pacer_.cuts(), 2u);
}

TEST_F(PacerTest, AfterACutGrowsAdditivelyNotByDoubling) {
  for (int i = 0; i < 3; ++i) RoundTrip(10ms);  // 512
  RoundTrip(1500ms);                            // 256, and slow start ends there
  const size_t after_cut = pacer_.window();
  RoundTrip(10ms);
  // max/16 per round trip, a little less as each answer's share shrinks while the window grows.
  EXPECT_GT(pacer_.window(), after_cut + kMax / 20);
  EXPECT_LE(pacer_.window(), after_cut + kMax / 16);
}

TEST_F(PacerTest, ConnectionLossHalvesAndTheNextConnectSlowStartsToThere) {
  for (int i = 0; i < 3; ++i) RoundTrip(10ms);  // 512
  pacer_.OnConnectionLoss(now_);
  EXPECT_EQ(pacer_.window(), 256u);
  pacer_.Restart();
  EXPECT_EQ(pacer_.window(), Pacer::kInitialWindow);
  RoundTrip(10ms);
  RoundTrip(10ms);
  EXPECT_EQ(pacer_.window(), 256u);  // doubling stops at the cut's window
  RoundTrip(10ms);
  EXPECT_GT(pacer_.window(), 256u + kMax / 20);  // then additively
  EXPECT_LE(pacer_.window(), 256u + kMax / 16);
}

TEST_F(PacerTest, LateAnswersToCallsSentBeforeALossDoNotCutTwice) {
  for (int i = 0; i < 3; ++i) RoundTrip(10ms);  // 512
  const Clock::time_point sent = now_;
  now_ += 2s;
  pacer_.OnConnectionLoss(now_);
  pacer_.OnAnswer(1, sent, now_ + 1ms);
  EXPECT_EQ(pacer_.window(), 256u);
  EXPECT_EQ(pacer_.cuts(), 1u);
}

TEST_F(PacerTest, ACallStillOutPastTheCutLineCountsAsLate) {
  const Clock::time_point sent = now_;
  pacer_.OnOldestOut(sent, now_ + 900ms);
  EXPECT_EQ(pacer_.window(), Pacer::kInitialWindow);
  pacer_.OnOldestOut(sent, now_ + 1100ms);
  EXPECT_EQ(pacer_.window(), Pacer::kInitialWindow / 2);
  pacer_.OnOldestOut(sent, now_ + 3s);  // the same call: no second cut
  EXPECT_EQ(pacer_.window(), Pacer::kInitialWindow / 2);
}

TEST_F(PacerTest, NeverBelowOne) {
  for (int i = 0; i < 20; ++i) {
    now_ += 1s;
    pacer_.OnConnectionLoss(now_);
  }
  EXPECT_EQ(pacer_.window(), 1u);
}

TEST_F(PacerTest, LatencyIsAMovingAverage) {
  pacer_.OnAnswer(1, now_, now_ + 100ms);
  EXPECT_DOUBLE_EQ(pacer_.latency_ms(), 100);
  pacer_.OnAnswer(1, now_, now_ + 200ms);
  EXPECT_DOUBLE_EQ(pacer_.latency_ms(), 120);
}

TEST(PacerOff, KeepsTheWholeWindowWhateverHappens) {
  Pacer pacer(kMax, 0, false);
  pacer.SetSessionTimeout(6s);
  pacer.Restart();
  EXPECT_EQ(pacer.window(), kMax);
  const Clock::time_point t = Clock::time_point{} + 1h;
  pacer.OnAnswer(1, t, t + 5s);
  pacer.OnConnectionLoss(t + 5s);
  pacer.OnOldestOut(t, t + 5s);
  EXPECT_EQ(pacer.window(), kMax);
  EXPECT_EQ(pacer.cuts(), 0u);
  EXPECT_GT(pacer.latency_ms(), 0);  // still measured, for Stats
}

TEST(PacerCeiling, ATokenBucketOfOneSecond) {
  Pacer pacer(kMax, 100, true);
  const Clock::time_point t = Clock::time_point{} + 1h;
  EXPECT_EQ(pacer.Allowance(t), 100u);
  pacer.Spend(100);
  EXPECT_EQ(pacer.Allowance(t), 0u);
  EXPECT_EQ(pacer.NextToken(t), t + 10ms + 1us);
  EXPECT_EQ(pacer.Allowance(t + 250ms), 25u);
  EXPECT_EQ(pacer.Allowance(t + 10s), 100u);  // never more than a second's worth
}

TEST(PacerCeiling, BelowOnePerSecondStillSends) {
  Pacer pacer(kMax, 0.5, true);
  const Clock::time_point t = Clock::time_point{} + 1h;
  EXPECT_EQ(pacer.Allowance(t), 1u);
  pacer.Spend(1);
  EXPECT_EQ(pacer.Allowance(t + 1s), 0u);
  EXPECT_EQ(pacer.Allowance(t + 2s), 1u);
}

TEST(PacerCeiling, NoneMeansNoLimit) {
  Pacer pacer(kMax, 0, true);
  const Clock::time_point t = Clock::time_point{} + 1h;
  EXPECT_GE(pacer.Allowance(t), kMax);
  EXPECT_EQ(pacer.NextToken(t), t);
}

}  // namespace
}  // namespace zkspool
