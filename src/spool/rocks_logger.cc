#include "spool/rocks_logger.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace zkspool {
namespace {

class SpdlogRocksLogger : public rocksdb::Logger {
 public:
  explicit SpdlogRocksLogger(std::shared_ptr<spdlog::logger> log)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), log_(std::move(log)) {}

  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    // Said for every table file when all of them are verified at open; no news.
    if (std::strstr(line, "opened without unique ID to verify") != nullptr) return;
    log_->log(Level(level), "rocksdb: {}", line);
  }

 private:
  static spdlog::level::level_enum Level(rocksdb::InfoLogLevel level) {
    switch (level) {
      case rocksdb::InfoLogLevel::WARN_LEVEL: return spdlog::level::warn;
      case rocksdb::InfoLogLevel::ERROR_LEVEL: return spdlog::level::err;
      case rocksdb::InfoLogLevel::FATAL_LEVEL: return spdlog::level::critical;
      default: return spdlog::level::debug;
    }
  }

  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> RocksLoggerTo(std::shared_ptr<spdlog::logger> log) {
  return std::make_shared<SpdlogRocksLogger>(std::move(log));
}

}  // namespace zkspool
