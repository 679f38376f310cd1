// The Registrar: register, update and deregister ZooKeeper nodes without ever failing or waiting
// because ZooKeeper is down. Each call is spooled durably first (see spool.h) and acknowledged
// with a ticket; a reconciler thread applies the spooled intents to ZooKeeper once a session is
// connected, in sequence order per path, idempotently, pipelined, and re-creates ephemeral nodes
// after a session expiry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zkspool/intent.h"
#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace zkspool {

enum class SessionState {
  kConnecting,    // no session yet, or trying to reach a server
  kConnected,     // SyncConnected: intents are being applied
  kExpired,       // the server expired the session; a new one is being set up
  kAuthFailed,    // the server rejected our credentials
  kClosed,
};
const char* SessionStateName(SessionState state);

// Something the application may want to know about, delivered to RegistrarOptions::on_event.
struct RegistrarEvent {
  enum class Kind {
    kSession,   // session state changed: `session_state`, `session_id`
    kApplied,   // `seq` (and every earlier intent of `path` it superseded) is in ZooKeeper;
                // `message` notes what was left alone (a deregistered path held by another
                // session: nothing of ours was there to delete)
    kExpired,   // `seq` was dropped: its TTL ran out before it could be applied
    kConflict,  // `path` is held by another session, or our credentials may not change it
                // (ZNOAUTH); retried with backoff; `message` says which
    kWaiting,   // `path` waits for its parent, which cannot be made yet (an ancestor with an
                // intent of its own, a missing chroot being created, a failed parent create);
                // retried with backoff; `message` says why
    kPaced,     // the pacer halved what may be in flight; `message` says to what and why
    kFailed,    // `seq` is parked as failed; `message` says why
  };
  Kind kind = Kind::kSession;
  uint64_t seq = 0;
  std::string path;
  SessionState session_state = SessionState::kConnecting;
  int64_t session_id = 0;
  std::string message;
};
const char* EventKindName(RegistrarEvent::Kind kind);

struct RegistrarOptions {
  // The spool directory (created if missing) and its options (durability, limits, logger).
  std::string spool_dir;
  SpoolOptions spool;
  // ZooKeeper connect string, "host:port,host:port[/chroot]".
  std::string hosts;
  // Requested session timeout, 1 ms to 24 days (the client takes an int of milliseconds); the
  // server may negotiate it. Default 10 s.
  std::chrono::milliseconds session_timeout{10'000};
  // Spool TTL for intents registered with ttl 0; zero = none; at most kMaxSpoolTtl. Default none.
  std::chrono::milliseconds default_ttl{0};
  // "user:password" for digest auth, sent with zoo_add_auth on every session; empty = none. A
  // wrong password is not rejected at once: it shows later as ZNOAUTH on a node's ACL.
  std::string digest_auth;
  // ACL for nodes this registrar creates (and the parents it creates for them). kCreatorAll and
  // kCreatorAllWorldRead need digest_auth. Default kOpen.
  AclChoice acl = AclChoice::kOpen;
  // Most ZooKeeper operations outstanding at once, 1 to 100,000; fresh creates go in multis of
  // half of it (at most 1000 each), so a backlog drains at the server's speed. Default 1000.
  size_t max_in_flight = 1000;
  // How often every registered node is checked against ZooKeeper (and re-created or corrected
  // if it differs). Default 30 s.
  std::chrono::milliseconds anti_entropy_interval{30'000};
  // Registered nodes watched at once, so that a node deleted or changed from outside is restored
  // at once rather than at the next anti-entropy pass. A watch costs about 170 bytes in the
  // ZooKeeper client; this bounds that memory whatever the registered set holds. 0: no watches.
  // Default 10,000.
  size_t max_watches = 10'000;
  // Pace what is in flight by the latency the servers show (docs/operations.md, "Fleets"): the
  // window starts small after each connect, doubles while calls complete well within the session
  // timeout, and halves when they take a sixth of it or the connection drops, so that a fleet
  // recovering from an outage at once never drives the ensemble into session expiries. Off, the
  // window is always max_in_flight (only for comparisons). Default on.
  bool pace = true;
  // After a reconnect (not the first connect after Open), wait a random time up to this before
  // sending the backlog, so that a fleet does not move in lockstep; the anti-entropy timer
  // varies by +-10% for the same reason. 0 to 1 hour. Default 1 s.
  std::chrono::milliseconds reconnect_jitter{1'000};
  // A hard ceiling on operations sent per second, on top of the pacing; 0: none, else one a day
  // (1/86400) to 1e9. Default none.
  double max_ops_per_second = 0;
  // First and longest wait before retrying a path held by another session, denied by an ACL or
  // waiting for a parent. Defaults 200 ms, 30 s.
  std::chrono::milliseconds conflict_backoff_min{200};
  std::chrono::milliseconds conflict_backoff_max{30'000};
  // Called on the reconciler thread (the last kSession event, kClosed, on the thread calling
  // Close); must not block, call back into the Registrar's waiting functions, call Close or
  // destroy the Registrar. Default: none.
  std::function<void(const RegistrarEvent&)> on_event;
};

enum class Outcome {
  kApplied,  // the intent, or a later one for the same path, is in ZooKeeper
  kExpired,  // dropped: its TTL ran out first
  kFailed,   // parked as failed (see Stats and the event callback for why)
};
const char* OutcomeName(Outcome outcome);

// Log-scale histogram of the time from Append to applied, in milliseconds: bucket i counts
// latencies of at most 2^i ms and more than 2^(i-1) ms (bucket 0: at most 1 ms; the last
// bucket: everything longer).
struct LatencyHistogram {
  static constexpr int kBuckets = 20;
  uint64_t counts[kBuckets] = {};
  uint64_t sum_ms = 0;  // of every latency counted
};

// A path the reconciler cannot apply now, and why.
struct BlockedPath {
  std::string path;
  const char* state = "";  // "backoff-conflict", "backoff-uncertain" or "waiting-parent"
  std::string reason;
};

struct RegistrarStats {
  SpoolStats spool;
  SessionState session_state = SessionState::kConnecting;
  int64_t session_id = 0;
  std::optional<std::chrono::system_clock::time_point> connected_since;
  uint64_t sessions_started = 0;  // new sessions (not resumptions) since Open
  uint64_t applied = 0;           // intents applied since Open (superseded ones included)
  uint64_t retried = 0;           // operations restarted after connection loss or expiry
  uint64_t conflicts = 0;         // times a path was found held by another session
  uint64_t expired = 0;           // intents dropped by TTL since Open
  uint64_t failed = 0;            // intents parked as failed since Open
  uint64_t reasserted = 0;        // registered nodes re-created or corrected in ZooKeeper
  uint64_t registered_scans = 0;  // passes over the registered set completed (re-creation after a
                                  // new session, verification after Open, anti-entropy)
  std::vector<std::string> conflicting_paths;  // paths waiting on a conflict or ZNOAUTH (first 100)
  std::string last_error;         // the latest session or apply error, for operators
  LatencyHistogram apply_latency;
  // The reconciler's paths now, by what they wait for.
  uint64_t paths_tracked = 0;         // in memory: loaded intents, re-assertions, backoffs
  uint64_t paths_in_flight = 0;       // with a call out
  uint64_t paths_conflicting = 0;     // backing off after a conflict or ZNOAUTH
  uint64_t paths_uncertain = 0;       // waiting to retry after an unknown outcome
  uint64_t paths_waiting_parent = 0;  // waiting for a parent that cannot be made yet
  uint64_t operations_in_flight = 0;
  std::vector<BlockedPath> blocked_paths;  // the first 100 blocked paths, in path order
  // False while a new session could not be saved in the spool: nothing is sent on it (an
  // ephemeral node created on a session the spool does not know looks foreign after a restart).
  bool session_saved = true;
  // The pacer (RegistrarOptions::pace): operations it lets out at once now, the call latency it
  // sees (a moving average), how often it halved the window, and how long work waited for it
  // (window full, ceiling reached, or the jitter after a reconnect) since Open.
  uint64_t pacer_window = 0;
  double pacer_latency_ms = 0;
  uint64_t pacer_cuts = 0;
  uint64_t throttled_ms = 0;
};

// Checks a ZooKeeper connect string, "host:port[,host:port...][/chroot]" (hosts may be names or
// addresses, IPv6 ones without brackets, "::1:2181": the client splits at the last ':' and
// passes brackets on to getaddrinfo), as Registrar::Open does before using it. Host names are not
// resolved here: one that does not resolve yet (DNS not up at boot) is retried by the Registrar.
// Returns kInvalidArgument naming the problem (an empty server, a host in brackets, a host that
// is neither a name of letters, digits, '-', '.' and '_' nor an IPv6 address, a missing port, a
// port outside 1-65535, a bad chroot), or OK. Thread-safe.
Status ValidateConnectString(std::string_view connect);

// Thread-safety: every member function may be called from any thread, concurrently.
class Registrar {
 public:
  // Opens the spool, starts the reconciler thread and the ZooKeeper session (resuming the saved
  // one if there is one, so a restart within the session timeout keeps our ephemeral nodes).
  // Returns at once, also when no server is reachable.
  // Side effect on the whole process: sets the ZooKeeper C client's log level to
  // ZOO_LOG_LEVEL_WARN (zoo_set_debug_level is process-wide, its INFO lines would flood stderr);
  // the client's own lines then reach options.spool.logger at debug level. Call
  // zoo_set_debug_level after Open to choose another level.
  // Errors: those of Spool::Open; kInvalidArgument naming the problem for a bad connect string
  // (see ValidateConnectString), a malformed digest_auth, or a duration or count out of its
  // documented range.
  static Result<std::unique_ptr<Registrar>> Open(RegistrarOptions options);

  // Close(kEndSession) if not closed yet.
  ~Registrar();

  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  // Spools "make `path` exist with `data` as a node of `mode`" and returns its ticket (the
  // sequence number) once durable. `ttl` bounds how long the intent may wait (zero: the
  // default_ttl). Never waits for or fails because of ZooKeeper.
  // Errors: those of Spool::Append (kInvalidArgument, kSpoolFull, kIOError); kInvalidArgument
  // after Close.
  Result<uint64_t> Register(const std::string& path, const std::string& data, NodeMode mode = NodeMode::kEphemeral,
                            std::chrono::milliseconds ttl = std::chrono::milliseconds{0});
  // Like Register; without a mode the node keeps the mode it has: that of the latest put
  // spooled before it for the path (pending or registered), or ephemeral when there is none.
  // Errors: as Register.
  Result<uint64_t> Update(const std::string& path, const std::string& data,
                          std::optional<NodeMode> mode = std::nullopt,
                          std::chrono::milliseconds ttl = std::chrono::milliseconds{0});
  // Like Register, for a persistent-ttl node whose server-side TTL is `node_ttl`.
  Result<uint64_t> RegisterWithNodeTtl(const std::string& path, const std::string& data,
                                       std::chrono::milliseconds node_ttl,
                                       std::chrono::milliseconds ttl = std::chrono::milliseconds{0});
  // Spools "make `path` not exist". Errors: as Register.
  Result<uint64_t> Deregister(const std::string& path, std::chrono::milliseconds ttl = std::chrono::milliseconds{0});

  // Spools many registers and deregisters at once: each entry is an intent as Register (op kPut,
  // with path, data, mode, node_ttl_ms) or Deregister (op kDelete, with path) would spool it,
  // with its ttl (zero: the default_ttl); the ACL is the registrar's. Spool::AppendBatch stores
  // them all or none, with one fsync, and returns their tickets in order.
  // Errors: those of Spool::AppendBatch; kInvalidArgument after Close.
  Result<std::vector<uint64_t>> Submit(std::vector<BatchEntry> entries);

  // Waits until the intent `ticket` is resolved, or `timeout` passes.
  // Errors: kNotFound for a ticket this spool never issued or whose outcome is no longer known
  // (it was resolved before this Registrar was opened); kTimedOut when `timeout` passes first.
  Result<Outcome> WaitApplied(uint64_t ticket, std::chrono::milliseconds timeout);

  // The registered set as the spool holds it (applied puts), in path order.
  // Errors: kCorruption, kIOError; kInvalidArgument after Close.
  Result<std::vector<SpooledIntent>> Registered() const;

  // What ZooKeeper will hold once every pending intent is applied: the registered set with the
  // pending intents laid over it in sequence order (expired-but-not-yet-dropped ones included),
  // in path order. Intents appended concurrently may be missing - also one whose Append returned
  // while an earlier Append of another thread was still in progress; serialize appends with this
  // call where that matters. Use it to decide what a new configuration must register or
  // deregister.
  // Errors: kCorruption, kIOError; kInvalidArgument after Close.
  Result<std::vector<SpooledIntent>> Desired() const;

  // Pages of the spool's sets, for callers that must not hold a whole set in memory (the agent's
  // control API): as Spool::ReadRegistered, Spool::ReadPending and Spool::ReadFailed.
  // Errors: kCorruption, kIOError; kInvalidArgument after Close.
  Result<std::vector<SpooledIntent>> ReadRegistered(std::string_view after_path, size_t max_count) const;
  Result<std::vector<SpooledIntent>> ReadPending(uint64_t from_seq, size_t max_count) const;
  Result<std::vector<FailedIntent>> ReadFailed(uint64_t from_seq, size_t max_count) const;

  // Gives the failed intents another chance (once the cause is fixed, e.g. an ephemeral parent
  // removed): Spool::RetryFailed, whose rules keep per-path order, then wakes the reconciler. A
  // retried intent that fails again is parked again. While it runs the reconciler waits before
  // dropping failed intents that it supersedes by applying a later one (below).
  // The Registrar keeps the failed set free of intents a later applied intent made moot: when it
  // applies an intent, the failed intents of the same path with lower sequence numbers leave the
  // failed set, just after the intent's outcome is told (also making the failed-intents count
  // fall back to what still needs a person).
  // Errors: as Spool::RetryFailed; kInvalidArgument after Close.
  Result<Spool::RetryReport> RetryFailed();
  // Removes every failed intent for good (fsync'd) and returns how many: for intents that must
  // never be applied. Errors: kCorruption, kIOError (those removed before it stay removed);
  // kInvalidArgument after Close.
  Result<uint64_t> ClearFailed();

  RegistrarStats Stats() const;

  enum class CloseMode {
    kEndSession,   // close the session: the server deletes our ephemeral nodes at once
    kKeepSession,  // leave the session to time out, for a planned restart within the session
                   // timeout that should keep our ephemeral nodes (the process should exit soon)
  };
  // Stops the reconciler after in-flight operations complete (at most the session timeout),
  // then ends or keeps the session. The desired state stays in the spool; Open on the same spool
  // re-asserts it. kKeepSession leaves the session saved in the spool, so the next Open resumes
  // it; kEndSession forgets it (Spool::ForgetSession), so the next Open starts a new session
  // without a detour through "session expired". Calls of other threads that started before
  // Close finish first (a WaitApplied returns at once: its outcome if known, else
  // kInvalidArgument; an Append in progress completes and is durable), so when Close returns
  // the spool is closed and a new Open of its directory succeeds; calls that start later return
  // kInvalidArgument (Stats shows kClosed). Idempotent: later calls, and a Close running
  // alongside the first, return OK at once and do nothing (the latter before the spool is closed).
  // Errors: kIOError if kEndSession could not forget the session (it is closed all the same; the
  // next Open then only finds it expired).
  Status Close(CloseMode mode = CloseMode::kEndSession);

 private:
  struct Impl;
  explicit Registrar(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zkspool
