// The spool's directory on disk: creating it private, refusing directories that are not spools,
// and recording which process owns it so a second opener can be told who holds the lock.
#pragma once

#include <string>

#include "zkspool/status.h"

namespace zkspool {

// Creates `dir` with mode 0700 if missing (its parent must exist) and marks it as a spool.
// Refuses a path that is not a directory, and a non-empty directory that has neither our marker
// nor a RocksDB CURRENT file, so that a mistyped path never turns someone's directory into a
// spool.
Status PrepareSpoolDirectory(const std::string& dir);

// Checks, without creating or writing anything, that `dir` is an existing spool directory: it
// has our marker or a RocksDB CURRENT file. Errors: kNotFound (no such path), kInvalidArgument
// (not a directory, or not a spool), kIOError.
Status CheckSpoolDirectory(const std::string& dir);

// Writes "<pid>@<host>" to dir/OWNER; called once the RocksDB lock is held.
void WriteOwner(const std::string& dir);
// The recorded owner, or "" if unknown.
std::string ReadOwner(const std::string& dir);

}  // namespace zkspool
