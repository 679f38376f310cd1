// The agent's Prometheus text, the same for the textfile and GET /metrics: the Registrar's
// metrics (zkspool::RenderPrometheusText) and zkspool_build_info, every sample carrying the
// operator's --metrics-labels.
#pragma once

#include <string>
#include <string_view>

#include "zkspool/registrar.h"
#include "zkspool/status.h"

namespace zkspool::agent {

// "k=v,k2=v2" (empty: none) as Prometheus label text `k="v",k2="v2"`, values escaped.
// Errors: kInvalidArgument naming the bad pair: not name=value, a name that is not
// [a-zA-Z_][a-zA-Z0-9_]* or starts with "__" (reserved), a name given twice, or one the metrics
// use themselves (state, session_id, le, version, git). Thread-safe.
Result<std::string> ParseMetricsLabels(std::string_view text);

// Thread-safe.
std::string RenderAgentMetrics(const RegistrarStats& stats, const std::string& labels);

}  // namespace zkspool::agent
