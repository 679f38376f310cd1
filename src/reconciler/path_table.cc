#include "reconciler/path_table.h"

#include <vector>

namespace zkspool {
namespace {

bool IsBlocked(PathState state) {
  return state == PathState::kBackoffConflict || state == PathState::kBackoffUncertain ||
         state == PathState::kWaitingParent;
}

}  // namespace

PathWork* PathTable::Find(const std::string& path) {
  auto it = paths_.find(path);
  return it == paths_.end() ? nullptr : it->second.get();
}

const PathWork* PathTable::Find(const std::string& path) const {
  auto it = paths_.find(path);
  return it == paths_.end() ? nullptr : it->second.get();
}

PathWork& PathTable::Add(const std::string& path) {
  auto [it, inserted] = paths_.emplace(path, std::make_unique<PathWork>(path));
  PathWork& work = *it->second;
  ++by_state_[static_cast<int>(work.state_)];
  if (work.IsActive()) ++active_;
  Recount(work);
  return work;
}

void PathTable::Erase(PathWork& work) {
  --by_state_[static_cast<int>(work.state_)];
  if (work.IsActive()) --active_;
  if (IsBlocked(work.state_)) blocked_.erase(work.path());
  bytes_ -= work.counted_bytes;
  paths_.erase(work.path());  // frees `work`
}

void PathTable::SetState(PathWork& work, PathState state) {
  if (work.state_ == state) return;
  --by_state_[static_cast<int>(work.state_)];
  if (work.IsActive()) --active_;
  if (IsBlocked(work.state_)) blocked_.erase(work.path());
  work.state_ = state;
  ++by_state_[static_cast<int>(state)];
  if (work.IsActive()) ++active_;
  if (IsBlocked(state)) blocked_.insert(work.path());
}

size_t PathTable::BytesOf(const PathWork& work) {
  size_t bytes = sizeof(PathWork) + 2 * work.path().size() + work.target.intent.data.size() +
                 work.seqs.size() * sizeof(uint64_t);
  if (work.in_doubt) bytes += work.in_doubt->intent.data.size();
  if (work.task) bytes += sizeof(ApplyTask) + work.target.intent.data.size();
  return bytes;
}

void PathTable::Recount(PathWork& work) {
  bytes_ -= work.counted_bytes;
  work.counted_bytes = BytesOf(work);
  bytes_ += work.counted_bytes;
}

void PathTable::ForEachIn(PathState state, const std::function<void(PathWork&)>& f) {
  std::vector<PathWork*> matching;
  for (auto& [path, work] : paths_) {
    if (work->state_ == state) matching.push_back(work.get());
  }
  for (PathWork* work : matching) f(*work);
}

}  // namespace zkspool
