// The agent's pure logic: request parsing, the registrations-file plan, and the metrics text.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "event_output.h"
#include "protocol.h"
#include "registrations_file.h"
#include "support/temp_dir.h"
#include "zkspool/metrics.h"

namespace zkspool::agent {
namespace {

using nlohmann::json;

TEST(ParseRequestTest, ReadsEveryFieldOfARegister) {
  RequestId id;
  auto r = ParseRequest(
      R"({"op":"register","path":"/a/b","data":"x","mode":"persistent-ttl","node_ttl_ms":5000,"ttl_ms":60000,"id":"q"})",
      id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, Request::Kind::kRegister);
  EXPECT_EQ(r->registration.path, "/a/b");
  EXPECT_EQ(r->registration.data, "x");
  EXPECT_EQ(r->registration.mode, NodeMode::kPersistentWithTtl);
  EXPECT_EQ(r->registration.node_ttl.count(), 5000);
  EXPECT_EQ(r->registration.ttl.count(), 60000);
  EXPECT_EQ(r->id.text(), "\"q\"");
}

TEST(ParseRequestTest, DefaultsAreAnEphemeralWithNoDataAndNoTtl) {
  RequestId id;
  auto r = ParseRequest(R"({"op":"update","path":"/a"})", id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registration.mode, NodeMode::kEphemeral);
  EXPECT_EQ(r->registration.data, "");
  EXPECT_EQ(r->registration.ttl.count(), 0);
  EXPECT_TRUE(r->id.empty());
}

TEST(ParseRequestTest, RejectsWhatIsWrongAndKeepsTheId) {
  struct Case {
    const char* line;
    const char* message_part;
  };
  for (Case c : {Case{"", "not valid JSON"}, Case{"{\"op\":", "not valid JSON"}, Case{"\"register\"", "object"},
                 Case{R"({"id":1})", "\"op\" is missing"}, Case{R"({"op":5,"id":1})", "\"op\" must be a string"},
                 Case{R"({"op":"register","path":"/a","data":5,"id":1})", "\"data\" must be a string"},
                 Case{R"({"op":"register","path":"/a","node_ttl_ms":10,"id":1})", "node_ttl_ms"},
                 Case{R"({"op":"register","path":"/a","mode":"persistent-ttl","id":1})", "node_ttl_ms"},
                 Case{R"({"op":"register","path":"/a","ttl_ms":1.5,"id":1})", "ttl_ms"},
                 Case{R"({"op":"register","path":"/a","mode":"sequential","id":1})", "mode \"sequential\""},
                 Case{R"({"op":"register","path":"/a","mdoe":"persistent","id":1})", "unknown key \"mdoe\""},
                 Case{R"({"op":"deregister","path":"/a","tll_ms":5,"id":1})", "unknown key \"tll_ms\""}}) {
    RequestId id;
    auto r = ParseRequest(c.line, id);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos) << c.line << ": " << r.status().message();
    if (std::string(c.line).find("\"id\":1") != std::string::npos) {
      EXPECT_EQ(id.text(), "1") << c.line;
    }
  }
}

// A registrations file's entry with a misspelt key is refused: ignored, "mdoe" would turn a
// persistent node into an ephemeral one on the next reload.
TEST(ParseRegistrationTest, AnEntryWithAnUnknownKeyIsRefusedAndOpOrIdOnlyBelongToRequests) {
  auto typo = ParseRegistration(json::parse(R"({"path":"/a","mdoe":"persistent"})"));
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown key \"mdoe\""), std::string::npos) << typo.status().message();
  EXPECT_FALSE(ParseRegistration(json::parse(R"({"path":"/a","id":1})")).ok());
  EXPECT_TRUE(ParseRegistration(json::parse(R"({"path":"/a","id":1,"op":"register"})"), false, true).ok());
  EXPECT_TRUE(ParseRegistration(json::parse(R"({"path":"/a","data":"x","mode":"persistent","ttl_ms":5})")).ok());
}

TEST(EventsTest, AreSingleLinesOfValidJsonWhateverThePathHolds) {
  std::string line = SpooledEvent("x", 7, std::string("/bad\n\xff", 6));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  json parsed = json::parse(line);
  EXPECT_EQ(parsed["event"], "spooled");
  EXPECT_EQ(parsed["seq"], 7);
  EXPECT_EQ(json::parse(ErrorEvent(nullptr, Status::SpoolFull("too many")))["code"], "spool full");
  RegistrarEvent session;
  session.kind = RegistrarEvent::Kind::kSession;
  session.session_state = SessionState::kConnected;
  session.session_id = 0x10000abc;
  json s = json::parse(RegistrarEventJson(session));
  EXPECT_EQ(s["state"], "connected");
  EXPECT_EQ(s["session_id"], "0x10000abc");  // zkspool::FormatSessionId, as ZooKeeper prints it
}

TEST(RegistrationsFileTest, LoadsEntriesAndNamesTheBadOne) {
  testing::TempDir dir;
  auto write = [&](const std::string& text) {
    std::ofstream(dir.Sub("r.json"), std::ios::trunc) << text;
    return LoadRegistrationsFile(dir.Sub("r.json"), 1000);
  };
  auto ok = write(R"({"registrations":[{"path":"/a","data":"1"},{"path":"/b","mode":"container","ttl_ms":9}]})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].mode, NodeMode::kContainer);
  EXPECT_EQ((*ok)[1].ttl.count(), 9);

  auto too_big = write(R"({"registrations":[{"path":"/a"},{"path":"/big","data":")" + std::string(1001, 'x') + "\"}]}");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("entry 1 (/big)"), std::string::npos) << too_big.status().message();
  auto bad_path = write(R"({"registrations":[{"path":"/a/../b"}]})");
  ASSERT_FALSE(bad_path.ok());
  EXPECT_NE(bad_path.status().message().find("entry 0 (/a/../b)"), std::string::npos);
  auto not_list = write(R"([{"path":"/a"}])");
  ASSERT_FALSE(not_list.ok());
  EXPECT_NE(not_list.status().message().find("\"registrations\" array"), std::string::npos);
  auto missing = LoadRegistrationsFile(dir.Sub("nope.json"), 1000);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(PlanSyncTest, PutsWhatIsMissingOrDifferentAndDeletesWhatIsNotListed) {
  auto desired = [](std::string path, std::string data, NodeMode mode) {
    SpooledIntent s;
    s.intent.path = std::move(path);
    s.intent.data = std::move(data);
    s.intent.mode = mode;
    return s;
  };
  std::vector<SpooledIntent> have = {desired("/same", "1", NodeMode::kEphemeral),
                                     desired("/data", "old", NodeMode::kEphemeral),
                                     desired("/mode", "1", NodeMode::kEphemeral),
                                     desired("/gone", "1", NodeMode::kEphemeral)};
  std::vector<Registration> want = {{"/same", "1", NodeMode::kEphemeral, {}, {}},
                                    {"/data", "new", NodeMode::kEphemeral, {}, {}},
                                    {"/mode", "1", NodeMode::kPersistent, {}, {}},
                                    {"/new", "1", NodeMode::kEphemeral, {}, {}}};
  SyncPlan plan = PlanSync(want, have);
  std::vector<std::string> puts;
  for (const Registration& r : plan.puts) puts.push_back(r.path);
  EXPECT_EQ(puts, (std::vector<std::string>{"/data", "/mode", "/new"}));
  EXPECT_EQ(plan.deletes, std::vector<std::string>{"/gone"});
  EXPECT_TRUE(PlanSync(want, {}).deletes.empty());
}

TEST(PrometheusTextTest, RendersGaugesCountersAndACumulativeHistogram) {
  RegistrarStats stats;
  stats.spool.pending_count = 3;
  stats.session_state = SessionState::kConnected;
  stats.applied = 12;
  stats.apply_latency.counts[0] = 2;  // <= 1 ms
  stats.apply_latency.counts[3] = 1;  // <= 8 ms
  stats.apply_latency.counts[LatencyHistogram::kBuckets - 1] = 1;
  stats.apply_latency.sum_ms = 2000;
  std::string text = RenderPrometheusText(stats, "host=\"h1\"");
  EXPECT_NE(text.find("# TYPE zkspool_pending_intents gauge\nzkspool_pending_intents{host=\"h1\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("zkspool_applied_total{host=\"h1\"} 12\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_session_state{host=\"h1\",state=\"connected\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_session_state{host=\"h1\",state=\"expired\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_bucket{host=\"h1\",le=\"0.001\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_bucket{host=\"h1\",le=\"0.004\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_bucket{host=\"h1\",le=\"0.008\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_bucket{host=\"h1\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_sum{host=\"h1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_apply_latency_seconds_count{host=\"h1\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("zkspool_session_info{host=\"h1\",session_id=\"0x0\",state=\"connected\"} 1\n"),
            std::string::npos)
      << text;
  // Every sample belongs to the family the last # TYPE line declared; no empty label sets.
  std::istringstream lines(RenderPrometheusText(stats));
  std::string line;
  std::string family;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    ASSERT_FALSE(family.empty()) << line;
    EXPECT_EQ(line.rfind(family, 0), 0u) << line << " is not of family " << family;
    EXPECT_EQ(line.find("{}"), std::string::npos) << line;
    ++samples;
  }
  EXPECT_GT(samples, 20);
}

TEST(WriteFileAtomicallyTest, ReplacesTheFileAndReportsAMissingDirectory) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("m.prom"), "one\n").ok());
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("m.prom"), "two\n").ok());
  std::ifstream in(dir.Sub("m.prom"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "two");
  Status missing = WriteFileAtomically(dir.Sub("no/such/dir.prom"), "x");
  EXPECT_EQ(missing.code(), StatusCode::kIOError);
  EXPECT_NE(missing.message().find("no/such/dir.prom"), std::string::npos);
  // The temporary file's name is not known in advance: a FIFO planted at the old name
  // (<path>.tmp.<pid>) blocked the write, a link there had its target truncated.
  const std::string planted = dir.Sub("m.prom.tmp." + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(planted.c_str(), 0600), 0);
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("m.prom"), "three\n").ok());
  std::ifstream again(dir.Sub("m.prom"));
  std::getline(again, line);
  EXPECT_EQ(line, "three");
}

std::string ReadAll(int fd) {
  std::string all;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) all.append(buffer, static_cast<size_t>(n));
  return all;
}

TEST(EventOutputTest, WritesRepliesAndEventsInOrder) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    EventOutput out(fds[1]);
    out.Reply("a");
    out.Event("b");
    out.Reply("c");
    EXPECT_TRUE(out.Flush(std::chrono::seconds(60)));
  }
  ::close(fds[1]);
  EXPECT_EQ(ReadAll(fds[0]), "a\nb\nc\n");
  ::close(fds[0]);
}

TEST(EventOutputTest, AnEventWaitsForTheReplyThatAcknowledgesItsSequence) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    EventOutput out(fds[1]);
    out.SetFirstOwnSequence(10);
    out.Event("applied 12", 12);  // the reconciler was faster than the reply
    out.Event("applied 5", 5);    // spooled by an earlier run: nothing to wait for
    out.Event("session");
    out.Reply("spooled 11", 11);
    out.Reply("spooled 12", 12);
    EXPECT_TRUE(out.Flush(std::chrono::seconds(60)));
  }
  ::close(fds[1]);
  EXPECT_EQ(ReadAll(fds[0]), "applied 5\nsession\nspooled 11\nspooled 12\napplied 12\n");
  ::close(fds[0]);
}

// What keeps an HTTP request from queueing its reply without limit on a stdout nobody reads: the
// timed wait says no while the queue is full, and yes once it is read or abandoned.
TEST(EventOutputTest, TimedWaitForRoomSaysNoWhileTheQueueIsFullAndYesOnceRead) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string all;
  {
    ASSERT_GT(::fcntl(fds[1], F_SETPIPE_SZ, 4096), 0);  // so that the pipe holds a known few lines
    EventOutput out(fds[1]);
    EXPECT_TRUE(out.WaitForRoom(std::chrono::milliseconds(0)));
    for (size_t i = 0; i < EventOutput::kMaxQueued + 10'000; ++i) out.Reply("x");  // the pipe fills, then the queue
    EXPECT_FALSE(out.WaitForRoom(std::chrono::milliseconds(200)));
    std::thread reader([&] { all = ReadAll(fds[0]); });
    EXPECT_TRUE(out.WaitForRoom(std::chrono::seconds(60)));
    EXPECT_TRUE(out.Flush(std::chrono::seconds(60)));
    ::close(fds[1]);
    reader.join();
  }
  ::close(fds[0]);
  EXPECT_EQ(all.size(), 2 * (EventOutput::kMaxQueued + 10'000)) << "no reply was dropped";
}

TEST(EventOutputTest, DropsEventsBeyondTheQueueLimitAndSaysHowMany) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  constexpr size_t kSent = EventOutput::kMaxQueued * 2;
  std::string all;
  {
    EventOutput out(fds[1]);
    // Nobody reads yet: the pipe fills, then the queue, then events are dropped.
    for (size_t i = 0; i < kSent; ++i) out.Event("x");
    std::thread reader([&] { all = ReadAll(fds[0]); });
    EXPECT_TRUE(out.Flush(std::chrono::seconds(60)));
    out.Event("last");
    EXPECT_TRUE(out.Flush(std::chrono::seconds(60)));
    ::close(fds[1]);  // after the writer is idle; the reader then sees end of file
    reader.join();
  }
  ::close(fds[0]);
  // Whenever the queue has room again, the count dropped so far comes before the next event.
  size_t written = 0;
  size_t dropped = 0;
  size_t dropped_lines = 0;
  std::istringstream lines(all);
  std::string line;
  std::string last;
  while (std::getline(lines, line)) {
    if (line == "x") {
      ++written;
    } else if (line.rfind(R"({"event":"dropped","count":)", 0) == 0) {
      dropped += json::parse(line)["count"].get<size_t>();
      ++dropped_lines;
    }
    last = line;
  }
  EXPECT_GE(written, EventOutput::kMaxQueued);
  EXPECT_GE(dropped_lines, 1u);
  EXPECT_EQ(written + dropped, kSent);
  EXPECT_EQ(last, "last");
}

}  // namespace
}  // namespace zkspool::agent
