// The calls layer against a real server, where the C client's own behaviour matters.
#include "zk/zk_calls.h"

#include <gtest/gtest.h>

#include <atomic>

#include "harness/zk_ensemble.h"
#include "zk_probe.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;

struct CountingSink : CompletionSink {
  void Deliver(Completion) override { ++delivered; }
  std::atomic<int> delivered{0};
};

void IgnoreEvents(zhandle_t*, int, int, const char*, void*) {}

// zoo_amulti on an expired handle frees one of the caller's buffers (a bug of the 3.8.0 client,
// see zk_calls.cc); without the guard this test dies with "free(): invalid size".
TEST(ZkCallsTest, MultisOnAnExpiredHandleAreRefusedInsteadOfCorruptingTheHeap) {
  auto zk = testing::ZkEnsemble::Start();
  zhandle_t* zh = zookeeper_init(zk->ConnectString().c_str(), IgnoreEvents, 4000, nullptr, nullptr, 0);
  ASSERT_NE(zh, nullptr);
  ASSERT_TRUE(testing::Eventually([&] { return zoo_state(zh) == ZOO_CONNECTED_STATE; }, 30s));
  const clientid_t* id = zoo_client_id(zh);
  ASSERT_TRUE(testing::ZkEnsemble::ExpireSession(zk->ConnectString(), id->client_id,
                                                 std::string(id->passwd, sizeof id->passwd), 30s));
  ASSERT_TRUE(testing::Eventually([&] { return zoo_state(zh) == ZOO_EXPIRED_SESSION_STATE; }, 30s));

  std::vector<Intent> intents(3);
  std::vector<const Intent*> creates;
  for (size_t i = 0; i < intents.size(); ++i) {
    intents[i].path = "/expired/n" + std::to_string(i);
    intents[i].data = "d";
    creates.push_back(&intents[i]);
  }
  CountingSink sink;
  CompletionMailbox mailbox(&sink);
  EXPECT_EQ(IssueCreateBatch(zh, creates, 1, &mailbox), ZCONNECTIONLOSS);
  Step replace(StepKind::kReplace, "/expired/n0", 0, "");
  EXPECT_EQ(IssueStep(zh, replace, intents[0], 2, &mailbox), ZCONNECTIONLOSS);
  // Single calls are safe on such a handle: the client refuses them itself.
  Step create(StepKind::kCreate, "/expired/n0", -1, "");
  EXPECT_EQ(IssueStep(zh, create, intents[0], 3, &mailbox), ZINVALIDSTATE);
  zookeeper_close(zh);
  EXPECT_EQ(sink.delivered, 0) << "a refused submission has no completion";
  EXPECT_EQ(mailbox.unanswered(), 0u) << "nor any memory left behind";
}

}  // namespace
}  // namespace zkspool
