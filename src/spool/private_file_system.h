// The spool holds session passwords and what services publish: its files are for its owner only.
// RocksDB creates files with mode 0666 & ~umask (0644 usually) and has no option for it, so this
// wrapper narrows every file RocksDB creates to 0600 right after creating it. The spool
// directory itself is 0700, so no other user can open a file in the moment before the chmod.
#pragma once

#include <rocksdb/file_system.h>

#include <memory>

namespace zkspool {

std::shared_ptr<rocksdb::FileSystem> PrivateFileSystem(std::shared_ptr<rocksdb::FileSystem> base);

}  // namespace zkspool
