// The Registrar on a 3-node ensemble while members die: leader SIGKILL in the middle of a burst,
// and quorum loss while registering, updating and deregistering.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <thread>

#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "zk_probe.h"
#include "zkspool/registrar.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::ZkEnsemble;
using testing::ZkProbe;

class EnsembleFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::EnsembleOptions o;
    o.members = 3;
    zk_ = ZkEnsemble::Start(o);
  }
  std::unique_ptr<Registrar> Open() {
    RegistrarOptions o;
    o.spool_dir = dir_.Sub("spool");
    o.hosts = zk_->ConnectString();
    o.session_timeout = 10s;
    auto r = Registrar::Open(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  // Every child of `parent` with its data, as the leader sees it.
  std::map<std::string, std::string> Snapshot(ZkProbe& probe, const std::string& parent) {
    std::map<std::string, std::string> out;
    for (const std::string& child : probe.Children(parent)) {
      auto node = probe.Get(parent + "/" + child);
      if (node) out[parent + "/" + child] = node->data;
    }
    return out;
  }

  ::zkspool::testing::TempDir dir_;
  std::unique_ptr<ZkEnsemble> zk_;
};

TEST_F(EnsembleFaultsTest, LeaderKilledDuringABurstOf2000Registrations) {
  auto registrar = Open();
  constexpr int kCount = 2000;
  const int leader = zk_->Leader();
  ASSERT_GE(leader, 0);
  std::vector<uint64_t> tickets;
  for (int i = 0; i < kCount; ++i) {
    if (i == kCount / 4) zk_->Kill(leader);  // mid-burst: every call below must still succeed
    auto seq = registrar->Register("/burst/n" + std::to_string(i), "data-" + std::to_string(i));
    ASSERT_TRUE(seq.ok()) << "register " << i << ": " << seq.status().ToString();
    tickets.push_back(*seq);
  }
  for (uint64_t t : tickets) {
    auto outcome = registrar->WaitApplied(t, 60s);
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    ASSERT_EQ(*outcome, Outcome::kApplied);
  }
  const int new_leader = zk_->Leader();
  EXPECT_NE(new_leader, leader);
  ZkProbe probe(zk_->ConnectString());
  std::map<std::string, std::string> want;
  for (int i = 0; i < kCount; ++i) want["/burst/n" + std::to_string(i)] = "data-" + std::to_string(i);
  EXPECT_EQ(Snapshot(probe, "/burst"), want);  // every registration, the right data, nothing extra
  zk_->Restart(leader);
}

TEST_F(EnsembleFaultsTest, QuorumLossWhileRegisteringUpdatingAndDeregistering) {
  auto registrar = Open();
  std::map<std::string, std::optional<std::string>> model;  // path -> data, or deleted
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto random_op = [&](int n) {
    std::string path = "/ql/n" + std::to_string(rng() % 60);
    if (rng() % 4 == 0) {
      ASSERT_TRUE(registrar->Deregister(path).ok());
      model[path] = std::nullopt;
    } else {
      std::string data = "v" + std::to_string(n);
      ASSERT_TRUE(registrar->Register(path, data).ok());
      model[path] = data;
    }
  };
  for (int n = 0; n < 100; ++n) random_op(n);

  const int leader = zk_->Leader();
  const int follower = (leader + 1) % 3;
  zk_->Kill(leader);
  zk_->Kill(follower);
  const auto outage_end = std::chrono::steady_clock::now() + 20s;
  int n = 100;
  while (std::chrono::steady_clock::now() < outage_end) {
    random_op(n++);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(registrar->Stats().session_state, SessionState::kConnected);
  zk_->Restart(leader);
  zk_->Restart(follower);
  ASSERT_TRUE(zk_->WaitForQuorum(60s));

  std::map<std::string, std::string> want;
  for (const auto& [path, data] : model) {
    if (data) want[path] = *data;
  }
  ZkProbe probe(zk_->ConnectString());
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().spool.pending_count == 0; }, 60s))
      << "pending " << registrar->Stats().spool.pending_count << ", session "
      << SessionStateName(registrar->Stats().session_state) << ", retried " << registrar->Stats().retried
      << ", conflicts " << registrar->Stats().conflicts << ", last error: " << registrar->Stats().last_error;
  EXPECT_EQ(Snapshot(probe, "/ql"), want) << n << " operations, " << n - 100 << " during the outage";
}

}  // namespace
}  // namespace zkspool
