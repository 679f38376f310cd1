// Scenario runner: a fleet of hosts recovering from an ensemble outage at once (issue 13).
//
// N Registrars in this process (one spool, one session and one reconciler thread each, as N hosts
// would have) against a 3-node loopback ensemble. Each registers R ephemerals and waits until they
// are in ZooKeeper; then two members are killed (quorum loss) for T seconds, during which each
// host spools B more in batches; then the members come back and the fleet recovers. Reported, for
// the fleet with the pacer and without it (RegistrarOptions::pace), each on a fresh ensemble in
// the same run:
//   recovery     from the quorum's return until ZooKeeper holds every host's R + B nodes (and
//                until it holds 99% of them)
//   expiries     sessions the servers ended (each host's kExpired session events)
//   losses       connections the clients dropped (kConnecting session events): about two per
//                host come with the outage itself; those after the quorum returned are the
//                load's
//   missing      the most of the fleet's R registered ephemerals absent from ZooKeeper at any
//                sample after the quorum returned, counted from ZooKeeper itself
//                (numChildren of each host's parent), never from our own counters
//   latency      the servers' zk_max_latency (mntr) and the most outstanding requests sampled
// Usage: fleet_bench [--hosts N] [--registered R] [--spooled B] [--outage S] [--session-ms MS]
//                    [--runs K] [--only paced|unpaced] [--give-up S] [--server-heap-mb MB]
// Defaults: N 150, R 200, B 1000, 30 s outage, 6 s sessions, 1 run, give up 240 s after the quorum
// returns. Memory: a few MiB per host (spool caches, client buffers).
#include <sys/resource.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness/zk_ensemble.h"
#include "zkspool/registrar.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using zkspool::testing::ZkEnsemble;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Config {
  int hosts = 150;
  int registered = 200;
  int spooled = 1000;
  int outage_s = 30;
  int session_ms = 6000;
  int runs = 1;
  int give_up_s = 240;
  int heap_mb = 256;
  bool paced = true;
  bool unpaced = true;
};

struct Result {
  std::optional<double> recovery_s;
  std::optional<double> most_s;  // until 99% of the fleet's nodes were there
  uint64_t expiries = 0;
  uint64_t losses = 0;           // from the outage on
  uint64_t recovery_losses = 0;  // after the quorum returned
  uint64_t worst_missing = 0;  // of the R registered per host, summed over the fleet
  uint64_t final_missing = 0;  // of R + B, at the end
  uint64_t max_latency_ms = 0;
  uint64_t max_outstanding = 0;
  uint64_t pacer_cuts = 0;
  uint64_t throttled_ms = 0;
};

// One ZooKeeper handle of the bench's own that counts each host's nodes: numChildren of
// /fleet/hI/r (the R registered before the outage) and /fleet/hI/b (the B spooled during it).
class Sampler {
 public:
  int count() const { return count_; }
  Sampler(const std::string& hosts, int count) : count_(count) {
    zh_ = zookeeper_init(hosts.c_str(), nullptr, 30'000, nullptr, nullptr, 0);
  }
  ~Sampler() { zookeeper_close(zh_); }
  struct Sample {
    std::vector<int64_t> r, b;  // -1: no answer
    bool complete() const {
      return std::none_of(r.begin(), r.end(), [](int64_t v) { return v < 0; }) &&
             std::none_of(b.begin(), b.end(), [](int64_t v) { return v < 0; });
    }
  };
  // Every host's two counts, asked all at once; waits at most `timeout` for the answers.
  Sample Take(std::chrono::milliseconds timeout) {
    auto state = std::make_shared<State>();
    state->sample.r.assign(count_, -1);
    state->sample.b.assign(count_, -1);
    state->paths.reserve(2 * count_);
    for (int i = 0; i < count_; ++i) {
      for (const char* kind : {"r", "b"}) state->paths.push_back("/fleet/h" + std::to_string(i) + "/" + kind);
    }
    state->outstanding = 2 * count_;
    for (size_t k = 0; k < state->paths.size(); ++k) {
      auto* call = new CallContext{state, k};
      if (zoo_aexists(zh_, state->paths[k].c_str(), 0, &Sampler::OnStat, call) != ZOK) {
        delete call;
        std::lock_guard lock(state->mu);
        --state->outstanding;
      }
    }
    std::unique_lock lock(state->mu);
    state->cv.wait_for(lock, timeout, [&] { return state->outstanding == 0; });
    return state->sample;  // late answers land in `state`, which they keep alive
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> paths;
    Sample sample;
    int outstanding = 0;
  };
  struct CallContext {
    std::shared_ptr<State> state;
    size_t index;
  };
  static void OnStat(int rc, const struct Stat* stat, const void* data) {
    std::unique_ptr<CallContext> call(static_cast<CallContext*>(const_cast<void*>(data)));
    State& s = *call->state;
    std::lock_guard lock(s.mu);
    if (rc == ZOK) {
      std::vector<int64_t>& v = call->index % 2 == 0 ? s.sample.r : s.sample.b;
      v[call->index / 2] = stat->numChildren;
    }
    if (--s.outstanding == 0) s.cv.notify_all();
  }

  const int count_;
  zhandle_t* zh_;
};

// A member between roles was seen to report -1; a missing line counts as 0 too.
int64_t MntrValue(const std::string& mntr, const std::string& key) {
  return std::max<int64_t>(0, zkspool::testing::MntrValue(mntr, key).value_or(0));
}

// Samples every member's mntr until stopped: the most outstanding requests and the max latency.
class ServerWatch {
 public:
  explicit ServerWatch(const ZkEnsemble& zk) : thread_([this, &zk] { Run(zk); }) {}
  ~ServerWatch() {
    stop_ = true;
    thread_.join();
  }
  uint64_t max_outstanding() const { return max_outstanding_; }
  uint64_t max_latency_ms() const { return max_latency_; }

 private:
  void Run(const ZkEnsemble& zk) {
    while (!stop_) {
      for (int m = 0; m < zk.size(); ++m) {
        const std::string mntr = zk.FourLetterWord(m, "mntr");
        max_outstanding_ = std::max<uint64_t>(max_outstanding_, MntrValue(mntr, "zk_outstanding_requests"));
        max_latency_ = std::max<uint64_t>(max_latency_, MntrValue(mntr, "zk_max_latency"));
      }
      std::this_thread::sleep_for(250ms);
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> max_outstanding_{0}, max_latency_{0};
  std::thread thread_;
};

struct Host {
  std::unique_ptr<zkspool::Registrar> registrar;
  std::atomic<uint64_t> expiries{0}, losses{0};
};

zkspool::BatchEntry Put(const std::string& path) {
  zkspool::BatchEntry e;
  e.intent.path = path;
  e.intent.data = "{\"endpoint\":\"10.0.0.1:8080\",\"path\":\"" + path + "\"}";
  return e;
}

void MakeParents(const std::string& hosts, int count) {
  zhandle_t* zh = zookeeper_init(hosts.c_str(), nullptr, 30'000, nullptr, nullptr, 0);
  auto create = [&](const std::string& path) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      const int rc = zoo_create(zh, path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      if (rc == ZOK || rc == ZNODEEXISTS) return;
      std::this_thread::sleep_for(100ms);
    }
    std::fprintf(stderr, "fleet_bench: cannot create %s\n", path.c_str());
    std::exit(1);
  };
  create("/fleet");
  for (int i = 0; i < count; ++i) {
    const std::string host = "/fleet/h" + std::to_string(i);
    create(host);
    create(host + "/r");
    create(host + "/b");
  }
  zookeeper_close(zh);
}

// Samples until every count reaches `want_r`/`want_b` or `deadline`; returns when it did (or
// nullopt) and keeps the worst shortfall of registered nodes seen in a complete sample.
std::optional<Clock::time_point> WaitForCounts(Sampler& sampler, int want_r, int want_b, Clock::time_point deadline,
                                               uint64_t* worst_missing, uint64_t* last_missing,
                                               std::optional<Clock::time_point>* most_there = nullptr) {
  const uint64_t total = static_cast<uint64_t>(want_r + want_b) * sampler.count();
  while (Clock::now() < deadline) {
    const Sampler::Sample s = sampler.Take(5s);
    if (s.complete()) {
      uint64_t missing_r = 0, missing_all = 0;
      for (size_t i = 0; i < s.r.size(); ++i) {
        missing_r += static_cast<uint64_t>(std::max<int64_t>(0, want_r - s.r[i]));
        missing_all += static_cast<uint64_t>(std::max<int64_t>(0, want_r - s.r[i]) + std::max<int64_t>(0, want_b - s.b[i]));
      }
      if (worst_missing) *worst_missing = std::max(*worst_missing, missing_r);
      if (last_missing) *last_missing = missing_all;
      if (most_there && !*most_there && missing_all * 100 <= total) *most_there = Clock::now();
      if (missing_all == 0) return Clock::now();
    }
    std::this_thread::sleep_for(250ms);
  }
  return std::nullopt;
}

Result RunFleet(const Config& config, bool pace, const std::string& scratch) {
  zkspool::testing::EnsembleOptions ensemble_options;
  ensemble_options.members = 3;
  ensemble_options.tick_ms = 2000;  // ZooKeeper's default; sessions of 6 s need ticks of at most 3 s
  ensemble_options.force_sync = true;
  ensemble_options.heap_mb = config.heap_mb;
  auto zk = ZkEnsemble::Start(ensemble_options);
  const std::string hosts = zk->ConnectString();
  MakeParents(hosts, config.hosts);

  std::filesystem::create_directories(scratch + "/" + (pace ? "paced" : "unpaced"));
  std::vector<std::unique_ptr<Host>> fleet;
  for (int i = 0; i < config.hosts; ++i) {
    auto host = std::make_unique<Host>();
    zkspool::RegistrarOptions options;
    options.spool_dir = scratch + "/" + (pace ? "paced" : "unpaced") + "/h" + std::to_string(i);
    options.hosts = hosts;
    options.session_timeout = std::chrono::milliseconds(config.session_ms);
    options.pace = pace;
    Host* raw = host.get();
    options.on_event = [raw](const zkspool::RegistrarEvent& e) {
      if (e.kind != zkspool::RegistrarEvent::Kind::kSession) return;
      if (e.session_state == zkspool::SessionState::kExpired) ++raw->expiries;
      if (e.session_state == zkspool::SessionState::kConnecting) ++raw->losses;
    };
    auto registrar = zkspool::Registrar::Open(options);
    if (!registrar.ok()) {
      std::fprintf(stderr, "fleet_bench: Open: %s\n", registrar.status().ToString().c_str());
      std::exit(1);
    }
    host->registrar = std::move(*registrar);
    fleet.push_back(std::move(host));
  }
  // After Open, which sets the C client's level to warnings: N clients' reconnect chatter would
  // bury the figures.
  zoo_set_debug_level(static_cast<ZooLogLevel>(0));
  for (int i = 0; i < config.hosts; ++i) {
    std::vector<zkspool::BatchEntry> batch;
    for (int k = 0; k < config.registered; ++k) {
      batch.push_back(Put("/fleet/h" + std::to_string(i) + "/r/n" + std::to_string(k)));
    }
    if (!fleet[i]->registrar->Submit(std::move(batch)).ok()) std::exit(1);
  }
  Sampler sampler(hosts, config.hosts);
  if (!WaitForCounts(sampler, config.registered, 0, Clock::now() + 300s, nullptr, nullptr)) {
    std::fprintf(stderr, "fleet_bench: the fleet's first registrations did not arrive in 300 s\n");
    std::exit(1);
  }
  uint64_t expiries_before = 0, losses_before = 0;
  for (auto& h : fleet) {
    expiries_before += h->expiries;
    losses_before += h->losses;
  }

  Result result;
  {
    ServerWatch watch(*zk);
    const int leader = zk->Leader();
    int killed = 0;
    for (int m = 0; m < 3 && killed < 2; ++m) {  // the followers: the leader then has no quorum
      if (m != leader) {
        zk->Kill(m);
        ++killed;
      }
    }
    const auto outage_end = Clock::now() + std::chrono::seconds(config.outage_s);
    // B more per host, spooled in ten batches spread over the first two thirds of the outage.
    const int chunks = 10;
    for (int c = 0; c < chunks; ++c) {
      for (int i = 0; i < config.hosts; ++i) {
        std::vector<zkspool::BatchEntry> batch;
        for (int k = c * config.spooled / chunks; k < (c + 1) * config.spooled / chunks; ++k) {
          batch.push_back(Put("/fleet/h" + std::to_string(i) + "/b/n" + std::to_string(k)));
        }
        if (!fleet[i]->registrar->Submit(std::move(batch)).ok()) std::exit(1);
      }
      std::this_thread::sleep_for(std::chrono::seconds(config.outage_s) * 2 / 3 / chunks);
    }
    std::this_thread::sleep_until(outage_end);
    for (int m = 0; m < 3; ++m) {
      if (!zk->IsRunning(m)) zk->Restart(m);
    }
    if (!zk->WaitForQuorum(120s)) {
      std::fprintf(stderr, "fleet_bench: no quorum 120 s after the restart\n");
      std::exit(1);
    }
    const auto quorum_back = Clock::now();
    for (auto& h : fleet) result.recovery_losses -= h->losses;
    std::optional<Clock::time_point> most;
    const auto done = WaitForCounts(sampler, config.registered, config.spooled,
                                    quorum_back + std::chrono::seconds(config.give_up_s), &result.worst_missing,
                                    &result.final_missing, &most);
    if (done) result.recovery_s = Seconds(*done - quorum_back);
    if (most) result.most_s = Seconds(*most - quorum_back);
    result.max_outstanding = watch.max_outstanding();
    result.max_latency_ms = watch.max_latency_ms();
  }
  for (auto& h : fleet) {
    result.expiries += h->expiries;
    result.losses += h->losses;
    result.recovery_losses += h->losses;
    const zkspool::RegistrarStats stats = h->registrar->Stats();
    result.pacer_cuts += stats.pacer_cuts;
    result.throttled_ms += stats.throttled_ms;
  }
  result.expiries -= expiries_before;
  result.losses -= losses_before;
  // Ending each session: a kept one's handle lives on until exit, and would keep reconnecting to
  // the dead ensemble through the next fleet's run.
  for (auto& h : fleet) (void)h->registrar->Close(zkspool::Registrar::CloseMode::kEndSession);
  fleet.clear();
  std::filesystem::remove_all(scratch + "/" + (pace ? "paced" : "unpaced"));
  return result;
}

std::string SecondsOrNever(const std::optional<double>& s) {
  if (!s) return "NEVER";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", *s);
  return text;
}

void Print(const char* name, const Result& r) {
  std::printf("%-9s recovery %s (99%%: %s)  expiries %llu  connection losses %llu (%llu after the quorum returned)  "
              "worst missing %llu  left missing %llu  server max latency %llu ms  max outstanding %llu  "
              "pacer cuts %llu  throttled %.0f s (fleet)\n",
              name, SecondsOrNever(r.recovery_s).c_str(), SecondsOrNever(r.most_s).c_str(),
              static_cast<unsigned long long>(r.expiries), static_cast<unsigned long long>(r.losses),
              static_cast<unsigned long long>(r.recovery_losses),
              static_cast<unsigned long long>(r.worst_missing), static_cast<unsigned long long>(r.final_missing),
              static_cast<unsigned long long>(r.max_latency_ms), static_cast<unsigned long long>(r.max_outstanding),
              static_cast<unsigned long long>(r.pacer_cuts), r.throttled_ms / 1000.0);
  std::fflush(stdout);
}

int IntArg(int& i, int argc, char** argv) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "fleet_bench: %s needs a value\n", argv[i]);
    std::exit(2);
  }
  return std::atoi(argv[++i]);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each fleet's line as it ends, also into a file
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hosts") config.hosts = IntArg(i, argc, argv);
    else if (arg == "--registered") config.registered = IntArg(i, argc, argv);
    else if (arg == "--spooled") config.spooled = IntArg(i, argc, argv);
    else if (arg == "--outage") config.outage_s = IntArg(i, argc, argv);
    else if (arg == "--session-ms") config.session_ms = IntArg(i, argc, argv);
    else if (arg == "--runs") config.runs = IntArg(i, argc, argv);
    else if (arg == "--give-up") config.give_up_s = IntArg(i, argc, argv);
    else if (arg == "--server-heap-mb") config.heap_mb = IntArg(i, argc, argv);
    else if (arg == "--only" && i + 1 < argc) {
      const std::string which = argv[++i];
      config.paced = which == "paced";
      config.unpaced = which == "unpaced";
    } else {
      std::fprintf(stderr, "usage: fleet_bench [--hosts N] [--registered R] [--spooled B] [--outage S] "
                           "[--session-ms MS] [--runs K] [--only paced|unpaced] [--give-up S] [--server-heap-mb MB]\n");
      return 2;
    }
  }
  if (config.hosts < 1 || config.registered < 1 || config.spooled < 0 || config.outage_s < 1 || config.runs < 1) {
    std::fprintf(stderr, "fleet_bench: counts must be positive\n");
    return 2;
  }
  // Each host holds a spool's files and a socket; lift the soft limit to the hard one.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  const std::string scratch = std::filesystem::temp_directory_path() / ("fleet_bench." + std::to_string(getpid()));
  std::printf("fleet: %d hosts x (%d registered + %d spooled during a %d s quorum loss), sessions %d ms, "
              "3-node ensemble (tickTime 2000, forceSync, %d MiB heaps), nproc %u\n",
              config.hosts, config.registered, config.spooled, config.outage_s, config.session_ms,
              config.heap_mb, std::thread::hardware_concurrency());
  for (int run = 1; run <= config.runs; ++run) {
    // Unpaced first, so that a paced run never follows on the warmer page cache alone.
    if (config.unpaced) Print(("unpaced#" + std::to_string(run)).c_str(), RunFleet(config, false, scratch));
    if (config.paced) Print(("paced#" + std::to_string(run)).c_str(), RunFleet(config, true, scratch));
  }
  std::filesystem::remove_all(scratch);
  return 0;
}
