// The spool's directory on disk: creating it private, refusing directories that are not spools,
// and recording which process owns it so a second opener can be told who holds the lock.
//
// A directory is a spool only if it carries our ZKSPOOL marker (written before RocksDB writes
// anything, so a crash while creating a spool leaves a directory that is still recognised as
// ours); another program's RocksDB database is not a spool. Once a spool was created completely,
// the marker says so: from then on a missing column family or a missing HIGHWATER file is damage,
// not an unfinished creation.
#pragma once

#include <string>

#include "zkspool/status.h"

namespace zkspool {

// Creates `dir` with mode 0700 if missing (its parent must exist) and marks it as a spool.
// Refuses what is not a directory and a non-empty directory without our marker, so that a
// mistyped path never turns someone's directory into a spool.
// Errors: kNotASpool (not a directory, no marker), kCorruption (a spool whose RocksDB CURRENT
// file is gone while its database files remain, or whose whole database is gone although it was
// created: RocksDB would start an empty database in its place; anything in the directory that is
// not a regular file, such as a FIFO, device, directory or symbolic link; one of the small files
// read whole (ZKSPOOL, OWNER, HIGHWATER, CURRENT, IDENTITY) over 64 KiB), kIOError (permissions,
// a dangling symbolic link, ...), kInvalidArgument (empty path).
Status PrepareSpoolDirectory(const std::string& dir);

// Checks, without creating or writing anything, that `dir` is an existing spool directory with
// a database. Errors: kNotFound (no such path), kNotASpool, kCorruption and kIOError as above.
Status CheckSpoolDirectory(const std::string& dir);

// Only the check of what `dir` holds (regular files, small files small), for readers of a damaged
// spool that CheckSpoolDirectory would refuse for its damage (salvage).
// Errors: kCorruption naming the file, kIOError.
Status CheckSpoolEntries(const std::string& dir);

// Records in the marker that the spool was created completely. Errors: kIOError.
Status MarkSpoolCreated(const std::string& dir);
// Whether MarkSpoolCreated was done (spools of builds before it: false).
bool SpoolMarkedCreated(const std::string& dir);

// Writes "<pid>@<host>" to dir/OWNER, replacing whatever is there without opening it; called
// once the RocksDB lock is held.
void WriteOwner(const std::string& dir);
// The recorded owner, or "" if unknown (no regular file there, or unreadable). Never blocks.
std::string ReadOwner(const std::string& dir);

}  // namespace zkspool
