#include "zk/client_log.h"

#include <spdlog/spdlog.h>

#include <mutex>

namespace zkspool {
namespace {

std::mutex& Mutex() {
  static std::mutex mu;
  return mu;
}
std::shared_ptr<spdlog::logger>& Target() {
  static std::shared_ptr<spdlog::logger> log;
  return log;
}

void Forward(const char* message) {
  std::shared_ptr<spdlog::logger> log;
  {
    std::lock_guard lock(Mutex());
    log = Target();
  }
  if (log) log->debug("zookeeper client: {}", message);
}

}  // namespace

void RouteClientLogTo(std::shared_ptr<spdlog::logger> log) {
  std::lock_guard lock(Mutex());
  Target() = std::move(log);
}

log_callback_fn ClientLogCallback() { return &Forward; }

}  // namespace zkspool
