// Spool-wide counts kept in the meta family, so that Open reads them instead of walking the
// backlog. Every write that changes a count adds a signed delta to it in the same atomic batch,
// as a RocksDB merge operand: an append needs no read and no lock for it, so concurrent appends
// still share one fsync (group commit), and a crash can never leave a count out of step with
// the records it counts.
#pragma once

#include <rocksdb/merge_operator.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "zkspool/status.h"

namespace zkspool {

inline constexpr std::string_view kMetaPendingCount = "pending_count";
inline constexpr std::string_view kMetaPendingBytes = "pending_bytes";
inline constexpr std::string_view kMetaRegisteredCount = "registered_count";
inline constexpr std::string_view kMetaFailedCount = "failed_count";
// kMetaExpiredCount (meta_codec.h) is a counter too.

// Adds 64-bit little-endian values modulo 2^64 (deltas are two's complement). The meta family
// must be opened with it by every reader and writer. A value that is not 8 bytes fails the merge,
// which RocksDB reports as corruption.
std::shared_ptr<rocksdb::MergeOperator> CounterMergeOperator();

// Adds `delta` to the counter `key` of `meta` in `batch`; nothing when delta is 0.
void AddToCounter(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* meta, std::string_view key, int64_t delta);

bool IsCounterKey(std::string_view key);

}  // namespace zkspool
