#include "zk/client_log.h"

#include <spdlog/spdlog.h>

#include <mutex>

namespace zkspool {
namespace {

// Never destroyed: a handle abandoned to keep its session (kKeepSession) may still log while the
// process exits.
std::mutex& Mutex() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::shared_ptr<spdlog::logger>& Target() {
  static auto* log = new std::shared_ptr<spdlog::logger>;
  return *log;
}

std::shared_ptr<spdlog::logger> CurrentTarget() {
  std::lock_guard lock(Mutex());
  return Target();
}

void Forward(const char* message) {
  if (auto log = CurrentTarget()) log->debug("zookeeper client: {}", message);
}

}  // namespace

void RouteClientLogTo(std::shared_ptr<spdlog::logger> log) {
  std::lock_guard lock(Mutex());
  Target() = std::move(log);
}

void StopRoutingClientLogTo(const spdlog::logger* log) {
  std::lock_guard lock(Mutex());
  if (Target().get() == log) Target().reset();
}

log_callback_fn ClientLogCallback() { return &Forward; }

void WarnAboutClient(const std::string& message) {
  if (auto log = CurrentTarget()) log->warn("{}", message);
}

}  // namespace zkspool
