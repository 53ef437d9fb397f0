#include <gtest/gtest.h>

#include <cmath>

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

namespace {
// The same 64 MiB written at 512 MiB/s: a throttled guest gets through less of it per iteration.
DirtyCurve warm_64mib() { return DirtyCurve::saturating(64 * kMiB, 512 * kMiB, kGiB); }

AdviceLimits fixed_settings() {
  // Neither the downtime nor the bandwidth may change.
  return {.max_downtime_ms = 300, .max_bandwidth_bytes_per_s = 128 * kMiB};
}
}  // namespace

TEST(Advisor, AutoConvergeAndPostcopyAreAdvisedOnlyWhenAllowed) {
  auto in = settings(128 * kMiB, 300);
  auto limits = fixed_settings();
  ASSERT_FALSE(simulate_precopy(in, warm_64mib()).converges());
  auto a = advise(in, warm_64mib(), limits, false);
  EXPECT_EQ(a.verdict, Verdict::DoNotMigrate);
  ASSERT_TRUE(a.auto_converge);  // computed all the same
  EXPECT_TRUE(a.auto_converge->result.converges());
  ASSERT_TRUE(a.post_copy);
  EXPECT_TRUE(a.post_copy->result.postcopy_started);
  ASSERT_TRUE(a.best);
  EXPECT_FALSE(a.best->result.converges());

  limits.allow_auto_converge = true;
  EXPECT_EQ(advise(in, warm_64mib(), limits, false).verdict, Verdict::AutoConverge);
  limits.allow_auto_converge = false;
  limits.allow_postcopy = true;
  EXPECT_EQ(advise(in, warm_64mib(), limits, false).verdict, Verdict::PostCopy);
  limits.allow_auto_converge = true;
  auto both = advise(in, warm_64mib(), limits, false);
  EXPECT_EQ(both.verdict, both.post_copy->result.total_time_ms <
                                  both.auto_converge->result.total_time_ms
                              ? Verdict::PostCopy
                              : Verdict::AutoConverge);
  EXPECT_FALSE(both.best);
}

TEST(Advisor, PostcopyIsRuledOutWithVfioDevices) {
  auto limits = fixed_settings();
  limits.allow_postcopy = true;
  auto a = advise(settings(128 * kMiB, 300), hot_64mib(), limits, false,
                  {.vfio_devices = 1, .bandwidth_bytes_per_s = 0});
  EXPECT_FALSE(a.post_copy);
  EXPECT_NE(a.post_copy_refused.find("VFIO"), std::string::npos);
  EXPECT_EQ(a.verdict, Verdict::DoNotMigrate);
}

TEST(Advisor, PostcopyIsRuledOutWhenAFaultWaitsLongerThanTheMaxDowntime) {
  // After the switch a vCPU that touches a page still on the source waits for its whole host
  // page: on 1 GiB pages over a 1 GiB/s link about a second, past a 300 ms max downtime.
  auto limits = fixed_settings();
  limits.allow_postcopy = true;
  auto in = settings(128 * kMiB, 300);
  in.link_bytes_per_s = kGiB;
  in.host_page_bytes = kGiB;
  auto a = advise(in, hot_64mib(), limits, false);
  EXPECT_FALSE(a.post_copy);
  EXPECT_NE(a.post_copy_refused.find("1 GiB huge page"), std::string::npos) << a.post_copy_refused;
  EXPECT_NE(a.post_copy_refused.find("longer than the max downtime of 300 ms"), std::string::npos)
      << a.post_copy_refused;
  EXPECT_EQ(a.verdict, Verdict::DoNotMigrate);
  // 2 MiB pages: about 2 ms a fault, counted and advised.
  in.host_page_bytes = 2 * kMiB;
  auto b = advise(in, hot_64mib(), limits, false);
  ASSERT_TRUE(b.post_copy);
  EXPECT_NEAR(b.post_copy->result.fault_stall_ms, (2 * kMiB + 8) / kGiB * 1000, 1e-9);
  EXPECT_EQ(b.verdict, Verdict::PostCopy);
  // 4 KiB pages: microseconds.
  in.host_page_bytes = 0;
  EXPECT_LT(advise(in, hot_64mib(), limits, false).post_copy->result.fault_stall_ms, 0.01);
}

TEST(Advisor, AChangedSettingIsPreferredToAutoConvergeOrPostcopy) {
  AdviceLimits limits{.max_downtime_ms = 2000, .max_bandwidth_bytes_per_s = {},
                      .allow_auto_converge = true, .allow_postcopy = true};
  EXPECT_EQ(advise(settings(128 * kMiB, 300), hot_64mib(), limits, false).verdict,
            Verdict::RaiseDowntime);
}

TEST(Advisor, ThrottlingCannotTameAGuestThatRewritesItsSetInMilliseconds) {
  // The whole 64 MiB within a millisecond: even 99% throttled it is all dirty at every sync.
  auto limits = fixed_settings();
  limits.allow_auto_converge = true;
  auto a = advise(settings(128 * kMiB, 300), hot_64mib(), limits, false);
  EXPECT_FALSE(a.auto_converge);
  EXPECT_EQ(a.verdict, Verdict::DoNotMigrate);
  ASSERT_TRUE(a.best);
  EXPECT_TRUE(a.best->auto_converge);
  EXPECT_DOUBLE_EQ(a.best->result.final_throttle_pct, 99);
}

// What is advised is a value virsh takes (whole ms, whole MiB/s) and it converges: the loop's
// 100 ms windows make convergence not quite monotone, so the advice is checked, not assumed.
TEST(Advisor, TheAdvisedSettingAlwaysConverges) {
  int checked = 0;
  for (double wss_mib : {40.0, 64.0, 100.0, 150.0}) {
    for (double rate_mib : {20.0, 60.0, 200.0}) {
      for (double bw_mib : {8.0, 15.0, 32.0, 64.0}) {
        auto curve = DirtyCurve::saturating(wss_mib * kMiB, rate_mib * kMiB, kGiB);
        auto in = settings(bw_mib * kMiB, 300);
        auto a = advise(in, curve, {.max_downtime_ms = 5000, .max_bandwidth_bytes_per_s = {}},
                        simulate_precopy(in, curve).converges());
        if (a.raise_downtime) {
          ++checked;
          EXPECT_TRUE(a.raise_downtime->result.converges()) << wss_mib << " " << rate_mib;
          EXPECT_EQ(a.raise_downtime->downtime_limit_ms,
                    std::floor(a.raise_downtime->downtime_limit_ms));
          in.downtime_limit_ms = a.raise_downtime->downtime_limit_ms;
          EXPECT_TRUE(simulate_precopy(in, curve).converges());
          in.downtime_limit_ms = 300;
        }
        if (a.more_bandwidth) {
          ++checked;
          EXPECT_TRUE(a.more_bandwidth->result.converges()) << wss_mib << " " << rate_mib;
          EXPECT_EQ(std::fmod(a.more_bandwidth->bandwidth_bytes_per_s, kMiB), 0);
        }
      }
    }
  }
  EXPECT_GT(checked, 10);
}
