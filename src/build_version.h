// What this build is, for --version and the zkspool_build_info metric: the project's version
// (CMake's project(VERSION)) and, when it was built from a git checkout, `git describe` of it.
#pragma once

#include <string>

namespace zkspool {

// "0.1.0".
const char* ProjectVersion();
// "v0.1.0-12-gabc1234-dirty"; "" when built from sources without git.
const char* GitDescribe();
// "<program> 0.1.0 (git v0.1.0-12-gabc1234)", or without the parenthesis when there is no git.
std::string VersionLine(const std::string& program);

}  // namespace zkspool
