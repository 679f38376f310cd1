// Which ancestors of a path must be made before the path can be created: the one rule the
// pipeline follows both for a single create that found no parent and for a multi of creates
// (whose missing parents are sent just ahead of it).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace zkspool {

struct AncestorPlan {
  // Ancestors to create as empty persistent nodes, shallowest first.
  std::vector<std::string> missing;
  // The deepest unknown ancestor that has a put of its own pending: it must be made by that
  // intent (an empty persistent parent would take the place of, say, its container or ephemeral
  // node), so nothing above it is planned and the path waits for it. Empty if none.
  std::string blocked_by;
  // The path sits right under the root (of the chroot, if any): no ancestor of it can be made
  // from this handle.
  bool top_level = false;
};

// `known` says an ancestor exists (created or seen on this connection); `has_own_put` says an
// ancestor has a put of its own pending. Walks from the parent up to the first known ancestor.
AncestorPlan PlanAncestors(std::string_view path, const std::function<bool(std::string_view)>& known,
                           const std::function<bool(std::string_view)>& has_own_put);

}  // namespace zkspool
