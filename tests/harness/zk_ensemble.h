// Real Apache ZooKeeper servers on 127.0.0.1 for tests, benchmarks and the demo.
//
// ZkEnsemble starts one standalone server or a quorum ensemble of JVMs (Debian's
// /usr/share/java/zookeeper.jar, run as org.apache.zookeeper.server.quorum.QuorumPeerMain)
// and lets a test break it the way production breaks: SIGKILL a member, SIGSTOP it
// (a hung JVM / long GC pause / partitioned host all look like this to clients), bring it
// back, or expire a client's session on demand.
//
// Everything lives in a fresh temp dir (one data dir, zoo.cfg and log file per member) that
// the destructor removes. Set ZKSPOOL_KEEP_ZK_DIRS=1 to keep it for a post-mortem; its path
// is printed to stderr then. JAVA_HOME picks the JVM (default: `java` on PATH) and
// ZKSPOOL_ZK_CLASSPATH overrides the server classpath.
//
// Server settings worth knowing when writing a test: tickTime = options.tick_ms,
// initLimit 20 and syncLimit 10 ticks (so with 100 ms ticks a frozen or cut-off member is
// dropped after ~1 s), minSessionTimeout 2 ticks, forceSync=no (a SIGKILLed member loses
// nothing, since its writes sit in the page cache; only power loss would need the fsyncs).
// A test process that is itself SIGKILLed leaves its temp dir behind (but no servers).
//
// Servers never outlive the test process: each JVM gets PR_SET_PDEATHSIG=SIGKILL. Linux
// ties that signal to the *thread* that forked, so call Start() and Restart() from a
// thread that lives as long as the ensemble (normally the test's main thread); a member
// started from a short-lived std::thread is killed when that thread exits.
//
// Thread-safety: use an ensemble from one thread. The exceptions are size(),
// ConnectString(), Srvr(), FourLetterWord(), IsServing() and Leader(): they only read
// what Start() fixed and talk to the servers over fresh sockets, so any thread may call
// them concurrently with each other and with Kill/Freeze/Thaw/Restart. ExpireSession()
// is static and thread-safe.
//
// The first Start() or ExpireSession() in a process lowers the ZooKeeper C client's log
// level to ZOO_LOG_LEVEL_WARN (its INFO chatter buries test output); call
// zoo_set_debug_level() afterwards to change it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace zkspool::testing {

struct EnsembleOptions {
  int members = 1;                  // 1 = standalone server, 3 = quorum ensemble
  int tick_ms = 100;                // short tickTime so elections and session expiry are fast
  int max_session_timeout_ms = 60000;
  // ZooKeeper's own default is forceSync=yes (fsync the txn log before acknowledging). Tests
  // turn it off (SIGKILL loses nothing either way); benchmarks keep the production default.
  bool force_sync = false;
  // Each JVM's heap (-Xmx). 256 MiB suits tests; a benchmark that stores hundreds of thousands
  // of nodes needs more, or it measures the garbage collector.
  int heap_mb = 256;
};

class ZkEnsemble {
 public:
  // Starts options.members servers on free 127.0.0.1 ports (client, quorum and election
  // port each), each with its own data dir under a fresh temp dir, and waits up to 60 s
  // until the ensemble serves: one leader (or the standalone server) and every other
  // member a follower, all answering `srvr`. If a server dies because a port was taken
  // between picking and binding it, everything is torn down and retried with new ports
  // (3 attempts).
  // Throws std::invalid_argument for members < 1 or tick_ms < 1, std::runtime_error
  // (carrying the tail of every member's log) if java/zookeeper.jar is missing or the
  // ensemble does not serve in time; no server process survives a throw.
  static std::unique_ptr<ZkEnsemble> Start(EnsembleOptions options = {});

  // SIGKILLs every member still running (also frozen ones), reaps them, removes the temp
  // dir (unless ZKSPOOL_KEEP_ZK_DIRS is set). Never throws.
  ~ZkEnsemble();

  ZkEnsemble(const ZkEnsemble&) = delete;
  ZkEnsemble& operator=(const ZkEnsemble&) = delete;

  int size() const;

  // "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3": every member, also killed ones, so a client
  // built from it fails over the way it would in production.
  std::string ConnectString() const;
  // "127.0.0.1:p" for one member. Throws std::out_of_range for a bad index (all per-member
  // functions do).
  std::string ConnectString(int member) const;

  // The raw reply to the `srvr` four-letter word, or "" if the member does not answer
  // completely within ~500 ms (killed, not yet listening, SIGSTOPped). Never blocks longer.
  // A member that is up but not in a quorum replies "This ZooKeeper instance is not
  // currently serving requests", which is not "": use IsServing() for "can serve clients".
  std::string Srvr(int member) const;

  // Like Srvr() for any whitelisted four-letter word (srvr, ruok, stat, mntr); e.g. the
  // leader's `mntr` has zk_synced_followers, which shows when it has dropped a follower.
  std::string FourLetterWord(int member, const std::string& word) const;
  // One number of the member's `mntr` (e.g. "zk_packets_received"); nullopt if the member does
  // not answer or has no such line.
  std::optional<int64_t> Mntr(int member, const std::string& key) const;

  // True if `srvr` reports a Mode (leader, follower, observer or standalone), i.e. the
  // member is in a working quorum and accepts client sessions.
  bool IsServing(int member) const;

  // Polls `srvr` until one member reports "Mode: leader" (or "Mode: standalone") and
  // returns its index; -1 if none did within `timeout`. Polls at least once, so a zero
  // timeout asks "is there a leader right now?".
  int Leader(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // Polls until every running, unfrozen member is serving and exactly one of them is the
  // leader (or standalone). False on timeout, or if no member is running. Killed and frozen
  // members are ignored, so after killing a minority this is "the rest still has a quorum".
  bool WaitForQuorum(std::chrono::milliseconds timeout) const;

  // SIGKILLs the member (also when frozen) and reaps it. No-op if it is not running.
  void Kill(int member);
  // SIGSTOP: the JVM keeps its sockets but stops answering (the kernel still accepts TCP
  // connections), so peers and clients see a hang, not a refusal. Returns once the
  // process is actually stopped (SIGSTOP is asynchronous). No-op if not running.
  void Freeze(int member);
  // SIGCONT a frozen member. No-op if it is not running.
  void Thaw(int member);
  // Starts a killed (or crashed) member again with the same data dir, config and ports.
  // Does not wait: use WaitForQuorum() / IsServing(). Throws std::logic_error if the member
  // is still running, std::runtime_error if fork() fails.
  void Restart(int member);
  // True while the member's process exists and has not exited (frozen counts as running).
  bool IsRunning(int member) const;

  // Expires a client's session the way ZooKeeper's own tests do: opens a second handle
  // with the same session id and password, waits until it is connected (the server moves
  // the session to it), then zookeeper_close()s it, which ends the session on the
  // ensemble. It then attaches once more and returns true only when the server answers
  // "session expired" (if the original client grabbed the session back in between, the
  // close is repeated), so on true the session is gone: the original client sees
  // ZOO_EXPIRED_SESSION_STATE on its next contact and its ephemeral nodes are deleted.
  // `password` is the raw clientid_t::passwd (at most 16 bytes, e.g.
  // std::string(id->passwd, sizeof id->passwd)). Returns false on timeout, or if the
  // session was already expired or the id/password is wrong (the server rejects both the
  // same way). Throws std::invalid_argument if the password is longer than 16 bytes.
  static bool ExpireSession(const std::string& hosts, int64_t session_id,
                            const std::string& password, std::chrono::milliseconds timeout);

  // The last `lines` lines of the member's log (stdout+stderr of all its launches, each
  // launch preceded by a "zkspool harness:" marker line), for failure messages. "" if the
  // log cannot be read.
  std::string LogTail(int member, int lines = 40) const;

  // The member's JVM pid; -1 after Kill() until Restart(). A JVM that exited on its own
  // keeps its (zombie, unreaped) pid until Kill() or Restart(); IsRunning() tells.
  pid_t Pid(int member) const;
  // The temp dir holding every member's data dir, zoo.cfg and log; removed by ~ZkEnsemble.
  const std::string& WorkDir() const { return work_dir_; }

 private:
  struct Member {
    int client_port = 0;
    int quorum_port = 0;
    int election_port = 0;
    std::string dir;       // data dir (holds myid)
    std::string cfg_path;  // zoo.cfg
    std::string log_path;  // JVM stdout+stderr, appended across restarts
    pid_t pid = -1;        // -1: not started or killed and reaped
    bool frozen = false;
  };

  explicit ZkEnsemble(EnsembleOptions options);
  void PickPortsAndWriteConfigs();
  void Launch(int member);
  void KillAll() noexcept;
  bool AllMembersServing() const;
  bool PortConflict() const;
  std::string AllLogTails() const;
  const Member& At(int member) const;
  Member& At(int member);

  EnsembleOptions options_;
  std::string work_dir_;
  std::string java_;
  std::string classpath_;
  std::vector<Member> members_;
};

// The number on the line of a `mntr` reply that starts with `key` and a tab; nullopt if none.
std::optional<int64_t> MntrValue(const std::string& mntr, const std::string& key);

}  // namespace zkspool::testing
