// What the chaos run's owner process acknowledged, and therefore what ZooKeeper must hold once
// the system is quiet. Fed from the child's report lines:
//   T <thread> <P|D> <path> <data>   thread is about to spool this (the kill may cut the ack off)
//   A <thread> <seq>                 that thread's last T was acknowledged
//   F <thread>                       that thread's last T failed (say, a full disk): it may or may
//                                    not have reached the spool's log, like a cut-off try
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace zkspool::chaos {

// A path's state: its data, or nullopt for "does not exist".
using NodeState = std::optional<std::string>;

class ChaosModel {
 public:
  // Applies one report line. Returns false for a line it cannot parse or an ack with no try.
  bool Feed(const std::string& line);
  // The owning process was killed: each thread's unacknowledged try may or may not have been
  // spooled, so for its path either outcome is allowed until the next check settles it.
  void OwnerKilled();

  // "" when `zk` (every node under the model's roots: path -> data) is a state the acknowledged
  // intents allow: each path as its last acknowledged intent left it (or as a cut-off later try
  // left it), and no node the model never asked for. Otherwise the first violation.
  std::string Check(const std::map<std::string, std::string>& zk) const;
  // After a passing Check on a drained spool: the cut-off tries are decided by what ZooKeeper
  // shows, so later checks are exact again.
  void Settle(const std::map<std::string, std::string>& zk);

  uint64_t acked() const { return acked_; }
  size_t expected_nodes() const;  // paths whose acknowledged state is "exists"

 private:
  struct PathState {
    NodeState acked;
    bool has_tentative = false;
    NodeState tentative;
  };
  struct Try {
    std::string path;
    NodeState state;
  };
  std::map<std::string, PathState> paths_;
  std::map<int, Try> open_tries_;  // thread -> its try not yet acknowledged
  uint64_t acked_ = 0;
};

}  // namespace zkspool::chaos
