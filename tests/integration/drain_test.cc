// How a backlog reaches a real server: fresh creates go in multis, missing parents are made once
// ahead of them, and whatever the window, everything ends applied.
#include <gtest/gtest.h>
#include <pthread.h>
#include <rocksdb/file_system.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registrar_fixture.h"
#include "support/append_hook_fs.h"
#include "zk_probe.h"
#include "zkspool/spool.h"

namespace zkspool {
namespace {

using testing::Eventually;
using testing::NeverWithin;
using testing::ZkProbe;
using namespace std::chrono_literals;

// Appends of the thread named `thread` (to any file) wait while the gate is shut: the spool
// writes of that one thread stall, as on a slow disk, while every other write goes through.
class ThreadGatedFs : public testing::AppendHookFs {
 public:
  explicit ThreadGatedFs(std::string thread)
      : AppendHookFs([](const std::string&) { return true; },
                     [this] {
                       PassGate();
                       return rocksdb::IOStatus::OK();
                     }),
        thread_(std::move(thread)) {}
  const char* Name() const override { return "ThreadGatedFs"; }
  void Shut() { SetOpen(false); }
  void Open() { SetOpen(true); }

 private:
  void SetOpen(bool open) {
    std::lock_guard lock(mu_);
    open_ = open;
    cv_.notify_all();
  }
  void PassGate() {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    if (thread_ != name) return;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 60s, [&] { return open_; });  // bounded: a failed test must still end
  }

  const std::string thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

Intent Put(const std::string& path, const std::string& data) {
  Intent intent;
  intent.path = path;
  intent.data = data;
  return intent;
}

class DrainTest : public testing::RegistrarFixture {
 protected:
  // A registrar whose recorder's spool writes stall until `gate` is opened (an open gate on
  // destruction lets the registrar close: its close waits for the recorder).
  struct RecordsStalled {
    std::shared_ptr<ThreadGatedFs> gate = std::make_shared<ThreadGatedFs>("zkspool-record");
    std::vector<uint64_t> tickets;
    std::unique_ptr<Registrar> registrar;
    ~RecordsStalled() { gate->Open(); }
  };
  // Watches the (single) server holds.
  int64_t Watches() { return zk_->Mntr(0, "zk_watch_count").value_or(-1); }
  // Spools `count` puts under `parent`, opens `out.registrar` with its records stalled and
  // returns once ZooKeeper holds every node (none of them recorded yet).
  void ApplyWithRecordsStalled(const std::string& parent, int count, RecordsStalled& out) {
    std::vector<Intent> puts;
    for (int i = 0; i < count; ++i) puts.push_back(Put(parent + "/n" + std::to_string(i), "w"));
    out.tickets = Spool("spool", puts);
    out.gate->Shut();
    RegistrarOptions options = Options();
    options.spool.file_system = out.gate;
    out.registrar = Open(options);
    ASSERT_NE(out.registrar, nullptr);
    ZkProbe probe(zk_->ConnectString());
    ASSERT_TRUE(Eventually([&] { return probe.Children(parent).size() == static_cast<size_t>(count); }, 30s))
        << "applied while the records stall";
  }

  // Appends `intents` straight to the spool, as a process that ran while ZooKeeper was away
  // would have left them, so that the registrar opened next finds one backlog.
  std::vector<uint64_t> Spool(const std::string& spool, const std::vector<Intent>& intents) {
    SpoolOptions options;
    options.durability = Durability::kBuffered;
    auto opened = Spool::Open(dir_.Sub(spool), options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    std::vector<uint64_t> tickets;
    if (!opened.ok()) return tickets;
    for (const Intent& intent : intents) tickets.push_back(Must((*opened)->Append(intent)));
    return tickets;
  }

  // Paths are applied in order each, not all in one order: every ticket is waited for.
  static void WaitAll(Registrar& registrar, const std::vector<uint64_t>& tickets) {
    for (uint64_t ticket : tickets) ASSERT_EQ(Wait(registrar, ticket), Outcome::kApplied) << ticket;
  }

  // The zxid of a new marker node: ZooKeeper gives every write request one, so the difference
  // between two markers (within one leader epoch) counts the writes made in between.
  static int64_t MarkZxid(ZkProbe& probe, const std::string& marker) {
    EXPECT_EQ(probe.Create(marker, ""), ZOK);
    Stat stat{};
    EXPECT_EQ(zoo_exists(probe.handle(), marker.c_str(), 0, &stat), ZOK);
    return stat.czxid;
  }
};

TEST_F(DrainTest, BacklogUnderMissingParentsTakesOneWritePerMultiNotPerRegistration) {
  constexpr int kCount = 2000;
  std::vector<Intent> intents;
  for (int i = 0; i < kCount; ++i) {
    intents.push_back(Put("/deep/a/b/c" + std::to_string(i % 4) + "/n" + std::to_string(i), "d" + std::to_string(i)));
  }
  const std::vector<uint64_t> tickets = Spool("spool", intents);

  ZkProbe probe(zk_->ConnectString());
  const int64_t before = MarkZxid(probe, "/marker-before");
  auto registrar = Open(Options());
  ASSERT_NO_FATAL_FAILURE(WaitAll(*registrar, tickets));
  const int64_t writes = MarkZxid(probe, "/marker-after") - before - 1;

  const int64_t session = registrar->Stats().session_id;
  size_t children = 0;
  for (int c = 0; c < 4; ++c) children += probe.Children("/deep/a/b/c" + std::to_string(c)).size();
  EXPECT_EQ(children, static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; i += 97) {
    auto node = probe.Get("/deep/a/b/c" + std::to_string(i % 4) + "/n" + std::to_string(i));
    ASSERT_TRUE(node.has_value()) << i;
    EXPECT_EQ(node->data, "d" + std::to_string(i));
    EXPECT_EQ(node->ephemeral_owner, session);
  }
  // Expected: the session, 7 parents and 4 multis of 500. Sent one at a time, or with every
  // path finding its parents on its own, it would be thousands.
  EXPECT_LE(writes, kCount / 50) << "writes to ZooKeeper for " << kCount << " registrations";
  EXPECT_GE(writes, 1 + 7 + kCount / 500);
}

// Our watched nodes are deleted when the session expires, and the watches tell us before the
// expiry does: each queues a re-assert that reads first. On the new session, which owns
// nothing, the scan re-creates them all in multis, without a read each.
TEST_F(DrainTest, ReCreationAfterExpiryCreatesInMultisWithoutReadingNodesWhoseWatchSawThemGo) {
  // The session is ended through another member, so ours keeps our connection open long enough
  // to deliver the deletions (a standalone server drops it as soon as the session moves).
  zk_ = testing::ZkEnsemble::Start({.members = 3});
  constexpr int kCount = 2000;
  RegistrarOptions options = Options();
  options.hosts = zk_->ConnectString(0);
  options.session_timeout = 10s;  // the deletions reach us well before the expiry does
  options.max_in_flight = 100;    // so that most re-asserts are still queued at the new session
  auto registrar = Open(options);
  std::vector<uint64_t> tickets;
  for (int i = 0; i < kCount; ++i) tickets.push_back(Must(registrar->Register("/re/n" + std::to_string(i), "d")));
  ASSERT_NO_FATAL_FAILURE(WaitAll(*registrar, tickets));
  const auto mntr = [&](const std::string& key) { return zk_->Mntr(0, key).value_or(-1); };
  // Every node watched (max_watches is 10,000), so every deletion reaches us as an event.
  ASSERT_TRUE(Eventually([&] { return mntr("zk_watch_count") >= kCount; }, 30s)) << zk_->FourLetterWord(0, "mntr");

  ZkProbe probe(zk_->ConnectString(1));  // not counted: member 0 serves only the registrar
  const int64_t before = MarkZxid(probe, "/marker-before");
  const int64_t packets_before = mntr("zk_packets_received");
  const uint64_t reasserted = registrar->Stats().reasserted;
  auto [id, password] = testing::ReadSavedSession(options.spool_dir);
  ASSERT_TRUE(testing::ZkEnsemble::ExpireSession(zk_->ConnectString(1), id, password, 30s));
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().reasserted >= reasserted + kCount; }, 60s))
      << registrar->Stats().reasserted - reasserted;
  const int64_t writes = MarkZxid(probe, "/marker-after") - before - 1;
  // The new session watches the nodes again; then it is quiet.
  ASSERT_TRUE(Eventually([&] { return mntr("zk_watch_count") >= kCount; }, 30s));
  const int64_t requests = mntr("zk_packets_received") - packets_before;

  const int64_t session = registrar->Stats().session_id;
  EXPECT_NE(session, id);
  EXPECT_EQ(probe.Children("/re").size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; i += 97) {
    auto node = probe.Get("/re/n" + std::to_string(i));
    ASSERT_TRUE(node.has_value()) << i;
    EXPECT_EQ(node->ephemeral_owner, session);
  }
  // Closing the old session, opening the new one, and multis of 50. One create per node
  // would be 2,000.
  EXPECT_LE(writes, kCount / 20) << "writes to ZooKeeper to re-create " << kCount << " nodes";
  // A watch per node, the multis, the reads the window let out before the expiry (at most
  // 100), pings. Reading each node first would add 2,000 reads and their syncs.
  EXPECT_LE(requests, kCount * 3 / 2) << "requests to the registrar's server to re-create " << kCount << " nodes";
}

TEST_F(DrainTest, ParentDeletedFromOutsideIsMadeAgain) {
  auto registrar = Open(Options());
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/gone/dir/first", "x"))), Outcome::kApplied);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Deregister("/gone/dir/first"))), Outcome::kApplied);
  // The registrar made these parents and remembers them; they vanish behind its back.
  ASSERT_EQ(probe.Delete("/gone/dir"), ZOK);
  ASSERT_EQ(probe.Delete("/gone"), ZOK);

  // From several threads, so that registrations arrive together and go in multis.
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> tickets(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        tickets[t].push_back(
            Must(registrar->Register("/gone/dir/n" + std::to_string(t * 100 + i), "v" + std::to_string(i))));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& of_thread : tickets) ASSERT_NO_FATAL_FAILURE(WaitAll(*registrar, of_thread));
  EXPECT_EQ(probe.Children("/gone/dir").size(), 400u);
  auto node = probe.Get("/gone/dir/n399");
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->data, "v99");
  EXPECT_EQ(registrar->Stats().failed, 0u);
}

// A node registered together with children under it is created as its own intent says, not as
// the empty persistent parent of its children: here an ephemeral node, under which ZooKeeper
// then refuses the children.
TEST_F(DrainTest, AParentWithAnIntentOfItsOwnIsCreatedAsThatIntentSays) {
  std::vector<Intent> intents{Put("/solo", "p")};
  for (int i = 0; i < 10; ++i) intents.push_back(Put("/solo/c" + std::to_string(i), "c"));
  const std::vector<uint64_t> tickets = Spool("spool", intents);

  auto registrar = Open(Options());
  EXPECT_EQ(Wait(*registrar, tickets[0], std::chrono::seconds(10)), Outcome::kApplied);
  for (size_t i = 1; i < tickets.size(); ++i) EXPECT_EQ(Wait(*registrar, tickets[i]), Outcome::kFailed) << i;
  ZkProbe probe(zk_->ConnectString());
  auto node = probe.Get("/solo");
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->ephemeral_owner, registrar->Stats().session_id);
  EXPECT_EQ(node->data, "p");
  EXPECT_TRUE(probe.Children("/solo").empty());
}

// Multis are half the window: 1-3 send creates one by one, 4 in multis of 2, 7 in multis of 3
// that wait for room. Puts drain from a backlog, then updates and deletes meet existing nodes.
TEST_F(DrainTest, EveryWindowSizeDrainsToTheExactState) {
  for (size_t window : {1u, 2u, 3u, 4u, 7u}) {
    SCOPED_TRACE("max_in_flight " + std::to_string(window));
    const std::string root = "/w" + std::to_string(window);
    auto path = [&](int i) { return root + "/d" + std::to_string(i % 3) + "/n" + std::to_string(i); };
    const std::string spool = "spool" + std::to_string(window);
    std::vector<Intent> puts;
    for (int i = 0; i < 100; ++i) puts.push_back(Put(path(i), "r"));
    const std::vector<uint64_t> spooled = Spool(spool, puts);

    RegistrarOptions options = Options(spool);
    options.max_in_flight = window;
    auto registrar = Open(options);
    ASSERT_NO_FATAL_FAILURE(WaitAll(*registrar, spooled));
    std::vector<uint64_t> changes;
    for (int i = 0; i < 10; ++i) changes.push_back(Must(registrar->Update(path(i), "u")));
    for (int i = 90; i < 100; ++i) changes.push_back(Must(registrar->Deregister(path(i))));
    ASSERT_NO_FATAL_FAILURE(WaitAll(*registrar, changes));

    ZkProbe probe(zk_->ConnectString());
    size_t children = 0;
    for (int d = 0; d < 3; ++d) children += probe.Children(root + "/d" + std::to_string(d)).size();
    EXPECT_EQ(children, 90u);
    for (int i = 0; i < 100; ++i) {
      auto node = probe.Get(path(i));
      if (i >= 90) {
        EXPECT_FALSE(node.has_value()) << i;
      } else {
        ASSERT_TRUE(node.has_value()) << i;
        EXPECT_EQ(node->data, i < 10 ? "u" : "r") << i;
      }
    }
    ASSERT_TRUE(registrar->Close().ok());
  }
}

// A watch per applied node is one more request each, so watches wait until nothing else does,
// the spool write that records the outcomes included: while the recorder's writes stall, no
// watch goes out, and once they land every node is watched. (Only files the spool creates are
// gated; with its options it never reopens or reuses one.)
TEST_F(DrainTest, WatchesWaitUntilTheOutcomesAreRecorded) {
  constexpr int kCount = 1000;
  RecordsStalled stalled;
  ASSERT_NO_FATAL_FAILURE(ApplyWithRecordsStalled("/watched", kCount, stalled));
  // The old order sent the watches within milliseconds of the last answer; now they are held
  // (for up to 2 s) while the write is under way.
  EXPECT_TRUE(NeverWithin([&] { return Watches() > 0; }, 1s)) << Watches() << " watches while recording";
  EXPECT_EQ(stalled.registrar->WaitApplied(stalled.tickets.back(), 10ms).status().code(), StatusCode::kTimedOut)
      << "recorded already";

  stalled.gate->Open();
  ASSERT_NO_FATAL_FAILURE(WaitAll(*stalled.registrar, stalled.tickets));
  EXPECT_TRUE(Eventually([&] { return Watches() == kCount; }, 10s)) << Watches() << " watches once recorded";
}

// The hold on watches is bounded: a recorder that stays busy (here: one write that does not
// land; in production, a steady flow of intents) lets every watch out once 2 s have passed, not
// one pass of 200 per hold (which took 10 s for these 1,000).
TEST_F(DrainTest, WatchesFlowOnceTheHoldRunsOutWhileTheRecorderStaysBusy) {
  constexpr int kCount = 1000;
  RecordsStalled stalled;
  ASSERT_NO_FATAL_FAILURE(ApplyWithRecordsStalled("/held", kCount, stalled));
  // 2 s of hold, and time to spare: the old code had 200 out after 2 s and 400 after 4 s.
  EXPECT_TRUE(Eventually([&] { return Watches() == kCount; }, 5s)) << Watches() << " watches after the hold";
  EXPECT_EQ(stalled.registrar->WaitApplied(stalled.tickets.back(), 10ms).status().code(), StatusCode::kTimedOut)
      << "the write was to be still stalled";

  stalled.gate->Open();
  ASSERT_NO_FATAL_FAILURE(WaitAll(*stalled.registrar, stalled.tickets));
}

// While ZooKeeper is away the backlog is loaded, up to the bound on active paths and no
// further, so that the first multis leave as soon as it is back; then all of it is applied.
TEST_F(DrainTest, TheBacklogIsLoadedWithinItsBoundWhileZooKeeperIsAway) {
  constexpr int kBacklog = 3000;
  constexpr uint64_t kActiveLimit = 1000;  // max(4 x max_in_flight, 1000)
  std::vector<Intent> puts;
  for (int i = 0; i < kBacklog; ++i) puts.push_back(Put("/away/n" + std::to_string(i), "r"));
  const std::vector<uint64_t> spooled = Spool("spool", puts);
  zk_->Kill(0);
  RegistrarOptions options = Options("spool");
  options.max_in_flight = 100;
  auto registrar = Open(options);
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().paths_tracked >= kActiveLimit; }, 10s))
      << "loaded " << registrar->Stats().paths_tracked << " while disconnected";
  const RegistrarStats away = registrar->Stats();
  EXPECT_NE(away.session_state, SessionState::kConnected);
  EXPECT_EQ(away.paths_tracked, kActiveLimit) << "loaded past the bound";
  EXPECT_EQ(away.spool.pending_count, static_cast<uint64_t>(kBacklog));

  zk_->Restart(0);
  ASSERT_NO_FATAL_FAILURE(WaitAll(*registrar, spooled));
  ZkProbe probe(zk_->ConnectString());
  EXPECT_EQ(probe.Children("/away").size(), static_cast<size_t>(kBacklog));
}

}  // namespace
}  // namespace zkspool
