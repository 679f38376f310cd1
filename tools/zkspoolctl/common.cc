#include "common.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/logger.h>

#include <CLI/CLI.hpp>
#include <charconv>

#include <chrono>
#include <iostream>

#include "format.h"

namespace zkspoolctl {

int ExitFor(const zkspool::Status& status) {
  switch (status.code()) {
    case zkspool::StatusCode::kOk: return kExitOk;
    case zkspool::StatusCode::kCorruption: return kExitCorruption;
    case zkspool::StatusCode::kSpoolInUse: return kExitInUse;
    default: return kExitError;
  }
}

int Fail(const zkspool::Status& status) {
  std::cerr << "zkspoolctl: " << status.message() << '\n';
  return ExitFor(status);
}

int Fail(const std::string& message, int exit) {
  std::cerr << "zkspoolctl: " << message << '\n';
  return exit;
}

std::string JsonLine(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::optional<SpoolFacts> ReadFacts(const zkspool::SpoolReader& reader, int64_t now_ms, int& exit) {
  auto stats = reader.Stats(now_ms);
  auto session = reader.SessionId();
  auto owned = reader.OwnedSessions();
  for (const zkspool::Status* s : {&stats.status(), &session.status(), &owned.status()}) {
    if (!s->ok()) {
      exit = Fail(*s);
      return std::nullopt;
    }
  }
  exit = kExitOk;
  return SpoolFacts{*stats, *session, std::move(owned).value()};
}

std::unique_ptr<zkspool::SpoolReader> OpenReader(const std::string& dir, int& exit) {
  auto reader = zkspool::SpoolReader::Open(dir);
  if (!reader.ok()) {
    exit = Fail(reader.status());
    return nullptr;
  }
  exit = kExitOk;
  return std::move(reader).value();
}

std::unique_ptr<zkspool::Spool> OpenOwner(const std::string& dir, const char* command, int& exit) {
  // Files a writing command adds (a new log, MANIFEST, HIGHWATER) are created 0600 by whoever
  // runs it: run as root on the agent's spool, they left files the agent could not read, and it
  // exited 5 on every restart.
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && st.st_uid != ::geteuid()) {
    const passwd* owner = ::getpwuid(st.st_uid);
    const std::string name = owner != nullptr ? owner->pw_name : std::to_string(st.st_uid);
    exit = Fail("spool " + dir + " belongs to user " + name + ": run " + command + " as that user (runuser -u " +
                    name + " -- zkspoolctl " + command + " ...), so that the files it writes stay readable by the spool's owner",
                kExitError);
    return nullptr;
  }
  zkspool::SpoolOptions options;
  options.create_if_missing = false;
  // The tool reports what it did itself; the library's log lines would only repeat it.
  options.logger = std::make_shared<spdlog::logger>("zkspoolctl");
  auto spool = zkspool::Spool::Open(dir, options);
  if (!spool.ok()) {
    if (spool.status().code() == zkspool::StatusCode::kSpoolInUse) {
      exit = Fail(spool.status().message() + "; " + command +
                      " changes the spool and needs it unused: stop its owner first (read commands work while it runs)",
                  kExitInUse);
    } else {
      exit = Fail(spool.status());
    }
    return nullptr;
  }
  exit = kExitOk;
  return std::move(spool).value();
}

CLI::Validator WholeNumber(uint64_t min, uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        uint64_t value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
          const std::string range = max == UINT64_MAX ? "of at least " + std::to_string(min)
                                                      : "from " + std::to_string(min) + " to " + std::to_string(max);
          return "\"" + text + "\" is not a whole number " + range;
        }
        // CLI11 then converts the text itself with strtoull in base 0, which reads "010" as 8:
        // `purge --seq 010` would remove intent 8.
        if (text.size() > 1 && text[0] == '0') return "\"" + text + "\" has a leading zero (write it in plain decimal)";
        return "";
      },
      max == UINT64_MAX ? "N>=" + std::to_string(min) : "N in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
}

std::string SubtreeRoot(const std::string& prefix) {
  if (prefix.empty() || prefix == "/") return "";
  return prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix;
}

bool UnderPrefix(const std::string& path, const std::string& prefix) {
  const std::string root = SubtreeRoot(prefix);
  if (root.empty()) return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

Json IntentJson(const zkspool::SpooledIntent& record, int64_t now_ms, bool with_data) {
  const zkspool::Intent& in = record.intent;
  Json j;
  j["seq"] = record.seq;
  j["op"] = zkspool::OpName(in.op);
  j["path"] = in.path;
  j["mode"] = zkspool::NodeModeName(in.mode);
  j["acl"] = zkspool::AclChoiceName(in.acl);
  j["data_bytes"] = in.data.size();
  if (with_data) j["data_base64"] = Base64(in.data);
  j["node_ttl_ms"] = in.node_ttl_ms;
  j["enqueued_at_ms"] = in.enqueued_at_ms;
  j["age_ms"] = std::max<int64_t>(now_ms - in.enqueued_at_ms, 0);
  j["expires_at_ms"] = in.expires_at_ms == 0 ? Json(nullptr) : Json(in.expires_at_ms);
  j["expires_in_ms"] = in.expires_at_ms == 0 ? Json(nullptr) : Json(std::max<int64_t>(in.expires_at_ms - now_ms, 0));
  return j;
}

}  // namespace zkspoolctl
