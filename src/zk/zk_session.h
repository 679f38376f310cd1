// One ZooKeeper handle at a time (libzookeeper-mt), and the events its watcher recorded.
//
// The watcher runs on the C client's completion thread and must never block: it only appends the
// event to a queue and calls `wake`. Everything else (closing an expired handle, starting a new
// one) happens on the owner's thread, never on the client's.
#pragma once

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "zkspool/spool.h"
#include "zkspool/status.h"

namespace zkspool {

struct ZkEvent {
  int type = 0;   // ZOO_SESSION_EVENT, ZOO_DELETED_EVENT, ...
  int state = 0;  // ZOO_CONNECTED_STATE, ...
  std::string path;
};

class ZkSession {
 public:
  static constexpr std::chrono::seconds kResolveRetry{2};

  ZkSession(std::string hosts, int timeout_ms, std::string digest_auth, std::function<void()> wake);
  // Ends the session (zookeeper_close) unless Abandon was called.
  ~ZkSession();

  // Starts a new handle, resuming `resume` when given. Any previous handle must be closed. The
  // hosts string must have passed ValidateConnectString; if the client still refuses it, a host
  // name does not resolve (yet: DNS may come up after us at boot), and a thread of ours tries
  // again every kResolveRetry until it does or Close/Abandon; meanwhile there is no handle and no
  // event. Never fails: the Status is for the contract's sake.
  Status Start(const std::optional<SessionInfo>& resume);
  // Ends the session and joins the client's threads. Outstanding completions run (with
  // ZCLOSING) before it returns, but 3.8.0 can drop some of them (its completion thread stops
  // once the close is requested), so the caller must settle what was not answered. Never call
  // from a ZooKeeper callback.
  void Close();
  // Forgets the handle without ending the session, so that its ephemeral nodes live on until
  // the session times out: for a process about to exit and restart. The handle keeps running
  // and refers to this object, so the caller must leak this object too; its events are ignored
  // from now on.
  void Abandon();

  // Null until a handle exists (see Start).
  zhandle_t* handle() const { return zh_.load(); }
  // The session as the server gave it; meaningful once connected.
  SessionInfo client_id() const;
  int negotiated_timeout_ms() const;

  // The events recorded since the last call.
  std::vector<ZkEvent> TakeEvents();

 private:
  static void Watcher(zhandle_t* zh, int type, int state, const char* path, void* context);
  // zookeeper_init2 with our settings; null when the client refuses (errno says why).
  zhandle_t* Init(const clientid_t* resume_id);
  void RetryUntilResolved(std::optional<clientid_t> resume_id);
  void StopRetrying();

  std::string hosts_;
  int timeout_ms_;
  std::string digest_auth_;
  std::function<void()> wake_;
  std::atomic<zhandle_t*> zh_{nullptr};  // set by Start or, later, by the retrying thread
  std::mutex mu_;  // held while waking, so that Abandon waits for a wake in progress
  std::vector<ZkEvent> events_;
  bool abandoned_ = false;
  // Held by the retrying thread from its zookeeper_init2 until zh_ is set, and by the watcher:
  // an event of the new handle is recorded only once handle() returns it.
  std::mutex publish_mu_;
  std::condition_variable retry_wake_;
  bool stop_retrying_ = false;  // guarded by mu_
  std::thread retrying_;        // RetryUntilResolved, while the hosts do not resolve
};

}  // namespace zkspool
