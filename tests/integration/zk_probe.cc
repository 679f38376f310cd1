#include "zk_probe.h"

#include <rocksdb/db.h>

#include <filesystem>
#include <stdexcept>

#include "spool/meta_codec.h"
#include "spool/spool_schema.h"

namespace zkspool::testing {

ZkProbe::ZkProbe(const std::string& hosts, std::chrono::milliseconds timeout, int session_timeout_ms) {
  zh_ = zookeeper_init(hosts.c_str(), &ZkProbe::OnEvent, session_timeout_ms, nullptr, this, 0);
  if (zh_ == nullptr) throw std::runtime_error("zookeeper_init failed for " + hosts);
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [this] { return connected_; })) {
    throw std::runtime_error("probe could not connect to " + hosts);
  }
}

ZkProbe::~ZkProbe() {
  if (zh_) zookeeper_close(zh_);
}

void ZkProbe::OnEvent(zhandle_t*, int type, int state, const char* path, void* context) {
  auto* self = static_cast<ZkProbe*>(context);
  std::lock_guard lock(self->mu_);
  if (type == ZOO_SESSION_EVENT) {
    self->connected_ = state == ZOO_CONNECTED_STATE;
  } else if (type == ZOO_DELETED_EVENT && path != nullptr) {
    ++self->deleted_events_;
  }
  self->cv_.notify_all();
}

namespace {

// Reads are idempotent: a probe that lost its connection in a fault (a killed leader, a loaded
// machine) tries again once reconnected instead of failing the test.
template <typename Read>
int RetryRead(Read read) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    int rc = read();
    if ((rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT) || std::chrono::steady_clock::now() >= deadline) return rc;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

std::optional<ProbeNode> ZkProbe::Get(const std::string& path) {
  // zoo_async is asynchronous only; a following synchronous get on the same connection is
  // answered after the sync, so the read sees everything the leader committed before.
  std::vector<char> buffer(1 << 20);
  int len = 0;
  Stat stat;
  int rc = RetryRead([&] {
    zoo_async(zh_, path.c_str(), [](int, const char*, const void*) {}, nullptr);
    len = static_cast<int>(buffer.size());
    return zoo_get(zh_, path.c_str(), 0, buffer.data(), &len, &stat);
  });
  if (rc == ZNONODE) return std::nullopt;
  if (rc != ZOK) throw std::runtime_error("probe get " + path + ": " + zerror(rc));
  ProbeNode node;
  if (len > 0) node.data.assign(buffer.data(), len);
  node.ephemeral_owner = stat.ephemeralOwner;
  node.version = stat.version;
  return node;
}

std::vector<std::string> ZkProbe::Children(const std::string& path) {
  String_vector children{};
  int rc = RetryRead([&] { return zoo_get_children(zh_, path.c_str(), 0, &children); });
  std::vector<std::string> out;
  if (rc == ZNONODE) return out;
  if (rc != ZOK) throw std::runtime_error("probe children " + path + ": " + zerror(rc));
  for (int i = 0; i < children.count; ++i) out.emplace_back(children.data[i]);
  deallocate_String_vector(&children);
  return out;
}

int ZkProbe::Create(const std::string& path, const std::string& data, int flags) {
  return zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, flags,
                    nullptr, 0);
}

int ZkProbe::Delete(const std::string& path) { return zoo_delete(zh_, path.c_str(), -1); }

void ZkProbe::Watch(const std::string& path) {
  Stat stat;
  zoo_exists(zh_, path.c_str(), 1, &stat);
}

int ZkProbe::DeletedEvents() const {
  std::lock_guard lock(mu_);
  return deleted_events_;
}

int64_t ZkProbe::session_id() const { return zoo_client_id(zh_)->client_id; }

std::pair<int64_t, std::string> ReadSavedSession(const std::string& spool_dir) {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Options options;
  options.max_open_files = -1;
  std::string secondary = std::filesystem::temp_directory_path() / ("zkspool-secondary-" + std::to_string(::getpid()));
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(options, spool_dir, secondary, SpoolFamilies({}), &handles, &db);
  if (!s.ok()) throw std::runtime_error("open secondary: " + s.ToString());
  std::string value;
  s = db->Get(rocksdb::ReadOptions(), handles[kMetaIndex], std::string(kMetaSession), &value);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  std::filesystem::remove_all(secondary);
  if (!s.ok()) throw std::runtime_error("no saved session: " + s.ToString());
  Result<SessionInfo> session = DecodeSession(value);
  if (!session.ok()) throw std::runtime_error(session.status().ToString());
  return {session->id, session->password};
}

}  // namespace zkspool::testing
