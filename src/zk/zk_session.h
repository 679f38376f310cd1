// One ZooKeeper handle at a time (libzookeeper-mt), and the events its watcher recorded.
//
// The watcher runs on the C client's completion thread and must never block: it only appends the
// event to a queue and calls `wake`. Everything else (closing an expired handle, starting a new
// one) happens on the owner's thread, never on the client's.
#pragma once

#include <zookeeper/zookeeper.h>

#include <functional>
#include <mutex>
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
  ZkSession(std::string hosts, int timeout_ms, std::string digest_auth, std::function<void()> wake);
  // Ends the session (zookeeper_close) unless Abandon was called.
  ~ZkSession();

  // Starts a new handle, resuming `resume` when given. Any previous handle must be closed.
  // Errors: kInvalidArgument when the client refuses the hosts string.
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

  zhandle_t* handle() const { return zh_; }
  // The session as the server gave it; meaningful once connected.
  SessionInfo client_id() const;
  int negotiated_timeout_ms() const;

  // The events recorded since the last call.
  std::vector<ZkEvent> TakeEvents();

 private:
  static void Watcher(zhandle_t* zh, int type, int state, const char* path, void* context);

  std::string hosts_;
  int timeout_ms_;
  std::string digest_auth_;
  std::function<void()> wake_;
  zhandle_t* zh_ = nullptr;
  std::mutex mu_;  // held while waking, so that Abandon waits for a wake in progress
  std::vector<ZkEvent> events_;
  bool abandoned_ = false;
};

}  // namespace zkspool
