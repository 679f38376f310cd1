#include "zkspool/registrar.h"

#include <zookeeper/zookeeper.h>

#include <map>
#include <mutex>

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

  std::pair<std::shared_ptr<Spool>, std::shared_ptr<Reconciler>> Parts() const {
    std::lock_guard lock(mu);
    return {spool, reconciler};
  }

  Result<uint64_t> Append(Intent intent, std::chrono::milliseconds ttl) {
    auto [spool_ref, reconciler_ref] = Parts();
    if (!spool_ref) return Status::InvalidArgument("the registrar is closed");
    intent.acl = options.acl;
    Result<uint64_t> seq = spool_ref->Append(std::move(intent), ttl.count() > 0 ? ttl : options.default_ttl);
    if (seq.ok()) reconciler_ref->Notify();
    return seq;
  }

  Result<std::vector<uint64_t>> AppendBatch(std::vector<BatchEntry> entries) {
    auto [spool_ref, reconciler_ref] = Parts();
    if (!spool_ref) return Status::InvalidArgument("the registrar is closed");
    for (BatchEntry& entry : entries) {
      entry.intent.acl = options.acl;
      if (entry.ttl.count() <= 0) entry.ttl = options.default_ttl;
    }
    Result<std::vector<uint64_t>> seqs = spool_ref->AppendBatch(std::move(entries));
    if (seqs.ok() && !seqs->empty()) reconciler_ref->Notify();
    return seqs;
  }
};

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
  if (options.max_in_flight == 0) return Status::InvalidArgument("max_in_flight must be at least 1");
  if (options.session_timeout.count() <= 0) return Status::InvalidArgument("session_timeout must be positive");
  if (options.anti_entropy_interval.count() <= 0 || options.conflict_backoff_min.count() <= 0 ||
      options.conflict_backoff_max < options.conflict_backoff_min) {
    return Status::InvalidArgument(
        "anti_entropy_interval and conflict_backoff_min must be positive, conflict_backoff_max at least the min");
  }
  // The C client logs to stderr at INFO by default; its warnings are enough (process-wide).
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);

  auto impl = std::make_unique<Impl>();
  std::shared_ptr<spdlog::logger> log = LoggerOrDefault(options.spool.logger);
  options.spool.logger = log;
  Result<std::unique_ptr<Spool>> spool = Spool::Open(options.spool_dir, options.spool);
  if (!spool.ok()) return spool.status();
  impl->spool = std::move(spool).value();
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

Result<uint64_t> Registrar::Update(const std::string& path, const std::string& data, NodeMode mode,
                                   std::chrono::milliseconds ttl) {
  return Register(path, data, mode, ttl);
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

constexpr size_t kReadChunk = 1000;

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
  for (SpooledIntent& p : *pending) {
    auto it = desired.find(p.intent.path);
    if (it != desired.end() && it->second.seq >= p.seq) continue;
    if (p.intent.op == Op::kDelete) {
      if (it != desired.end()) desired.erase(it);
    } else {
      desired.insert_or_assign(p.intent.path, std::move(p));
    }
  }
  std::vector<SpooledIntent> result;
  result.reserve(desired.size());
  for (auto& [path, r] : desired) result.push_back(std::move(r));
  return result;
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
  {
    std::lock_guard lock(impl_->mu);
    reconciler = std::move(impl_->reconciler);
    spool = std::move(impl_->spool);
  }
  if (reconciler) reconciler->Stop(mode);
  return Status::Ok();
}

}  // namespace zkspool
