#include "build_version.h"

#include "git_describe.h"  // generated at build time by cmake/GitDescribe.cmake

namespace zkspool {

const char* ProjectVersion() { return ZKSPOOL_PROJECT_VERSION; }

const char* GitDescribe() { return ZKSPOOL_GIT_DESCRIBE; }

std::string VersionLine(const std::string& program) {
  std::string line = program + " " + ProjectVersion();
  if (*GitDescribe() != '\0') line += std::string(" (git ") + GitDescribe() + ")";
  return line;
}

}  // namespace zkspool
