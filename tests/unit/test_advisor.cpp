#include <gtest/gtest.h>

#include "model/advisor.hpp"

using namespace vmp::model;

namespace {

constexpr double kMiB = 1048576;
constexpr double kGiB = 1024 * kMiB;

PrecopyInput settings(double bandwidth, double downtime_ms) {
  PrecopyInput in;
  in.ram_bytes = kGiB;
  in.bandwidth_bytes_per_s = bandwidth;
  in.downtime_limit_ms = downtime_ms;
  in.deadline_ms = 600000;
  return in;
}

// 64 MiB rewritten all the time: it all has to go while paused.
DirtyCurve hot_64mib() { return DirtyCurve::saturating(64 * kMiB, 1e12, kGiB); }

}  // namespace

TEST(Advisor, NothingToChangeWhenItConverges) {
  auto a = advise(settings(128 * kMiB, 300), hot_64mib(), {}, true);
  EXPECT_EQ(a.verdict, Verdict::Migrate);
  EXPECT_FALSE(a.raise_downtime);
  EXPECT_FALSE(a.more_bandwidth);
}

TEST(Advisor, TheSmallestDowntimeThatFitsTheHotSet) {
  // 128 MiB/s x limit must hold the 64 MiB hot set (plus page headers): about 500 ms.
  auto in = settings(128 * kMiB, 300);
  ASSERT_FALSE(simulate_precopy(in, hot_64mib()).converges());
  auto a = advise(in, hot_64mib(), {.max_downtime_ms = 2000, .max_bandwidth_bytes_per_s = {}},
                  false);
  EXPECT_EQ(a.verdict, Verdict::RaiseDowntime);
  ASSERT_TRUE(a.raise_downtime);
  EXPECT_NEAR(a.raise_downtime->downtime_limit_ms, 500, 500 * 0.02);
  EXPECT_TRUE(a.raise_downtime->result.converges());
  EXPECT_GE(a.raise_downtime->no_gain_beyond_ms, a.raise_downtime->downtime_limit_ms);
  // Just below the advice it does not converge: the advice is the smallest.
  in.downtime_limit_ms = a.raise_downtime->downtime_limit_ms * 0.98;
  EXPECT_FALSE(simulate_precopy(in, hot_64mib()).converges());
}

TEST(Advisor, TheSmallestBandwidthWhenTheDowntimeMayNotGrow) {
  // 64 MiB within 300 ms needs about 213 MiB/s.
  auto in = settings(128 * kMiB, 300);
  auto a = advise(in, hot_64mib(), {.max_downtime_ms = 300, .max_bandwidth_bytes_per_s = {}},
                  false);
  EXPECT_EQ(a.verdict, Verdict::MoreBandwidth);
  EXPECT_FALSE(a.raise_downtime);
  ASSERT_TRUE(a.more_bandwidth);
  EXPECT_NEAR(a.more_bandwidth->bandwidth_bytes_per_s / kMiB, 64 / 0.3, 64 / 0.3 * 0.02);
  in.bandwidth_bytes_per_s = a.more_bandwidth->bandwidth_bytes_per_s * 0.98;
  EXPECT_FALSE(simulate_precopy(in, hot_64mib()).converges());
}

TEST(Advisor, DoNotMigrateWhenNothingAllowedConverges) {
  auto a = advise(settings(128 * kMiB, 300), hot_64mib(),
                  {.max_downtime_ms = 400, .max_bandwidth_bytes_per_s = 150 * kMiB}, false);
  EXPECT_EQ(a.verdict, Verdict::DoNotMigrate);
  EXPECT_FALSE(a.raise_downtime);
  EXPECT_FALSE(a.more_bandwidth);
}

TEST(Advisor, WithoutABandwidthItStillSaysWhatIsNeeded) {
  auto a = advise(settings(0, 300), hot_64mib(), {}, std::nullopt);
  EXPECT_EQ(a.verdict, Verdict::NoBandwidth);
  ASSERT_TRUE(a.more_bandwidth);
  EXPECT_NEAR(a.more_bandwidth->bandwidth_bytes_per_s / kMiB, 64 / 0.3, 64 / 0.3 * 0.02);
}
