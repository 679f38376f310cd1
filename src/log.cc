#include "log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace zkspool {

std::shared_ptr<spdlog::logger> LoggerOrDefault(std::shared_ptr<spdlog::logger> configured) {
  if (configured) return configured;
  if (auto logger = spdlog::get("zkspool")) return logger;
  try {
    return spdlog::stderr_color_mt("zkspool");
  } catch (const spdlog::spdlog_ex&) {  // registered by a concurrent caller meanwhile
    return spdlog::get("zkspool");
  }
}

}  // namespace zkspool
