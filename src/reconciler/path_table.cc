#include "reconciler/path_table.h"

#include <vector>

namespace zkspool {
namespace {

bool IsBlocked(PathState state) {
  return state == PathState::kBackoffConflict || state == PathState::kBackoffUncertain ||
         state == PathState::kWaitingParent;
}

}  // namespace

PathWork* PathTable::Find(std::string_view path) {
  auto it = paths_.find(path);
  return it == paths_.end() ? nullptr : it->second.get();
}

const PathWork* PathTable::Find(std::string_view path) const {
  auto it = paths_.find(path);
  return it == paths_.end() ? nullptr : it->second.get();
}

PathWork& PathTable::Add(const std::string& path) {
  bool added = false;
  return FindOrAdd(path, added);
}

PathWork& PathTable::FindOrAdd(const std::string& path, bool& added) {
  auto [it, inserted] = paths_.try_emplace(path);
  added = inserted;
  if (!inserted) return *it->second;
  // Keyed by a view of the argument until the entry exists; then by a view of the entry's own
  // path (equal, so re-inserting the node finds the same place in the table, still in cache).
  auto node = paths_.extract(it);
  node.mapped() = std::make_unique<PathWork>(path);
  node.key() = node.mapped()->path();
  PathWork& work = *node.mapped();
  paths_.insert(std::move(node));
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
  const std::string_view key = work.path();
  paths_.erase(key);  // one walk of the bucket; frees `work`, and with it the key's text, last
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
