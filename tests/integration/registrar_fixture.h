// What every Registrar test against a real server starts from: a standalone server, a scratch
// directory, Options() with short timings, and helpers that fail the test with the status.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "harness/zk_ensemble.h"
#include "support/temp_dir.h"
#include "zkspool/registrar.h"

namespace zkspool::testing {

class RegistrarFixture : public ::testing::Test {
 protected:
  void SetUp() override { zk_ = ZkEnsemble::Start(); }

  RegistrarOptions Options(const std::string& spool = "spool") {
    RegistrarOptions o;
    o.spool_dir = dir_.Sub(spool);
    o.hosts = zk_->ConnectString();
    o.session_timeout = std::chrono::milliseconds(4000);
    o.conflict_backoff_min = std::chrono::milliseconds(50);
    o.conflict_backoff_max = std::chrono::milliseconds(500);
    return o;
  }
  std::unique_ptr<Registrar> Open(RegistrarOptions o) {
    auto r = Registrar::Open(std::move(o));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  static uint64_t Must(Result<uint64_t> r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : 0;
  }
  static Outcome Wait(Registrar& r, uint64_t ticket,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
    auto outcome = r.WaitApplied(ticket, timeout);
    EXPECT_TRUE(outcome.ok()) << "ticket " << ticket << ": " << outcome.status().ToString();
    return outcome.ok() ? *outcome : Outcome::kFailed;
  }

  TempDir dir_;
  std::unique_ptr<ZkEnsemble> zk_;
};

}  // namespace zkspool::testing
