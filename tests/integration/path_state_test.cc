// Defects of the first reconciler that came from decisions about a path's state made in
// different places (issue 11, items 2, 3, 4, 7, 9 and 12), each against a real server. Each test
// uses only what the Registrar offered before, so that it builds on, and fails on, c1da827.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "registrar_fixture.h"
#include "reply_dropping_proxy.h"
#include "support/disk_full_fs.h"
#include "zk_probe.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using testing::DiskFullFs;
using testing::Eventually;
using testing::NeverWithin;
using testing::ZkEnsemble;
using testing::ZkProbe;

class PathStateTest : public testing::RegistrarFixture {
 protected:
  static bool IsRegistered(const Registrar& r, const std::string& path) {
    auto registered = r.Registered();
    return registered.ok() && std::any_of(registered->begin(), registered->end(),
                                          [&](const SpooledIntent& n) { return n.intent.path == path; });
  }
};

// Item 2. A create whose answer was lost may still have been applied; its TTL running out must
// not make us forget it without a read, or its node is a ghost nothing ever removes.
TEST_F(PathStateTest, AnUncertainPutIsReadBeforeItsTtlMayDropIt) {
  const std::string direct = zk_->ConnectString(0);
  testing::ReplyDroppingProxy proxy(std::stoi(direct.substr(direct.rfind(':') + 1)));
  RegistrarOptions o = Options();
  o.hosts = "127.0.0.1:" + std::to_string(proxy.port());
  auto registrar = Open(o);
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().session_state == SessionState::kConnected; }, 20s));
  proxy.DropRepliesOfOpenConnections();  // the server applies the create; its answer never comes
  uint64_t ticket = Must(registrar->Register("/doubt/x", "d", NodeMode::kEphemeral, 1000ms));
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return probe.Get("/doubt/x").has_value(); }, 10s));
  // The client gives up on the silent connection (2/3 of the session timeout, well past the
  // intent's TTL), reconnects through a fresh proxied connection and resumes its session.
  EXPECT_EQ(Wait(*registrar, ticket), Outcome::kApplied) << "it was applied in time, only its answer was lost";
  EXPECT_GE(registrar->Stats().retried, 1u);
  EXPECT_EQ(probe.Get("/doubt/x")->ephemeral_owner, registrar->Stats().session_id);
  EXPECT_TRUE(IsRegistered(*registrar, "/doubt/x")) << "a node of ours in ZooKeeper that the spool does not know";
}

// Item 3. While a Deregister's outcome cannot be recorded (disk full), the registered set still
// holds the old node; re-asserting the registered set (anti-entropy, a watch) must not bring the
// node back.
TEST_F(PathStateTest, AnOutcomeNotYetRecordedIsNotUndoneByReassertion) {
  auto fs = std::make_shared<DiskFullFs>();
  RegistrarOptions o = Options();
  o.spool.file_system = fs;
  o.anti_entropy_interval = 300ms;
  auto registrar = Open(o);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/res/x", "v"))), Outcome::kApplied);
  ASSERT_TRUE(Eventually(
      [&] { return zk_->FourLetterWord(0, "mntr").find("zk_watch_count\t0") == std::string::npos; }, 10s))
      << "no watch on our node yet";
  zk_->Freeze(0);
  uint64_t leave = Must(registrar->Deregister("/res/x"));
  fs->SetFull(true);  // the delete goes through, recording it does not
  zk_->Thaw(0);
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return !probe.Get("/res/x").has_value(); }, 20s));
  EXPECT_TRUE(NeverWithin([&] { return probe.Get("/res/x").has_value(); }, 2s))
      << "the deregistered node came back from the old registered set";
  fs->SetFull(false);
  EXPECT_EQ(Wait(*registrar, leave, 30s), Outcome::kApplied);
  EXPECT_FALSE(probe.Get("/res/x").has_value());
  EXPECT_FALSE(IsRegistered(*registrar, "/res/x"));
}

// Not an item of the issue: a fix of be74002. While an outcome waits to be recorded, a watch
// may report that someone deleted the node just made; the path is still in work then, so the
// event cannot be acted on at once, but it must not be dropped: once the record lands the node
// is read again and re-created. Anti-entropy is an hour away, so only that can bring it back.
TEST_F(PathStateTest, ANodeDeletedWhileItsOutcomeIsRecordedIsMadeAgainOnceItIs) {
  auto fs = std::make_shared<DiskFullFs>();
  RegistrarOptions o = Options();
  o.spool.file_system = fs;
  o.anti_entropy_interval = 1h;
  auto registrar = Open(o);
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().session_state == SessionState::kConnected; }, 20s));
  auto watches = [&] { return zk_->Mntr(0, "zk_watch_count").value_or(-1); };
  ASSERT_EQ(watches(), 0);
  zk_->Freeze(0);
  uint64_t ticket = Must(registrar->Register("/rec/x", "v"));
  fs->SetFull(true);  // the create goes through, recording it does not
  zk_->Thaw(0);
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return probe.Get("/rec/x").has_value() && watches() == 1; }, 20s))
      << "our node and its watch";
  ASSERT_EQ(registrar->WaitApplied(ticket, 10ms).status().code(), StatusCode::kTimedOut) << "recorded already";
  ASSERT_EQ(probe.Delete("/rec/x"), ZOK);
  ASSERT_TRUE(Eventually([&] { return watches() == 0; }, 10s)) << "the watch fired";
  // The event reaches the reconciler within milliseconds; this is the window in which it takes
  // it while the outcome is still unrecorded (if it came later, the path would be done and the
  // event acted on at once: the test could then not fail, but never fails wrongly).
  std::this_thread::sleep_for(1s);
  fs->SetFull(false);
  EXPECT_EQ(Wait(*registrar, ticket, 30s), Outcome::kApplied);
  ASSERT_TRUE(Eventually([&] { return probe.Get("/rec/x").has_value(); }, 10s)) << "the deleted node was not made again";
  EXPECT_EQ(probe.Get("/rec/x")->ephemeral_owner, registrar->Stats().session_id);
}

// Item 4. Under a chroot that does not exist, a top-level path has no parent we could create
// through the handle: the chroot is created (as Curator creates its namespace), and a chroot
// that cannot be created makes the path wait visibly, never spin.
TEST_F(PathStateTest, APathUnderAMissingChrootIsAppliedAndNothingSpins) {
  RegistrarOptions o = Options();
  o.hosts = zk_->ConnectString() + "/missing/chroot";
  auto registrar = Open(o);
  EXPECT_EQ(Wait(*registrar, Must(registrar->Register("/a", "x")), 20s), Outcome::kApplied);
  ZkProbe probe(zk_->ConnectString());
  EXPECT_TRUE(probe.Get("/missing/chroot/a").has_value());
  ASSERT_TRUE(registrar->Close().ok());

  // Only nested paths: their top-level parent's create is what finds the chroot missing (they
  // used to back off for good with "its parents could not be created").
  o = Options("nested-spool");
  o.hosts = zk_->ConnectString() + "/other/chroot";
  auto nested = Open(o);
  EXPECT_EQ(Wait(*nested, Must(nested->Register("/svc/web/a", "x")), 20s), Outcome::kApplied)
      << nested->Stats().last_error;
  EXPECT_TRUE(probe.Get("/other/chroot/svc/web/a").has_value());
  ASSERT_TRUE(nested->Close().ok());

  // A chroot under a node only someone else may write.
  ZkProbe owner(zk_->ConnectString());
  ASSERT_EQ(zoo_add_auth(owner.handle(), "digest", "bob:pw", 6, nullptr, nullptr), ZOK);
  ASSERT_EQ(zoo_create(owner.handle(), "/fenced", "", 0, &ZOO_CREATOR_ALL_ACL, 0, nullptr, 0), ZOK);
  o = Options("fenced-spool");
  o.hosts = zk_->ConnectString() + "/fenced/chroot";
  auto fenced = Open(o);
  uint64_t waiting = Must(fenced->Register("/b", "x"));
  ASSERT_TRUE(Eventually([&] { return !fenced->Stats().last_error.empty(); }, 20s));
  auto packets = [&] { return zk_->Mntr(0, "zk_packets_received").value_or(-1); };
  const int64_t before = packets();
  std::this_thread::sleep_for(3s);  // the window in which requests are counted, not a wait for a result
  const int64_t received = packets() - before;
  EXPECT_LT(received, 300) << "requests in 3 s for one path that cannot be applied";
  EXPECT_EQ(fenced->WaitApplied(waiting, 10ms).status().code(), StatusCode::kTimedOut);
  EXPECT_NE(fenced->Stats().last_error.find("/fenced/chroot"), std::string::npos) << fenced->Stats().last_error;
}

// Item 7. A child waiting for its parent (whose own intent cannot be applied) must not hold back
// the child's Deregister.
TEST_F(PathStateTest, ADeregisterOfAChildWaitingForItsParentResolvesAtOnce) {
  ZkProbe owner(zk_->ConnectString());
  ASSERT_EQ(zoo_add_auth(owner.handle(), "digest", "bob:pw", 6, nullptr, nullptr), ZOK);
  ASSERT_EQ(zoo_create(owner.handle(), "/locked", "", 0, &ZOO_CREATOR_ALL_ACL, 0, nullptr, 0), ZOK);
  auto registrar = Open(Options());
  Must(registrar->Register("/locked/parent", "p", NodeMode::kPersistent));  // ZNOAUTH: backs off
  Must(registrar->Register("/locked/parent/child", "c"));                   // waits for its parent
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().conflicts >= 1; }, 20s));
  std::this_thread::sleep_for(300ms);  // let the child reach its wait (any order must work)
  uint64_t leave = Must(registrar->Deregister("/locked/parent/child"));
  EXPECT_EQ(Wait(*registrar, leave, 1s), Outcome::kApplied);
}

// Item 9. A new session must be in the spool before anything is created on it: after a kill -9,
// an ephemeral node of a session the spool does not know looks like another client's.
TEST_F(PathStateTest, NothingIsCreatedOnASessionTheSpoolCouldNotSave) {
  auto fs = std::make_shared<DiskFullFs>();
  RegistrarOptions o = Options();
  o.spool.file_system = fs;
  auto registrar = Open(o);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/s9/e", "v"))), Outcome::kApplied);
  auto [session, password] = testing::ReadSavedSession(o.spool_dir);
  fs->SetFull(true);
  ASSERT_TRUE(ZkEnsemble::ExpireSession(zk_->ConnectString(), session, password, 30s));
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().sessions_started >= 2; }, 20s));
  ZkProbe probe(zk_->ConnectString());
  EXPECT_TRUE(NeverWithin([&] { return probe.Get("/s9/e").has_value(); }, 3s))
      << "an ephemeral was created on a session the spool does not know";
  fs->SetFull(false);
  ASSERT_TRUE(Eventually([&] { return probe.Get("/s9/e").has_value(); }, 30s));
  auto [saved, unused] = testing::ReadSavedSession(o.spool_dir);
  EXPECT_EQ(probe.Get("/s9/e")->ephemeral_owner, saved);
  EXPECT_NE(saved, session);
}

// Item 12. Update without a mode keeps the node's mode; options that would overflow or fail
// every Append are refused by Open.
TEST_F(PathStateTest, UpdateKeepsTheModeAndBadOptionsAreRefused) {
  auto registrar = Open(Options());
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/u/p", "v1", NodeMode::kPersistent))), Outcome::kApplied);
  EXPECT_EQ(Wait(*registrar, Must(registrar->Update("/u/p", "v2")), 10s), Outcome::kApplied);
  ZkProbe probe(zk_->ConnectString());
  EXPECT_EQ(probe.Get("/u/p")->data, "v2");
  EXPECT_EQ(probe.Get("/u/p")->ephemeral_owner, 0) << "still persistent";

  zk_->Freeze(0);  // both pending at once: the update takes the mode of the put before it
  Must(registrar->Register("/u/q", "q1", NodeMode::kPersistent));
  uint64_t update = Must(registrar->Update("/u/q", "q2"));
  zk_->Thaw(0);
  EXPECT_EQ(Wait(*registrar, update), Outcome::kApplied);
  EXPECT_EQ(probe.Get("/u/q")->data, "q2");
  EXPECT_EQ(probe.Get("/u/q")->ephemeral_owner, 0);

  RegistrarOptions o = Options("other");
  o.session_timeout = std::chrono::milliseconds(3'000'000'000LL);  // past an int of milliseconds
  EXPECT_EQ(Registrar::Open(o).status().ToString(),
            "invalid argument: session_timeout 3000000000 is out of range: 1 to 2147483647 ms");
  o = Options("other");
  o.default_ttl = kMaxSpoolTtl + 1ms;
  EXPECT_EQ(Registrar::Open(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Registrar::Open(o).status().message().find("default_ttl"), std::string::npos);
  o = Options("other");
  o.max_ops_per_second = 1e-300;  // the wait for its next token overflowed a time_point
  EXPECT_EQ(Registrar::Open(o).status().code(), StatusCode::kInvalidArgument);

  // Our persistent node made ephemeral: the registered set says the node is ours, so it is
  // replaced (it used to conflict forever, since a persistent node carries no owner). Someone
  // else's persistent node still conflicts.
  EXPECT_EQ(Wait(*registrar, Must(registrar->Register("/u/p", "v3", NodeMode::kEphemeral)), 10s), Outcome::kApplied);
  EXPECT_EQ(probe.Get("/u/p")->data, "v3");
  EXPECT_NE(probe.Get("/u/p")->ephemeral_owner, 0) << "ephemeral now";
  ASSERT_EQ(probe.Create("/u/theirs", "t"), ZOK);
  const uint64_t theirs = Must(registrar->Register("/u/theirs", "mine", NodeMode::kEphemeral));
  EXPECT_EQ(registrar->WaitApplied(theirs, 2s).status().code(), StatusCode::kTimedOut);
  EXPECT_EQ(probe.Get("/u/theirs")->data, "t");

  // A negative TTL is refused, not taken as "the default" (which may be "forever").
  EXPECT_EQ(registrar->Register("/u/neg", "x", NodeMode::kEphemeral, -5ms).status().code(),
            StatusCode::kInvalidArgument);
  BatchEntry entry;
  entry.intent.op = Op::kDelete;
  entry.intent.path = "/u/neg";
  entry.ttl = -1ms;
  EXPECT_EQ(registrar->Submit({entry}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Must(registrar->Deregister("/u/neg")), theirs + 1) << "nothing was spooled in between";
}

}  // namespace
}  // namespace zkspool
