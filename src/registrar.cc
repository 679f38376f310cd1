#include "zkspool/registrar.h"

#include <fmt/format.h>
#include <zookeeper/zookeeper.h>

#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include "log.h"
#include "reconciler/reconciler.h"

namespace zkspool {

const char* SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kConnecting: return "connecting";
    case SessionState::kConnected: return "connected";
    case SessionState::kExpired: return "expired";
    case SessionState::kAuthFailed: return "auth-failed";
    case SessionState::kClosed: return "closed";
  }
  return "unknown";
}

const char* EventKindName(RegistrarEvent::Kind kind) {
  switch (kind) {
    case RegistrarEvent::Kind::kSession: return "session";
    case RegistrarEvent::Kind::kApplied: return "applied";
    case RegistrarEvent::Kind::kExpired: return "expired";
    case RegistrarEvent::Kind::kConflict: return "conflict";
    case RegistrarEvent::Kind::kWaiting: return "waiting";
    case RegistrarEvent::Kind::kPaced: return "paced";
    case RegistrarEvent::Kind::kFailed: return "failed";
  }
  return "unknown";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApplied: return "applied";
    case Outcome::kExpired: return "expired";
    case Outcome::kFailed: return "failed";
  }
  return "unknown";
}

struct Registrar::Impl {
  RegistrarOptions options;
  // Callers copy these under the lock and use them outside it, so that appends from many
  // threads share fsyncs and a Close cannot free what a waiter still uses.
  mutable std::mutex mu;
  std::shared_ptr<Spool> spool;
  std::shared_ptr<Reconciler> reconciler;
  // Ready once the spool is destroyed (its directory lock released): the spool's deleter runs
  // on the thread of whichever call lets go of it last, and Close waits for it.
  std::shared_future<void> spool_closed;

  std::pair<std::shared_ptr<Spool>, std::shared_ptr<Reconciler>> Parts() const {
    std::lock_guard lock(mu);
    return {spool, reconciler};
  }

  // Paths that have intents in the failed set: loaded at Open, added to by failed events, so that
  // applying a later intent of such a path can drop the failed ones it makes moot (see
  // RetryFailed in registrar.h). failed_mu also serializes that with RetryFailed and ClearFailed.
  std::mutex failed_mu;
  std::set<std::string> failed_paths;
  std::shared_ptr<spdlog::logger> log;

  Status LoadFailedPaths(const Spool& from_spool);
  // On the reconciler thread, after the spool recorded the outcome the event reports.
  void DropMootFailed(const RegistrarEvent& event, Spool& events_spool);

  Result<uint64_t> Append(Intent intent, std::chrono::milliseconds ttl) {
    auto [spool_ref, reconciler_ref] = Parts();
    if (!spool_ref) return Status::InvalidArgument("the registrar is closed");
    intent.acl = options.acl;
    // Negative is passed on, so that the spool refuses it rather than it silently meaning "the default".
    Result<uint64_t> seq = spool_ref->Append(std::move(intent), ttl.count() != 0 ? ttl : options.default_ttl);
    if (seq.ok()) reconciler_ref->Notify();
    return seq;
  }

  Result<std::vector<uint64_t>> AppendBatch(std::vector<BatchEntry> entries) {
    auto [spool_ref, reconciler_ref] = Parts();
    if (!spool_ref) return Status::InvalidArgument("the registrar is closed");
    for (BatchEntry& entry : entries) {
      entry.intent.acl = options.acl;
      if (entry.ttl.count() == 0) entry.ttl = options.default_ttl;
    }
    Result<std::vector<uint64_t>> seqs = spool_ref->AppendBatch(std::move(entries));
    if (seqs.ok() && !seqs->empty()) reconciler_ref->Notify();
    return seqs;
  }
};

namespace {

using std::chrono::milliseconds;

constexpr double kMinOpsPerSecond = 1.0 / 86'400;  // one a day

Status OutOfRange(const std::string& name, int64_t value, const std::string& range) {
  return Status::InvalidArgument(name + " " + std::to_string(value) + " is out of range: " + range);
}

// Every bound of RegistrarOptions in one place, so that nothing overflows later (the C client
// takes the session timeout as an int) and no option is accepted that would fail every Append.
Status CheckOptionRanges(const RegistrarOptions& o) {
  constexpr int64_t kMaxIntMs = std::numeric_limits<int>::max();
  if (o.session_timeout.count() < 1 || o.session_timeout.count() > kMaxIntMs) {
    return OutOfRange("session_timeout", o.session_timeout.count(), "1 to " + std::to_string(kMaxIntMs) + " ms");
  }
  if (o.default_ttl.count() < 0 || o.default_ttl > kMaxSpoolTtl) {
    return OutOfRange("default_ttl", o.default_ttl.count(),
                      "0 (none) to " + std::to_string(kMaxSpoolTtl.count()) + " ms (the spool's maximum TTL)");
  }
  if (o.max_in_flight < 1 || o.max_in_flight > 100'000) {
    return OutOfRange("max_in_flight", static_cast<int64_t>(o.max_in_flight), "1 to 100000");
  }
  const std::pair<const char*, milliseconds> durations[] = {{"anti_entropy_interval", o.anti_entropy_interval},
                                                            {"conflict_backoff_min", o.conflict_backoff_min},
                                                            {"conflict_backoff_max", o.conflict_backoff_max}};
  for (const auto& [name, value] : durations) {
    if (value.count() < 1 || value > kMaxSpoolTtl) {
      return OutOfRange(name, value.count(), "1 to " + std::to_string(kMaxSpoolTtl.count()) + " ms");
    }
  }
  if (o.reconnect_jitter.count() < 0 || o.reconnect_jitter > std::chrono::hours(1)) {
    return OutOfRange("reconnect_jitter", o.reconnect_jitter.count(), "0 to 3600000 ms");
  }
  // Below one operation a day the wait for the next token overflows a time_point.
  if (!(o.max_ops_per_second >= 0) || o.max_ops_per_second > 1e9 ||
      (o.max_ops_per_second > 0 && o.max_ops_per_second < kMinOpsPerSecond)) {
    return Status::InvalidArgument(fmt::format("max_ops_per_second {} is out of range: 0 (none), or {} to 1e9",
                                               o.max_ops_per_second, kMinOpsPerSecond));
  }
  if (o.conflict_backoff_max < o.conflict_backoff_min) {
    return Status::InvalidArgument("conflict_backoff_max must be at least conflict_backoff_min");
  }
  return Status::Ok();
}

}  // namespace

constexpr size_t kReadChunk = 1000;

Status Registrar::Impl::LoadFailedPaths(const Spool& from_spool) {
  for (uint64_t from = 0;;) {
    Result<std::vector<FailedIntent>> chunk = from_spool.ReadFailed(from, kReadChunk);
    if (!chunk.ok()) return chunk.status();
    for (const FailedIntent& f : *chunk) failed_paths.insert(f.record.intent.path);
    if (chunk->size() < kReadChunk) return Status::Ok();
    from = chunk->back().record.seq + 1;
  }
}

void Registrar::Impl::DropMootFailed(const RegistrarEvent& event, Spool& events_spool) {
  std::lock_guard lock(failed_mu);
  if (event.kind == RegistrarEvent::Kind::kFailed) {
    failed_paths.insert(event.path);
    return;
  }
  if (event.kind != RegistrarEvent::Kind::kApplied || !failed_paths.contains(event.path)) return;
  std::vector<uint64_t> moot;
  bool newer_failed = false;
  for (uint64_t from = 0;;) {
    Result<std::vector<FailedIntent>> chunk = events_spool.ReadFailed(from, kReadChunk);
    if (!chunk.ok()) {
      log->error("cannot read the failed set: {}", chunk.status().ToString());
      return;
    }
    for (const FailedIntent& f : *chunk) {
      if (f.record.intent.path != event.path) continue;
      if (f.record.seq < event.seq) {
        moot.push_back(f.record.seq);
      } else {
        newer_failed = true;
      }
    }
    if (chunk->size() < kReadChunk) break;
    from = chunk->back().record.seq + 1;
  }
  if (moot.empty()) return;
  if (Result<std::vector<FailedIntent>> removed = events_spool.RemoveFailed(moot); !removed.ok()) {
    log->error("cannot drop failed intents of {} that intent {} superseded: {}", event.path, event.seq,
               removed.status().ToString());
    return;
  }
  log->info("{}: intent {} is applied; dropped {} failed intents of the path it superseded", event.path, event.seq,
            moot.size());
  if (!newer_failed) failed_paths.erase(event.path);
}

Registrar::Registrar(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Registrar::~Registrar() { Close().ok(); }

Result<std::unique_ptr<Registrar>> Registrar::Open(RegistrarOptions options) {
  if (Status s = ValidateConnectString(options.hosts); !s.ok()) return s;
  if (!options.digest_auth.empty() && options.digest_auth.find(':') == std::string::npos) {
    return Status::InvalidArgument("digest_auth must be \"user:password\"");
  }
  if (options.acl != AclChoice::kOpen && options.digest_auth.empty()) {
    return Status::InvalidArgument(std::string("acl ") + AclChoiceName(options.acl) +
                                   " needs digest_auth: ZooKeeper refuses creator ACLs for anonymous sessions");
  }
  if (Status s = CheckOptionRanges(options); !s.ok()) return s;
  // The C client logs to stderr at INFO by default; its warnings are enough. This is
  // process-wide (documented at Open in registrar.h): it also applies to other ZooKeeper
  // handles of the application.
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);

  auto impl = std::make_unique<Impl>();
  std::shared_ptr<spdlog::logger> log = LoggerOrDefault(options.spool.logger);
  options.spool.logger = log;
  Result<std::unique_ptr<Spool>> spool = Spool::Open(options.spool_dir, options.spool);
  if (!spool.ok()) return spool.status();
  auto closed = std::make_shared<std::promise<void>>();
  impl->spool_closed = closed->get_future().share();
  impl->spool = std::shared_ptr<Spool>(std::move(spool).value().release(), [closed](Spool* s) {
    delete s;
    closed->set_value();
  });
  impl->log = log;
  if (Status s = impl->LoadFailedPaths(*impl->spool); !s.ok()) return s;
  // The reconciler holds the spool until it stops, and only its thread calls on_event.
  options.on_event = [impl = impl.get(), spool = impl->spool.get(), user = options.on_event](const RegistrarEvent& e) {
    impl->DropMootFailed(e, *spool);
    if (user) user(e);
  };
  impl->options = options;
  impl->reconciler = std::make_shared<Reconciler>(std::move(options), impl->spool, log);
  if (Status s = impl->reconciler->Start(); !s.ok()) return s;
  return std::unique_ptr<Registrar>(new Registrar(std::move(impl)));
}

Result<uint64_t> Registrar::Register(const std::string& path, const std::string& data, NodeMode mode,
                                     std::chrono::milliseconds ttl) {
  Intent intent;
  intent.op = Op::kPut;
  intent.path = path;
  intent.data = data;
  intent.mode = mode;
  return impl_->Append(std::move(intent), ttl);
}

Result<uint64_t> Registrar::Update(const std::string& path, const std::string& data, std::optional<NodeMode> mode,
                                   std::chrono::milliseconds ttl) {
  if (mode) return Register(path, data, *mode, ttl);
  Intent intent;
  intent.op = Op::kPut;
  intent.path = path;
  intent.data = data;
  intent.keep_mode = true;  // resolved in sequence order by the reconciler (see ResolveKeepMode)
  return impl_->Append(std::move(intent), ttl);
}

Result<uint64_t> Registrar::RegisterWithNodeTtl(const std::string& path, const std::string& data,
                                                std::chrono::milliseconds node_ttl, std::chrono::milliseconds ttl) {
  Intent intent;
  intent.op = Op::kPut;
  intent.path = path;
  intent.data = data;
  intent.mode = NodeMode::kPersistentWithTtl;
  intent.node_ttl_ms = node_ttl.count();
  return impl_->Append(std::move(intent), ttl);
}

Result<uint64_t> Registrar::Deregister(const std::string& path, std::chrono::milliseconds ttl) {
  Intent intent;
  intent.op = Op::kDelete;
  intent.path = path;
  return impl_->Append(std::move(intent), ttl);
}

Result<std::vector<uint64_t>> Registrar::Submit(std::vector<BatchEntry> entries) {
  return impl_->AppendBatch(std::move(entries));
}

Result<Outcome> Registrar::WaitApplied(uint64_t ticket, std::chrono::milliseconds timeout) {
  auto [spool, reconciler] = impl_->Parts();
  if (!reconciler) return Status::InvalidArgument("the registrar is closed");
  return reconciler->WaitApplied(ticket, timeout);
}

namespace {

Result<std::vector<SpooledIntent>> ReadAllRegistered(const Spool& spool) {
  std::vector<SpooledIntent> all;
  std::string after;
  for (;;) {
    Result<std::vector<SpooledIntent>> chunk = spool.ReadRegistered(after, kReadChunk);
    if (!chunk.ok()) return chunk.status();
    all.insert(all.end(), chunk->begin(), chunk->end());
    if (chunk->size() < kReadChunk) return all;
    after = all.back().intent.path;
  }
}

// ReadPending returns short chunks below an append still in progress, so only an empty one ends.
Result<std::vector<SpooledIntent>> ReadAllPending(const Spool& spool) {
  std::vector<SpooledIntent> all;
  uint64_t from = 0;
  for (;;) {
    Result<std::vector<SpooledIntent>> chunk = spool.ReadPending(from, kReadChunk);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return all;
    all.insert(all.end(), chunk->begin(), chunk->end());
    from = all.back().seq + 1;
  }
}

}  // namespace

Result<std::vector<SpooledIntent>> Registrar::Registered() const {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  return ReadAllRegistered(*spool);
}

Result<std::vector<SpooledIntent>> Registrar::Desired() const {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  // Pending first: an intent applied between the two reads then shows up in the registered set,
  // never in neither. The sequence check keeps an older pending intent from hiding a newer
  // registered one that was applied in between.
  Result<std::vector<SpooledIntent>> pending = ReadAllPending(*spool);
  if (!pending.ok()) return pending.status();
  Result<std::vector<SpooledIntent>> registered = ReadAllRegistered(*spool);
  if (!registered.ok()) return registered.status();
  std::map<std::string, SpooledIntent> desired;
  for (SpooledIntent& r : *registered) desired.emplace(r.intent.path, std::move(r));
  std::map<std::string, Intent> last_put;  // what a keep_mode put takes its mode from
  for (SpooledIntent& p : *pending) {
    auto it = desired.find(p.intent.path);
    if (it != desired.end() && it->second.seq >= p.seq) continue;
    if (p.intent.op == Op::kDelete) {
      if (it != desired.end()) {
        last_put.insert_or_assign(p.intent.path, it->second.intent);
        desired.erase(it);
      }
      continue;
    }
    if (p.intent.keep_mode) {
      auto before = last_put.find(p.intent.path);
      const Intent* previous = it != desired.end() ? &it->second.intent
                               : before != last_put.end() ? &before->second
                                                          : nullptr;
      ResolveKeepMode(p.intent, previous);
    }
    desired.insert_or_assign(p.intent.path, std::move(p));
  }
  std::vector<SpooledIntent> result;
  result.reserve(desired.size());
  for (auto& [path, r] : desired) result.push_back(std::move(r));
  return result;
}

Result<std::vector<SpooledIntent>> Registrar::ReadRegistered(std::string_view after_path, size_t max_count) const {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  return spool->ReadRegistered(after_path, max_count);
}

Result<std::vector<SpooledIntent>> Registrar::ReadPending(uint64_t from_seq, size_t max_count) const {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  return spool->ReadPending(from_seq, max_count);
}

Result<std::vector<FailedIntent>> Registrar::ReadFailed(uint64_t from_seq, size_t max_count) const {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  return spool->ReadFailed(from_seq, max_count);
}

Result<Spool::RetryReport> Registrar::RetryFailed() {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  std::lock_guard lock(impl_->failed_mu);
  Result<Spool::RetryReport> report = spool->RetryFailed();
  // Also after a failure: the intents spooled again before it must not wait for an unrelated
  // append to be read.
  reconciler->Notify();
  impl_->failed_paths.clear();
  if (Status s = impl_->LoadFailedPaths(*spool); !s.ok()) return s;
  return report;
}

Result<uint64_t> Registrar::ClearFailed() {
  auto [spool, reconciler] = impl_->Parts();
  if (!spool) return Status::InvalidArgument("the registrar is closed");
  std::lock_guard lock(impl_->failed_mu);
  uint64_t cleared = 0;
  for (;;) {
    Result<std::vector<FailedIntent>> chunk = spool->ReadFailed(0, kReadChunk);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) break;
    std::vector<uint64_t> seqs;
    for (const FailedIntent& f : *chunk) seqs.push_back(f.record.seq);
    Result<std::vector<FailedIntent>> removed = spool->RemoveFailed(seqs);
    if (!removed.ok()) return removed.status();
    cleared += removed->size();
  }
  impl_->failed_paths.clear();
  return cleared;
}

RegistrarStats Registrar::Stats() const {
  auto [spool, reconciler] = impl_->Parts();
  RegistrarStats stats;
  if (reconciler) {
    stats = reconciler->Stats();
  } else {
    stats.session_state = SessionState::kClosed;
  }
  if (spool) {
    Result<SpoolStats> spool_stats = spool->Stats();
    if (spool_stats.ok()) stats.spool = *spool_stats;
  }
  return stats;
}

Status Registrar::Close(CloseMode mode) {
  std::shared_ptr<Reconciler> reconciler;
  std::shared_ptr<Spool> spool;
  // A copy: the last event of Stop may reach an on_event that destroys this Registrar.
  std::shared_future<void> spool_closed;
  {
    std::lock_guard lock(impl_->mu);
    reconciler = std::move(impl_->reconciler);
    spool = std::move(impl_->spool);
    spool_closed = impl_->spool_closed;
  }
  if (!spool) return Status::Ok();  // closed already (or being closed by another thread)
  reconciler->Stop(mode);
  // The session is over: the next Open must start a new one, not ask for this one back.
  Status forgotten = mode == CloseMode::kEndSession ? spool->ForgetSession() : Status::Ok();
  // Calls that copied the spool before the move above finish first (a waiter is woken by Stop).
  reconciler.reset();
  spool.reset();
  spool_closed.wait();
  return forgotten;
}

}  // namespace zkspool
