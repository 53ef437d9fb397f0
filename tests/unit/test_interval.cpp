#include <gtest/gtest.h>

#include <cmath>

#include "model/interval.hpp"

using namespace vmp::model;

namespace {

constexpr double kMiB = 1048576;
constexpr double kGiB = 1024 * kMiB;

// A 1 GiB guest writing at random over 256 MiB at 5000 pages/s, measured as QEMU would report it
// with n sampled pages per point (k the dirty ones), floored to whole MiB/s.
SamplingError random_guest(double n, double zero_se) {
  SamplingError e;
  e.ram_bytes = kGiB;
  e.zero_pages = 175000;
  e.zero_pages_standard_error = zero_se;
  const double W = 256 * kMiB, r = 5000 * 4096.0;
  for (double t : {125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0}) {
    const double exact = W * (1 - std::exp(-r * t / 1000 / W));
    const double floored = std::floor(exact / kMiB / (t / 1000)) * kMiB * (t / 1000);
    e.points.push_back({t, floored, n, std::round(exact / kGiB * n)});
  }
  return e;
}

PrecopyInput settings(double bandwidth, double downtime_ms = 300) {
  PrecopyInput in;
  in.ram_bytes = kGiB;
  in.bandwidth_bytes_per_s = bandwidth;
  in.downtime_limit_ms = downtime_ms;
  return in;
}

PrecopyResult nominal(const PrecopyInput& base, const SamplingError& e) {
  std::vector<DirtyPoint> pts;
  for (const auto& p : e.points) pts.push_back({p.period_ms, p.dirty_bytes});
  const double ceiling = e.ram_bytes - e.zero_pages * 4096;
  PrecopyInput in = base;
  in.zero_pages = e.zero_pages;
  return simulate_precopy(
      in, build_curve(pts, ceiling, choose_curve(pts, ceiling, CurvePolicy::Auto)));
}

}  // namespace

TEST(Interval, WilsonScoreInterval) {
  // k = 0 (an idle guest): the low end is 0 and the high end z^2 / (n + z^2), not 0 as the
  // normal approximation would say.
  auto idle = wilson_interval(0, 8192, 1.96);
  EXPECT_EQ(idle.low, 0);
  EXPECT_NEAR(idle.high, 1.96 * 1.96 / (8192 + 1.96 * 1.96), 1e-12);
  // Large n, p = 0.2: close to p +- z sqrt(p (1 - p) / n).
  auto mid = wilson_interval(0.2 * 1e6, 1e6, 1.96);
  EXPECT_NEAR(mid.low, 0.2 - 1.96 * std::sqrt(0.16 / 1e6), 1e-5);
  EXPECT_NEAR(mid.high, 0.2 + 1.96 * std::sqrt(0.16 / 1e6), 1e-5);
  EXPECT_EQ(wilson_interval(10, 10, 1.96).high, 1);
  auto none = wilson_interval(0, 0, 1.96);  // nothing sampled: nothing known
  EXPECT_EQ(none.low, 0);
  EXPECT_EQ(none.high, 1);
}

TEST(Interval, BracketsThePredictionAndNarrowsWithTheSample) {
  auto in = settings(128 * kMiB);
  auto coarse = random_guest(512, 3000);
  auto fine = random_guest(16384, 300);
  auto mid = nominal(in, fine);
  ASSERT_TRUE(mid.converges());
  auto wide = prediction_interval(in, coarse, CurvePolicy::Auto);
  auto narrow = prediction_interval(in, fine, CurvePolicy::Auto);
  ASSERT_TRUE(narrow.low.converges());
  ASSERT_TRUE(narrow.high.converges());
  EXPECT_LE(narrow.low.total_time_ms, mid.total_time_ms);
  EXPECT_GE(narrow.high.total_time_ms, mid.total_time_ms);
  ASSERT_TRUE(wide.low.converges());
  ASSERT_TRUE(wide.high.converges());
  EXPECT_LT(wide.low.total_time_ms, narrow.low.total_time_ms);
  EXPECT_GT(wide.high.total_time_ms, narrow.high.total_time_ms);
}

TEST(Interval, TheFloorWidensOnlyTheHighEnd) {
  // No sampling error at all (n unknown, zero count exact): only query-dirty-rate's truncation
  // to whole MiB/s is left, and it can only have hidden dirtying.
  auto in = settings(64 * kMiB);
  auto e = random_guest(0, 0);
  auto mid = nominal(in, e);
  auto ends = prediction_interval(in, e, CurvePolicy::Auto);
  EXPECT_DOUBLE_EQ(ends.low.total_time_ms, mid.total_time_ms);
  EXPECT_GT(ends.high.total_time_ms, mid.total_time_ms);
  EXPECT_GT(ends.high.transferred_bytes, mid.transferred_bytes);
}

TEST(Interval, AVerdictNearTheLimitIsUncertain) {
  // The smallest bandwidth that converges as measured: at the unfavourable end it does not.
  auto e = random_guest(2048, 2000);
  double bw = 8 * kMiB;
  while (!nominal(settings(bw), e).converges()) bw *= 1.02;
  auto ends = prediction_interval(settings(bw), e, CurvePolicy::Auto);
  EXPECT_TRUE(ends.low.converges());
  EXPECT_FALSE(ends.high.converges());
}
