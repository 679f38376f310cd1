// ReadyList (src/reconciler/ready_list.h): the reconciler's queue of paths to send, threaded
// through each PathWork. A path is in it at most once, in the order it was queued (or at the
// front when asked), and a PathWork destroyed while queued leaves the list without a trace:
// the reconciler erases queued paths (an expired intent, a re-assert a new session takes over).
#include "reconciler/ready_list.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "reconciler/path_work.h"

namespace zkspool {
namespace {

std::vector<std::string> Drain(ReadyList& list) {
  std::vector<std::string> order;
  while (PathWork* work = list.PopFront()) order.push_back(work->path());
  return order;
}

TEST(ReadyListTest, PopsInQueueOrderWithFrontPushesFirst) {
  PathWork a("/a"), b("/b"), c("/c");
  ReadyList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.PopFront(), nullptr);
  list.PushBack(a.ready_link);
  list.PushBack(b.ready_link);
  list.PushFront(c.ready_link);
  EXPECT_TRUE(a.ready_link.linked());
  EXPECT_EQ(Drain(list), (std::vector<std::string>{"/c", "/a", "/b"}));
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(a.ready_link.linked());
}

TEST(ReadyListTest, AQueuedPathKeepsItsPlaceWhenQueuedAgain) {
  PathWork a("/a"), b("/b");
  ReadyList list;
  list.PushBack(a.ready_link);
  list.PushBack(b.ready_link);
  list.PushBack(a.ready_link);
  list.PushFront(b.ready_link);
  EXPECT_EQ(Drain(list), (std::vector<std::string>{"/a", "/b"}));
}

TEST(ReadyListTest, APathDestroyedWhileQueuedLeavesTheList) {
  PathWork a("/a"), c("/c");
  auto b = std::make_unique<PathWork>("/b");
  ReadyList list;
  list.PushBack(a.ready_link);
  list.PushBack(b->ready_link);
  list.PushBack(c.ready_link);
  b.reset();
  EXPECT_EQ(Drain(list), (std::vector<std::string>{"/a", "/c"}));

  auto only = std::make_unique<PathWork>("/only");
  list.PushFront(only->ready_link);
  only.reset();
  EXPECT_TRUE(list.empty());
}

TEST(ReadyListTest, APoppedPathCanBeQueuedAgain) {
  PathWork a("/a"), b("/b");
  ReadyList list;
  list.PushBack(a.ready_link);
  list.PushBack(b.ready_link);
  ASSERT_EQ(list.PopFront(), &a);
  list.PushBack(a.ready_link);
  EXPECT_EQ(Drain(list), (std::vector<std::string>{"/b", "/a"}));
}

TEST(ReadyListTest, PathsOutliveAClearedOrDestroyedList) {
  PathWork a("/a"), b("/b");
  {
    ReadyList list;
    list.PushBack(a.ready_link);
    list.PushBack(b.ready_link);
    list.Clear();
    EXPECT_TRUE(list.empty());
    EXPECT_FALSE(a.ready_link.linked());
    list.PushBack(a.ready_link);
  }  // destroyed with `a` queued: `a` must not point into it afterwards
  EXPECT_FALSE(a.ready_link.linked());
  EXPECT_FALSE(b.ready_link.linked());
}

}  // namespace
}  // namespace zkspool
