#include "spool/counters.h"

#include "spool/meta_codec.h"

namespace zkspool {
namespace {

class CounterMerge : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    uint64_t sum = 0;
    if (existing != nullptr) {
      Result<uint64_t> base = DecodeU64(existing->ToStringView(), "counter");
      if (!base.ok()) return false;
      sum = *base;
    }
    Result<uint64_t> delta = DecodeU64(value.ToStringView(), "counter");
    if (!delta.ok()) return false;
    *new_value = EncodeU64(sum + *delta);
    return true;
  }
  const char* Name() const override { return "zkspool.CounterMerge"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> CounterMergeOperator() {
  static const std::shared_ptr<rocksdb::MergeOperator> op = std::make_shared<CounterMerge>();
  return op;
}

void AddToCounter(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* meta, std::string_view key, int64_t delta) {
  if (delta == 0) return;
  batch.Merge(meta, key, EncodeU64(static_cast<uint64_t>(delta))).PermitUncheckedError();
}

bool IsCounterKey(std::string_view key) {
  return key == kMetaPendingCount || key == kMetaPendingBytes || key == kMetaRegisteredCount ||
         key == kMetaFailedCount || key == kMetaExpiredCount;
}

}  // namespace zkspool
