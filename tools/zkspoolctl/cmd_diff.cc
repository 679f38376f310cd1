// zkspoolctl diff: what the spool wants (the registered set with the pending intents applied
// on top, in sequence order) against what ZooKeeper holds. Read-only on both sides.
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>
#include <set>

#include "common.h"
#include "zkspool/registrar.h"
#include "format.h"
#include "zk_client.h"

namespace zkspoolctl {
namespace {

constexpr size_t kChunk = 4096;

struct DiffArgs {
  std::string spool;
  std::string hosts;
  int64_t timeout_ms = 10000;
  bool json = false;
};

struct Desired {
  zkspool::SpooledIntent record;
  bool pending = false;  // a pending intent decides it: the owner has not applied it yet
};

struct Difference {
  std::string kind;  // missing, data, owner, mode, present, extra
  std::string path;
  bool pending = false;
  std::string detail;
};

// ZooKeeper keeps container and TTL markers in ephemeralOwner (EphemeralType): neither is a
// session.
enum class ZkKind { kPersistent, kEphemeral, kContainer, kTtl };
ZkKind KindOf(int64_t owner) {
  if (owner == 0) return ZkKind::kPersistent;
  if (owner == INT64_MIN) return ZkKind::kContainer;
  if ((static_cast<uint64_t>(owner) >> 56) == 0xFF) return ZkKind::kTtl;
  return ZkKind::kEphemeral;
}
const char* ZkKindName(ZkKind kind) {
  switch (kind) {
    case ZkKind::kPersistent: return "persistent";
    case ZkKind::kEphemeral: return "ephemeral";
    case ZkKind::kContainer: return "container";
    case ZkKind::kTtl: return "persistent-ttl";
  }
  return "?";
}
ZkKind WantedKind(zkspool::NodeMode mode) {
  switch (mode) {
    case zkspool::NodeMode::kEphemeral: return ZkKind::kEphemeral;
    case zkspool::NodeMode::kPersistent: return ZkKind::kPersistent;
    case zkspool::NodeMode::kContainer: return ZkKind::kContainer;
    case zkspool::NodeMode::kPersistentWithTtl: return ZkKind::kTtl;
  }
  return ZkKind::kPersistent;
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

zkspool::Status LoadDesired(const zkspool::SpoolReader& reader, std::map<std::string, Desired>& desired) {
  for (std::string after;;) {
    auto chunk = reader.ReadRegistered(after, kChunk);
    if (!chunk.ok()) return chunk.status();
    for (auto& record : *chunk) desired[record.intent.path] = {record, false};
    if (chunk->size() < kChunk) break;
    after = chunk->back().intent.path;
  }
  for (uint64_t from = 0;;) {
    auto chunk = reader.ReadPending(from, kChunk);
    if (!chunk.ok()) return chunk.status();
    for (auto& record : *chunk) desired[record.intent.path] = {record, true};
    if (chunk->size() < kChunk) break;
    from = chunk->back().seq + 1;
  }
  return zkspool::Status::Ok();
}

int RunDiff(const DiffArgs& args) {
  int exit;
  auto reader = OpenReader(args.spool, exit);
  if (!reader) return exit;
  std::map<std::string, Desired> desired;
  if (zkspool::Status s = LoadDesired(*reader, desired); !s.ok()) return Fail(s);
  auto owned_list = reader->OwnedSessions();
  if (!owned_list.ok()) return Fail(owned_list.status());
  const std::set<int64_t> owned(owned_list->begin(), owned_list->end());

  if (zkspool::Status s = zkspool::ValidateConnectString(args.hosts); !s.ok()) return Fail(s.message(), kExitUsage);
  std::string error;
  auto zk = ZkClient::Connect(args.hosts, std::chrono::milliseconds(args.timeout_ms), error);
  if (!zk) return Fail(error, kExitError);
  zk->Sync();

  std::vector<Difference> diffs;
  std::set<std::string> parents;
  std::set<std::string> ancestors;  // the reconciler creates these as persistent parents: not extra
  auto zk_error = [&](const char* what, const std::string& path, int rc) {
    return Fail(std::string("ZooKeeper ") + what + " " + path + " failed: " + zerror(rc), kExitError);
  };
  for (const auto& [path, want] : desired) {
    const zkspool::Intent& in = want.record.intent;
    ZkNode node;
    int rc = zk->Get(path, node);
    if (rc != ZOK && rc != ZNONODE) return zk_error("get", path, rc);
    const bool exists = rc == ZOK;
    if (in.op == zkspool::Op::kDelete) {
      if (exists) diffs.push_back({"present", path, want.pending, "the spool wants it deleted; ZooKeeper still has it"});
      continue;
    }
    parents.insert(Parent(path));
    for (std::string up = Parent(path); up != "/"; up = Parent(up)) ancestors.insert(up);
    if (!exists) {
      diffs.push_back({"missing", path, want.pending, "ZooKeeper has no node; the spool wants " +
                                                          std::string(zkspool::NodeModeName(in.mode)) + ", " +
                                                          FormatBytes(in.data.size())});
      continue;
    }
    const ZkKind kind = KindOf(node.ephemeral_owner);
    if (kind == ZkKind::kEphemeral && !owned.count(node.ephemeral_owner)) {
      diffs.push_back({"owner", path, want.pending,
                       "ephemeral of session " + FormatSessionId(node.ephemeral_owner) +
                           ", which this spool never owned"});
      continue;
    }
    if (kind != WantedKind(in.mode)) {
      diffs.push_back({"mode", path, want.pending,
                       std::string("ZooKeeper has a ") + ZkKindName(kind) + " node; the spool wants " +
                           zkspool::NodeModeName(in.mode)});
    }
    if (node.data != in.data) {
      diffs.push_back({"data", path, want.pending,
                       "ZooKeeper has " + FormatBytes(node.data.size()) + " that differ from the spool's " +
                           FormatBytes(in.data.size())});
    }
  }
  for (const std::string& parent : parents) {
    std::vector<std::string> children;
    int rc = zk->Children(parent, children);
    if (rc == ZNONODE) continue;  // its children are already reported missing
    if (rc != ZOK) return zk_error("list children of", parent, rc);
    for (const std::string& child : children) {
      const std::string path = parent == "/" ? "/" + child : parent + "/" + child;
      if (path == "/zookeeper" || desired.count(path) || ancestors.count(path)) continue;
      ZkNode node;
      rc = zk->Get(path, node);
      if (rc == ZNONODE) continue;  // deleted since listed
      if (rc != ZOK) return zk_error("get", path, rc);
      const ZkKind kind = KindOf(node.ephemeral_owner);
      std::string detail = std::string("not in the spool; ") + ZkKindName(kind);
      if (kind == ZkKind::kEphemeral) {
        detail += " of session " + FormatSessionId(node.ephemeral_owner) +
                  (owned.count(node.ephemeral_owner) ? " (owned by this spool)" : "");
      }
      diffs.push_back({"extra", path, false, detail});
    }
  }

  if (args.json) {
    for (const Difference& d : diffs) {
      std::cout << JsonLine(Json{{"kind", d.kind}, {"path", d.path}, {"pending", d.pending}, {"detail", d.detail}}) << '\n';
    }
    std::cout << JsonLine(Json{{"kind", "summary"},
                               {"paths_checked", desired.size()},
                               {"parents_listed", parents.size()},
                               {"differences", diffs.size()},
                               {"in_sync", diffs.empty()}})
              << '\n';
  } else {
    if (!diffs.empty()) {
      Table table({{"KIND"}, {"PATH"}, {"PENDING"}, {"DETAIL"}});
      for (const Difference& d : diffs) table.Add({d.kind, Printable(d.path), d.pending ? "yes" : "no", d.detail});
      table.Print(std::cout);
    }
    std::cout << (diffs.empty() ? "in sync: " : std::to_string(diffs.size()) + " differences; ") << desired.size()
              << " paths checked, " << parents.size() << " parents listed\n";
  }
  return diffs.empty() ? kExitOk : kExitDifferences;
}

}  // namespace

void AddDiff(CLI::App& app, Command& run) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* sub = app.add_subcommand(
      "diff", "Compare the spool's registered set and pending intents with ZooKeeper; exit 0 in sync, 1 differences");
  sub->add_option("SPOOL", args->spool, "spool directory")->required();
  sub->add_option("--zk", args->hosts, "ZooKeeper connect string, e.g. zk1:2181,zk2:2181")->required();
  sub->add_option("--timeout-ms", args->timeout_ms, "give up connecting after this long (default 10000)")
      ->check(WholeNumber(1))
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  sub->add_flag("--json", args->json, "one JSON object per difference, then a summary object");
  sub->footer(
      "Kinds: missing (no node), data (other data), owner (ephemeral of a session the spool never owned),\n"
      "mode (other node type), present (a pending delete not applied yet), extra (a child of a registered\n"
      "node's parent that the spool does not know). PENDING yes: a pending intent decides the path, so the\n"
      "difference may just be work the owner has not done yet.\n\n" +
      std::string(kExitFooter));
  sub->callback([args, &run] { run = [args] { return RunDiff(*args); }; });
}

}  // namespace zkspoolctl
