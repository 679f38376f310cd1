#include "agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "agent_metrics.h"
#include "control_target.h"
#include "event_output.h"
#include "http_api.h"
#include "protocol.h"
#include "registrations_file.h"
#include "systemd_notify.h"
#include "zkspool/metrics.h"
#include "zkspool/session_id.h"

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

// A sync that failed part way: what was spooled stays spooled (it is valid and durable), and the
// message says how far it got.
Status PartialSync(const Status& cause, size_t spooled, const SyncPlan& plan) {
  if (spooled == 0) return cause;
  std::string message = fmt::format("{} (after {} of {} changes were spooled; those stay and are applied)",
                                    cause.message(), spooled, plan.puts.size() + plan.deletes.size());
  switch (cause.code()) {
    case StatusCode::kSpoolFull: return Status::SpoolFull(message);
    case StatusCode::kInvalidArgument: return Status::InvalidArgument(message);
    case StatusCode::kCorruption: return Status::Corruption(message);
    default: return Status::IOError(message);
  }
}

class Agent : public ControlTarget {
 public:
  explicit Agent(AgentOptions options) : options_(std::move(options)), output_(STDOUT_FILENO) {}

  int Run();

  Result<uint64_t> SpoolRequest(const Request& request) override;
  Result<Spool::RetryReport> RetryFailed() override;
  void Leave() override;
  const Registrar& registrar() const override { return *registrar_; }

 private:
  void HandleLine(const std::string& line);
  void ReadRequests();
  Status SyncRegistrationsFile();
  void WriteMetrics();
  std::string StatusLine() const;

  AgentOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  EventOutput output_;
  SystemdNotifier systemd_;
  // Serializes spooling (requests on stdin and HTTP, registrations-file syncs, retries), so that
  // "spooled" replies are queued in sequence order, which EventOutput's ordering needs. Never
  // held while waiting for the output.
  std::mutex spool_mu_;
  std::unique_ptr<Registrar> registrar_;
  std::unique_ptr<HttpApi> http_;
  std::atomic<bool> leave_{false};  // a leave request: end the session at exit
  int wake_pipe_[2] = {-1, -1};  // wakes the stdin reader for shutdown
};

Result<uint64_t> Agent::SpoolRequest(const Request& request) {
  const Registration& r = request.registration;
  std::lock_guard lock(spool_mu_);
  Result<uint64_t> seq = request.kind == Request::Kind::kDeregister ? registrar_->Deregister(r.path, r.ttl)
                                                                    : SpoolPut(*registrar_, r);
  if (seq.ok()) output_.Reply(SpooledEvent(request.id, *seq, r.path), *seq);
  return seq;
}

Result<Spool::RetryReport> Agent::RetryFailed() {
  std::lock_guard lock(spool_mu_);
  Result<Spool::RetryReport> report = registrar_->RetryFailed();
  if (!report.ok()) return report;
  for (const Spool::RetriedIntent& r : report->retried) output_.Reply(SpooledEvent(nullptr, r.new_seq, r.path), r.new_seq);
  log_->info("retry-failed: {} failed intents spooled again, {} superseded by later ones", report->retried.size(),
             report->superseded.size());
  return report;
}

void Agent::Leave() {
  leave_ = true;
  // The main thread waits for signals; every thread blocks them, so this one reaches it.
  ::kill(::getpid(), SIGTERM);
}

void Agent::HandleLine(const std::string& line) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;
  nlohmann::json id;
  Result<Request> request = ParseRequest(line, id);
  if (!request.ok()) {
    output_.Reply(ErrorEvent(id, request.status()));
    return;
  }
  switch (request->kind) {
    case Request::Kind::kStats:
      output_.Reply(StatsEvent(request->id, registrar_->Stats()));
      return;
    case Request::Kind::kLeave:
      output_.Reply(LeavingEvent(request->id));
      Leave();
      return;
    case Request::Kind::kRetryFailed: {
      Result<Spool::RetryReport> report = RetryFailed();
      output_.Reply(report.ok() ? RetriedEvent(request->id, report->retried.size(), report->superseded.size())
                                : ErrorEvent(request->id, report.status()));
      return;
    }
    case Request::Kind::kRegister:
    case Request::Kind::kDeregister:
      if (Result<uint64_t> seq = SpoolRequest(*request); !seq.ok()) output_.Reply(ErrorEvent(request->id, seq.status()));
      return;
  }
}

void Agent::ReadRequests() {
  std::string buffer;
  char chunk[64 * 1024];
  for (;;) {
    output_.WaitForRoom();
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
  std::lock_guard lock(spool_mu_);
  Result<std::vector<SpooledIntent>> desired = registrar_->Desired();
  if (!desired.ok()) return desired.status();
  SyncPlan plan = PlanSync(*wanted, *desired);
  size_t spooled = 0;
  for (const Registration& r : plan.puts) {
    Result<uint64_t> seq = SpoolPut(*registrar_, r);
    if (!seq.ok()) return PartialSync(seq.status(), spooled, plan);
    output_.Reply(SpooledEvent(nullptr, *seq, r.path), *seq);
    ++spooled;
  }
  for (const std::string& path : plan.deletes) {
    // The file says the node must go: that must not lapse while ZooKeeper is away.
    Result<uint64_t> seq = registrar_->Deregister(path, kMaxSpoolTtl);
    if (!seq.ok()) return PartialSync(seq.status(), spooled, plan);
    output_.Reply(SpooledEvent(nullptr, *seq, path), *seq);
    ++spooled;
  }
  output_.Reply(SyncedEvent(file, wanted->size(), plan.puts.size(), plan.deletes.size()));
  log_->info("registrations file {}: {} entries, {} to register, {} to deregister", file, wanted->size(),
             plan.puts.size(), plan.deletes.size());
  return Status::Ok();
}

void Agent::WriteMetrics() {
  Status s = WriteFileAtomically(options_.metrics_textfile,
                                 RenderAgentMetrics(registrar_->Stats(), options_.metrics_labels));
  if (!s.ok()) log_->warn("metrics: {}", s.message());
}

std::string Agent::StatusLine() const {
  RegistrarStats stats = registrar_->Stats();
  return fmt::format("session {} {}; {} registered, {} pending, {} failed", FormatSessionId(stats.session_id),
                     SessionStateName(stats.session_state), stats.spool.registered_count, stats.spool.pending_count,
                     stats.spool.failed_count);
}

int Agent::Run() {
  log_ = options_.registrar.spool.logger ? options_.registrar.spool.logger : spdlog::default_logger();
  options_.registrar.on_event = [this](const RegistrarEvent& event) {
    output_.Event(RegistrarEventJson(event), event.seq != 0 ? std::optional<uint64_t>(event.seq) : std::nullopt);
  };

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
  output_.SetFirstOwnSequence(registrar_->Stats().spool.next_sequence);
  if (!options_.registrations_file.empty()) {
    if (Status s = SyncRegistrationsFile(); !s.ok()) {
      log_->error("{}", s.message());
      // Exit without ending the session, so that a quick restart keeps the ephemeral nodes.
      registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
      return ExitCodeFor(s);
    }
  }
  if (!options_.http.empty()) {
    http_ = std::make_unique<HttpApi>(
        *this, HttpApiOptions{options_.http, options_.metrics_labels, options_.health_max_pending_age}, log_);
    if (Status s = http_->Start(); !s.ok()) {
      log_->error("{}", s.message());
      registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
      return ExitCodeFor(s);
    }
  }
  output_.Reply(ReadyEvent(options_.registrar.spool_dir, registrar_->Stats().spool, ::getpid(),
                           http_ ? http_->address() : ""));
  systemd_.Ready(StatusLine());

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
  auto wait = metrics ? options_.metrics_interval : std::chrono::milliseconds(60'000);
  if (systemd_.WatchdogInterval()) wait = std::min(wait, *systemd_.WatchdogInterval());
  for (;;) {
    if (metrics) WriteMetrics();
    systemd_.Watchdog();
    systemd_.Status(StatusLine());
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait);
    timespec timeout{static_cast<time_t>(ns.count() / 1'000'000'000), static_cast<long>(ns.count() % 1'000'000'000)};
    int signal = ::sigtimedwait(&signals, nullptr, &timeout);
    if (signal == SIGHUP) {
      if (options_.registrations_file.empty()) {
        log_->info("SIGHUP: no registrations file to reload");
      } else if (Status s = SyncRegistrationsFile(); !s.ok()) {
        log_->error("registrations file not applied: {}", s.message());
        output_.Reply(ErrorEvent(nullptr, s));
      }
    } else if (signal == SIGTERM || signal == SIGINT) {
      log_->info("{}: stopping", leave_ ? "leave requested" : signal == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  const bool end_session = options_.leave_on_terminate || leave_;
  systemd_.Stopping(end_session ? "leaving: ending the ZooKeeper session" : "stopping: keeping the ZooKeeper session");
  if (http_) http_->Stop();
  // A stdout reader that stopped reading must not keep us from exiting.
  output_.Abandon();
  char byte = 1;
  if (::write(wake_pipe_[1], &byte, 1) < 0) log_->warn("waking the stdin reader: {}", std::strerror(errno));
  reader.join();
  const int64_t session = registrar_->Stats().session_id;
  if (end_session) {
    if (Status s = registrar_->Close(Registrar::CloseMode::kEndSession); !s.ok()) log_->warn("{}", s.ToString());
    log_->info("ended ZooKeeper session {}: its ephemeral nodes are gone", FormatSessionId(session));
  } else {
    registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
    log_->info("kept ZooKeeper session {}: a restart within {} ms resumes it, and its ephemeral nodes stay",
               FormatSessionId(session), options_.registrar.session_timeout.count());
  }
  if (metrics) WriteMetrics();
  output_.Reply(ClosedEvent(end_session));
  if (!output_.Flush(std::chrono::seconds(5))) log_->warn("stdout is not being read: events after close were lost");
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
