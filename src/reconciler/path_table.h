// Owns every PathWork and keeps the counts the reconciler bounds its work by: paths per state,
// active paths, tracked bytes, and the set of paths that wait on something outside the process
// (for Stats). Changing a path's state goes through SetState, so the counts cannot drift.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reconciler/path_work.h"

namespace zkspool {

class PathTable {
 public:
  PathWork* Find(std::string_view path);
  const PathWork* Find(std::string_view path) const;
  // A new entry in kQueued. The path must not be tracked yet.
  PathWork& Add(const std::string& path);
  // The path's entry, added (as Add does) if it had none; `added` says which. One lookup.
  PathWork& FindOrAdd(const std::string& path, bool& added);
  void Erase(PathWork& work);
  void SetState(PathWork& work, PathState state);
  // Call after changing what the entry holds (target, in_doubt, seqs).
  void Recount(PathWork& work);

  size_t size() const { return paths_.size(); }
  size_t count(PathState state) const { return by_state_[static_cast<int>(state)]; }
  size_t active() const { return active_; }
  size_t bytes() const { return bytes_; }
  // Paths in kBackoffConflict, kBackoffUncertain or kWaitingParent, in path order.
  const std::set<std::string>& blocked() const { return blocked_; }
  // Calls `f` for every path in `state`.
  void ForEachIn(PathState state, const std::function<void(PathWork&)>& f);

 private:
  static size_t BytesOf(const PathWork& work);

  // Keyed by a view of the entry's own path: one copy of each path, not two.
  std::unordered_map<std::string_view, std::unique_ptr<PathWork>> paths_;
  size_t by_state_[kPathStateCount] = {};
  size_t active_ = 0;
  size_t bytes_ = 0;
  std::set<std::string> blocked_;
};

}  // namespace zkspool
