// The Registrar against real ZooKeeper servers started by the harness.
#include "zkspool/registrar.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "harness/zk_ensemble.h"
#include "registrar_fixture.h"
#include "zk_probe.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::ZkEnsemble;
using testing::ZkProbe;

class RegistrarTest : public testing::RegistrarFixture {
 protected:
  // Once the process that owned the spool is gone within its session timeout, Open resumes that
  // session: its `count` nodes /svc/n<i> stay with it, and their watchers saw none deleted.
  void ExpectOpenResumes(int64_t session, ZkProbe& probe, int count) {
    auto registrar = Open(Options());
    ASSERT_TRUE(Eventually([&] { return registrar->Stats().session_state == SessionState::kConnected; }, 20s));
    EXPECT_EQ(registrar->Stats().session_id, session) << "the saved session was not resumed";
    EXPECT_EQ(registrar->Stats().sessions_started, 0u);
    EXPECT_EQ(Wait(*registrar, Must(registrar->Register("/svc/after", "x"))), Outcome::kApplied);
    for (int i = 0; i < count; ++i) {
      auto node = probe.Get("/svc/n" + std::to_string(i));
      ASSERT_TRUE(node.has_value());
      EXPECT_EQ(node->ephemeral_owner, session);
    }
    EXPECT_EQ(probe.DeletedEvents(), 0) << "watchers saw the registration flap";
  }
};

TEST_F(RegistrarTest, RegisterUpdateDeregisterEndInTheExactState) {
  auto registrar = Open(Options());
  ZkProbe probe(zk_->ConnectString());
  uint64_t a = Must(registrar->Register("/svc/web/a", "v1"));
  uint64_t p = Must(registrar->Register("/svc/web/p", "persist", NodeMode::kPersistent));
  EXPECT_EQ(Wait(*registrar, a), Outcome::kApplied);
  EXPECT_EQ(Wait(*registrar, p), Outcome::kApplied);
  auto node = probe.Get("/svc/web/a");
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->data, "v1");
  EXPECT_EQ(node->ephemeral_owner, registrar->Stats().session_id);
  EXPECT_EQ(probe.Get("/svc/web/p")->ephemeral_owner, 0);

  uint64_t u = Must(registrar->Update("/svc/web/a", "v2"));
  EXPECT_EQ(Wait(*registrar, u), Outcome::kApplied);
  EXPECT_EQ(probe.Get("/svc/web/a")->data, "v2");

  // Register, deregister, register again: registered, with the last data (Nacos #9816).
  Must(registrar->Deregister("/svc/web/a"));
  uint64_t again = Must(registrar->Register("/svc/web/a", "v3"));
  uint64_t gone = Must(registrar->Deregister("/svc/web/p"));
  EXPECT_EQ(Wait(*registrar, again), Outcome::kApplied);
  EXPECT_EQ(Wait(*registrar, gone), Outcome::kApplied);
  EXPECT_EQ(probe.Get("/svc/web/a")->data, "v3");
  EXPECT_FALSE(probe.Get("/svc/web/p").has_value());

  auto registered = registrar->Registered();
  ASSERT_TRUE(registered.ok());
  ASSERT_EQ(registered->size(), 1u);
  EXPECT_EQ((*registered)[0].intent.path, "/svc/web/a");
  RegistrarStats stats = registrar->Stats();
  EXPECT_EQ(stats.spool.pending_count, 0u);
  EXPECT_EQ(stats.session_state, SessionState::kConnected);
  EXPECT_GE(stats.applied, 6u);
}

TEST_F(RegistrarTest, RegistrationsWhileZooKeeperIsDownAreAppliedWhenItReturns) {
  zk_->Kill(0);
  auto registrar = Open(Options());
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 200; ++i) tickets.push_back(Must(registrar->Register("/down/n" + std::to_string(i), "d")));
  tickets.push_back(Must(registrar->Deregister("/down/n7")));
  EXPECT_EQ(registrar->Stats().spool.pending_count, 201u);
  EXPECT_NE(registrar->Stats().session_state, SessionState::kConnected);
  // Desired() already shows the end state; Registered() only what was applied.
  auto desired = registrar->Desired();
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  EXPECT_EQ(desired->size(), 199u);
  EXPECT_TRUE(std::none_of(desired->begin(), desired->end(),
                           [](const SpooledIntent& d) { return d.intent.path == "/down/n7"; }));
  EXPECT_TRUE(registrar->Registered()->empty());
  // An outage longer than the session timeout is reported, in the log and in Stats.
  EXPECT_TRUE(Eventually([&] { return registrar->Stats().last_error.find("cannot connect to ZooKeeper at") !=
                                      std::string::npos; },
                         10s))
      << registrar->Stats().last_error;
  zk_->Restart(0);
  for (uint64_t t : tickets) ASSERT_EQ(Wait(*registrar, t), Outcome::kApplied);
  ZkProbe probe(zk_->ConnectString());
  EXPECT_EQ(probe.Children("/down").size(), 199u);
  auto registered = registrar->Registered();
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(*registered, *registrar->Desired());
}

TEST_F(RegistrarTest, SessionExpiryRecreatesEveryRegisteredEphemeral) {
  auto registrar = Open(Options());
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) last = Must(registrar->Register("/exp/n" + std::to_string(i), "x" + std::to_string(i)));
  ASSERT_EQ(Wait(*registrar, last), Outcome::kApplied);
  const int64_t old_session = registrar->Stats().session_id;
  auto [id, password] = testing::ReadSavedSession(dir_.Sub("spool"));
  ASSERT_EQ(id, old_session);
  ASSERT_TRUE(ZkEnsemble::ExpireSession(zk_->ConnectString(), id, password, 30s));

  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually(
      [&] {
        RegistrarStats s = registrar->Stats();
        if (s.session_id == old_session || s.session_state != SessionState::kConnected) return false;
        for (int i = 0; i < 50; ++i) {
          auto node = probe.Get("/exp/n" + std::to_string(i));
          if (!node || node->ephemeral_owner != s.session_id || node->data != "x" + std::to_string(i)) return false;
        }
        return true;
      },
      30s))
      << "not every ephemeral was re-created under the new session";
  EXPECT_GE(registrar->Stats().sessions_started, 2u);
}

TEST_F(RegistrarTest, ForeignNodeIsNeverTouchedAndTheConflictIsVisible) {
  ZkProbe foreign(zk_->ConnectString());
  ASSERT_EQ(foreign.Create("/conf", ""), ZOK);
  ASSERT_EQ(foreign.Create("/conf/x", "theirs", ZOO_EPHEMERAL), ZOK);
  std::atomic<int> conflict_events{0};
  RegistrarOptions o = Options();
  o.on_event = [&](const RegistrarEvent& e) {
    if (e.kind == RegistrarEvent::Kind::kConflict) ++conflict_events;
  };
  auto registrar = Open(o);
  uint64_t t = Must(registrar->Register("/conf/x", "ours"));
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().conflicts >= 3; }, 20s));
  RegistrarStats stats = registrar->Stats();
  ASSERT_EQ(stats.conflicting_paths.size(), 1u);
  EXPECT_EQ(stats.conflicting_paths[0], "/conf/x");
  EXPECT_NE(stats.last_error.find("which is not ours"), std::string::npos) << stats.last_error;
  EXPECT_GE(conflict_events.load(), 1);
  auto node = foreign.Get("/conf/x");
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(node->data, "theirs");
  EXPECT_EQ(node->ephemeral_owner, foreign.session_id());
  EXPECT_EQ(registrar->WaitApplied(t, 10ms).status().code(), StatusCode::kTimedOut);

  ASSERT_EQ(foreign.Delete("/conf/x"), ZOK);  // the owner goes away: the retry succeeds
  EXPECT_EQ(Wait(*registrar, t), Outcome::kApplied);
  EXPECT_EQ(foreign.Get("/conf/x")->data, "ours");
  EXPECT_TRUE(registrar->Stats().conflicting_paths.empty());
}

TEST_F(RegistrarTest, IntentsWhoseTtlRunsOutWhileZooKeeperIsDownAreNeverApplied) {
  zk_->Kill(0);
  auto registrar = Open(Options());
  uint64_t short_lived = Must(registrar->Register("/ttl/short", "x", NodeMode::kEphemeral, 300ms));
  uint64_t durable = Must(registrar->Register("/ttl/long", "y"));
  EXPECT_EQ(Wait(*registrar, short_lived, 10s), Outcome::kExpired);
  zk_->Restart(0);
  EXPECT_EQ(Wait(*registrar, durable), Outcome::kApplied);
  ZkProbe probe(zk_->ConnectString());
  EXPECT_FALSE(probe.Get("/ttl/short").has_value());
  EXPECT_TRUE(probe.Get("/ttl/long").has_value());
  EXPECT_EQ(registrar->Stats().expired, 1u);
  EXPECT_EQ(registrar->Stats().spool.expired_count, 1u);
}

TEST_F(RegistrarTest, PersistentTtlAndContainerNodesAreCreatedWithTheirMode) {
  auto registrar = Open(Options());
  uint64_t ttl = Must(registrar->RegisterWithNodeTtl("/modes/ttl", "t", 60s));
  uint64_t container = Must(registrar->Register("/modes/box", "c", NodeMode::kContainer));
  EXPECT_EQ(Wait(*registrar, ttl), Outcome::kApplied);
  EXPECT_EQ(Wait(*registrar, container), Outcome::kApplied);
  ZkProbe probe(zk_->ConnectString());
  EXPECT_EQ(probe.Get("/modes/ttl")->data, "t");
  EXPECT_EQ(probe.Get("/modes/ttl")->ephemeral_owner, 0);
  EXPECT_EQ(probe.Get("/modes/box")->data, "c");
  // An update of a TTL node is a set, not a re-create (no multi can carry a TTL create).
  uint64_t update = Must(registrar->RegisterWithNodeTtl("/modes/ttl", "t2", 60s));
  EXPECT_EQ(Wait(*registrar, update), Outcome::kApplied);
  EXPECT_EQ(probe.Get("/modes/ttl")->data, "t2");
}

TEST_F(RegistrarTest, APermanentErrorParksTheIntentAndTheRestGoOn) {
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(probe.Create("/perm", ""), ZOK);
  ASSERT_EQ(probe.Create("/perm/eph", "", ZOO_EPHEMERAL), ZOK);  // ephemeral nodes cannot have children
  auto registrar = Open(Options());
  uint64_t bad = Must(registrar->Register("/perm/eph/child", "x"));
  uint64_t good = Must(registrar->Register("/perm/ok", "y"));
  EXPECT_EQ(Wait(*registrar, bad), Outcome::kFailed);
  EXPECT_EQ(Wait(*registrar, good), Outcome::kApplied);
  RegistrarStats stats = registrar->Stats();
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(stats.spool.failed_count, 1u);
  EXPECT_NE(stats.last_error.find("a parent is an ephemeral node"), std::string::npos) << stats.last_error;
}

// Failed intents: a later applied intent of the path makes them moot at once; RetryFailed
// applies what was fixed; ClearFailed drops the rest for good.
TEST_F(RegistrarTest, FailedIntentsAreRetriedClearedOrDroppedWhenALaterIntentIsApplied) {
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(probe.Create("/perm", ""), ZOK);
  ASSERT_EQ(probe.Create("/perm/eph", "", ZOO_EPHEMERAL), ZOK);  // ephemeral nodes cannot have children
  auto registrar = Open(Options());
  const uint64_t moot = Must(registrar->Register("/perm/eph/moot", "x"));
  const uint64_t fixed = Must(registrar->Register("/perm/eph/fixed", "x"));
  const uint64_t unwanted = Must(registrar->Register("/perm/eph/unwanted", "x"));
  for (uint64_t seq : {moot, fixed, unwanted}) EXPECT_EQ(Wait(*registrar, seq), Outcome::kFailed);
  EXPECT_EQ(registrar->Stats().spool.failed_count, 3u);

  // Deleting a node that is not there is applied at once, and supersedes the failed put.
  EXPECT_EQ(Wait(*registrar, Must(registrar->Deregister("/perm/eph/moot"))), Outcome::kApplied);
  // (right after the outcome is told: the reconciler drops them as it reports the applied intent)
  EXPECT_TRUE(Eventually([&] { return registrar->Stats().spool.failed_count == 2; }, 10s));

  ASSERT_EQ(probe.Delete("/perm/eph"), ZOK);
  auto report = registrar->RetryFailed();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->retried.size(), 2u);
  EXPECT_TRUE(report->superseded.empty());
  for (const auto& r : report->retried) EXPECT_EQ(Wait(*registrar, r.new_seq), Outcome::kApplied) << r.path;
  EXPECT_TRUE(probe.Get("/perm/eph/fixed").has_value());
  EXPECT_FALSE(probe.Get("/perm/eph/moot").has_value()) << "a superseded failed intent was revived";
  EXPECT_EQ(registrar->Stats().spool.failed_count, 0u);

  // Fail two again (an ephemeral parent of our own session this time), then clear them.
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/perm/own", "", NodeMode::kEphemeral))), Outcome::kApplied);
  EXPECT_EQ(Wait(*registrar, Must(registrar->Register("/perm/own/a", "x"))), Outcome::kFailed);
  EXPECT_EQ(Wait(*registrar, Must(registrar->Register("/perm/own/b", "x"))), Outcome::kFailed);
  auto cleared = registrar->ClearFailed();
  ASSERT_TRUE(cleared.ok()) << cleared.status().ToString();
  EXPECT_EQ(*cleared, 2u);
  EXPECT_EQ(registrar->Stats().spool.failed_count, 0u);
  auto none = registrar->ReadFailed(0, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(RegistrarTest, NodesDeletedOrChangedFromOutsideAreRestored) {
  auto registrar = Open(Options());
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/outside/a", "mine"))), Outcome::kApplied);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/outside/b", "mine"))), Outcome::kApplied);
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(probe.Delete("/outside/a"), ZOK);
  ASSERT_EQ(zoo_set(probe.handle(), "/outside/b", "tampered", 8, -1), ZOK);
  EXPECT_TRUE(Eventually(
      [&] {
        auto a = probe.Get("/outside/a");
        auto b = probe.Get("/outside/b");
        return a && a->data == "mine" && b && b->data == "mine";
      },
      20s))
      << "the watch on our nodes did not bring them back";
  // The reconciler counts a re-assertion when it handles the call's completion, which can come
  // just after a reader already sees the node back.
  EXPECT_TRUE(Eventually([&] { return registrar->Stats().reasserted >= 2; }, 5s))
      << "reasserted " << registrar->Stats().reasserted;
}

TEST_F(RegistrarTest, HostsWithAChrootPutEverythingUnderIt) {
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(probe.Create("/tenant", ""), ZOK);
  RegistrarOptions o = Options();
  o.hosts = zk_->ConnectString() + "/tenant";
  auto registrar = Open(o);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/svc/a", "x"))), Outcome::kApplied);
  EXPECT_TRUE(probe.Get("/tenant/svc/a").has_value());
  EXPECT_FALSE(probe.Get("/svc/a").has_value());
}

TEST_F(RegistrarTest, BadOptionsAreRefusedWithAClearError) {
  RegistrarOptions o = Options();
  o.hosts = "";
  EXPECT_EQ(Registrar::Open(o).status().ToString(), "invalid argument: the ZooKeeper connect string is empty");
  o = Options();
  o.digest_auth = "no-colon";
  EXPECT_EQ(Registrar::Open(o).status().ToString(), "invalid argument: digest_auth must be \"user:password\"");
  o = Options();
  o.acl = AclChoice::kCreatorAll;
  EXPECT_EQ(Registrar::Open(o).status().ToString(),
            "invalid argument: acl creator-all needs digest_auth: ZooKeeper refuses creator ACLs for anonymous sessions");
}

TEST_F(RegistrarTest, CloseEndsTheSessionAndOpenReassertsTheDesiredState) {
  {
    auto registrar = Open(Options());
    ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/close/a", "1"))), Outcome::kApplied);
    ASSERT_TRUE(registrar->Close().ok());
    EXPECT_EQ(registrar->Register("/close/b", "1").status().message(), "the registrar is closed");
  }
  ZkProbe probe(zk_->ConnectString());
  EXPECT_FALSE(probe.Get("/close/a").has_value());  // ephemeral nodes went with the session
  auto registrar = Open(Options());
  ASSERT_TRUE(Eventually([&] { return probe.Get("/close/a").has_value(); }, 20s));
  EXPECT_EQ(probe.Get("/close/a")->ephemeral_owner, registrar->Stats().session_id);
}

// Close returns once no call still uses the spool: calls that took it before Close finish first
// (an Append in progress completes and is durable), so the directory is free for a new Open at
// once, even while other threads keep calling. Desired over a large backlog is the long call
// here (a slow disk's Append would be another).
TEST_F(RegistrarTest, CloseWaitsForCallsInProgressSoTheSpoolOpensAgainAtOnce) {
  {
    SpoolOptions so;
    so.durability = Durability::kBuffered;
    auto spool = Spool::Open(Options().spool_dir, so);
    ASSERT_TRUE(spool.ok());
    std::vector<BatchEntry> backlog(50'000);
    for (size_t i = 0; i < backlog.size(); ++i) {
      backlog[i].intent.path = "/backlog/n" + std::to_string(i);
      backlog[i].intent.data = "x";
    }
    ASSERT_TRUE((*spool)->AppendBatch(std::move(backlog)).ok());
  }
  std::vector<std::string> acknowledged;
  for (int round = 0; round < 5; ++round) {
    auto registrar = Open(Options());
    ASSERT_NE(registrar, nullptr);
    std::atomic<bool> stop{false};
    std::atomic<int> long_calls{0};
    std::vector<std::string> mine;
    std::thread reader([&] {
      while (!stop) {
        ++long_calls;
        Result<std::vector<SpooledIntent>> desired = registrar->Desired();
        if (!desired.ok()) {
          EXPECT_EQ(desired.status().message(), "the registrar is closed");
        }
      }
    });
    std::thread writer([&] {
      for (int i = 0; !stop; ++i) {
        const std::string path = "/race/r" + std::to_string(round) + "-" + std::to_string(i);
        Result<uint64_t> ticket = registrar->Register(path, "x");
        if (ticket.ok()) {
          mine.push_back(path);
        } else {
          EXPECT_EQ(ticket.status().message(), "the registrar is closed");
        }
      }
    });
    // Joined on every way out, a failed assertion's too: a joinable thread's destructor ends the
    // process.
    struct JoinAtExit {
      std::function<void()> join;
      ~JoinAtExit() { join(); }
    } threads{[&] {
      stop = true;
      for (std::thread* t : {&reader, &writer}) {
        if (t->joinable()) t->join();
      }
    }};
    ASSERT_TRUE(Eventually([&] { return long_calls >= 2; }, 20s));  // one Desired done, the next under way
    ASSERT_TRUE(registrar->Close().ok());
    Result<std::unique_ptr<Registrar>> again = Registrar::Open(Options());
    threads.join();
    ASSERT_TRUE(again.ok()) << "round " << round << ": " << again.status().ToString();
    acknowledged.insert(acknowledged.end(), mine.begin(), mine.end());
    Result<std::vector<SpooledIntent>> desired = (*again)->Desired();
    ASSERT_TRUE(desired.ok());
    std::set<std::string> there;
    for (const SpooledIntent& d : *desired) there.insert(d.intent.path);
    for (const std::string& path : acknowledged) EXPECT_TRUE(there.count(path)) << path << " was acknowledged";
    ASSERT_TRUE((*again)->Close().ok());
  }
  EXPECT_FALSE(acknowledged.empty());
}

// A clean end forgets the session: the next Open starts a new one at once, never asks for the
// closed one back (which the server answers with "session expired"), and still knows the old one
// as ours.
TEST_F(RegistrarTest, CloseEndingTheSessionForgetsItSoTheNextOpenSeesNoExpiry) {
  int64_t ended = 0;
  {
    auto registrar = Open(Options());
    ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/forget/a", "1"))), Outcome::kApplied);
    ended = registrar->Stats().session_id;
    ASSERT_TRUE(registrar->Close(Registrar::CloseMode::kEndSession).ok());
  }
  {
    auto spool = Spool::Open(Options().spool_dir);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    auto saved = (*spool)->LoadSession();
    ASSERT_TRUE(saved.ok());
    EXPECT_FALSE(saved->has_value()) << "the ended session is still saved";
    auto owned = (*spool)->OwnedSessions();
    ASSERT_TRUE(owned.ok());
    EXPECT_NE(std::find(owned->begin(), owned->end(), ended), owned->end());
  }
  std::mutex mu;
  std::vector<SessionState> states;
  RegistrarOptions options = Options();
  options.on_event = [&](const RegistrarEvent& e) {
    std::lock_guard lock(mu);
    if (e.kind == RegistrarEvent::Kind::kSession) states.push_back(e.session_state);
  };
  auto registrar = Open(options);
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return probe.Get("/forget/a").has_value(); }, 20s));
  EXPECT_EQ(registrar->Stats().sessions_started, 1u);
  registrar->Close().ok();
  std::lock_guard lock(mu);
  EXPECT_EQ(std::count(states.begin(), states.end(), SessionState::kExpired), 0);
}

// A child process that owns the spool and is killed with SIGKILL, or closes keeping its session.
class RegistrarChild {
 public:
  RegistrarChild(const std::string& spool, const std::string& hosts, int count, int session_timeout_ms) {
    int fds[2], in[2];
    EXPECT_EQ(::pipe(fds), 0);
    EXPECT_EQ(::pipe(in), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(in[0], STDIN_FILENO);
      ::close(fds[0]);
      ::close(in[1]);
      std::string n = std::to_string(count), t = std::to_string(session_timeout_ms);
      ::execl(ZKSPOOL_REGISTRAR_CHILD, ZKSPOOL_REGISTRAR_CHILD, spool.c_str(), hosts.c_str(), n.c_str(), t.c_str(),
              nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    ::close(in[0]);
    out_ = ::fdopen(fds[0], "r");
    in_ = in[1];
  }
  ~RegistrarChild() {
    Kill();
    if (out_) std::fclose(out_);
    if (in_ >= 0) ::close(in_);
  }
  // Asks the child to Close(kKeepSession) and exit; returns its exit status (-1 if it did not
  // exit normally).
  int CloseKeepingSession() {
    const std::string line = "close-keep-session\n";
    EXPECT_EQ(::write(in_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Waits for "applied <session>"; returns the session id, or 0 if the child died first.
  int64_t WaitApplied() {
    long long session = 0;
    if (std::fscanf(out_, "applied %lld", &session) != 1) return 0;
    return session;
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int in_ = -1;
};

TEST_F(RegistrarTest, KillNineAndRestartWithinTheSessionTimeoutResumesTheSession) {
  RegistrarChild child(dir_.Sub("spool"), zk_->ConnectString(), 20, 20000);
  const int64_t session = child.WaitApplied();
  ASSERT_NE(session, 0);
  ZkProbe probe(zk_->ConnectString());
  for (int i = 0; i < 20; ++i) probe.Watch("/svc/n" + std::to_string(i));
  child.Kill();
  ExpectOpenResumes(session, probe, 20);
}

// A planned restart: Close(kKeepSession), exit, Open again within the session timeout.
TEST_F(RegistrarTest, CloseKeepingTheSessionAndReopeningResumesItWithoutAFlap) {
  RegistrarChild child(dir_.Sub("spool"), zk_->ConnectString(), 20, 20000);
  const int64_t session = child.WaitApplied();
  ASSERT_NE(session, 0);
  ZkProbe probe(zk_->ConnectString());
  for (int i = 0; i < 20; ++i) probe.Watch("/svc/n" + std::to_string(i));
  ASSERT_EQ(child.CloseKeepingSession(), 0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(probe.Get("/svc/n" + std::to_string(i)).has_value()) << i;
  ExpectOpenResumes(session, probe, 20);
}

TEST_F(RegistrarTest, RestartAfterTheSessionTimeoutRecreatesTheNodes) {
  RegistrarChild child(dir_.Sub("spool"), zk_->ConnectString(), 10, 1000);
  const int64_t session = child.WaitApplied();
  ASSERT_NE(session, 0);
  child.Kill();
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return !probe.Get("/svc/n0").has_value(); }, 20s)) << "the session never expired";

  auto registrar = Open(Options());
  ASSERT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 10; ++i) {
          auto node = probe.Get("/svc/n" + std::to_string(i));
          if (!node || node->data != "v" + std::to_string(i)) return false;
        }
        return true;
      },
      20s));
  EXPECT_NE(registrar->Stats().session_id, session);
  EXPECT_EQ(probe.Get("/svc/n3")->ephemeral_owner, registrar->Stats().session_id);
}

TEST_F(RegistrarTest, StaleEphemeralOfOurPreviousSessionIsReplaced) {
  RegistrarChild child(dir_.Sub("spool"), zk_->ConnectString(), 5, 30000);
  const int64_t old_session = child.WaitApplied();
  ASSERT_NE(old_session, 0);
  child.Kill();  // its session lives on for 30 s, and with it the ephemeral nodes
  {
    // Make the restart unable to resume, as when the saved session was lost or too old.
    auto spool = Spool::Open(dir_.Sub("spool"));
    ASSERT_TRUE(spool.ok());
    ASSERT_TRUE((*spool)->SaveSession({0x123456789, std::string(16, 'x')}).ok());
  }
  ZkProbe probe(zk_->ConnectString());
  ASSERT_EQ(probe.Get("/svc/n0")->ephemeral_owner, old_session);
  auto registrar = Open(Options());
  ASSERT_TRUE(Eventually(
      [&] {
        int64_t now = registrar->Stats().session_id;
        if (now == old_session || registrar->Stats().session_state != SessionState::kConnected) return false;
        for (int i = 0; i < 5; ++i) {
          auto node = probe.Get("/svc/n" + std::to_string(i));
          if (!node || node->ephemeral_owner != now) return false;
        }
        return true;
      },
      20s))
      << "stale ephemerals of our old session were not replaced";
  EXPECT_EQ(registrar->Stats().conflicts, 0u);
}

}  // namespace
}  // namespace zkspool
