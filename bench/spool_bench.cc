// Benchmarks of Spool::Append against the cost of the fdatasync it cannot avoid.
//
//   BM_RawFdatasync       baseline: append 256 bytes to a plain file and fdatasync it, like a
//                         naive write-ahead log (nothing pre-sized, the file grows every write)
//   BM_AppendSync         one writer, Durability::kSync
//   BM_AppendBuffered     one writer, Durability::kBuffered
//   BM_AppendSyncThreads  1, 4 and 16 writers sharing one kSync spool (group commit)
//
// Every benchmark works in a fresh directory under one bench root, so the baseline file and the
// spools are on the same file system: $ZKSPOOL_BENCH_DIR if set, else a new directory under
// /var/tmp (a disk; /tmp may be a tmpfs, where fdatasync costs nothing). The root is removed at
// the end if this program created it.
//
// After the usual table the program prints the two ratios the project's targets are set on:
//   single-writer kSync Append latency / raw fdatasync latency   (target <= 1.3)
//   16-writer kSync throughput / 1-writer kSync throughput        (target >= 6)
// Both come from the same run. With --benchmark_repetitions=N the medians are used.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "zkspool/intent.h"
#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace fs = std::filesystem;

namespace {

constexpr size_t kDataBytes = 256;
constexpr double kMinTimeSeconds = 2.0;

fs::path g_root;  // the bench root; set in main before any benchmark runs
std::atomic<uint64_t> g_dir_counter{0};

// A new, not yet existing directory under the bench root.
fs::path NewRunDir(const std::string& name) {
  return g_root / (name + "-" + std::to_string(g_dir_counter.fetch_add(1)));
}

std::shared_ptr<spdlog::logger> BenchLogger() {
  // Warnings and errors only: the "opened spool" line of every run would drown the table.
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("zkspool-bench", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_level(spdlog::level::warn);
    return l;
  }();
  return logger;
}

zkspool::SpoolOptions BenchOptions(zkspool::Durability durability) {
  zkspool::SpoolOptions options;
  options.durability = durability;
  // Nothing is ever applied in these runs, so every append stays pending: lift the limits well
  // above what a time-bounded run can append.
  options.max_pending_intents = uint64_t{1} << 40;
  options.max_pending_bytes = uint64_t{1} << 50;
  options.logger = BenchLogger();
  return options;
}

zkspool::Intent MakeIntent(const std::string& path, const std::string& data) {
  zkspool::Intent intent;
  intent.op = zkspool::Op::kPut;
  intent.path = path;
  intent.data = data;
  intent.mode = zkspool::NodeMode::kEphemeral;
  return intent;
}

using Clock = std::chrono::steady_clock;

int64_t ElapsedNs(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// Nearest-rank percentile of sorted samples, in microseconds.
double PercentileUs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

void ReportPercentiles(benchmark::State& state, std::vector<int64_t>& samples) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  // Default flags: in a threaded run only one thread sets these, so the sum is that value.
  state.counters["p50_us"] = PercentileUs(samples, 50);
  state.counters["p99_us"] = PercentileUs(samples, 99);
}

std::vector<int64_t> SampleBuffer(const benchmark::State& state) {
  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(std::min<benchmark::IterationCount>(state.max_iterations, 50'000'000)));
  return samples;
}

// ---- baseline -----------------------------------------------------------------------------

void BM_RawFdatasync(benchmark::State& state) {
  const fs::path dir = NewRunDir("raw");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    state.SkipWithError(("create " + dir.string() + ": " + ec.message()).c_str());
    return;
  }
  const fs::path file = dir / "wal.log";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    state.SkipWithError(("open " + file.string() + ": " + std::strerror(errno)).c_str());
    fs::remove_all(dir, ec);
    return;
  }
  const std::string record(kDataBytes, 'r');
  std::vector<int64_t> samples = SampleBuffer(state);
  for (auto _ : state) {
    const auto start = Clock::now();
    if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size()) || ::fdatasync(fd) != 0) {
      state.SkipWithError((std::string("write+fdatasync: ") + std::strerror(errno)).c_str());
      break;
    }
    samples.push_back(ElapsedNs(start));
  }
  ::close(fd);
  fs::remove_all(dir, ec);
  state.SetItemsProcessed(state.iterations());
  ReportPercentiles(state, samples);
}
BENCHMARK(BM_RawFdatasync)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(kMinTimeSeconds);

// ---- one writer ---------------------------------------------------------------------------

void AppendSingleWriter(benchmark::State& state, zkspool::Durability durability, const char* name) {
  const fs::path dir = NewRunDir(name);
  std::optional<std::string> error;
  {
    zkspool::Result<std::unique_ptr<zkspool::Spool>> opened = zkspool::Spool::Open(dir.string(), BenchOptions(durability));
    if (!opened.ok()) {
      error = "open spool " + dir.string() + ": " + opened.status().ToString();
    } else {
      std::unique_ptr<zkspool::Spool> spool = std::move(*opened);
      const std::string data(kDataBytes, 'd');
      std::vector<int64_t> samples = SampleBuffer(state);
      uint64_t i = 0;
      for (auto _ : state) {
        zkspool::Intent intent = MakeIntent("/services/bench/n" + std::to_string(i++), data);
        const auto start = Clock::now();
        zkspool::Result<uint64_t> seq = spool->Append(std::move(intent));
        const int64_t ns = ElapsedNs(start);
        if (!seq.ok()) {
          error = "append: " + seq.status().ToString();
          break;
        }
        samples.push_back(ns);
      }
      state.SetItemsProcessed(state.iterations());
      ReportPercentiles(state, samples);
    }
  }  // the spool is closed before its directory is removed
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (error) state.SkipWithError(error->c_str());
}

void BM_AppendSync(benchmark::State& state) { AppendSingleWriter(state, zkspool::Durability::kSync, "sync"); }
BENCHMARK(BM_AppendSync)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(kMinTimeSeconds);

void BM_AppendBuffered(benchmark::State& state) {
  AppendSingleWriter(state, zkspool::Durability::kBuffered, "buffered");
}
BENCHMARK(BM_AppendBuffered)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(kMinTimeSeconds);

// ---- many writers, one spool ----------------------------------------------------------------

// One spool shared by all threads of a run. Setup and Teardown run on the main thread before the
// benchmark threads start and after they are joined, which orders them with the threads.
struct SharedSpool {
  fs::path dir;
  std::unique_ptr<zkspool::Spool> spool;
  std::string open_error;
  std::mutex mu;                 // guards the two below
  std::vector<int64_t> samples;  // every thread's latencies, merged when it finishes
  int finished_threads = 0;
};
SharedSpool g_shared;

void SetupSharedSyncSpool(const benchmark::State& state) {
  g_shared.dir = NewRunDir("sync-threads" + std::to_string(state.threads()));
  g_shared.open_error.clear();
  g_shared.samples.clear();
  g_shared.finished_threads = 0;
  zkspool::Result<std::unique_ptr<zkspool::Spool>> opened =
      zkspool::Spool::Open(g_shared.dir.string(), BenchOptions(zkspool::Durability::kSync));
  if (opened.ok()) {
    g_shared.spool = std::move(*opened);
  } else {
    g_shared.open_error = "open spool " + g_shared.dir.string() + ": " + opened.status().ToString();
  }
}

void TeardownSharedSyncSpool(const benchmark::State&) {
  g_shared.spool.reset();
  std::error_code ec;
  fs::remove_all(g_shared.dir, ec);
  g_shared.samples = {};
}

void BM_AppendSyncThreads(benchmark::State& state) {
  if (!g_shared.spool) {
    state.SkipWithError(g_shared.open_error.c_str());  // the same for every thread
    return;
  }
  zkspool::Spool& spool = *g_shared.spool;
  const std::string data(kDataBytes, 'd');
  const std::string prefix = "/services/bench/t" + std::to_string(state.thread_index()) + "n";
  std::vector<int64_t> samples = SampleBuffer(state);
  bool failed = false;
  uint64_t i = 0;
  for (auto _ : state) {
    // No break on failure: every thread must reach the end of the loop, where the library
    // synchronises the threads.
    if (failed) continue;
    zkspool::Intent intent = MakeIntent(prefix + std::to_string(i++), data);
    const auto start = Clock::now();
    zkspool::Result<uint64_t> seq = spool.Append(std::move(intent));
    const int64_t ns = ElapsedNs(start);
    if (!seq.ok()) {
      state.SkipWithError(("append: " + seq.status().ToString()).c_str());
      failed = true;
      continue;
    }
    samples.push_back(ns);
  }
  state.SetItemsProcessed(state.iterations());
  std::lock_guard lock(g_shared.mu);
  g_shared.samples.insert(g_shared.samples.end(), samples.begin(), samples.end());
  if (++g_shared.finished_threads == state.threads()) ReportPercentiles(state, g_shared.samples);
}
BENCHMARK(BM_AppendSyncThreads)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->MinTime(kMinTimeSeconds)
    ->Setup(SetupSharedSyncSpool)
    ->Teardown(TeardownSharedSyncSpool)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16);

// ---- the verdict ----------------------------------------------------------------------------

// The console table as usual, then the target ratios computed from the runs of this invocation.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& reports) override {
    ConsoleReporter::ReportRuns(reports);
    for (const Run& run : reports) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      Key key{run.run_name.function_name, run.threads};
      Figures& f = figures_[key];
      if (f.from_median && !median) continue;  // a median beats any single repetition
      f.from_median = median;
      f.latency_us = run.GetAdjustedRealTime();  // every benchmark here reports microseconds
      auto items = run.counters.find("items_per_second");
      f.items_per_second = items == run.counters.end() ? 0 : items->second.value;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::ostream& out = GetOutputStream();
    out << "\n";
    const Figures* raw = Find("BM_RawFdatasync", 1);
    const Figures* sync = Find("BM_AppendSync", 1);
    if (raw && sync && raw->latency_us > 0) {
      const double ratio = sync->latency_us / raw->latency_us;
      out << std::fixed << std::setprecision(2) << "ratio sync_append_latency / raw_fdatasync_latency = "
          << sync->latency_us << " us / " << raw->latency_us << " us = " << ratio << " (target <= 1.3): "
          << (ratio <= 1.3 ? "MET" : "NOT MET") << "\n";
    } else {
      out << "ratio sync_append_latency / raw_fdatasync_latency: not measured in this run\n";
    }
    const Figures* one = Find("BM_AppendSyncThreads", 1);
    const Figures* sixteen = Find("BM_AppendSyncThreads", 16);
    if (one && sixteen && one->items_per_second > 0) {
      const double ratio = sixteen->items_per_second / one->items_per_second;
      out << std::fixed << std::setprecision(2) << "ratio sync_throughput_16_threads / sync_throughput_1_thread = "
          << sixteen->items_per_second << " / " << one->items_per_second << " items/s = " << ratio
          << " (target >= 6): " << (ratio >= 6 ? "MET" : "NOT MET") << "\n";
    } else {
      out << "ratio sync_throughput_16_threads / sync_throughput_1_thread: not measured in this run\n";
    }
    out.flush();
  }

 private:
  using Key = std::pair<std::string, int64_t>;
  struct Figures {
    bool from_median = false;
    double latency_us = 0;
    double items_per_second = 0;
  };

  const Figures* Find(const std::string& function, int64_t threads) const {
    auto it = figures_.find({function, threads});
    return it == figures_.end() ? nullptr : &it->second;
  }

  std::map<Key, Figures> figures_;
};

const char* FileSystemName(const fs::path& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    default: return "other";
  }
}

// The library's own reporter honours --benchmark_color; ours is built here, so read the flag
// before benchmark::Initialize consumes it. The table is always tabular (one column per counter).
benchmark::ConsoleReporter::OutputOptions ConsoleOptions(int argc, char** argv) {
  std::string color = "auto";
  const std::string flag = "--benchmark_color=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(flag, 0) == 0) color = arg.substr(flag.size());
  }
  bool use_color;
  if (color == "false" || color == "no" || color == "0" || color == "off") {
    use_color = false;
  } else if (color == "true" || color == "yes" || color == "1" || color == "on" || color == "always") {
    use_color = true;
  } else {
    const char* term = std::getenv("TERM");
    use_color = ::isatty(STDOUT_FILENO) != 0 && term != nullptr && std::strcmp(term, "dumb") != 0;
  }
  return use_color ? benchmark::ConsoleReporter::OO_ColorTabular : benchmark::ConsoleReporter::OO_Tabular;
}

}  // namespace

int main(int argc, char** argv) {
  const benchmark::ConsoleReporter::OutputOptions console_options = ConsoleOptions(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  bool created_root = false;
  if (const char* env = std::getenv("ZKSPOOL_BENCH_DIR"); env != nullptr && *env != '\0') {
    g_root = env;
    std::error_code ec;
    fs::create_directories(g_root, ec);
    if (ec) {
      std::cerr << "cannot create ZKSPOOL_BENCH_DIR " << g_root << ": " << ec.message() << "\n";
      return 1;
    }
  } else {
    std::string templ = "/var/tmp/zkspool-bench-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::cerr << "mkdtemp " << templ << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    g_root = templ;
    created_root = true;
  }
  const char* fs_name = FileSystemName(g_root);
  std::cerr << "bench dir: " << g_root.string() << " (file system: " << fs_name << ")\n";
  if (std::strcmp(fs_name, "tmpfs") == 0) {
    std::cerr << "warning: the bench dir is on tmpfs; fdatasync costs nothing there and the figures say nothing "
                 "about a disk\n";
  }

  RatioReporter reporter(console_options);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  if (created_root) {
    std::error_code ec;
    fs::remove_all(g_root, ec);
  }
  return 0;
}
