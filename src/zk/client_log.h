// The ZooKeeper C client logs to stderr on its own threads; while no server answers it writes
// several lines a second, which would flood an edge host's journal during a long outage. Its
// lines go to our logger at debug level instead; the reconciler reports connection trouble
// itself, once per interval.
#pragma once

#include <zookeeper/zookeeper.h>

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace zkspool {

// Sends the C client's log lines of every handle created with ClientLogCallback() to `log`
// (process-wide: the C client's callback carries no context, so the last call wins).
// Thread-safe.
void RouteClientLogTo(std::shared_ptr<spdlog::logger> log);

// Stops sending to `log` if it is still the target (its owner is going away).
void StopRoutingClientLogTo(const spdlog::logger* log);

// The callback to pass to zookeeper_init2.
log_callback_fn ClientLogCallback();

// Says something about the client that an operator should see, at warning level, to where
// RouteClientLogTo sends the client's lines (nowhere if nothing is routed). Thread-safe.
void WarnAboutClient(const std::string& message);

}  // namespace zkspool
