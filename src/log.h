// The logger zkspool writes to: the application's, or spdlog's "zkspool" logger on stderr.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace zkspool {

std::shared_ptr<spdlog::logger> LoggerOrDefault(std::shared_ptr<spdlog::logger> configured);

}  // namespace zkspool
