#include "registrations_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "bounded_json.h"
#include "protocol.h"
#include "regular_file.h"
#include "zkspool/spool.h"

namespace zkspool::agent {
namespace {

using nlohmann::json;

Result<Registration> ParseEntry(const json& entry, size_t max_data_bytes) {
  Result<Registration> r = ParseRegistration(entry);
  if (!r.ok()) return r.status();
  const BatchEntry put = PutEntry(*r);
  if (Status s = ValidateIntent(put.intent, put.ttl, max_data_bytes); !s.ok()) return s;
  return r;
}

}  // namespace

Result<std::vector<Registration>> LoadRegistrationsFile(const std::string& file, size_t max_data_bytes) {
  const std::string what = "registrations file " + file;
  Result<std::string> text = ReadRegularFile(file, kMaxRegistrationsFileBytes, what);
  if (!text.ok()) return text.status();
  Result<BoundedJson> doc = ParseBoundedJson(*text, JsonLimits{kMaxJsonDepth, kMaxRegistrations});
  if (!doc.ok()) return Status::InvalidArgument(what + " " + doc.status().message());
  auto list = doc->value.is_object() ? doc->value.find("registrations") : doc->value.end();
  if (list == doc->value.end() || !list->is_array()) {
    return Status::InvalidArgument(what + " must be an object with a \"registrations\" array");
  }
  std::vector<Registration> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    std::string where = fmt::format("{}: entry {}", what, i);
    if (entry.is_object() && entry.contains("path") && entry["path"].is_string()) {
      where += fmt::format(" ({})", entry["path"].get<std::string>());
    }
    Result<Registration> r = ParseEntry(entry, max_data_bytes);
    if (!r.ok()) return Status::InvalidArgument(where + ": " + r.status().message());
    if (!seen.insert(r->path).second) return Status::InvalidArgument(where + ": the path is listed twice");
    out.push_back(std::move(r).value());
  }
  return out;
}

SyncPlan PlanSync(const std::vector<Registration>& wanted, const std::vector<SpooledIntent>& desired) {
  std::map<std::string, const Intent*> have;
  for (const SpooledIntent& d : desired) have.emplace(d.intent.path, &d.intent);
  SyncPlan plan;
  std::set<std::string> listed;
  for (const Registration& r : wanted) {
    listed.insert(r.path);
    auto it = have.find(r.path);
    if (it == have.end() || it->second->data != r.data || it->second->mode != r.mode ||
        it->second->node_ttl_ms != r.node_ttl.count()) {
      plan.puts.push_back(r);
    }
  }
  for (const auto& [path, intent] : have) {
    if (!listed.contains(path)) plan.deletes.push_back(path);
  }
  return plan;
}

}  // namespace zkspool::agent
