// SeqQueue (src/reconciler/seq_queue.h): a path's pending sequence numbers, resolved from the
// front, one dropped from the middle when it expires. Its contents must stay exactly those of a
// std::deque under the same operations, across the point where popped slots are reclaimed.
#include "reconciler/seq_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <random>
#include <vector>

namespace zkspool {
namespace {

std::vector<uint64_t> Contents(const SeqQueue& q) { return {q.begin(), q.end()}; }

TEST(SeqQueueTest, EmptyUntilPushedAndAfterTheLastPop) {
  SeqQueue q;
  EXPECT_TRUE(q.empty());
  q.push_back(7);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.front(), 7u);
  EXPECT_EQ(q.back(), 7u);
  q.pop_front();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  q.push_back(9);  // reusable after it emptied
  EXPECT_EQ(Contents(q), std::vector<uint64_t>{9});
}

TEST(SeqQueueTest, LongQueueResolvedFromTheFrontKeepsOrderPastReclaiming) {
  SeqQueue q;
  for (uint64_t s = 1; s <= 1000; ++s) q.push_back(s);
  for (uint64_t s = 1; s <= 700; ++s) {
    ASSERT_EQ(q.front(), s);
    q.pop_front();
  }
  EXPECT_EQ(q.size(), 300u);
  EXPECT_EQ(q.front(), 701u);
  EXPECT_EQ(q.back(), 1000u);
  q.push_back(1001);
  EXPECT_EQ(Contents(q).size(), 301u);
  EXPECT_TRUE(std::is_sorted(q.begin(), q.end()));
}

TEST(SeqQueueTest, EraseInTheMiddleAndOfTheLast) {
  SeqQueue q;
  for (uint64_t s : {3, 5, 8}) q.push_back(s);
  q.pop_front();
  q.erase(std::lower_bound(q.begin(), q.end(), 8));
  EXPECT_EQ(Contents(q), std::vector<uint64_t>{5});
  q.erase(q.begin());
  EXPECT_TRUE(q.empty());
}

TEST(SeqQueueTest, MatchesADequeUnderRandomOperations) {
  std::mt19937 rng(42);
  SeqQueue q;
  std::deque<uint64_t> model;
  uint64_t next = 1;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5 || model.empty()) {
      q.push_back(next);
      model.push_back(next++);
    } else if (op < 9) {
      q.pop_front();
      model.pop_front();
    } else {
      const size_t at = rng() % model.size();
      q.erase(q.begin() + static_cast<std::ptrdiff_t>(at));
      model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
    }
    ASSERT_EQ(q.size(), model.size()) << "step " << step;
    ASSERT_EQ(q.empty(), model.empty());
    if (!model.empty()) {
      ASSERT_EQ(q.front(), model.front());
      ASSERT_EQ(q.back(), model.back());
    }
  }
  EXPECT_EQ(Contents(q), std::vector<uint64_t>(model.begin(), model.end()));
}

}  // namespace
}  // namespace zkspool
