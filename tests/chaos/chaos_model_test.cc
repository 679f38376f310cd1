// The chaos model on its own: what it accepts as a quiet ZooKeeper state, and what it flags.
#include "chaos_model.h"

#include <gtest/gtest.h>

namespace zkspool::chaos {
namespace {

TEST(ChaosModelTest, AcknowledgedIntentsDecideTheExpectedState) {
  ChaosModel m;
  ASSERT_TRUE(m.Feed("T 0 P /a x1"));
  ASSERT_TRUE(m.Feed("A 0 1"));
  ASSERT_TRUE(m.Feed("T 1 P /b y1"));
  ASSERT_TRUE(m.Feed("A 1 2"));
  ASSERT_TRUE(m.Feed("T 1 D /b -"));
  ASSERT_TRUE(m.Feed("A 1 3"));
  EXPECT_EQ(m.Check({{"/a", "x1"}}), "");
  EXPECT_NE(m.Check({{"/a", "x1"}, {"/b", "y1"}}), "") << "a deleted path came back";
  EXPECT_NE(m.Check({}), "") << "an acknowledged put is missing";
  EXPECT_NE(m.Check({{"/a", "x0"}}), "") << "wrong data";
  EXPECT_NE(m.Check({{"/a", "x1"}, {"/ghost", ""}}).find("never registered"), std::string::npos);
  EXPECT_EQ(m.acked(), 3u);
  EXPECT_EQ(m.expected_nodes(), 1u);
}

TEST(ChaosModelTest, ACutOffTryAllowsBothOutcomesUntilSettled) {
  ChaosModel m;
  ASSERT_TRUE(m.Feed("T 0 P /a old"));
  ASSERT_TRUE(m.Feed("A 0 1"));
  ASSERT_TRUE(m.Feed("T 0 P /a new"));  // killed before the ack
  m.OwnerKilled();
  EXPECT_EQ(m.Check({{"/a", "old"}}), "");
  EXPECT_EQ(m.Check({{"/a", "new"}}), "");
  EXPECT_NE(m.Check({}), "");
  m.Settle({{"/a", "new"}});
  EXPECT_NE(m.Check({{"/a", "old"}}), "") << "settled: only what ZooKeeper showed is allowed now";
  // An acknowledged later intent supersedes a cut-off one.
  ASSERT_TRUE(m.Feed("T 0 D /a -"));
  m.OwnerKilled();
  ASSERT_TRUE(m.Feed("T 2 P /a newest"));
  ASSERT_TRUE(m.Feed("A 2 9"));
  EXPECT_NE(m.Check({}), "");
  EXPECT_EQ(m.Check({{"/a", "newest"}}), "");
}

// A refused append (a full disk) may still surface later, as the spool's contract says.
TEST(ChaosModelTest, AFailedAppendAllowsBothOutcomes) {
  ChaosModel m;
  ASSERT_TRUE(m.Feed("T 0 P /a old"));
  ASSERT_TRUE(m.Feed("A 0 1"));
  ASSERT_TRUE(m.Feed("T 0 D /a -"));
  ASSERT_TRUE(m.Feed("F 0"));
  EXPECT_EQ(m.Check({{"/a", "old"}}), "");
  EXPECT_EQ(m.Check({}), "");
  EXPECT_FALSE(m.Feed("F 0")) << "no try left to fail";
}

TEST(ChaosModelTest, RejectsLinesItCannotParse) {
  ChaosModel m;
  EXPECT_FALSE(m.Feed("A 0 1")) << "an ack without a try";
  EXPECT_FALSE(m.Feed("T 0 X /a b"));
  EXPECT_FALSE(m.Feed("hello"));
}

}  // namespace
}  // namespace zkspool::chaos
