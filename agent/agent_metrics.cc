#include "agent_metrics.h"

#include <fmt/format.h>

#include <cctype>
#include <set>

#include "build_version.h"
#include "zkspool/metrics.h"

namespace zkspool::agent {
namespace {

bool ValidName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) || name.starts_with("__")) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string Escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<std::string> ParseMetricsLabels(std::string_view text) {
  static const std::set<std::string, std::less<>> kOwn = {"state", "session_id", "le", "version", "git"};
  std::string out;
  std::set<std::string, std::less<>> seen;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view pair = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    if (eq == std::string_view::npos || !ValidName(name)) {
      return Status::InvalidArgument(fmt::format(
          "metrics label \"{}\" is not name=value with a name of letters, digits and _ (not starting with a digit "
          "or __)", pair));
    }
    if (kOwn.contains(name)) {
      return Status::InvalidArgument(fmt::format("metrics label \"{}\" is one the metrics use themselves", name));
    }
    if (!seen.emplace(name).second) {
      return Status::InvalidArgument(fmt::format("metrics label \"{}\" is given twice", name));
    }
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", name, Escape(pair.substr(eq + 1)));
  }
  return out;
}

std::string RenderAgentMetrics(const RegistrarStats& stats, const std::string& labels) {
  std::string text = RenderPrometheusText(stats, labels);
  text += "# HELP zkspool_build_info The running zkspool-agent's version (and git describe of its sources).\n"
          "# TYPE zkspool_build_info gauge\n";
  text += fmt::format("zkspool_build_info{{{}{}version=\"{}\",git=\"{}\"}} 1\n", labels, labels.empty() ? "" : ",",
                      Escape(ProjectVersion()), Escape(GitDescribe()));
  return text;
}

}  // namespace zkspool::agent
