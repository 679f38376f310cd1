// The pieces that bound what the agent accepts, on their own: LineReader, ParseBoundedJson,
// ReadRegularFile, ValidateConnectString.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "bounded_json.h"
#include "line_reader.h"
#include "regular_file.h"
#include "support/temp_dir.h"
#include "zkspool/registrar.h"

namespace zkspool::agent {
namespace {

struct Lines {
  std::vector<std::string> lines;
  int too_long = 0;
  void Feed(LineReader& reader, std::string_view bytes) {
    reader.Feed(bytes, [this](std::string_view l) { lines.emplace_back(l); }, [this] { ++too_long; });
  }
};

TEST(LineReaderTest, JoinsLinesSplitAcrossChunksAndKeepsALastLineWithoutNewline) {
  LineReader reader(100);
  Lines got;
  got.Feed(reader, "ab");
  got.Feed(reader, "c\nde\n\nf");
  got.Feed(reader, "g");
  reader.Finish([&](std::string_view l) { got.lines.emplace_back(l); });
  EXPECT_EQ(got.lines, (std::vector<std::string>{"abc", "de", "", "fg"}));
  EXPECT_EQ(got.too_long, 0);
}

TEST(LineReaderTest, ALineOverTheLimitIsReportedOnceAndSkippedToItsNewline) {
  LineReader reader(10);
  Lines got;
  got.Feed(reader, "0123456789");  // exactly the limit: still fine
  got.Feed(reader, "\n0123456789x");
  EXPECT_EQ(got.too_long, 1);
  EXPECT_LE(reader.buffered(), 10u);
  got.Feed(reader, std::string(1000, 'y'));
  EXPECT_EQ(got.too_long, 1) << "one report per line";
  EXPECT_EQ(reader.buffered(), 0u);
  got.Feed(reader, "zz\nok\n");
  EXPECT_EQ(got.lines, (std::vector<std::string>{"0123456789", "ok"}));
}

TEST(BoundedJsonTest, DepthIsLimitedAtTheLimitNotBefore) {
  const JsonLimits limits{4};
  EXPECT_TRUE(ParseBoundedJson("[[[[1]]]]", limits).ok());
  Result<BoundedJson> deep = ParseBoundedJson("[[[[[1]]]]]", limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().message(), "nests objects and arrays deeper than 4 levels, the limit");
}

TEST(BoundedJsonTest, ArraysAreLimitedWhileTheyAreParsed) {
  JsonLimits limits;
  limits.max_array_items = 3;
  EXPECT_TRUE(ParseBoundedJson("[1,2,3]", limits).ok());
  Result<BoundedJson> many = ParseBoundedJson("[1,2,3,4]", limits);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("more than 3 items"), std::string::npos) << many.status().message();
}

TEST(BoundedJsonTest, AKeyGivenTwiceInOneObjectIsRefusedAtAnyDepth) {
  EXPECT_FALSE(ParseBoundedJson(R"({"a":1,"a":2})", JsonLimits{}).ok());
  EXPECT_FALSE(ParseBoundedJson(R"({"a":{"b":1,"b":1}})", JsonLimits{}).ok());
  EXPECT_TRUE(ParseBoundedJson(R"({"a":{"b":1},"c":{"b":1}})", JsonLimits{}).ok());
}

TEST(BoundedJsonTest, TheTopLevelIdIsKeptAsWrittenWithItsNumbersExact) {
  struct Case {
    const char* json;
    const char* id;
  };
  for (Case c : {Case{R"({"id":123456789012345678901234567890,"op":"x"})", "123456789012345678901234567890"},
                 Case{R"({"op":"x","id":"q"})", "\"q\""},
                 Case{R"({"id": [1, {"a": 2.50, "b": [true, null]}, -3e2] })", R"([1,{"a":2.50,"b":[true,null]},-3e2])"},
                 Case{R"({"x":{"id":1},"id":{}})", "{}"}}) {
    Result<BoundedJson> parsed = ParseBoundedJson(c.json, JsonLimits{});
    ASSERT_TRUE(parsed.ok()) << c.json;
    ASSERT_TRUE(parsed->id_text.has_value()) << c.json;
    EXPECT_EQ(*parsed->id_text, c.id) << c.json;
  }
  EXPECT_FALSE(ParseBoundedJson(R"({"op":"x"})", JsonLimits{})->id_text.has_value());
}

TEST(RegularFileTest, ReadsARegularFileAndRefusesWhatIsNotOneOrTooBig) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("ok")) << "12345";
  EXPECT_EQ(*ReadRegularFile(dir.Sub("ok"), 5, "f"), "12345");
  Result<std::string> big = ReadRegularFile(dir.Sub("ok"), 4, "f");
  EXPECT_EQ(big.status().ToString(), "invalid argument: f is larger than 4 bytes, the limit");
  EXPECT_EQ(ReadRegularFile(dir.Sub("missing"), 5, "f").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadRegularFile(dir.path(), 5, "f").status().message(), "f is a directory, not a regular file");
  ASSERT_EQ(::mkfifo(dir.Sub("fifo").c_str(), 0600), 0);
  EXPECT_EQ(ReadRegularFile(dir.Sub("fifo"), 5, "f").status().message(), "f is a FIFO, not a regular file");
  EXPECT_EQ(ReadRegularFile("/dev/zero", 5, "f").status().message(), "f is a character device, not a regular file");
}

TEST(ConnectStringTest, NamesWhatIsWrong) {
  EXPECT_TRUE(ValidateConnectString("zk1:2181,zk2.example:2182,::1:2183/prod/x").ok());
  EXPECT_TRUE(ValidateConnectString("127.0.0.1:2181/").ok());
  // As the client takes them: IPv6 without brackets, white space after a comma skipped.
  EXPECT_TRUE(ValidateConnectString("zk_1.internal-net:2181, fe80::1%eth0.100:2181,\t::ffff:10.0.0.1:2181").ok());
  struct Case {
    const char* connect;
    const char* says;
  };
  for (Case c : {Case{"", "is empty"}, Case{",", "server 1 is empty"}, Case{"a:1,,b:2", "server 2 is empty"},
                 Case{"host", "has no port"}, Case{"host:", "is not a number from 1 to 65535"},
                 Case{"h:99999", "is not a number from 1 to 65535"}, Case{"h:0", "from 1 to 65535"},
                 Case{"h:12x", "from 1 to 65535"}, Case{"h:1/a//b", "chroot"},
                 Case{"a b:2181", "the host \"a b\" is neither a host name"}, Case{"h:1,z :2", "server 2"},
                 Case{"[::1]:2181", "without brackets"}, Case{"h:1, [::1]:2", "server 2"},
                 Case{"zz::1:2181", "is neither"}, Case{"fe80::1%:2181", "is neither"},
                 Case{"h;rm:1", "is neither"}, Case{":2181", "has no host"}}) {
    Status s = ValidateConnectString(c.connect);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.connect;
    EXPECT_NE(s.message().find(c.says), std::string::npos) << c.connect << ": " << s.message();
  }
}

}  // namespace
}  // namespace zkspool::agent
