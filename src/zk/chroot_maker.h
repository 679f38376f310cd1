// Creates the chroot of a connect string ("host:port/app/zk") when it is missing, as Curator
// creates its namespace: through a handle that uses the chroot, a path right under it can never
// be created while the chroot itself is missing, and its parents are out of reach. It works on
// a thread of its own with a handle of its own (without the chroot), so the reconciler never
// waits for it.
#pragma once

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "zkspool/intent.h"
#include "zkspool/status.h"

namespace zkspool {

class ChrootMaker {
 public:
  // The chroot of `hosts` ("/app/zk"), or nothing when it has none.
  static std::optional<std::string> ChrootOf(const std::string& hosts);

  // Starts creating every missing node of the chroot of `hosts` (which must have one) as an
  // empty persistent node with `acl`, giving up after `timeout_ms` without a connection.
  ChrootMaker(const std::string& hosts, int timeout_ms, std::string digest_auth, AclChoice acl);
  // Waits for the work to end (at most about the timeout).
  ~ChrootMaker();
  ChrootMaker(const ChrootMaker&) = delete;
  ChrootMaker& operator=(const ChrootMaker&) = delete;

  bool done() const { return done_.load(); }
  // Once done: OK when the chroot exists, else what went wrong.
  Status result() const;

 private:
  void Work(std::string servers, std::string chroot, int timeout_ms, std::string digest_auth, AclChoice acl);

  std::atomic<bool> done_{false};
  mutable std::mutex mu_;
  Status result_;
  std::thread thread_;
};

}  // namespace zkspool
