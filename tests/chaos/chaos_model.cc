#include "chaos_model.h"

#include <set>
#include <sstream>

namespace zkspool::chaos {
namespace {

std::string Describe(const NodeState& s) { return s ? "\"" + *s + "\"" : "absent"; }

}  // namespace

bool ChaosModel::Feed(const std::string& line) {
  std::istringstream in(line);
  char kind = 0;
  int thread = -1;
  in >> kind >> thread;
  if (!in) return false;
  if (kind == 'T') {
    char op = 0;
    std::string path;
    std::string data;
    in >> op >> path >> data;
    if (!in || (op != 'P' && op != 'D')) return false;
    open_tries_[thread] = Try{path, op == 'P' ? NodeState(data) : std::nullopt};
    return true;
  }
  if (kind == 'F') {
    auto it = open_tries_.find(thread);
    if (it == open_tries_.end()) return false;
    PathState& p = paths_[it->second.path];
    p.has_tentative = true;
    p.tentative = it->second.state;
    open_tries_.erase(it);
    return true;
  }
  if (kind == 'A') {
    auto it = open_tries_.find(thread);
    if (it == open_tries_.end()) return false;
    PathState& p = paths_[it->second.path];
    p.acked = it->second.state;
    p.has_tentative = false;  // a later acknowledged intent supersedes a cut-off one
    open_tries_.erase(it);
    ++acked_;
    return true;
  }
  return false;
}

void ChaosModel::OwnerKilled() {
  for (const auto& [thread, attempt] : open_tries_) {
    PathState& p = paths_[attempt.path];
    p.has_tentative = true;
    p.tentative = attempt.state;
  }
  open_tries_.clear();
}

std::string ChaosModel::Check(const std::map<std::string, std::string>& zk) const {
  for (const auto& [path, state] : paths_) {
    auto node = zk.find(path);
    NodeState actual = node == zk.end() ? std::nullopt : NodeState(node->second);
    if (actual == state.acked || (state.has_tentative && actual == state.tentative)) continue;
    std::string allowed = Describe(state.acked);
    if (state.has_tentative) allowed += " or " + Describe(state.tentative);
    return path + " is " + Describe(actual) + " in ZooKeeper, expected " + allowed;
  }
  for (const auto& [path, data] : zk) {
    if (!paths_.contains(path)) return path + " exists in ZooKeeper but was never registered";
  }
  return "";
}

void ChaosModel::Settle(const std::map<std::string, std::string>& zk) {
  for (auto& [path, state] : paths_) {
    if (!state.has_tentative) continue;
    auto node = zk.find(path);
    state.acked = node == zk.end() ? std::nullopt : NodeState(node->second);
    state.has_tentative = false;
  }
}

size_t ChaosModel::expected_nodes() const {
  size_t n = 0;
  for (const auto& [path, state] : paths_) n += state.acked.has_value();
  return n;
}

}  // namespace zkspool::chaos
