#include "agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "event_output.h"
#include "protocol.h"
#include "registrations_file.h"
#include "zkspool/metrics.h"

namespace zkspool::agent {
namespace {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return kExitUsage;
    case StatusCode::kCorruption: return kExitCorruption;
    case StatusCode::kSpoolInUse: return kExitSpoolInUse;
    default: return kExitError;
  }
}

class Agent {
 public:
  explicit Agent(AgentOptions options) : options_(std::move(options)), output_(STDOUT_FILENO) {}

  int Run();

 private:
  Result<uint64_t> Spool(const Request& request);
  void HandleLine(const std::string& line);
  void ReadRequests();
  Status SyncRegistrationsFile();
  void WriteMetrics();
  void OnRegistrarEvent(const RegistrarEvent& event);

  AgentOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  EventOutput output_;
  // Held from spooling an intent until its "spooled" line is queued, and by the event callback,
  // so that a fast reconciler's "applied" can never overtake the "spooled" it belongs to.
  std::mutex order_mu_;
  std::unique_ptr<Registrar> registrar_;
  int wake_pipe_[2] = {-1, -1};  // wakes the stdin reader for shutdown
};

void Agent::OnRegistrarEvent(const RegistrarEvent& event) {
  std::lock_guard lock(order_mu_);
  output_.Event(RegistrarEventJson(event));
}

Result<uint64_t> Agent::Spool(const Request& request) {
  if (request.kind == Request::Kind::kDeregister) return registrar_->Deregister(request.path, request.ttl);
  if (request.mode == NodeMode::kPersistentWithTtl) {
    return registrar_->RegisterWithNodeTtl(request.path, request.data, request.node_ttl, request.ttl);
  }
  return registrar_->Register(request.path, request.data, request.mode, request.ttl);
}

void Agent::HandleLine(const std::string& line) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;
  nlohmann::json id;
  Result<Request> request = ParseRequest(line, id);
  if (!request.ok()) {
    output_.Reply(ErrorEvent(id, request.status()));
    return;
  }
  if (request->kind == Request::Kind::kStats) {
    output_.Reply(StatsEvent(request->id, registrar_->Stats()));
    return;
  }
  std::lock_guard lock(order_mu_);
  Result<uint64_t> seq = Spool(*request);
  output_.Reply(seq.ok() ? SpooledEvent(request->id, *seq, request->path) : ErrorEvent(request->id, seq.status()));
}

void Agent::ReadRequests() {
  std::string buffer;
  char chunk[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_->error("polling stdin failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      // stdin closed (or /dev/null under systemd): keep running on the registrations file.
      if (!buffer.empty()) HandleLine(buffer);
      return;
    }
    buffer.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      HandleLine(buffer.substr(start, nl - start));
    }
    buffer.erase(0, start);
  }
}

Status Agent::SyncRegistrationsFile() {
  const std::string& file = options_.registrations_file;
  Result<std::vector<Registration>> wanted = LoadRegistrationsFile(file, options_.registrar.spool.max_data_bytes);
  if (!wanted.ok()) return wanted.status();
  std::lock_guard lock(order_mu_);
  Result<std::vector<SpooledIntent>> desired = registrar_->Desired();
  if (!desired.ok()) return desired.status();
  SyncPlan plan = PlanSync(*wanted, *desired);
  for (const Registration& r : plan.puts) {
    Result<uint64_t> seq = r.mode == NodeMode::kPersistentWithTtl
                               ? registrar_->RegisterWithNodeTtl(r.path, r.data, r.node_ttl, r.ttl)
                               : registrar_->Register(r.path, r.data, r.mode, r.ttl);
    if (!seq.ok()) return seq.status();
    output_.Reply(SpooledEvent(nullptr, *seq, r.path));
  }
  for (const std::string& path : plan.deletes) {
    Result<uint64_t> seq = registrar_->Deregister(path);
    if (!seq.ok()) return seq.status();
    output_.Reply(SpooledEvent(nullptr, *seq, path));
  }
  nlohmann::json synced = {{"event", "synced"}, {"file", file}, {"entries", wanted->size()},
                           {"registers", plan.puts.size()}, {"deregisters", plan.deletes.size()}};
  output_.Reply(synced.dump());
  log_->info("registrations file {}: {} entries, {} to register, {} to deregister", file, wanted->size(),
             plan.puts.size(), plan.deletes.size());
  return Status::Ok();
}

void Agent::WriteMetrics() {
  Status s = WriteFileAtomically(options_.metrics_textfile, RenderPrometheusText(registrar_->Stats()));
  if (!s.ok()) log_->warn("metrics: {}", s.message());
}

int Agent::Run() {
  log_ = options_.registrar.spool.logger ? options_.registrar.spool.logger : spdlog::default_logger();
  options_.registrar.on_event = [this](const RegistrarEvent& event) { OnRegistrarEvent(event); };

  // Validate the file before touching the spool: a bad file at start changes nothing.
  if (!options_.registrations_file.empty()) {
    Result<std::vector<Registration>> check =
        LoadRegistrationsFile(options_.registrations_file, options_.registrar.spool.max_data_bytes);
    if (!check.ok()) {
      log_->error("{}", check.status().message());
      return kExitUsage;
    }
  }
  Result<std::unique_ptr<Registrar>> opened = Registrar::Open(options_.registrar);
  if (!opened.ok()) {
    log_->error("cannot open the registrar: {}", opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  registrar_ = std::move(opened).value();
  if (!options_.registrations_file.empty()) {
    if (Status s = SyncRegistrationsFile(); !s.ok()) {
      log_->error("{}", s.message());
      registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
      return ExitCodeFor(s);
    }
  }
  RegistrarStats stats = registrar_->Stats();
  output_.Reply(nlohmann::json{{"event", "ready"},
                               {"spool", options_.registrar.spool_dir},
                               {"pending", stats.spool.pending_count},
                               {"registered", stats.spool.registered_count},
                               {"pid", ::getpid()}}
                    .dump());

  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    log_->error("pipe: {}", std::strerror(errno));
    return kExitError;
  }
  std::thread reader([this] { ReadRequests(); });

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  const bool metrics = !options_.metrics_textfile.empty();
  for (;;) {
    if (metrics) WriteMetrics();
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
        metrics ? options_.metrics_interval : std::chrono::milliseconds(60'000));
    timespec timeout{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
    int signal = ::sigtimedwait(&signals, nullptr, &timeout);
    if (signal == SIGHUP) {
      if (options_.registrations_file.empty()) {
        log_->info("SIGHUP: no registrations file to reload");
      } else if (Status s = SyncRegistrationsFile(); !s.ok()) {
        // Nothing was spooled from a bad file, so the current registrations stay as they are.
        log_->error("reload refused: {}", s.message());
        output_.Reply(ErrorEvent(nullptr, s));
      }
    } else if (signal == SIGTERM || signal == SIGINT) {
      log_->info("{}: closing", signal == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  char byte = 1;
  if (::write(wake_pipe_[1], &byte, 1) < 0) log_->warn("waking the stdin reader: {}", std::strerror(errno));
  reader.join();
  registrar_->Close(Registrar::CloseMode::kEndSession).ok();
  if (metrics) WriteMetrics();
  output_.Reply(R"({"event":"closed"})");
  output_.Flush();
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  return kExitOk;
}

}  // namespace

int RunAgent(AgentOptions options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a vanished stdout reader shows as EPIPE, handled by EventOutput
  Agent agent(std::move(options));
  return agent.Run();
}

}  // namespace zkspool::agent
