// The owning process of the chaos run: a Registrar and several threads that register, update and
// deregister their own random paths until killed. Report lines on stdout, one write(2) each (see
// chaos_model.h); commands on stdin:
//   pause   finish the calls in progress, stop, then print "P"
//   resume  go on
//   stats   print "S <pending> <registered> <session id>"
//   full    the spool's disk is full from now on (every write fails with ENOSPC)
//   space   the disk has space again
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/disk_full_fs.h"
#include "support/report_line.h"
#include "zkspool/registrar.h"

namespace {

constexpr int kThreads = 4;
constexpr int kPathsPerThread = 8;
constexpr int kEphemeralPaths = 6;  // of each thread's paths; the rest are persistent

using zkspool::testing::ReportLine;

class Workers {
 public:
  Workers(zkspool::Registrar& registrar, uint64_t seed) : registrar_(registrar) {
    for (int t = 0; t < kThreads; ++t) threads_.emplace_back([this, t, seed] { Run(t, seed * 31 + t); });
  }
  void Pause() {
    std::unique_lock lock(mu_);
    paused_ = true;
    changed_.wait(lock, [this] { return idle_ == kThreads; });
  }
  void Resume() {
    std::lock_guard lock(mu_);
    paused_ = false;
    changed_.notify_all();
  }

 private:
  void Run(int t, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (uint64_t n = 0;; ++n) {
      {
        std::unique_lock lock(mu_);
        if (paused_) {
          ++idle_;
          changed_.notify_all();
          changed_.wait(lock, [this] { return !paused_; });
          --idle_;
        }
      }
      int k = static_cast<int>(rng() % kPathsPerThread);
      std::string path = "/chaos/w" + std::to_string(t) + "/p" + std::to_string(k);
      bool del = rng() % 4 == 0;
      std::string data = "t" + std::to_string(t) + "-" + std::to_string(seed % 100000) + "-" + std::to_string(n);
      ReportLine("T " + std::to_string(t) + (del ? " D " : " P ") + path + " " + (del ? "-" : data));
      auto mode = k < kEphemeralPaths ? zkspool::NodeMode::kEphemeral : zkspool::NodeMode::kPersistent;
      auto seq = del ? registrar_.Deregister(path) : registrar_.Register(path, data, mode);
      if (!seq.ok() && seq.status().code() == zkspool::StatusCode::kIOError) {  // a full disk
        ReportLine("F " + std::to_string(t));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (!seq.ok()) {
        std::fprintf(stderr, "chaos child: %s\n", seq.status().ToString().c_str());
        ::_exit(1);
      }
      ReportLine("A " + std::to_string(t) + " " + std::to_string(*seq));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
    }
  }

  zkspool::Registrar& registrar_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool paused_ = false;
  int idle_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SPOOL HOSTS SEED\n", argv[0]);
    return 2;
  }
  zkspool::RegistrarOptions options;
  options.spool_dir = argv[1];
  options.hosts = argv[2];
  options.session_timeout = std::chrono::milliseconds(4000);
  options.anti_entropy_interval = std::chrono::milliseconds(5000);
  auto disk = std::make_shared<zkspool::testing::DiskFullFs>();
  options.spool.file_system = disk;
  auto registrar = zkspool::Registrar::Open(options);
  if (!registrar.ok()) {
    std::fprintf(stderr, "chaos child: %s\n", registrar.status().ToString().c_str());
    return 1;
  }
  auto* workers = new Workers(**registrar, std::stoull(argv[3]));  // runs until the process dies
  for (std::string command; std::getline(std::cin, command);) {
    if (command == "pause") {
      workers->Pause();
      ReportLine("P");
    } else if (command == "resume") {
      workers->Resume();
    } else if (command == "full" || command == "space") {
      disk->SetFull(command == "full");
      ReportLine("D");
    } else if (command == "stats") {
      zkspool::RegistrarStats stats = (*registrar)->Stats();
      // After the three numbers the runner reads, what a failed check prints to explain itself.
      ReportLine("S " + std::to_string(stats.spool.pending_count) + " " + std::to_string(stats.spool.registered_count) +
                 " " + std::to_string(stats.session_id) + " " + zkspool::SessionStateName(stats.session_state) +
                 " ops_in_flight=" + std::to_string(stats.operations_in_flight) +
                 " tracked=" + std::to_string(stats.paths_tracked) + " call_out=" + std::to_string(stats.paths_in_flight) +
                 " uncertain=" + std::to_string(stats.paths_uncertain) +
                 " conflicting=" + std::to_string(stats.paths_conflicting) +
                 " waiting_parent=" + std::to_string(stats.paths_waiting_parent) +
                 " window=" + std::to_string(stats.pacer_window) + " cuts=" + std::to_string(stats.pacer_cuts) +
                 " retried=" + std::to_string(stats.retried) + " saved=" + (stats.session_saved ? "yes" : "no") +
                 " last_error=" + stats.last_error);
    }
  }
  ::_exit(0);  // stdin closed: the parent is gone or done
}
