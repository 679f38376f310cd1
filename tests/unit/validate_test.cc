#include "spool/validate.h"

#include <gtest/gtest.h>

#include "zkspool/spool.h"

namespace zkspool {
namespace {

using std::chrono::milliseconds;

std::string PathError(std::string_view path) { return ValidatePath(path).message(); }

TEST(ValidatePathTest, AcceptsOrdinaryPaths) {
  for (const char* p : {"/a", "/services/web/host-1", "/a.b/c..d/.e/f.", "/x/\xc3\xa9t\xc3\xa9", "/zookeeperish",
                        "/with space/and:colon"}) {
    EXPECT_TRUE(ValidatePath(p).ok()) << p << ": " << ValidatePath(p).ToString();
  }
}

TEST(ValidatePathTest, RejectsEachBrokenRuleWithItsMessage) {
  EXPECT_EQ(PathError(""), "path is empty");
  EXPECT_EQ(PathError("a/b"), "path \"a/b\" must be absolute (start with '/')");
  EXPECT_EQ(PathError("/"), "path \"/\" is the root, which cannot be registered or deregistered");
  EXPECT_EQ(PathError("/a/"), "path \"/a/\" must not end with '/'");
  EXPECT_EQ(PathError("/a//b"), "path \"/a//b\" has an empty segment ('//')");
  EXPECT_EQ(PathError("/a/./b"), "path \"/a/./b\" has a relative segment '.'");
  EXPECT_EQ(PathError("/a/.."), "path \"/a/..\" has a relative segment '..'");
  EXPECT_EQ(PathError("/zookeeper"), "path \"/zookeeper\" is under /zookeeper, which ZooKeeper reserves for itself");
  EXPECT_EQ(PathError("/zookeeper/quota"),
            "path \"/zookeeper/quota\" is under /zookeeper, which ZooKeeper reserves for itself");
  EXPECT_EQ(PathError(std::string_view("/a\0b", 4)), "path \"/a\\x00b\" contains a NUL character at byte 2");
  EXPECT_EQ(PathError("/a\tb"),
            "path \"/a\\x09b\" contains the character U+0009 at byte 2, which ZooKeeper does not allow in paths");
  EXPECT_EQ(PathError("/a\x7f"),
            "path \"/a\\x7f\" contains the character U+007F at byte 2, which ZooKeeper does not allow in paths");
  EXPECT_EQ(PathError("/\xc2\x85"),  // U+0085, a C1 control
            "path \"/\\xc2\\x85\" contains the character U+0085 at byte 1, which ZooKeeper does not allow in paths");
  EXPECT_EQ(PathError("/\xee\x80\x80"),  // U+E000, private use
            "path \"/\\xee\\x80\\x80\" contains the character U+E000 at byte 1, which ZooKeeper does not allow in "
            "paths");
  EXPECT_EQ(PathError("/\xef\xbf\xbe"),  // U+FFFE
            "path \"/\\xef\\xbf\\xbe\" contains the character U+FFFE at byte 1, which ZooKeeper does not allow in "
            "paths");
  EXPECT_EQ(PathError("/\xf0\x9f\x98\x80"),  // U+1F600: a surrogate pair on the server
            "path \"/\\xf0\\x9f\\x98\\x80\" contains the character U+1F600 at byte 1, which ZooKeeper does not "
            "allow in paths");
  EXPECT_EQ(PathError("/a\xff"), "path \"/a\\xff\" is not valid UTF-8 at byte 2");
  EXPECT_EQ(PathError("/a\xc3"), "path \"/a\\xc3\" is not valid UTF-8 at byte 2");
  EXPECT_EQ(PathError("/\xc0\xaf"), "path \"/\\xc0\\xaf\" is not valid UTF-8 at byte 1");  // overlong '/'
  EXPECT_EQ(PathError("/\xed\xa0\x80"), "path \"/\\xed\\xa0\\x80\" is not valid UTF-8 at byte 1");  // surrogate
}

TEST(ValidatePathTest, RejectsOverlongPathAndShortensItInTheMessage) {
  std::string path = "/" + std::string(kMaxPathBytes, 'a');
  std::string message = PathError(path);
  EXPECT_EQ(message, "path \"/" + std::string(199, 'a') + "...\" is 4097 bytes long; the limit is 4096");
  EXPECT_TRUE(ValidatePath(path.substr(0, kMaxPathBytes)).ok());
}

Intent Put(std::string path, std::string data = "d") {
  Intent i;
  i.op = Op::kPut;
  i.path = std::move(path);
  i.data = std::move(data);
  return i;
}

std::string IntentError(const Intent& i, milliseconds ttl = milliseconds{0}, size_t max_data = 100) {
  return ValidateIntent(i, ttl, max_data).message();
}

TEST(ValidateIntentTest, AcceptsValidIntents) {
  EXPECT_TRUE(ValidateIntent(Put("/a"), milliseconds{0}, 100).ok());
  EXPECT_TRUE(ValidateIntent(Put("/a", std::string(100, 'x')), milliseconds{5000}, 100).ok());
  Intent ttl_node = Put("/t");
  ttl_node.mode = NodeMode::kPersistentWithTtl;
  ttl_node.node_ttl_ms = kMaxNodeTtlMs;
  EXPECT_TRUE(ValidateIntent(ttl_node, kMaxSpoolTtl, 100).ok());
  Intent del;
  del.op = Op::kDelete;
  del.path = "/a";
  EXPECT_TRUE(ValidateIntent(del, milliseconds{0}, 100).ok());
}

TEST(ValidateIntentTest, RejectsEachBadFieldWithItsMessage) {
  EXPECT_EQ(IntentError(Put("rel")), "path \"rel\" must be absolute (start with '/')");
  EXPECT_EQ(IntentError(Put("/a", std::string(101, 'x'))), "data for \"/a\" is 101 bytes; the limit is 100");

  Intent del = Put("/a", "x");
  del.op = Op::kDelete;
  EXPECT_EQ(IntentError(del), "a delete of \"/a\" must carry no data");

  Intent bad_op = Put("/a");
  bad_op.op = static_cast<Op>(7);
  EXPECT_EQ(IntentError(bad_op), "op 7 is not put or delete");
  Intent bad_mode = Put("/a");
  bad_mode.mode = static_cast<NodeMode>(9);
  EXPECT_EQ(IntentError(bad_mode), "node mode 9 is unknown");
  Intent bad_acl = Put("/a");
  bad_acl.acl = static_cast<AclChoice>(5);
  EXPECT_EQ(IntentError(bad_acl), "acl choice 5 is unknown");

  Intent ttl_node = Put("/t");
  ttl_node.mode = NodeMode::kPersistentWithTtl;
  EXPECT_EQ(IntentError(ttl_node), "node TTL 0 ms is out of range: a persistent-ttl node needs 1..1099511627775 ms");
  ttl_node.node_ttl_ms = kMaxNodeTtlMs + 1;
  EXPECT_EQ(IntentError(ttl_node),
            "node TTL 1099511627776 ms is out of range: a persistent-ttl node needs 1..1099511627775 ms");
  Intent stray_ttl = Put("/a");
  stray_ttl.node_ttl_ms = 10;
  EXPECT_EQ(IntentError(stray_ttl), "node TTL is only valid for a put of a persistent-ttl node");

  EXPECT_EQ(IntentError(Put("/a"), milliseconds{-1}), "spool TTL -1 ms is out of range: 0 (none) to 315360000000 ms");
  EXPECT_EQ(IntentError(Put("/a"), kMaxSpoolTtl + milliseconds{1}),
            "spool TTL 315360000001 ms is out of range: 0 (none) to 315360000000 ms");
}

}  // namespace
}  // namespace zkspool
