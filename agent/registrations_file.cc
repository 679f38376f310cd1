#include "registrations_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "zkspool/spool.h"

namespace zkspool::agent {
namespace {

using nlohmann::json;

Result<Registration> ParseEntry(const json& entry, size_t max_data_bytes) {
  Result<Registration> r = ParseRegistration(entry);
  if (!r.ok()) return r.status();
  Intent intent;
  intent.path = r->path;
  intent.data = r->data;
  intent.mode = r->mode;
  intent.node_ttl_ms = r->node_ttl.count();
  if (Status s = ValidateIntent(intent, r->ttl, max_data_bytes); !s.ok()) return s;
  return r;
}

}  // namespace

Result<std::vector<Registration>> LoadRegistrationsFile(const std::string& file, size_t max_data_bytes) {
  std::ifstream in(file);
  if (!in) return Status::NotFound(fmt::format("registrations file {} cannot be read", file));
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument(fmt::format("registrations file {} is not valid JSON", file));
  auto list = doc.is_object() ? doc.find("registrations") : doc.end();
  if (list == doc.end() || !list->is_array()) {
    return Status::InvalidArgument(
        fmt::format("registrations file {} must be an object with a \"registrations\" array", file));
  }
  std::vector<Registration> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    std::string where = fmt::format("registrations file {}: entry {}", file, i);
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
