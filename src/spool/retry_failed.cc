// Spool::RetryFailed (see spool.h): built on the spool's public functions only.
#include <map>

#include "zkspool/spool.h"

namespace zkspool {
namespace {

constexpr size_t kChunk = 1000;

}  // namespace

Result<Spool::RetryReport> Spool::RetryFailed() {
  // The newest failed intent of each path; the others are superseded by it.
  std::map<std::string, FailedIntent> newest;
  RetryReport report;
  for (uint64_t from = 0;;) {
    Result<std::vector<FailedIntent>> chunk = ReadFailed(from, kChunk);
    if (!chunk.ok()) return chunk.status();
    for (FailedIntent& f : *chunk) {
      auto [it, inserted] = newest.try_emplace(f.record.intent.path, f);
      if (!inserted) {
        report.superseded.push_back(std::move(it->second));  // read in sequence order: f is newer
        it->second = std::move(f);
      }
    }
    if (chunk->size() < kChunk) break;
    from = chunk->back().record.seq + 1;
  }
  // One pass over the pending intents and one look-up per path: bounded by the failed set, not
  // by failed paths times the backlog.
  for (uint64_t from = 0;;) {
    Result<std::vector<SpooledIntent>> chunk = ReadPending(from, kChunk);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) break;
    for (const SpooledIntent& r : *chunk) {
      auto it = newest.find(r.intent.path);
      if (it != newest.end() && r.seq > it->second.record.seq) {
        report.superseded.push_back(std::move(it->second));
        newest.erase(it);
      }
    }
    from = chunk->back().seq + 1;
  }
  Status stopped;
  for (auto& [path, f] : newest) {
    Result<SpooledIntent> registered = GetRegistered(path);
    if (!registered.ok() && registered.status().code() != StatusCode::kNotFound) {
      stopped = registered.status();
      break;
    }
    if (registered.ok() && registered->seq > f.record.seq) {
      report.superseded.push_back(std::move(f));
      continue;
    }
    const Intent& intent = f.record.intent;
    const int64_t ttl_ms = intent.expires_at_ms != 0 ? intent.expires_at_ms - intent.enqueued_at_ms : 0;
    Result<uint64_t> seq = Append(intent, std::chrono::milliseconds(ttl_ms > 0 ? ttl_ms : 0));
    if (!seq.ok()) {
      stopped = seq.status();
      break;
    }
    report.retried.push_back({f.record.seq, *seq, path});
  }
  std::vector<uint64_t> done;
  for (const RetriedIntent& r : report.retried) done.push_back(r.failed_seq);
  for (const FailedIntent& f : report.superseded) done.push_back(f.record.seq);
  Result<std::vector<FailedIntent>> removed = RemoveFailed(done);
  if (!removed.ok()) return removed.status();
  if (!stopped.ok()) return stopped;
  return report;
}

}  // namespace zkspool
