// Writes raw values into a closed spool behind its back, as a newer build or a damaged disk
// would, for tests of what the spool and its readers make of them.
#pragma once

#include <string>

#include "spool/spool_schema.h"

namespace zkspool::testing {

// Puts `value` under `key` in `family` of the spool in `dir` (which must not be open), failing
// the current test if RocksDB refuses.
void RawPut(const std::string& dir, SpoolFamilyIndex family, const std::string& key, const std::string& value);

}  // namespace zkspool::testing
