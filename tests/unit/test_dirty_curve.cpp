#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/dirty_curve.hpp"

using namespace vmp::model;

namespace {

constexpr double kMiB = 1048576;

// Distinct bytes touched by uniform random page writes at `pages_per_s` over `wss_pages`.
std::vector<DirtyPoint> random_workload(double wss_pages, double pages_per_s,
                                        std::initializer_list<double> periods_s) {
  std::vector<DirtyPoint> pts;
  for (double t : periods_s) {
    pts.push_back({t * 1000, wss_pages * 4096 * (1 - std::exp(-pages_per_s * t / wss_pages))});
  }
  return pts;
}

}  // namespace

TEST(PiecewiseLinear, FollowsTheRfcRule) {
  auto c = DirtyCurve::piecewise_linear({{1000, 10 * kMiB}, {2000, 16 * kMiB}, {4000, 20 * kMiB}},
                                        100 * kMiB);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(1500), 13 * kMiB);  // between points: linear
  EXPECT_DOUBLE_EQ(c.dirty_bytes(3000), 18 * kMiB);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(500), 7 * kMiB);    // before: line through the first two
  EXPECT_DOUBLE_EQ(c.dirty_bytes(6000), 24 * kMiB);  // after: the last slope
  EXPECT_DOUBLE_EQ(c.dirty_bytes(1e9), 100 * kMiB);  // ... up to the ceiling
  EXPECT_DOUBLE_EQ(c.dirty_bytes(0), 0);
}

TEST(PiecewiseLinear, ClipsAtZeroBeforeTheFirstPoint) {
  // A steep start: the first two points' line crosses zero after t = 0.
  auto c = DirtyCurve::piecewise_linear({{1000, 1 * kMiB}, {2000, 11 * kMiB}}, 100 * kMiB);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(800), 0);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(950), 0.5 * kMiB);
}

TEST(PiecewiseLinear, MakesNoisyPointsMonotoneAndSortsThem) {
  auto c = DirtyCurve::piecewise_linear({{2000, 8 * kMiB}, {1000, 10 * kMiB}, {3000, 12 * kMiB}},
                                        100 * kMiB);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(2000), 10 * kMiB);  // a dip is sampling noise
  EXPECT_DOUBLE_EQ(c.dirty_bytes(3000), 12 * kMiB);
}

TEST(Saturating, FormulaAndLimit) {
  auto c = DirtyCurve::saturating(256 * kMiB, 20 * kMiB, 1024 * kMiB);
  EXPECT_NEAR(c.dirty_bytes(1000), 256 * kMiB * (1 - std::exp(-20.0 / 256)), 1);
  EXPECT_NEAR(c.dirty_bytes(1), 20 * kMiB / 1000, 1);  // starts as the write rate
  EXPECT_NEAR(c.dirty_bytes(1e9), 256 * kMiB, 1);
  EXPECT_DOUBLE_EQ(c.limit_bytes(), 256 * kMiB);
}

TEST(SaturatingFit, RecoversARandomWorkload) {
  auto pts = random_workload(65536, 5000, {1, 2, 3, 4});
  auto fit = fit_saturating(pts, 1024 * kMiB);
  ASSERT_TRUE(fit);
  EXPECT_NEAR(fit->working_set_bytes / (256 * kMiB), 1, 0.01);
  EXPECT_NEAR(fit->write_rate_bytes_per_s / (5000 * 4096.0), 1, 0.01);
  EXPECT_LT(fit->max_relative_error, 0.001);
}

TEST(SaturatingFit, NeedsTwoInformativePoints) {
  EXPECT_FALSE(fit_saturating({{1000, 5 * kMiB}}, 100 * kMiB));
  EXPECT_FALSE(fit_saturating({{1000, 0}, {2000, 0}}, 100 * kMiB));
}

TEST(Hybrid, EqualsTheSaturatingCurveForRandomWrites) {
  // Measured over 4 s; the first pass of a big guest lasts far longer, where the end slope of
  // the RFC rule would keep growing towards all of RAM.
  auto pts = random_workload(65536, 5000, {1, 2, 3, 4});
  auto choice = choose_curve(pts, 8192 * kMiB, CurvePolicy::Auto);
  EXPECT_EQ(choice.kind, CurveKind::Hybrid);
  auto c = build_curve(pts, 8192 * kMiB, choice);
  auto truth = DirtyCurve::saturating(256 * kMiB, 5000 * 4096.0, 8192 * kMiB);
  for (double t : {100.0, 500.0, 2500.0, 60000.0, 600000.0}) {
    EXPECT_NEAR(c.dirty_bytes(t) / truth.dirty_bytes(t), 1, 0.01) << t;
  }
  // Beyond the longest period the curve starts with the last segment's slope, steeper than the
  // shape's tangent there (BeyondTheLongestPeriodStartsWithTheLastMeasuredSlope): a little above
  // the truth for random writes before it meets the working set, never below.
  for (double t : {5000.0, 10000.0, 20000.0}) {
    EXPECT_GE(c.dirty_bytes(t), truth.dirty_bytes(t)) << t;
    EXPECT_LT(c.dirty_bytes(t) / truth.dirty_bytes(t), 1.02) << t;
  }
  auto rfc = DirtyCurve::piecewise_linear(pts, 8192 * kMiB);
  EXPECT_GT(rfc.dirty_bytes(60000), 2 * truth.dirty_bytes(60000));
}

TEST(Hybrid, StaysFlatAfterAMeasuredPlateau) {
  // A sequential sweep over 25 MiB at 10 MiB/s: the plateau is in the data, and a saturating fit
  // alone would put the working set well above it.
  std::vector<DirtyPoint> pts{{1000, 10 * kMiB}, {2000, 20 * kMiB}, {3000, 25 * kMiB},
                              {4000, 25 * kMiB}};
  auto choice = choose_curve(pts, 1024 * kMiB, CurvePolicy::Auto);
  auto c = build_curve(pts, 1024 * kMiB, choice);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(60000), 25 * kMiB);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(2500), 22.5 * kMiB);
  ASSERT_TRUE(choice.fit);
  EXPECT_GT(build_curve(pts, 1024 * kMiB, choose_curve(pts, 1024 * kMiB, CurvePolicy::Saturating))
                .dirty_bytes(60000),
            26 * kMiB);
}

TEST(Hybrid, BeyondTheLongestPeriodStartsWithTheLastMeasuredSlope) {
  // A sweep at 4000 pages/s (15.6 MiB/s) as QEMU 10.0 read it (bench.py sweep-1g-256-32,
  // seed 50, at the floor's midpoint), in a guest whose RAM that is not zero is about 335 MiB:
  // straight within the readings' noise, which the saturating fit takes for a working set as
  // large as that RAM, whose tangent at 5.75 s is 12 MiB/s.
  const double ceiling = 335 * kMiB;
  std::vector<DirtyPoint> pts{{125, 1.87 * kMiB}, {250, 4.59 * kMiB}, {500, 7.25 * kMiB},
                              {1000, 15.5 * kMiB}, {5750, 89.1 * kMiB}};
  auto choice = choose_curve(pts, ceiling, CurvePolicy::Auto);
  ASSERT_EQ(choice.kind, CurveKind::Hybrid);
  auto c = build_curve(pts, ceiling, choice);
  const double last_slope = (89.1 - 15.5) * kMiB / 4750;  // bytes per ms
  EXPECT_NEAR((c.dirty_bytes(5760) - c.dirty_bytes(5750)) / 10, last_slope, 0.01 * last_slope);
  // That migration's first pass lasted about 10 s, in which the sweep dirtied ~155 MiB; the
  // fit's tangent gave 135 MiB.
  EXPECT_GT(c.dirty_bytes(10000), 145 * kMiB);
  EXPECT_LT(c.dirty_bytes(10000), 89.1 * kMiB + last_slope * 4250);
  // It still approaches the fitted working set, never passing it.
  EXPECT_LE(c.dirty_bytes(600000), c.working_set_bytes());
  EXPECT_GT(c.dirty_bytes(600000), 0.99 * c.working_set_bytes());
}

TEST(Hybrid, AHotSetRewrittenFasterThanThePeriodIsFullAtShortPeriods) {
  // 8 MiB rewritten many times a second: the same 8 MiB at every period.
  std::vector<DirtyPoint> pts{{1000, 8 * kMiB}, {2000, 8 * kMiB}, {4000, 8 * kMiB}};
  auto c = build_curve(pts, 1024 * kMiB, choose_curve(pts, 1024 * kMiB, CurvePolicy::Auto));
  EXPECT_NEAR(c.dirty_bytes(100), 8 * kMiB, 0.05 * kMiB);
  EXPECT_DOUBLE_EQ(c.dirty_bytes(100000), 8 * kMiB);
}

TEST(ChooseCurve, FallsBackToLinesWithoutAFit) {
  auto choice = choose_curve({{1000, 5 * kMiB}}, 100 * kMiB, CurvePolicy::Auto);
  EXPECT_EQ(choice.kind, CurveKind::PiecewiseLinear);
  EXPECT_FALSE(choice.fit);
  EXPECT_EQ(choose_curve(random_workload(1000, 100, {1, 2}), 1e9, CurvePolicy::PiecewiseLinear).kind,
            CurveKind::PiecewiseLinear);
  EXPECT_EQ(choose_curve(random_workload(1000, 100, {1, 2}), 1e9, CurvePolicy::Saturating).kind,
            CurveKind::Saturating);
}

TEST(EveryCurve, IsZeroAtZeroMonotoneAndUnderTheCeiling) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 300; ++trial) {
    const double ceiling = (1 + 1000 * u(rng)) * kMiB;
    std::vector<DirtyPoint> pts;
    int n = 1 + trial % 5;
    for (int i = 0; i < n; ++i) pts.push_back({(i + 1) * (50 + 2000 * u(rng)), ceiling * u(rng)});
    for (auto policy : {CurvePolicy::Auto, CurvePolicy::PiecewiseLinear, CurvePolicy::Saturating,
                        CurvePolicy::Hybrid}) {
      auto c = build_curve(pts, ceiling, choose_curve(pts, ceiling, policy));
      EXPECT_EQ(c.dirty_bytes(0), 0);
      double previous = 0;
      for (double t = 1; t < 1e7; t *= 1.3) {
        double d = c.dirty_bytes(t);
        ASSERT_TRUE(std::isfinite(d));
        ASSERT_GE(d, previous - 1e-6 * ceiling) << "trial " << trial << " t " << t;
        ASSERT_LE(d, ceiling) << "trial " << trial;
        previous = d;
      }
    }
  }
}
