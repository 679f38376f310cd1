#include "reconciler/ancestors.h"

#include <algorithm>

namespace zkspool {

AncestorPlan PlanAncestors(std::string_view path, const std::function<bool(std::string_view)>& known,
                           const std::function<bool(std::string_view)>& has_own_put) {
  AncestorPlan plan;
  const size_t last = path.rfind('/');
  plan.top_level = last == 0 || last == std::string::npos;
  for (size_t slash = last; slash != 0 && slash != std::string::npos; slash = path.rfind('/', slash - 1)) {
    const std::string_view ancestor = path.substr(0, slash);
    if (known(ancestor)) break;
    if (has_own_put(ancestor)) {
      plan.blocked_by = ancestor;
      plan.missing.clear();  // only what lies below it could be made, and that needs it first
      return plan;
    }
    plan.missing.emplace_back(ancestor);
  }
  std::reverse(plan.missing.begin(), plan.missing.end());
  return plan;
}

}  // namespace zkspool
