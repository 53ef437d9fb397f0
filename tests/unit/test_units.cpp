#include <gtest/gtest.h>

#include "base/units.hpp"
#include "base/error.hpp"

using vmp::UsageError;
using vmp::parse_rate_bytes_per_s;
using vmp::parse_time_ms;
using vmp::TimeUnit;

TEST(Rates, BitsAreSiAsLinksAreRated) {
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("10Gbit/s", "--bandwidth"), 1.25e9);
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("100Mbit/s", "--bandwidth"), 12.5e6);
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("2.5 Gbit/s", "--bandwidth"), 312.5e6);
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("1Gibit/s", "--bandwidth"), 1073741824.0 / 8);
}

TEST(Rates, BytesSiAndBinary) {
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("1.25GB/s", "--bandwidth"), 1.25e9);
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("800MiB/s", "--bandwidth"), 800.0 * 1048576);
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("1GiB/s", "--bandwidth"), 1073741824.0);
}

TEST(Rates, BareNumberIsMiBPerSecondAsVirshMigrateSetspeed) {
  EXPECT_DOUBLE_EQ(parse_rate_bytes_per_s("128", "--bandwidth"), 128.0 * 1048576);
}

TEST(Rates, RejectsNonsenseNamingTheOption) {
  for (const char* bad : {"", "0", "-5", "0Gbit/s", "fast", "10Xb/s", "nan", "inf", "1e400",
                          "0x10", "10 Gbit/s/s", "1e20GB/s"}) {
    try {
      parse_rate_bytes_per_s(bad, "--bandwidth");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--bandwidth"), std::string::npos) << e.what();
    }
  }
}

TEST(Times, UnitsAndBareNumbers) {
  EXPECT_DOUBLE_EQ(parse_time_ms("300ms", TimeUnit::Seconds, "--downtime"), 300);
  EXPECT_DOUBLE_EQ(parse_time_ms("2s", TimeUnit::Milliseconds, "--downtime"), 2000);
  EXPECT_DOUBLE_EQ(parse_time_ms("5m", TimeUnit::Milliseconds, "--deadline"), 300000);
  EXPECT_DOUBLE_EQ(parse_time_ms("1.5h", TimeUnit::Milliseconds, "--deadline"), 5400000);
  // virsh migrate-setmaxdowntime takes milliseconds; a deadline is naturally seconds.
  EXPECT_DOUBLE_EQ(parse_time_ms("300", TimeUnit::Milliseconds, "--downtime"), 300);
  EXPECT_DOUBLE_EQ(parse_time_ms("30", TimeUnit::Seconds, "--deadline"), 30000);
}

TEST(Times, RejectsZeroNegativeAndAbsurd) {
  for (const char* bad : {"0", "0ms", "-1s", "soon", "5 parsecs", "1e300s", "31d", "NaN"}) {
    EXPECT_THROW(parse_time_ms(bad, TimeUnit::Milliseconds, "--downtime"), UsageError) << bad;
  }
}
