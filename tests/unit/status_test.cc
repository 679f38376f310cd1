#include "zkspool/status.h"

#include <gtest/gtest.h>

namespace zkspool {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ToStringNamesCodeAndMessage) {
  EXPECT_EQ(Status::SpoolFull("too many").ToString(), "spool full: too many");
  EXPECT_EQ(Status::InvalidArgument("x").ToString(), "invalid argument: x");
  EXPECT_EQ(Status::SpoolInUse("x").code(), StatusCode::kSpoolInUse);
  EXPECT_EQ(Status::NewerFormat("x").ToString(), "newer format: x");
  EXPECT_EQ(Status::Corruption("x").ToString(), "corruption: x");
  EXPECT_EQ(Status::IOError("x").ToString(), "I/O error: x");
  EXPECT_EQ(Status::NotFound("x").ToString(), "not found: x");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good(7);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad(Status::NotFound("nope"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "nope");
}

}  // namespace
}  // namespace zkspool
