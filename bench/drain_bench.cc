// Scenario runner: how fast a backlog of registrations reaches a 3-node loopback ensemble, and
// what the caller sees while the leader dies. Every figure is measured in this one run, against
// baselines measured in the same run on the same ensemble:
//   raw        a pipelined zoo_acreate loop with no spool (the single-op ceiling)
//   raw multi  a pipelined zoo_amulti loop with no spool, shaped as the reconciler sends them
//              (the batching ceiling)
//   sequential one synchronous zoo_create at a time (replaying a Redis-style cache)
//   reconciler zkspool draining the same number of pending intents from its spool
// raw, raw multi and reconciler run `--repetitions` times (alternating) and report the median.
// Usage: drain_bench [COUNT] [--repetitions N] [--sweep | --drain-only]
//   COUNT          registrations per line (default 10000)
//   --sweep        only the raw multi loop, for batch sizes x multis in flight (how the
//                  reconciler's batch size was chosen)
//   --drain-only   only the reconciler's drain (to profile it)
//   --isolate-cpus the servers on one half of the CPUs, this process on the other (cpu_isolation.h)
//   ZKSPOOL_BENCH_WINDOW  overrides the reconciler's max_in_flight (default 1000)
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "cpu_isolation.h"
#include "harness/zk_ensemble.h"
#include "thread_cpu.h"
#include "zk_probe.h"
#include "zkspool/registrar.h"
#include "zkspool/spool.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

zhandle_t* Connect(const std::string& hosts) {
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool connected = false;
  };
  static Waiter waiter;
  zhandle_t* zh = zookeeper_init(
      hosts.c_str(),
      [](zhandle_t*, int type, int state, const char*, void*) {
        if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
          std::lock_guard lock(waiter.mu);
          waiter.connected = true;
          waiter.cv.notify_all();
        }
      },
      30000, nullptr, nullptr, 0);
  zoo_set_servers_resolution_delay(zh, 10'000);  // as zkspool's session does: only batching differs
  std::unique_lock lock(waiter.mu);
  waiter.cv.wait_for(lock, 30s, [] { return waiter.connected; });
  waiter.connected = false;
  return zh;
}

void MakeParent(zhandle_t* zh, const std::string& path) {
  zoo_create(zh, path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, nullptr, 0);
}

// Waits until the ephemerals under `parent` are gone. Ending a session makes the ensemble delete
// its 10,000 ephemerals, which takes it tens of milliseconds: a run started meanwhile would
// compete with that, and whichever line runs next would pay for the one before.
void WaitUntilEmpty(const std::string& hosts, const std::string& parent) {
  zhandle_t* zh = Connect(hosts);
  const auto deadline = Clock::now() + 30s;
  for (;;) {
    String_vector children{};
    const int rc = zoo_get_children(zh, parent.c_str(), 0, &children);
    const int left = rc == ZOK ? children.count : rc == ZNONODE ? 0 : 1;  // an error is not "empty"
    if (rc == ZOK) deallocate_String_vector(&children);
    if (left == 0 || Clock::now() > deadline) break;
    std::this_thread::sleep_for(5ms);
  }
  zookeeper_close(zh);
}

// Calls in flight, at most `limit` at a time; each completion frees its slot.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return outstanding_ < limit_; });
    ++outstanding_;
  }
  // Waits until `calls` calls have completed; returns how many of them failed.
  int WaitDone(size_t calls) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_ == calls; });
    return errors_;
  }
  static void OnString(int rc, const char*, const void* self) { Release(rc, self); }
  static void OnVoid(int rc, const void* self) { Release(rc, self); }

 private:
  static void Release(int rc, const void* self) {
    auto* in_flight = static_cast<InFlight*>(const_cast<void*>(self));
    std::lock_guard lock(in_flight->mu_);
    --in_flight->outstanding_;
    ++in_flight->done_;
    if (rc != ZOK) ++in_flight->errors_;
    in_flight->cv_.notify_all();
  }

  const int limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  int outstanding_ = 0;
  size_t done_ = 0;
  int errors_ = 0;
};

// The single-op ceiling: creates in flight up to `window` at a time.
double RawPipelined(const std::string& hosts, int count, int window, const std::string& parent) {
  zhandle_t* zh = Connect(hosts);
  MakeParent(zh, parent);
  InFlight in_flight(window);
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    in_flight.Acquire();
    std::string path = parent + "/n" + std::to_string(i);
    std::string data = "endpoint-" + std::to_string(i);
    zoo_acreate(zh, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
                InFlight::OnString, &in_flight);
  }
  const int errors = in_flight.WaitDone(count);
  const double seconds = Seconds(Clock::now() - start);
  if (errors) std::printf("raw: %d errors\n", errors);
  zookeeper_close(zh);
  WaitUntilEmpty(hosts, parent);
  return seconds;
}

// The batching ceiling: creates sent `batch` to a zoo_amulti, up to `window` multis in flight.
// `cpu_seconds`: where to store this process's CPU time while the loop ran.
double RawMulti(const std::string& hosts, int count, int batch, int window, const std::string& parent,
                double* cpu_seconds = nullptr) {
  struct Multi {
    std::vector<std::string> paths, data;
    std::vector<zoo_op_t> ops;
    std::vector<zoo_op_result_t> results;
    std::vector<std::array<char, 16>> created;
  };
  std::vector<Multi> multis((count + batch - 1) / batch);
  for (size_t m = 0; m < multis.size(); ++m) {  // built before the clock starts, as raw's are cheap
    Multi& multi = multis[m];
    const int n = std::min(batch, count - static_cast<int>(m) * batch);
    for (int i = 0; i < n; ++i) {
      const int k = static_cast<int>(m) * batch + i;
      multi.paths.push_back(parent + "/n" + std::to_string(k));
      multi.data.push_back("endpoint-" + std::to_string(k));
    }
    multi.ops.resize(n);
    multi.results.resize(n);
    multi.created.resize(n);
    for (int i = 0; i < n; ++i) {
      zoo_create_op_init(&multi.ops[i], multi.paths[i].c_str(), multi.data[i].data(),
                         static_cast<int>(multi.data[i].size()), &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
                         multi.created[i].data(), static_cast<int>(multi.created[i].size()));
    }
  }
  zhandle_t* zh = Connect(hosts);
  MakeParent(zh, parent);
  InFlight in_flight(window);
  const double cpu0 = zkspool::bench::ProcessCpuSeconds();
  auto start = Clock::now();
  for (Multi& multi : multis) {
    in_flight.Acquire();
    zoo_amulti(zh, static_cast<int>(multi.ops.size()), multi.ops.data(), multi.results.data(), InFlight::OnVoid,
               &in_flight);
  }
  const int errors = in_flight.WaitDone(multis.size());
  const double seconds = Seconds(Clock::now() - start);
  if (cpu_seconds != nullptr) *cpu_seconds = zkspool::bench::ProcessCpuSeconds() - cpu0;
  if (errors) std::printf("raw multi: %d errors\n", errors);
  zookeeper_close(zh);
  WaitUntilEmpty(hosts, parent);
  return seconds;
}

double Sequential(const std::string& hosts, int count) {
  zhandle_t* zh = Connect(hosts);
  MakeParent(zh, "/seq");
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string path = "/seq/n" + std::to_string(i);
    std::string data = "endpoint-" + std::to_string(i);
    zoo_create(zh, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
               nullptr, 0);
  }
  double seconds = Seconds(Clock::now() - start);
  zookeeper_close(zh);
  WaitUntilEmpty(hosts, "/seq");
  return seconds;
}

zkspool::RegistrarOptions Options(const std::string& dir, const std::string& hosts) {
  zkspool::RegistrarOptions o;
  o.spool_dir = dir;
  o.hosts = hosts;
  o.session_timeout = 10s;
  // For experiments with the pipelining window; the figures in docs use the default (1000).
  if (const char* window = std::getenv("ZKSPOOL_BENCH_WINDOW")) o.max_in_flight = std::stoul(window);
  if (!std::getenv("ZKSPOOL_BENCH_LOG")) o.spool.logger = std::make_shared<spdlog::logger>("bench");  // quiet
  return o;
}

// Spools `count` registrations under `parent` with ZooKeeper unreachable, then times the drain
// from the session's first SyncConnected. The parent does not exist yet: making it is timed.
// With `reassert_seconds`, the session is then expired and the time from the new session's
// SyncConnected until every node is re-created is stored there. `cpu_seconds`: where to store
// this process's CPU time over the timed drain.
double ReconcilerDrain(const std::string& dir, const std::string& hosts, int count, const std::string& parent,
                       double* reassert_seconds = nullptr, bool pace = true, double* cpu_seconds = nullptr) {
  {
    zkspool::SpoolOptions so;
    so.durability = zkspool::Durability::kBuffered;  // filling the backlog is not what is timed
    so.logger = std::make_shared<spdlog::logger>("bench");
    auto spool = zkspool::Spool::Open(dir, so);
    for (int i = 0; i < count; ++i) {
      zkspool::Intent intent;
      intent.path = parent + "/n" + std::to_string(i);
      intent.data = "endpoint-" + std::to_string(i);
      if (!(*spool)->Append(intent).ok()) std::abort();
    }
  }
  // Timed from the session's first SyncConnected, as the baselines are timed from connected.
  std::atomic<int64_t> connected_at{0};
  std::atomic<double> cpu_at_connected{0};
  std::atomic<int64_t> reconnected_at{0};  // the first SyncConnected of a later session
  std::atomic<int64_t> first_session{0};
  zkspool::RegistrarOptions options = Options(dir, hosts);
  options.pace = pace;
  options.reconnect_jitter = 0ms;  // a fleet's spreading, measured by fleet_bench; here it would only add a wait
  options.on_event = [&](const zkspool::RegistrarEvent& e) {
    if (e.kind != zkspool::RegistrarEvent::Kind::kSession || e.session_state != zkspool::SessionState::kConnected) {
      return;
    }
    const int64_t now = Clock::now().time_since_epoch().count();
    if (connected_at == 0) {
      cpu_at_connected = zkspool::bench::ProcessCpuSeconds();
      connected_at = now;
      first_session = e.session_id;
    } else if (e.session_id != first_session && reconnected_at == 0) {
      reconnected_at = now;
    }
  };
  auto registrar = zkspool::Registrar::Open(options);
  const double cpu0 = zkspool::bench::ReconcilerCpuNs() / 1e9;
  auto outcome = (*registrar)->WaitApplied(static_cast<uint64_t>(count), 300s);
  double seconds = Seconds(Clock::now() - Clock::time_point(Clock::duration(connected_at.load())));
  if (cpu_seconds != nullptr) *cpu_seconds = zkspool::bench::ProcessCpuSeconds() - cpu_at_connected;
  if (!outcome.ok()) std::printf("reconciler: %s\n", outcome.status().ToString().c_str());
  if (std::getenv("ZKSPOOL_BENCH_CPU")) {
    std::printf("  reconciler threads: %.3f s of CPU in a %.3f s drain\n",
                zkspool::bench::ReconcilerCpuNs() / 1e9 - cpu0, seconds);
  }
  if (reassert_seconds != nullptr) {
    auto [id, password] = zkspool::testing::ReadSavedSession(dir);
    const uint64_t before = (*registrar)->Stats().reasserted;
    if (!zkspool::testing::ZkEnsemble::ExpireSession(hosts, id, password, 60s)) std::printf("expiry failed\n");
    const auto deadline = Clock::now() + 300s;
    int polls = 0;
    while ((*registrar)->Stats().reasserted < before + static_cast<uint64_t>(count) && Clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
      if (std::getenv("ZKSPOOL_BENCH_LOG") && ++polls % 200 == 0) {
        auto st = (*registrar)->Stats();
        std::printf("  reasserted %lu tracked %lu in flight %lu ops %lu scans %lu\n",
                    static_cast<unsigned long>(st.reasserted - before), static_cast<unsigned long>(st.paths_tracked),
                    static_cast<unsigned long>(st.paths_in_flight), static_cast<unsigned long>(st.operations_in_flight),
                    static_cast<unsigned long>(st.registered_scans));
      }
    }
    *reassert_seconds = Seconds(Clock::now() - Clock::time_point(Clock::duration(reconnected_at.load())));
  }
  (void)(*registrar)->Close();
  WaitUntilEmpty(hosts, parent);
  return seconds;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Sweep(const std::string& hosts, int count) {
  int run = 0;
  for (int batch : {50, 200, 500, 1000}) {
    for (int window : {1, 2, 4, 8}) {
      const double t = RawMulti(hosts, count, batch, window, "/sweep" + std::to_string(run++));
      std::printf("raw multi  %4d creates per multi, %d in flight  %7.3f s %9.0f /s\n", batch, window, t, count / t);
    }
  }
}

struct Percentiles {
  double p50, p99, max;
};

Percentiles Summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100], us.back()};
}

// Register latency (durable spool append) for `count` calls; `during` runs alongside.
Percentiles RegisterLatency(zkspool::Registrar& registrar, const std::string& prefix, int count) {
  std::vector<double> us;
  us.reserve(count);
  for (int i = 0; i < count; ++i) {
    auto t0 = Clock::now();
    auto seq = registrar.Register(prefix + std::to_string(i), "endpoint");
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!seq.ok()) std::printf("register failed: %s\n", seq.status().ToString().c_str());
  }
  return Summarize(us);
}

}  // namespace

int main(int argc, char** argv) {
  int count = 10000;
  int repetitions = 3;
  bool sweep = false;
  bool drain_only = false;
  bool isolate = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--sweep") == 0) {
      sweep = true;
    } else if (std::strcmp(argv[i], "--drain-only") == 0) {
      drain_only = true;
    } else if (std::strcmp(argv[i], "--isolate-cpus") == 0) {
      isolate = true;
    } else if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      repetitions = std::max(1, std::atoi(argv[++i]));
    } else if (std::atoi(argv[i]) > 0) {
      count = std::atoi(argv[i]);
    } else {
      std::fprintf(stderr, "usage: drain_bench [COUNT] [--repetitions N] [--sweep | --drain-only] [--isolate-cpus]\n");
      return 2;
    }
  }
  zkspool::testing::EnsembleOptions eo;
  eo.members = 3;
  eo.force_sync = true;  // ZooKeeper's production default: the txn log is fsync'd per commit
  auto zk = zkspool::testing::ZkEnsemble::Start(eo);
  const std::string hosts = zk->ConnectString();
  if (isolate && !zkspool::bench::IsolateServers(*zk)) {
    std::fprintf(stderr, "drain_bench: --isolate-cpus needs at least 2 CPUs it may set affinity on\n");
    return 1;
  }
  std::string scratch = (std::filesystem::temp_directory_path() / "zkspool-drain-XXXXXX").string();
  if (::mkdtemp(scratch.data()) == nullptr) return 1;
  std::printf("drain_bench: %d registrations, 3-node loopback ensemble (tickTime %d ms, forceSync=yes)%s\n", count,
              eo.tick_ms, isolate ? ", servers and client on separate CPUs" : "");

  RawPipelined(hosts, count, 1000, "/warmup");  // the servers' JIT warms up on this, untimed
  if (sweep) {
    Sweep(hosts, count);
    std::filesystem::remove_all(scratch);
    return 0;
  }
  // Raw multis shaped as the reconciler sends them (IssueReady in reconciler.cc): half its
  // window each, at most 1000 creates.
  const int reconciler_window = static_cast<int>(Options("", "").max_in_flight);
  const int batch = std::clamp(reconciler_window / 2, 1, 1000);
  const int window = reconciler_window / batch;
  if (drain_only) {  // for profiling the reconciler alone
    for (int r = 0; r < repetitions; ++r) {
      const double t = ReconcilerDrain(scratch + "/only" + std::to_string(r), hosts, count, "/only" + std::to_string(r));
      std::printf("reconciler drain %7.3f s %9.0f /s\n", t, count / t);
    }
    std::filesystem::remove_all(scratch);
    return 0;
  }
  std::vector<double> raws, multis, recs, reasserts, unpaced, multi_cpus, rec_cpus;
  for (int r = 0; r < repetitions; ++r) {
    const std::string run = std::to_string(r);
    raws.push_back(RawPipelined(hosts, count, 1000, "/raw" + run));
    double multi_cpu = 0, rec_cpu = 0, reassert = 0;
    multis.push_back(RawMulti(hosts, count, batch, window, "/multi" + run, &multi_cpu));
    multi_cpus.push_back(multi_cpu);
    recs.push_back(ReconcilerDrain(scratch + "/drain" + run, hosts, count, "/rec" + run, &reassert, true, &rec_cpu));
    rec_cpus.push_back(rec_cpu);
    reasserts.push_back(reassert);
    unpaced.push_back(ReconcilerDrain(scratch + "/unpaced" + run, hosts, count, "/unpaced" + run, nullptr, false));
  }
  const double raw = Median(raws), multi = Median(multis), rec = Median(recs), re = Median(reasserts);
  const double rec_unpaced = Median(unpaced);
  const double seq = Sequential(hosts, count);
  std::printf("medians of %d runs\n", repetitions);
  std::printf("%-40s %9.3f s %9.0f /s\n", "raw pipelined zoo_acreate", raw, count / raw);
  char multi_line[64];
  std::snprintf(multi_line, sizeof multi_line, "raw pipelined zoo_amulti (%d x %d)", window, batch);
  std::printf("%-40s %9.3f s %9.0f /s\n", multi_line, multi, count / multi);
  std::printf("%-40s %9.3f s %9.0f /s  (once)\n", "sequential synchronous replay", seq, count / seq);
  std::printf("%-40s %9.3f s %9.0f /s\n", "reconciler drain (from connected)", rec, count / rec);
  std::printf("ratio reconciler/raw        %.2fx (target >= 1.0)\n", raw / rec);
  std::printf("ratio reconciler/sequential %.2fx (target >= 10)\n", seq / rec);
  std::printf("ratio reconciler/raw multi  %.2fx (target >= 0.9: the batching ceiling)\n", multi / rec);
  std::printf("client CPU (this process): raw multi %.0f ms, reconciler drain %.0f ms\n", Median(multi_cpus) * 1e3,
              Median(rec_cpus) * 1e3);
  std::printf("%-40s %9.3f s %9.0f /s\n", "reconciler drain, pacer off", rec_unpaced, count / rec_unpaced);
  std::printf("ratio paced/unpaced drain   %.2fx (target >= 0.9: the pacer costs a single host nothing)\n",
              rec_unpaced / rec);
  std::printf("%-40s %9.3f s %9.0f /s\n", "re-creation after a session expiry", re, count / re);
  std::printf("ratio re-creation/fresh drain %.2fx (target >= 0.8)\n", rec / re);

  // Recovery: the backlog builds while quorum is lost; time from quorum restored to drained.
  {
    auto registrar = zkspool::Registrar::Open(Options(scratch + "/recovery", hosts));
    const int leader = zk->Leader();
    const int follower = (leader + 1) % 3;
    zk->Kill(leader);
    zk->Kill(follower);
    uint64_t last = 0;
    for (int i = 0; i < count; ++i) last = *(*registrar)->Register("/recovery/n" + std::to_string(i), "endpoint");
    zk->Restart(leader);
    zk->Restart(follower);
    zk->WaitForQuorum(60s);
    if (isolate) (void)zkspool::bench::IsolateServers(*zk);  // the restarted JVMs began on our CPUs
    auto restored = Clock::now();
    auto outcome = (*registrar)->WaitApplied(last, 300s);
    std::printf("%-34s %9.3f s (%s)\n", "recovery: quorum back -> drained", Seconds(Clock::now() - restored),
                outcome.ok() ? zkspool::OutcomeName(*outcome) : outcome.status().ToString().c_str());
  }

  // Register latency with ZooKeeper up, and while the leader is killed and re-elected.
  {
    auto registrar = zkspool::Registrar::Open(Options(scratch + "/latency", hosts));
    const int n = std::min(count, 3000);
    Percentiles up = RegisterLatency(**registrar, "/lat-up/n", n);
    const int leader = zk->Leader();
    std::thread killer([&] { zk->Kill(leader); });
    Percentiles down = RegisterLatency(**registrar, "/lat-kill/n", n);
    killer.join();
    std::printf("register latency, ZooKeeper up      p50 %7.0f us  p99 %7.0f us  max %7.0f us\n", up.p50, up.p99,
                up.max);
    std::printf("register latency, leader killed     p50 %7.0f us  p99 %7.0f us  max %7.0f us\n", down.p50, down.p99,
                down.max);
    std::printf("ratio p99 killed/up %.2fx (target: no worse, ~1.0)\n", down.p99 / up.p99);
  }
  std::filesystem::remove_all(scratch);
  return 0;
}
