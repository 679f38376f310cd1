// zkspoolctl agent ...: asks a running zkspool-agent through its control API (docs/agent.md),
// for hosts where the agent runs under systemd and cannot be reached on stdin.
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent_client.h"
#include "common.h"

namespace zkspoolctl {
namespace {

// Where the shipped systemd unit serves the API.
constexpr const char* kDefaultAddress = "unix:/run/zkspool-agent/api.sock";

struct AgentArgs {
  std::string address = kDefaultAddress;
  int timeout_ms = 10'000;
  std::string path;  // register / deregister
  std::string data;
  std::string mode;
  int64_t ttl_ms = 0;
  int64_t node_ttl_ms = 0;
};

// Prints the agent's answer on stdout; exit 0 for 2xx, 1 for any other answer (e.g. 503 from an
// unhealthy agent, 400 for a refused request), 2 for a malformed --http, 5 when the agent
// cannot be reached.
int Call(const AgentArgs& args, const std::string& method, const std::string& path, const std::string& body = "") {
  auto reply = CallAgent(args.address, method, path, body, args.timeout_ms);
  if (!reply.ok() && reply.status().code() == zkspool::StatusCode::kInvalidArgument) {
    return Fail(reply.status().message(), kExitUsage);
  }
  if (!reply.ok()) return Fail(reply.status());
  std::cout << reply->body;
  if (!reply->body.empty() && reply->body.back() != '\n') std::cout << '\n';
  return reply->status >= 200 && reply->status < 300 ? kExitOk : kExitDifferences;
}

std::string RegistrationBody(const AgentArgs& args, bool deregister) {
  Json body;
  body["path"] = args.path;
  if (!deregister) {
    body["data"] = args.data;
    if (!args.mode.empty()) body["mode"] = args.mode;
    if (args.node_ttl_ms != 0) body["node_ttl_ms"] = args.node_ttl_ms;
  }
  if (args.ttl_ms != 0) body["ttl_ms"] = args.ttl_ms;
  return body.dump();
}

}  // namespace

void AddAgent(CLI::App& app, Command& run) {
  auto args = std::make_shared<AgentArgs>();
  CLI::App* agent = app.add_subcommand("agent", "Ask a running zkspool-agent through its control API (--http)");
  agent->require_subcommand(1);
  agent->add_option("--http", args->address, "the agent's --http address: HOST:PORT or unix:PATH")
      ->capture_default_str();
  agent->add_option("--timeout-ms", args->timeout_ms, "give up after this long")
      ->capture_default_str()
      ->check(WholeNumber(1))
      ->check(CLI::Range(1, 3'600'000));
  agent->footer(
      "Prints the agent's JSON answer. Exit status: 0 answered with 2xx, 1 answered otherwise (unhealthy,\n"
      "request refused), 2 usage, 5 the agent cannot be reached. See docs/agent.md.");
  struct Get {
    const char* name;
    const char* path;
    const char* help;
  };
  for (const Get& g : {Get{"status", "/v1/status", "What the stats event carries: counts, session, errors"},
                       Get{"health", "/v1/health", "Healthy (exit 0) or not (exit 1), and why"},
                       Get{"registrations", "/v1/registrations", "The registered set (first 1000)"},
                       Get{"pending", "/v1/pending", "The pending intents (first 1000)"},
                       Get{"failed", "/v1/failed", "The failed intents and why they failed (first 1000)"},
                       Get{"metrics", "/metrics", "The Prometheus metrics"}}) {
    CLI::App* sub = agent->add_subcommand(g.name, g.help);
    std::string path = g.path;
    sub->callback([args, path, &run] { run = [args, path] { return Call(*args, "GET", path); }; });
  }
  for (bool deregister : {false, true}) {
    CLI::App* sub = agent->add_subcommand(deregister ? "deregister" : "register",
                                          deregister ? "Spool a deregistration" : "Spool a registration");
    sub->add_option("PATH", args->path, "ZooKeeper path")->required();
    if (!deregister) {
      sub->add_option("--data", args->data, "node data");
      sub->add_option("--mode", args->mode, "ephemeral (default), persistent, container, persistent-ttl");
      sub->add_option("--node-ttl-ms", args->node_ttl_ms, "server-side TTL of a persistent-ttl node")
          ->check(WholeNumber(0, INT64_MAX));
    }
    sub->add_option("--ttl-ms", args->ttl_ms, "how long the intent may wait in the spool")
        ->check(WholeNumber(0, INT64_MAX));
    sub->callback([args, deregister, &run] {
      run = [args, deregister] {
        return Call(*args, "POST", deregister ? "/v1/deregister" : "/v1/register", RegistrationBody(*args, deregister));
      };
    });
  }
  CLI::App* retry = agent->add_subcommand("retry-failed", "Spool the failed intents again (see retry-failed)");
  retry->callback([args, &run] { run = [args] { return Call(*args, "POST", "/v1/retry-failed", "{}"); }; });
  CLI::App* leave = agent->add_subcommand("leave", "End the agent's ZooKeeper session (its ephemeral nodes go) and stop it");
  leave->callback([args, &run] { run = [args] { return Call(*args, "POST", "/v1/leave", "{}"); }; });
}

}  // namespace zkspoolctl
