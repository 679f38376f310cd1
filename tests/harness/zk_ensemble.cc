#include "harness/zk_ensemble.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace zkspool::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kStartTimeout{60000};
constexpr milliseconds kSrvrTimeout{500};
constexpr milliseconds kPollInterval{50};
constexpr int kStartAttempts = 3;

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void SetClientLogLevelOnce() {
  static std::once_flag once;
  std::call_once(once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
}

// Ports handed out by this process. The kernel may give the same ephemeral port to two
// bind(0) calls once the first socket is closed, which would put two members (or two
// ensembles in one test binary) on one port.
int PickFreePort() {
  static std::mutex mu;
  static std::set<int> handed_out;
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw std::runtime_error(Errno("socket"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) continue;
    socklen_t len = sizeof addr;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) continue;
    int port = ntohs(addr.sin_port);
    std::lock_guard<std::mutex> lock(mu);
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("no free 127.0.0.1 port found");
}

// Sends a four-letter word and reads the reply to EOF. "" on any failure or when the whole
// exchange does not finish by the deadline: a SIGSTOPped JVM still gets its TCP handshake
// done by the kernel, so only a deadline on the read tells "frozen" apart.
std::string SendFourLetterWord(int port, std::string_view word, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<long long>(left, 0));
  };
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return "";
    pollfd p{fd.get(), POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, remaining_ms());
    } while (n < 0 && errno == EINTR && remaining_ms() > 0);
    if (n <= 0) return "";
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return "";
  }
  size_t sent = 0;
  while (sent < word.size()) {
    // MSG_NOSIGNAL: a server dying mid-request must not SIGPIPE the test process.
    ssize_t n = ::send(fd.get(), word.data() + sent, word.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return "";
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms()) <= 0) return "";
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return reply;
    if (errno != EAGAIN && errno != EINTR) return "";
    if (remaining_ms() <= 0) return "";
    pollfd p{fd.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, remaining_ms());
    if (ready == 0) return "";
    if (ready < 0 && errno != EINTR) return "";
  }
}

// The value of the "Mode: " line of a srvr reply, "" if there is none.
std::string ModeOf(const std::string& srvr) {
  static constexpr std::string_view kKey = "Mode: ";
  size_t pos = 0;
  while (pos < srvr.size()) {
    size_t eol = srvr.find('\n', pos);
    if (eol == std::string::npos) eol = srvr.size();
    std::string_view line(srvr.data() + pos, eol - pos);
    if (line.substr(0, kKey.size()) == kKey) {
      std::string mode(line.substr(kKey.size()));
      while (!mode.empty() && (mode.back() == '\r' || mode.back() == ' ')) mode.pop_back();
      return mode;
    }
    pos = eol + 1;
  }
  return "";
}

bool IsServingMode(const std::string& mode) {
  return mode == "leader" || mode == "follower" || mode == "observer" || mode == "standalone";
}

bool IsLeaderMode(const std::string& mode) { return mode == "leader" || mode == "standalone"; }

void Reap(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// 'T' stopped, 'Z' zombie, ... ; '?' if /proc does not know the pid.
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  size_t paren = stat.rfind(") ");  // the comm field may itself contain ") "
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '?';
  return stat[paren + 2];
}

std::string FindJava() {
  if (const char* home = std::getenv("JAVA_HOME"); home != nullptr && *home != '\0') {
    std::string java = std::string(home) + "/bin/java";
    if (::access(java.c_str(), X_OK) == 0) return java;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string java = (dir.empty() ? "." : dir) + "/java";
    if (::access(java.c_str(), X_OK) == 0) return java;
  }
  throw std::runtime_error("ZkEnsemble: no `java` on PATH and no usable $JAVA_HOME/bin/java");
}

std::string ServerClasspath() {
  if (const char* cp = std::getenv("ZKSPOOL_ZK_CLASSPATH"); cp != nullptr && *cp != '\0') {
    return cp;
  }
  const std::string dir = "/usr/share/java/";
  if (!std::filesystem::exists(dir + "zookeeper.jar")) {
    throw std::runtime_error("ZkEnsemble: " + dir +
                             "zookeeper.jar not found (apt-get install zookeeper, or set "
                             "ZKSPOOL_ZK_CLASSPATH)");
  }
  // zookeeper.jar's manifest Class-Path already names its runtime deps; listing the ones
  // the server actually loads keeps the classpath obvious in `ps` and independent of the
  // manifest. slf4j-simple is the binding that makes the server log at all (to stderr).
  std::string cp;
  for (const char* jar : {"zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
                          "metrics-core.jar", "snappy-java.jar", "commons-cli.jar"}) {
    if (!std::filesystem::exists(dir + jar)) continue;
    if (!cp.empty()) cp += ':';
    cp += dir + jar;
  }
  return cp;
}

// An fd >= 3, so that dup2() onto 0/1/2 in the child never clobbers it and close_range(3)
// never closes it before dup2 (matters only if the test runs with stdio closed).
int AboveStdio(int fd) {
  if (fd < 0 || fd >= 3) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

}  // namespace

ZkEnsemble::ZkEnsemble(EnsembleOptions options) : options_(options) {
  java_ = FindJava();
  classpath_ = ServerClasspath();
  std::string pattern = (std::filesystem::temp_directory_path() / "zkspool-zk-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(Errno("mkdtemp"));
  work_dir_ = pattern;
  members_.resize(static_cast<size_t>(options_.members));
  try {
    PickPortsAndWriteConfigs();
  } catch (...) {
    std::error_code ignored;  // no destructor runs for a throwing constructor
    std::filesystem::remove_all(work_dir_, ignored);
    throw;
  }
}

ZkEnsemble::~ZkEnsemble() {
  KillAll();
  if (work_dir_.empty()) return;
  if (const char* keep = std::getenv("ZKSPOOL_KEEP_ZK_DIRS"); keep != nullptr && *keep != '\0') {
    std::cerr << "ZkEnsemble: keeping " << work_dir_ << "\n";
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(work_dir_, ignored);
}

std::unique_ptr<ZkEnsemble> ZkEnsemble::Start(EnsembleOptions options) {
  if (options.members < 1) throw std::invalid_argument("ZkEnsemble: members must be >= 1");
  if (options.tick_ms < 1) throw std::invalid_argument("ZkEnsemble: tick_ms must be >= 1");
  SetClientLogLevelOnce();
  const auto deadline = Clock::now() + kStartTimeout;
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<ZkEnsemble> ensemble(new ZkEnsemble(options));
    for (int i = 0; i < ensemble->size(); ++i) ensemble->Launch(i);

    std::string failure;
    bool retry = false;
    auto next_log_scan = Clock::now();
    for (;;) {
      if (ensemble->AllMembersServing()) return ensemble;
      // Another process can grab a port between PickFreePort() and the JVM binding it.
      // The server either exits (client/election port) or keeps failing to become leader
      // (quorum port), so scan the logs now and then rather than wait for an exit.
      if (Clock::now() >= next_log_scan) {
        if (ensemble->PortConflict()) {
          failure = "a port was already in use";
          retry = attempt < kStartAttempts;
          break;
        }
        next_log_scan = Clock::now() + milliseconds(500);
      }
      for (int i = 0; i < ensemble->size() && failure.empty(); ++i) {
        if (!ensemble->IsRunning(i)) failure = "member " + std::to_string(i) + " exited";
      }
      if (!failure.empty()) {
        retry = ensemble->PortConflict() && attempt < kStartAttempts;
        break;
      }
      if (Clock::now() >= deadline) {
        failure = "not serving after " + std::to_string(kStartTimeout.count() / 1000) + " s";
        break;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    if (retry && Clock::now() < deadline) continue;
    std::string message = "ZkEnsemble::Start(members=" + std::to_string(options.members) +
                          ") failed on attempt " + std::to_string(attempt) + ": " + failure +
                          "\n" + ensemble->AllLogTails();
    throw std::runtime_error(message);
  }
}

void ZkEnsemble::PickPortsAndWriteConfigs() {
  const bool quorum = members_.size() > 1;
  for (Member& m : members_) {
    m.client_port = PickFreePort();
    if (quorum) {
      m.quorum_port = PickFreePort();
      m.election_port = PickFreePort();
    }
  }
  for (size_t i = 0; i < members_.size(); ++i) {
    Member& m = members_[i];
    const std::string base = work_dir_ + "/member" + std::to_string(i);
    m.dir = base + "/data";
    m.cfg_path = base + "/zoo.cfg";
    m.log_path = base + "/server.log";
    std::filesystem::create_directories(m.dir);

    std::ofstream cfg(m.cfg_path);
    cfg << "tickTime=" << options_.tick_ms << "\n"
        << "initLimit=20\n"
        << "syncLimit=10\n"
        << "dataDir=" << m.dir << "\n"
        << "clientPort=" << m.client_port << "\n"
        << "clientPortAddress=127.0.0.1\n"
        << "minSessionTimeout=" << 2 * options_.tick_ms << "\n"
        << "maxSessionTimeout=" << options_.max_session_timeout_ms << "\n"
        << "maxClientCnxns=0\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=srvr,ruok,stat,mntr\n"
        // SIGKILL keeps everything the JVM wrote in the page cache, and only power loss
        // would need the fsyncs; skipping them keeps commit latency sane on a shared disk
        // (benchmarks set force_sync for the production default).
        << "forceSync=" << (options_.force_sync ? "yes" : "no") << "\n"
        // KB; the default 64 MB per txn log file is pointless for a test's few writes.
        << "preAllocSize=1024\n";
    if (quorum) {
      cfg << "quorumListenOnAllIPs=false\n"
          // Restart() rebinds the same election port; keep retrying rather than have the
          // JVM exit if the port is briefly busy.
          << "electionPortBindRetry=10\n"
          // Peers are on loopback: a connect that takes 2 s is not going to succeed.
          << "cnxTimeout=2000\n";
      for (size_t j = 0; j < members_.size(); ++j) {
        cfg << "server." << j + 1 << "=127.0.0.1:" << members_[j].quorum_port << ":"
            << members_[j].election_port << "\n";
      }
      std::ofstream(m.dir + "/myid") << i + 1 << "\n";
    }
    cfg.flush();
    if (!cfg) throw std::runtime_error("ZkEnsemble: cannot write " + m.cfg_path);
  }
}

void ZkEnsemble::Launch(int member) {
  Member& m = At(member);
  // Everything the child needs is prepared here: between fork() and exec() in a
  // multi-threaded process (ZooKeeper C client threads, ...) only async-signal-safe calls
  // are allowed, so no allocation, no PATH search, no iostreams.
  std::vector<std::string> args = {
      java_,
      "-Xmx" + std::to_string(options_.heap_mb) + "m",
      "-Xms16m",
      "-XX:+UseSerialGC",         // no parallel GC threads fighting over 2 cores
      "-XX:TieredStopAtLevel=1",  // C1 only: the server is short-lived, start time matters
      "-Xshare:auto",
      "-XX:-UsePerfData",  // else every SIGKILLed JVM leaves /tmp/hsperfdata_<user>/<pid>
      "-XX:ErrorFile=" + m.dir + "/../hs_err_%p.log",
      "-Djava.net.preferIPv4Stack=true",
      // A peer left alone backs off its election notifications up to 60 s by default,
      // which would make a restarted majority wait that long for the survivor.
      "-Dzookeeper.fastleader.maxNotificationInterval=1000",
      // A member that is SIGKILLed before its first snapshot must still restart.
      "-Dzookeeper.snapshot.trust.empty=true",
      // TTL nodes (persistent-with-ttl registrations) exist only with extended types on.
      "-Dzookeeper.extendedTypesEnabled=true",
      "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
      "-Dorg.slf4j.simpleLogger.showDateTime=true",
      "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
      "-cp",
      classpath_,
      "org.apache.zookeeper.server.quorum.QuorumPeerMain",
      m.cfg_path,
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  UniqueFd log(AboveStdio(::open(m.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)));
  if (log.get() < 0) throw std::runtime_error(Errno(("open " + m.log_path).c_str()));
  UniqueFd devnull(AboveStdio(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (devnull.get() < 0) throw std::runtime_error(Errno("open /dev/null"));
  {
    std::string marker = "----- zkspool harness: launching member " + std::to_string(member) +
                         " (client port " + std::to_string(m.client_port) + ") -----\n";
    if (::write(log.get(), marker.data(), marker.size()) < 0) {
      // Only a cosmetic marker; the launch itself reports real problems.
    }
  }
  rlimit nofile{};
  const int max_fd = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                         ? static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 65536))
                         : 65536;
  const pid_t parent = ::getpid();
  const char* dir = m.dir.c_str();
  const char* java = java_.c_str();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(Errno("fork"));
  if (pid == 0) {
    // Own process group: a Ctrl-C aimed at the test does not also hit the servers, and
    // kill(-pid) reaches anything the JVM might spawn.
    ::setpgid(0, 0);
    // The servers must never outlive a crashed test. If the parent died before prctl()
    // took effect, getppid() has already changed: bail out instead of running orphaned.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(126);
    ::dup2(devnull.get(), STDIN_FILENO);
    ::dup2(log.get(), STDOUT_FILENO);
    ::dup2(log.get(), STDERR_FILENO);
    // Sockets of the test's ZooKeeper clients etc. must not leak into the JVM, where they
    // would keep connections half-alive after the test closed them.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
    }
    // exec keeps the signal mask and ignored dispositions; the JVM expects neither.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
    if (::chdir(dir) != 0) ::_exit(126);  // stray JVM files land in the temp dir
    ::execve(java, argv.data(), environ);
    static constexpr char kMsg[] = "zkspool harness: execve(java) failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works before the child ran
  m.pid = pid;
  m.frozen = false;
}

void ZkEnsemble::KillAll() noexcept {
  // Signal everyone first, then reap: the JVMs die in parallel.
  for (Member& m : members_) {
    if (m.pid <= 0) continue;
    ::kill(-m.pid, SIGKILL);
    ::kill(m.pid, SIGKILL);
  }
  for (Member& m : members_) {
    if (m.pid <= 0) continue;
    Reap(m.pid);
    m.pid = -1;
    m.frozen = false;
  }
}

int ZkEnsemble::size() const { return static_cast<int>(members_.size()); }

std::string ZkEnsemble::ConnectString() const {
  std::string hosts;
  for (int i = 0; i < size(); ++i) {
    if (i > 0) hosts += ',';
    hosts += ConnectString(i);
  }
  return hosts;
}

std::string ZkEnsemble::ConnectString(int member) const {
  return "127.0.0.1:" + std::to_string(At(member).client_port);
}

std::string ZkEnsemble::Srvr(int member) const { return FourLetterWord(member, "srvr"); }

std::string ZkEnsemble::FourLetterWord(int member, const std::string& word) const {
  return SendFourLetterWord(At(member).client_port, word, kSrvrTimeout);
}

std::optional<int64_t> ZkEnsemble::Mntr(int member, const std::string& key) const {
  return MntrValue(FourLetterWord(member, "mntr"), key);
}

std::optional<int64_t> MntrValue(const std::string& mntr, const std::string& key) {
  const std::string prefix = key + "\t";
  for (size_t at = 0; at < mntr.size();) {
    const size_t end = std::min(mntr.find('\n', at), mntr.size());
    if (mntr.compare(at, prefix.size(), prefix) == 0) {
      return std::strtoll(mntr.c_str() + at + prefix.size(), nullptr, 10);
    }
    at = end + 1;
  }
  return std::nullopt;
}

bool ZkEnsemble::IsServing(int member) const { return IsServingMode(ModeOf(Srvr(member))); }

int ZkEnsemble::Leader(milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (int i = 0; i < size(); ++i) {
      if (IsLeaderMode(ModeOf(Srvr(i)))) return i;
    }
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(kPollInterval);
  }
}

bool ZkEnsemble::WaitForQuorum(milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int considered = 0;
    int leaders = 0;
    bool all_serving = true;
    for (int i = 0; i < size() && all_serving; ++i) {
      if (!IsRunning(i) || At(i).frozen) continue;
      ++considered;
      const std::string mode = ModeOf(Srvr(i));
      all_serving = IsServingMode(mode);
      if (IsLeaderMode(mode)) ++leaders;
    }
    if (considered == 0) return false;
    if (all_serving && leaders == 1) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

bool ZkEnsemble::AllMembersServing() const {
  int leaders = 0;
  for (int i = 0; i < size(); ++i) {
    const std::string mode = ModeOf(Srvr(i));
    if (!IsServingMode(mode)) return false;
    if (IsLeaderMode(mode)) ++leaders;
  }
  return leaders == 1;
}

bool ZkEnsemble::PortConflict() const {
  for (const Member& m : members_) {
    std::ifstream in(m.log_path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("Address already in use") != std::string::npos) return true;
    }
  }
  return false;
}

void ZkEnsemble::Kill(int member) {
  Member& m = At(member);
  if (m.pid <= 0) return;
  ::kill(-m.pid, SIGKILL);
  ::kill(m.pid, SIGKILL);  // in case setpgid lost a race; SIGKILL also ends a stopped JVM
  Reap(m.pid);
  m.pid = -1;
  m.frozen = false;
}

void ZkEnsemble::Freeze(int member) {
  Member& m = At(member);
  if (!IsRunning(member)) return;
  ::kill(m.pid, SIGSTOP);
  m.frozen = true;
  // SIGSTOP is asynchronous; callers expect the member to be unresponsive on return.
  const auto deadline = Clock::now() + milliseconds(2000);
  while (Clock::now() < deadline) {
    const char state = ProcState(m.pid);
    if (state == 'T' || state == 'Z' || state == '?') return;
    std::this_thread::sleep_for(milliseconds(1));
  }
}

void ZkEnsemble::Thaw(int member) {
  Member& m = At(member);
  if (!IsRunning(member)) return;
  ::kill(m.pid, SIGCONT);
  m.frozen = false;
}

void ZkEnsemble::Restart(int member) {
  Member& m = At(member);
  if (IsRunning(member)) {
    throw std::logic_error("ZkEnsemble::Restart: member " + std::to_string(member) +
                           " is still running; Kill() it first");
  }
  if (m.pid > 0) Reap(m.pid);  // it exited on its own: collect the zombie
  m.pid = -1;
  Launch(member);
}

bool ZkEnsemble::IsRunning(int member) const {
  const Member& m = At(member);
  if (m.pid <= 0) return false;
  // WNOWAIT: look without reaping, so this stays const and Kill/Restart still reap.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(m.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return false;
  }
  return info.si_pid == 0;
}

pid_t ZkEnsemble::Pid(int member) const { return At(member).pid; }

namespace {

struct SessionWaiter {
  std::mutex mu;
  std::condition_variable cv;
  int state = 0;  // last session state seen; 0 = none yet
};

void SessionWatcher(zhandle_t*, int type, int state, const char*, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* waiter = static_cast<SessionWaiter*>(context);
  std::lock_guard<std::mutex> lock(waiter->mu);
  waiter->state = state;
  waiter->cv.notify_all();
}

}  // namespace

bool ZkEnsemble::ExpireSession(const std::string& hosts, int64_t session_id,
                               const std::string& password, milliseconds timeout) {
  clientid_t id{};
  if (password.size() > sizeof id.passwd) {
    throw std::invalid_argument("ZkEnsemble::ExpireSession: password longer than 16 bytes");
  }
  SetClientLogLevelOnce();
  id.client_id = session_id;
  std::memcpy(id.passwd, password.data(), password.size());
  const auto deadline = Clock::now() + timeout;

  // Attach, close, and attach again until the server answers "expired". One attach+close
  // is what ZooKeeper's tests do, but if the original client reconnects between our
  // attach and our closeSession it takes the session back and it survives; the second
  // attach turns "probably expired" into "the leader's session tracker says expired".
  for (int round = 0;; ++round) {
    SessionWaiter waiter;
    const int session_timeout_ms = 10000;  // the server keeps the session's own timeout
    zhandle_t* zh =
        zookeeper_init(hosts.c_str(), SessionWatcher, session_timeout_ms, &id, &waiter, 0);
    if (zh == nullptr) return false;
    int state;
    {
      std::unique_lock<std::mutex> lock(waiter.mu);
      waiter.cv.wait_until(lock, deadline, [&] {
        return waiter.state == ZOO_CONNECTED_STATE || waiter.state == ZOO_EXPIRED_SESSION_STATE ||
               waiter.state == ZOO_AUTH_FAILED_STATE;
      });
      state = waiter.state;
    }
    // Closing a connected handle sends closeSession, which ends the session ensemble-wide.
    // zookeeper_close() joins the client's threads, so `waiter` is unused once it returns.
    zookeeper_close(zh);
    if (state == ZOO_EXPIRED_SESSION_STATE) return round > 0;  // round 0: was never alive
    if (state != ZOO_CONNECTED_STATE) return false;             // timeout or auth failure
  }
}

std::string ZkEnsemble::LogTail(int member, int lines) const {
  std::ifstream in(At(member).log_path, std::ios::binary);
  if (!in) return "";
  // Logs grow across restarts; the tail is all anyone wants.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff window = 256 * 1024;
  in.seekg(size > window ? size - window : 0);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (lines <= 0) return "";
  // Walk back over `lines` newlines, not counting the one that ends the file.
  size_t start = text.size();
  if (start > 0 && text[start - 1] == '\n') --start;
  for (int n = 0; n < lines && start > 0; ++n) {
    const size_t nl = text.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
  }
  if (start > 0) ++start;  // skip the newline ending the line before the tail
  return text.substr(start);
}

std::string ZkEnsemble::AllLogTails() const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    out += "--- member " + std::to_string(i) + " (" + ConnectString(i) + ", log " +
           At(i).log_path + ") ---\n" + LogTail(i) + "\n";
  }
  return out;
}

const ZkEnsemble::Member& ZkEnsemble::At(int member) const {
  if (member < 0 || member >= size()) {
    throw std::out_of_range("ZkEnsemble: no member " + std::to_string(member) + " (size " +
                            std::to_string(size()) + ")");
  }
  return members_[static_cast<size_t>(member)];
}

ZkEnsemble::Member& ZkEnsemble::At(int member) {
  return const_cast<Member&>(static_cast<const ZkEnsemble&>(*this).At(member));
}

}  // namespace zkspool::testing
