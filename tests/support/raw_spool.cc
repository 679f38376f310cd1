#include "support/raw_spool.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <vector>

namespace zkspool::testing {

void RawPut(const std::string& dir, SpoolFamilyIndex family, const std::string& key, const std::string& value) {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, SpoolFamilies({}), &handles, &db).ok());
  EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), handles[family], key, value).ok());
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

}  // namespace zkspool::testing
