// Digest auth and creator ACLs end to end, against a real server: what another client can and
// cannot do to our nodes, what wrong credentials look like, and that secrets stay out of logs.
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <sstream>

#include "registrar_fixture.h"
#include "zk_probe.h"

namespace zkspool {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::ZkProbe;

class AccessControlTest : public testing::RegistrarFixture {
 protected:
  RegistrarOptions WithAuth(const std::string& credentials, AclChoice acl, const std::string& spool = "spool") {
    RegistrarOptions o = Options(spool);
    o.digest_auth = credentials;
    o.acl = acl;
    return o;
  }
  static bool Waiting(const Registrar& r, const std::string& path) {
    RegistrarStats s = r.Stats();
    return std::find(s.conflicting_paths.begin(), s.conflicting_paths.end(), path) != s.conflicting_paths.end();
  }
};

TEST_F(AccessControlTest, OthersCanReadButNeitherChangeNorDeleteOurNodes) {
  auto registrar = Open(WithAuth("alice:secret", AclChoice::kCreatorAllWorldRead));
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/acl/svc/eph", "e1"))), Outcome::kApplied);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/acl/svc/per", "p1", NodeMode::kPersistent))),
            Outcome::kApplied);

  ZkProbe stranger(zk_->ConnectString());  // no credentials
  ASSERT_TRUE(stranger.Get("/acl/svc/per"));
  EXPECT_EQ(stranger.Get("/acl/svc/per")->data, "p1");
  EXPECT_EQ(zoo_set(stranger.handle(), "/acl/svc/per", "hacked", 6, -1), ZNOAUTH);
  EXPECT_EQ(zoo_set(stranger.handle(), "/acl/svc/eph", "hacked", 6, -1), ZNOAUTH);
  EXPECT_EQ(stranger.Delete("/acl/svc/eph"), ZNOAUTH);
  EXPECT_EQ(stranger.Delete("/acl/svc/per"), ZNOAUTH);
  EXPECT_EQ(stranger.Create("/acl/svc/intruder", "x"), ZNOAUTH) << "the parent is ours too";
  EXPECT_EQ(stranger.Get("/acl/svc/per")->data, "p1");
  EXPECT_EQ(stranger.Get("/acl/svc/eph")->data, "e1");

  // A creator-only node cannot even be read by others.
  auto private_registrar = Open(WithAuth("alice:secret", AclChoice::kCreatorAll, "private-spool"));
  ASSERT_EQ(Wait(*private_registrar, Must(private_registrar->Register("/private/x", "secret-data"))),
            Outcome::kApplied);
  char buffer[64];
  int length = sizeof buffer;
  EXPECT_EQ(zoo_get(stranger.handle(), "/private/x", 0, buffer, &length, nullptr), ZNOAUTH);
}

TEST_F(AccessControlTest, WrongCredentialsMakeIntentsWaitVisiblyUntilTheRightOnesCome) {
  {
    auto registrar = Open(WithAuth("alice:secret", AclChoice::kCreatorAllWorldRead));
    ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/acl/svc/per", "v1", NodeMode::kPersistent))),
              Outcome::kApplied);
    ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/acl/svc/eph", "e1"))), Outcome::kApplied);
    ASSERT_TRUE(registrar->Close().ok());
  }
  ZkProbe probe(zk_->ConnectString());
  {
    // The same user with a wrong password: ZooKeeper accepts the auth and says ZNOAUTH later.
    auto registrar = Open(WithAuth("alice:wrong", AclChoice::kCreatorAllWorldRead));
    uint64_t update = Must(registrar->Update("/acl/svc/per", "v2", NodeMode::kPersistent));
    EXPECT_TRUE(Eventually([&] { return Waiting(*registrar, "/acl/svc/per"); }, 20s));
    EXPECT_TRUE(Eventually([&] { return Waiting(*registrar, "/acl/svc/eph"); }, 20s))
        << "re-creating our ephemeral under our parent is refused as well";
    RegistrarStats stats = registrar->Stats();
    EXPECT_NE(stats.last_error.find("not authorized: check the digest credentials"), std::string::npos)
        << stats.last_error;
    EXPECT_EQ(registrar->WaitApplied(update, 300ms).status().code(), StatusCode::kTimedOut);
    EXPECT_GE(registrar->Stats().spool.pending_count, 1u) << "the intent waits, it is not dropped";
    EXPECT_EQ(registrar->Stats().failed, 0u);
    EXPECT_EQ(probe.Get("/acl/svc/per")->data, "v1");
    EXPECT_FALSE(probe.Get("/acl/svc/eph"));
    ASSERT_TRUE(registrar->Close().ok());
  }
  // The right credentials again: everything waiting is applied.
  auto registrar = Open(WithAuth("alice:secret", AclChoice::kCreatorAllWorldRead));
  EXPECT_TRUE(Eventually(
      [&] {
        auto per = probe.Get("/acl/svc/per");
        return per && per->data == "v2" && probe.Get("/acl/svc/eph").has_value();
      },
      30s));
  EXPECT_TRUE(registrar->Stats().conflicting_paths.empty());
}

TEST_F(AccessControlTest, SecretsNeverReachTheLog) {
  std::ostringstream captured;
  auto log = std::make_shared<spdlog::logger>("captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  log->set_level(spdlog::level::trace);
  RegistrarOptions o = WithAuth("alice:pa55-w0rd-XYZ", AclChoice::kCreatorAll);
  o.spool.logger = log;
  auto registrar = Open(o);
  ASSERT_EQ(Wait(*registrar, Must(registrar->Register("/secret/a", "1"))), Outcome::kApplied);
  auto [id, password] = testing::ReadSavedSession(o.spool_dir);
  ASSERT_TRUE(testing::ZkEnsemble::ExpireSession(zk_->ConnectString(), id, password, 30s));
  ASSERT_TRUE(Eventually([&] { return registrar->Stats().session_id != id; }, 30s));
  ASSERT_TRUE(registrar->Close().ok());
  log->flush();
  const std::string text = captured.str();
  EXPECT_NE(text.find("session"), std::string::npos) << "the log is captured";
  EXPECT_EQ(text.find("pa55-w0rd-XYZ"), std::string::npos) << text;
  EXPECT_EQ(text.find(password), std::string::npos);
  std::string hex;
  for (unsigned char c : password) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
  EXPECT_EQ(text.find(hex), std::string::npos);
}

}  // namespace
}  // namespace zkspool
