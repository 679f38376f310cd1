// What the reconciler's own bookkeeping costs per path, without ZooKeeper: reading a backlog
// from the spool (ReadPending, chunks of 1,000, as LoadPending does) and recording a multi's
// outcome (MarkApplied of 500 paths, one intent each, as a completed multi does). These run on
// the same cores as the servers in drain_bench, so each microsecond here is one the drain pays.
//
// The backlog is spooled and the spool reopened before timing, so the intents are in table
// files as after a restart, not in the memtable.
//
//   build-bench/bench/outcome_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>
#include <spdlog/logger.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "zkspool/spool.h"

namespace fs = std::filesystem;

namespace {

constexpr int kBacklog = 200'000;
constexpr size_t kChunk = 1000;   // the reconciler's load chunk
constexpr size_t kMulti = 500;    // creates per multi with the default window

zkspool::SpoolOptions Options() {
  zkspool::SpoolOptions options;
  options.durability = zkspool::Durability::kBuffered;
  options.logger = std::make_shared<spdlog::logger>("outcome-bench");  // no sinks: quiet
  return options;
}

// A spool holding kBacklog pending puts, reopened so they are read from table files.
std::unique_ptr<zkspool::Spool> Backlog(const fs::path& dir) {
  fs::remove_all(dir);
  {
    auto spool = zkspool::Spool::Open(dir.string(), Options());
    if (!spool.ok()) std::abort();
    for (int i = 0; i < kBacklog; ++i) {
      zkspool::Intent intent;
      intent.path = "/services/bench/n" + std::to_string(i);
      intent.data = "endpoint-" + std::to_string(i);
      if (!(*spool)->Append(std::move(intent)).ok()) std::abort();
    }
  }
  auto spool = zkspool::Spool::Open(dir.string(), Options());
  if (!spool.ok()) std::abort();
  return std::move(spool).value();
}

fs::path BenchDir(const char* name) {
  const char* root = std::getenv("ZKSPOOL_BENCH_DIR");
  return fs::path(root != nullptr ? root : "/var/tmp") / (std::string("zkspool-outcome-bench-") + name);
}

void BM_ReadPending(benchmark::State& state) {
  const fs::path dir = BenchDir("read");
  auto spool = Backlog(dir);
  uint64_t cursor = 0;
  for (auto _ : state) {
    auto chunk = spool->ReadPending(cursor, kChunk);
    if (!chunk.ok() || chunk->empty()) {
      state.SkipWithError("the backlog ran out");
      break;
    }
    cursor = chunk->back().seq + 1;
    benchmark::DoNotOptimize(chunk->data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kChunk));
  spool.reset();
  fs::remove_all(dir);
}
// 200 chunks: the backlog holds exactly that many.
BENCHMARK(BM_ReadPending)->Unit(benchmark::kMicrosecond)->Iterations(kBacklog / kChunk);

void BM_MarkApplied(benchmark::State& state) {
  const fs::path dir = BenchDir("mark");
  auto spool = Backlog(dir);
  uint64_t cursor = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto chunk = spool->ReadPending(cursor, kMulti);
    if (!chunk.ok() || chunk->empty()) {
      state.SkipWithError("the backlog ran out");
      break;
    }
    cursor = chunk->back().seq + 1;
    std::vector<zkspool::AppliedPath> applied;
    for (zkspool::SpooledIntent& r : *chunk) {
      std::string path = r.intent.path;
      applied.push_back({std::move(path), {r.seq}, std::move(r)});
    }
    state.ResumeTiming();
    if (!spool->MarkApplied(applied).ok()) {
      state.SkipWithError("MarkApplied failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kMulti));
  spool.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_MarkApplied)->Unit(benchmark::kMicrosecond)->Iterations(kBacklog / kMulti);

}  // namespace

BENCHMARK_MAIN();
