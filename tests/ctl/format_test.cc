// zkspoolctl's human units and base64, edge by edge.
#include "format.h"

#include <gtest/gtest.h>

#include <sstream>

namespace zkspoolctl {
namespace {

TEST(FormatTest, AgesPickTheTwoLargestUnits) {
  EXPECT_EQ(FormatAge(-5), "0ms");
  EXPECT_EQ(FormatAge(850), "850ms");
  EXPECT_EQ(FormatAge(12'400), "12s");
  EXPECT_EQ(FormatAge(72'000), "1m12s");
  EXPECT_EQ(FormatAge(2 * 3600'000 + 3 * 60'000 + 59'000), "2h03m");
  EXPECT_EQ(FormatAge(3 * 86400'000LL + 4 * 3600'000), "3d04h");
}

TEST(FormatTest, SizesUseBinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(4200), "4.1 KiB");
  EXPECT_EQ(FormatBytes(12u << 20), "12.0 MiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 29), "1.5 GiB");
}

TEST(FormatTest, Base64MatchesRfc4648) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64(std::string("\xff\x00\x80", 3)), "/wCA");
}

TEST(FormatTest, SessionIdsAndUnprintableBytes) {
  EXPECT_EQ(FormatSessionId(0x1000096ab740000), "0x1000096ab740000");
  EXPECT_EQ(Printable("/svc/a"), "/svc/a");
  EXPECT_EQ(Printable(std::string("/a\x01\\", 4)), "/a\\x01\\x5c");
}

TEST(FormatTest, TablesAlignColumns) {
  Table table({{"SEQ", true}, {"PATH"}, {"MODE"}});
  table.Add({"7", "/a", "ephemeral"});
  table.Add({"1234", "/long/path", "persistent"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            " SEQ  PATH        MODE\n"
            "   7  /a          ephemeral\n"
            "1234  /long/path  persistent\n");
}

}  // namespace
}  // namespace zkspoolctl
