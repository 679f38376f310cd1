// The agent's health rule, for GET /v1/health (docs/agent.md, "Health"): healthy while the
// ZooKeeper session is connected, no pending intent has waited longer than the threshold and no
// intent is parked as failed. Anything else means what the agent was asked to hold may not be in
// ZooKeeper, and only time (an outage ending) or an operator (failed intents) will change that.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "zkspool/registrar.h"

namespace zkspool::agent {

struct Health {
  bool healthy = true;
  std::vector<std::string> problems;  // empty when healthy
  nlohmann::json ToJson(const RegistrarStats& stats) const;
};

// Pure; thread-safe.
Health CheckHealth(const RegistrarStats& stats, std::chrono::milliseconds max_pending_age);

}  // namespace zkspool::agent
