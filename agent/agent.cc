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
#include "line_reader.h"
#include "protocol.h"
#include "registrations_file.h"
#include "signal_watcher.h"
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

// A stop asked for during start-up or a reload is honoured within this; after it the watcher
// ends the process itself (signal_watcher.h).
constexpr std::chrono::milliseconds kStopGrace{1500};

class Agent : public ControlTarget {
 public:
  Agent(AgentOptions options, SignalWatcher& signals)
      : options_(std::move(options)), signals_(signals), output_(STDOUT_FILENO) {}

  int Run();

  // ControlTarget (the HTTP API): each takes spool_mu_ itself.
  Result<uint64_t> SpoolRequest(const Request& request) override;
  Result<Spool::RetryReport> RetryFailed() override;
  void Leave() override;
  const Registrar& registrar() const override { return *registrar_; }

 private:
  // What a request line on stdin does (HandleRequest), with spool_mu_ held by HandleLine.
  class LineTarget : public RequestTarget {
   public:
    explicit LineTarget(Agent& agent) : agent_(agent) {}
    Result<uint64_t> Register(const Registration& r) override { return SpoolPut(*agent_.registrar_, r); }
    Result<uint64_t> Deregister(const std::string& path, std::chrono::milliseconds ttl) override {
      return agent_.registrar_->Deregister(path, ttl);
    }
    RegistrarStats Stats() override { return agent_.registrar_->Stats(); }
    void Leave() override { agent_.Leave(); }
    Result<std::pair<size_t, size_t>> RetryFailed() override {
      Result<Spool::RetryReport> report = agent_.RetryFailedLocked();
      if (!report.ok()) return report.status();
      return std::pair(report->retried.size(), report->superseded.size());
    }

   private:
    Agent& agent_;
  };

  Result<Spool::RetryReport> RetryFailedLocked();
  void HandleLine(std::string_view line);
  void ReadRequests();
  Status SyncRegistrationsFile();
  void WriteMetrics();
  std::string StatusLine() const;
  // An orderly stop before "ready": ends the session if one was started.
  int StopDuringStartup();

  AgentOptions options_;
  SignalWatcher& signals_;
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
  // Each reply is echoed on stdout too: with nobody reading it, the queue would grow with every
  // request. The stdin reader waits for room; an HTTP client is told to retry (503).
  if (!output_.WaitForRoom(std::chrono::seconds(HttpApi::kTimeoutSeconds))) {
    return Status::TimedOut(fmt::format("stdout has not been read while {} lines waited; nothing was spooled, retry later",
                                        EventOutput::kMaxQueued));
  }
  std::lock_guard lock(spool_mu_);
  Result<uint64_t> seq = request.kind == Request::Kind::kDeregister ? registrar_->Deregister(r.path, r.ttl)
                                                                    : SpoolPut(*registrar_, r);
  if (seq.ok()) output_.Reply(SpooledEvent(request.id, *seq, r.path), *seq);
  return seq;
}

Result<Spool::RetryReport> Agent::RetryFailed() {
  std::lock_guard lock(spool_mu_);
  return RetryFailedLocked();
}

Result<Spool::RetryReport> Agent::RetryFailedLocked() {
  Result<Spool::RetryReport> report = registrar_->RetryFailed();
  if (!report.ok()) return report;
  for (const Spool::RetriedIntent& r : report->retried) output_.Reply(SpooledEvent(nullptr, r.new_seq, r.path), r.new_seq);
  log_->info("retry-failed: {} failed intents spooled again, {} superseded by later ones", report->retried.size(),
             report->superseded.size());
  return report;
}

void Agent::Leave() {
  leave_ = true;
  // The main loop ends and closes, as on a SIGTERM. Not a real SIGTERM: one that arrived while
  // the agent was already closing would count as the second, which forces an exit.
  signals_.RequestStop("leave requested");
}

void Agent::HandleLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  LineTarget target(*this);
  std::lock_guard lock(spool_mu_);
  Reply reply = HandleRequest(line, target);
  output_.Reply(std::move(reply.line), reply.acknowledges);
}

void Agent::ReadRequests() {
  LineReader lines(kMaxRequestLineBytes);
  auto on_line = [this](std::string_view line) { HandleLine(line); };
  auto on_too_long = [this] { output_.Reply(LineTooLongEvent()); };
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
      lines.Finish(on_line);
      return;
    }
    lines.Feed(std::string_view(chunk, static_cast<size_t>(n)), on_line, on_too_long);
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
  std::vector<BatchEntry> changes;
  std::vector<std::string> paths;
  for (const Registration& r : plan.puts) {
    changes.push_back(PutEntry(r));
    paths.push_back(r.path);
  }
  for (const std::string& path : plan.deletes) {
    // The file says the node must go: that must not lapse while ZooKeeper is away.
    changes.push_back(DeleteEntry(path, kMaxSpoolTtl));
    paths.push_back(path);
  }
  if (signals_.stop_requested()) return Status::InvalidArgument("not applied: the agent is stopping");
  // All or nothing, one fsync: a file of 20,000 entries took a minute one fsync at a time.
  Result<std::vector<uint64_t>> seqs = registrar_->Submit(std::move(changes));
  if (!seqs.ok()) return seqs.status();
  for (size_t i = 0; i < seqs->size(); ++i) output_.Reply(SpooledEvent(nullptr, (*seqs)[i], paths[i]), (*seqs)[i]);
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

int Agent::StopDuringStartup() {
  signals_.Closing();
  log_->info("stopped during start-up");
  if (registrar_) registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
  output_.Reply(ClosedEvent(/*session_ended=*/false));
  output_.Flush(std::chrono::seconds(1));
  return kExitOk;
}

int Agent::Run() {
  log_ = options_.registrar.spool.logger ? options_.registrar.spool.logger : spdlog::default_logger();
  options_.registrar.on_event = [this](const RegistrarEvent& event) {
    output_.Event(RegistrarEventJson(event), event.seq != 0 ? std::optional<uint64_t>(event.seq) : std::nullopt);
  };

  // Validate the file before touching the spool: a bad file at start changes nothing.
  if (!options_.registrations_file.empty()) {
    signals_.Doing("reading the registrations file");
    Result<std::vector<Registration>> check =
        LoadRegistrationsFile(options_.registrations_file, options_.registrar.spool.max_data_bytes);
    if (signals_.stop_requested()) return StopDuringStartup();
    if (!check.ok()) {
      log_->error("{}", check.status().message());
      return kExitUsage;
    }
  }
  signals_.Doing("opening the spool");
  Result<std::unique_ptr<Registrar>> opened = Registrar::Open(options_.registrar);
  if (!opened.ok()) {
    log_->error("cannot open the registrar: {}", opened.status().ToString());
    return ExitCodeFor(opened.status());
  }
  registrar_ = std::move(opened).value();
  if (signals_.stop_requested()) return StopDuringStartup();
  output_.SetFirstOwnSequence(registrar_->Stats().spool.next_sequence);
  if (!options_.registrations_file.empty()) {
    signals_.Doing("applying the registrations file");
    Status s = SyncRegistrationsFile();
    if (signals_.stop_requested()) return StopDuringStartup();
    if (!s.ok()) {
      log_->error("{}", s.message());
      // Exit without ending the session, so that a quick restart keeps the ephemeral nodes.
      signals_.Closing();
      registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
      return ExitCodeFor(s);
    }
  }
  if (!options_.http.empty()) {
    signals_.Doing("starting the control API");
    http_ = std::make_unique<HttpApi>(
        *this, HttpApiOptions{options_.http, options_.metrics_labels, options_.health_max_pending_age}, log_);
    if (Status s = http_->Start(); !s.ok()) {
      log_->error("{}", s.message());
      signals_.Closing();
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

  const bool metrics = !options_.metrics_textfile.empty();
  auto wait = metrics ? options_.metrics_interval : std::chrono::milliseconds(60'000);
  if (systemd_.WatchdogInterval()) wait = std::min(wait, *systemd_.WatchdogInterval());
  for (;;) {
    signals_.Doing("serving");
    if (metrics) WriteMetrics();
    systemd_.Watchdog();
    systemd_.Status(StatusLine());
    SignalWatcher::Event event = signals_.Wait(wait);
    if (event == SignalWatcher::Event::kStop) break;  // the watcher logged why
    if (event != SignalWatcher::Event::kReload) continue;
    if (options_.registrations_file.empty()) {
      log_->info("SIGHUP: no registrations file to reload");
      continue;
    }
    signals_.Doing("reloading the registrations file");
    if (Status s = SyncRegistrationsFile(); !s.ok() && !signals_.stop_requested()) {
      log_->error("registrations file not applied: {}", s.message());
      output_.Reply(ErrorEvent(nullptr, s));
    }
  }
  signals_.Closing();
  const bool end_session = options_.leave_on_terminate || leave_;
  systemd_.Stopping(end_session ? "leaving: ending the ZooKeeper session" : "stopping: keeping the ZooKeeper session");
  // A stdout reader that stopped reading must not keep us from exiting, nor the API's workers
  // that Stop waits for.
  output_.Abandon();
  if (http_) http_->Stop();
  char byte = 1;
  if (::write(wake_pipe_[1], &byte, 1) < 0) log_->warn("waking the stdin reader: {}", std::strerror(errno));
  reader.join();
  const int64_t session = registrar_->Stats().session_id;
  if (end_session) {
    if (Status s = registrar_->Close(Registrar::CloseMode::kEndSession); !s.ok()) log_->warn("{}", s.ToString());
    log_->info("ended ZooKeeper session {}: its ephemeral nodes are gone", FormatSessionId(session));
  } else {
    registrar_->Close(Registrar::CloseMode::kKeepSession).ok();
    if (session == 0) {
      log_->info("stopped without a ZooKeeper session: none was ever established");
    } else {
      log_->info("kept ZooKeeper session {}: a restart within {} ms resumes it, and its ephemeral nodes stay",
                 FormatSessionId(session), options_.registrar.session_timeout.count());
    }
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
  // Before any thread exists: the signals are blocked in every thread and wait for the watcher.
  auto log = options.registrar.spool.logger ? options.registrar.spool.logger : spdlog::default_logger();
  SignalWatcher signals(log, kStopGrace, kExitOk);
  ::signal(SIGPIPE, SIG_IGN);  // a vanished stdout reader shows as EPIPE, handled by EventOutput
  Agent agent(std::move(options), signals);
  return agent.Run();
}

}  // namespace zkspool::agent
