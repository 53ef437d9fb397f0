#include <gtest/gtest.h>

#include "base/error.hpp"
#include "base/units.hpp"
#include "base/virsh.hpp"
#include "model/dirty_curve.hpp"

using vmp::UsageError;
using vmp::parse_deadline_ms;
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

// --deadline is one rule for a prediction and for --watch: bare seconds, at least one second.
TEST(Times, DeadlineIsSecondsAndAtLeastOne) {
  EXPECT_DOUBLE_EQ(parse_deadline_ms("90"), 90000);
  EXPECT_DOUBLE_EQ(parse_deadline_ms("1s"), 1000);
  EXPECT_DOUBLE_EQ(parse_deadline_ms("5m"), 300000);
  try {
    parse_deadline_ms("500ms");
    FAIL() << "a deadline under one second was taken";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--deadline: '500ms' is shorter than one second");
  }
  EXPECT_THROW(parse_deadline_ms("0"), UsageError);
}

// virsh's commands as the report, its JSON and --watch print them: one text, virsh's units,
// rounded up so that running them never sets less than advised.
TEST(Virsh, CommandsQuotingAndUnits) {
  EXPECT_EQ(vmp::virsh::shell_quoted("vm1"), "vm1");
  EXPECT_EQ(vmp::virsh::shell_quoted("my vm"), "'my vm'");
  EXPECT_EQ(vmp::virsh::shell_quoted("it's"), "'it'\\''s'");
  EXPECT_EQ(vmp::virsh::shell_quoted(""), "''");
  EXPECT_EQ(vmp::virsh::downtime_ms(450), 450);
  EXPECT_EQ(vmp::virsh::downtime_ms(450.2), 451);
  EXPECT_EQ(vmp::virsh::speed_mib_per_s(128.0 * 1048576), 128);
  EXPECT_EQ(vmp::virsh::speed_mib_per_s(128.5 * 1048576), 129);
  EXPECT_EQ(vmp::virsh::setmaxdowntime("", "vm1", 450), "virsh migrate-setmaxdowntime vm1 450");
  EXPECT_EQ(vmp::virsh::setspeed("qemu+ssh://h/system", "'my vm'", 1.25e9),
            "virsh -c qemu+ssh://h/system migrate-setspeed 'my vm' 1193");
  EXPECT_EQ(vmp::virsh::command("qemu:///system?x=1&y", "domjobabort", "vm1"),
            "virsh -c 'qemu:///system?x=1&y' domjobabort vm1");
}

// --curve is one rule for a prediction and for --watch.
TEST(Curve, PolicyNamesAndTheOneError) {
  EXPECT_EQ(vmp::model::parse_curve_policy("auto"), vmp::model::CurvePolicy::Auto);
  EXPECT_EQ(vmp::model::parse_curve_policy("piecewise-linear"),
            vmp::model::CurvePolicy::PiecewiseLinear);
  try {
    vmp::model::parse_curve_policy("linear");
    FAIL() << "an unknown curve was taken";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--curve: 'linear' is not one of auto, hybrid, saturating, piecewise-linear");
  }
}
