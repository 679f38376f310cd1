// Spool-wide counts kept in the meta family, so that Open reads them instead of walking the
// backlog. Every write that changes a count adds a signed delta to it in the same atomic batch,
// as a RocksDB merge operand: an append needs no read and no lock for it, so concurrent appends
// still share one fsync (group commit), and a crash can never leave a count out of step with
// the records it counts. A counter is one or more 64-bit values added element-wise; the pending
// count and bytes share one key, so an append adds one operand, not two (each is replayed from
// the log after a crash).
#pragma once

#include <rocksdb/merge_operator.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

#include "zkspool/status.h"

namespace zkspool {

inline constexpr std::string_view kMetaPending = "pending";  // {count, bytes}
inline constexpr std::string_view kMetaRegisteredCount = "registered_count";
inline constexpr std::string_view kMetaFailedCount = "failed_count";
// kMetaExpiredCount (meta_codec.h) is a counter too.

// Adds little-endian 64-bit values element-wise, modulo 2^64 (deltas are two's complement).
// The meta family must be opened with it by every reader and writer. Operands of another length
// than the value fail the merge, which RocksDB reports as corruption.
std::shared_ptr<rocksdb::MergeOperator> CounterMergeOperator();

// Adds `deltas` to the counter `key` of `meta` in `batch`; nothing when all are 0.
void AddToCounter(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* meta, std::string_view key,
                  std::initializer_list<int64_t> deltas);
std::string EncodeCounter(std::initializer_list<uint64_t> values);
// Errors: kCorruption naming `key` when the value is not `width` values.
Result<std::vector<uint64_t>> DecodeCounter(std::string_view bytes, std::string_view key, size_t width);

// How many values the counter `key` holds; 0 if `key` is not a counter.
size_t CounterWidth(std::string_view key);

}  // namespace zkspool
