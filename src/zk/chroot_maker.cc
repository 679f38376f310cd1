#include "zk/chroot_maker.h"

#include <chrono>

#include "zk/client_log.h"
#include "zk/zk_calls.h"

namespace zkspool {

std::optional<std::string> ChrootMaker::ChrootOf(const std::string& hosts) {
  const size_t slash = hosts.find('/');
  if (slash == std::string::npos || slash + 1 >= hosts.size()) return std::nullopt;
  return hosts.substr(slash);
}

ChrootMaker::ChrootMaker(const std::string& hosts, int timeout_ms, std::string digest_auth, AclChoice acl) {
  const size_t slash = hosts.find('/');
  thread_ = std::thread(&ChrootMaker::Work, this, hosts.substr(0, slash), hosts.substr(slash), timeout_ms,
                        std::move(digest_auth), acl);
}

ChrootMaker::~ChrootMaker() {
  if (thread_.joinable()) thread_.join();
}

Status ChrootMaker::result() const {
  std::lock_guard lock(mu_);
  return result_;
}

void ChrootMaker::Work(std::string servers, std::string chroot, int timeout_ms, std::string digest_auth,
                       AclChoice acl) {
  Status result = Status::Ok();
  zhandle_t* zh = zookeeper_init2(servers.c_str(), nullptr, timeout_ms, nullptr, nullptr, 0, ClientLogCallback());
  if (zh == nullptr) {
    result = Status::InvalidArgument("the ZooKeeper client refused hosts \"" + servers + "\"");
  } else {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (zoo_state(zh) != ZOO_CONNECTED_STATE && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
      result = Status::IOError("no ZooKeeper server answered in time to create the chroot " + chroot);
    } else {
      if (!digest_auth.empty()) {
        zoo_add_auth(zh, "digest", digest_auth.data(), static_cast<int>(digest_auth.size()), nullptr, nullptr);
      }
      Intent as;
      as.acl = acl;
      for (size_t slash = chroot.find('/', 1);; slash = chroot.find('/', slash + 1)) {
        const std::string node = chroot.substr(0, slash);
        int rc = zoo_create(zh, node.c_str(), nullptr, -1, AclOf(as), ZOO_PERSISTENT, nullptr, 0);
        if (rc != ZOK && rc != ZNODEEXISTS) {
          result = Status::IOError("cannot create " + node + " of the chroot " + chroot + ": " + zerror(rc));
          break;
        }
        if (slash == std::string::npos) break;
      }
    }
    zookeeper_close(zh);
  }
  {
    std::lock_guard lock(mu_);
    result_ = result;
  }
  done_ = true;
}

}  // namespace zkspool
