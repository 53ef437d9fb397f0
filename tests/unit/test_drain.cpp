#include <gtest/gtest.h>

#include <algorithm>

#include "model/drain.hpp"

using namespace vmp::model;

namespace {

constexpr double kMiB = 1048576;
constexpr double kGiB = 1024 * kMiB;
constexpr double kPage = 4096;
constexpr double kFullPage = 4096 + 8;

DirtyCurve idle() { return DirtyCurve::piecewise_linear({{1000, 0}, {2000, 0}}, 1e15); }
DirtyCurve constant_rate(double bytes_per_s) {
  return DirtyCurve::piecewise_linear({{1000, bytes_per_s}, {2000, 2 * bytes_per_s}}, 1e15);
}

DrainDomain domain(std::string name, double ram_bytes, double cap_bytes_per_s,
                   DirtyCurve curve = idle(), double start_ms = 800, double after_ms = 1500) {
  DrainDomain d;
  d.name = std::move(name);
  d.input.ram_bytes = ram_bytes;
  d.input.page_size_bytes = kPage;
  d.input.bandwidth_bytes_per_s = cap_bytes_per_s;
  d.input.downtime_limit_ms = 300;
  d.input.start_ms = start_ms;
  d.curve = std::move(curve);
  d.after_ms = after_ms;
  return d;
}

double wire_ms(double ram_bytes, double bytes_per_s) {
  return ram_bytes / kPage * kFullPage / bytes_per_s * 1000;
}

const DrainMigration& of(const DrainPlan& plan, std::size_t domain) {
  return *std::find_if(plan.migrations.begin(), plan.migrations.end(),
                       [&](const DrainMigration& m) { return m.domain == domain; });
}

}  // namespace

TEST(ShareLink, EvenSplitWithCapsLeavingTheirRestToOthers) {
  EXPECT_EQ(share_link({0, 0}, 100), (std::vector<double>{50, 50}));
  EXPECT_EQ(share_link({10, 0, 0}, 100), (std::vector<double>{10, 45, 45}));
  EXPECT_EQ(share_link({60, 60}, 100), (std::vector<double>{50, 50}));
  EXPECT_EQ(share_link({30, 30}, 100), (std::vector<double>{30, 30}));
  EXPECT_EQ(share_link({0, 20, 70}, 100), (std::vector<double>{40, 20, 40}));
}

TEST(RateSchedule, OneStepIsTheConstantRate) {
  PrecopyInput in;
  in.ram_bytes = 1 * kGiB;
  in.bandwidth_bytes_per_s = 64 * kMiB;
  in.link_bytes_per_s = 256 * kMiB;
  const auto plain = simulate_precopy(in, constant_rate(8 * kMiB));
  in.rate_schedule = {{0, 64 * kMiB, 256 * kMiB}};
  const auto stepped = simulate_precopy(in, constant_rate(8 * kMiB));
  ASSERT_TRUE(plain.converges());
  EXPECT_EQ(stepped.iterations, plain.iterations);
  EXPECT_NEAR(stepped.total_time_ms, plain.total_time_ms, 1e-6);
  EXPECT_NEAR(stepped.downtime_ms, plain.downtime_ms, 1e-9);
  EXPECT_NEAR(stepped.transferred_bytes, plain.transferred_bytes, 1);
}

TEST(RateSchedule, BandwidthFreedHalfWaySpeedsTheRestUp) {
  // 1 GiB idle: half the first pass at 32 MiB/s, then 64 MiB/s.
  PrecopyInput in;
  in.ram_bytes = 1 * kGiB;
  in.bandwidth_bytes_per_s = 64 * kMiB;
  const double half_ms = wire_ms(0.5 * kGiB, 32 * kMiB);
  in.rate_schedule = {{0, 32 * kMiB, 32 * kMiB}, {half_ms, 64 * kMiB, 64 * kMiB}};
  const auto r = simulate_precopy(in, idle());
  ASSERT_TRUE(r.converges());
  const double expected = half_ms + wire_ms(0.5 * kGiB, 64 * kMiB);
  EXPECT_NEAR(r.total_time_ms, expected, 101);  // whole 100 ms windows
  // The pause is at the rate in force then: at most the downtime limit's worth at 64 MiB/s.
  EXPECT_LE(r.downtime_ms, 300 * kFullPage / kPage + 1e-6);
}

TEST(Drain, TwoUncappedGuestsShareTheLinkAndTheLastGetsItAll) {
  const double link = 100 * kMiB;
  std::vector<DrainDomain> ds{domain("small", 0.5 * kGiB, 0), domain("large", 2 * kGiB, 0)};
  const auto plan = plan_drain(ds, link, 2);
  ASSERT_TRUE(plan.all_converge);
  ASSERT_EQ(plan.migrations.size(), 2u);
  // Longest first.
  EXPECT_EQ(plan.migrations[0].domain, 1u);
  const auto& small = of(plan, 0);
  const auto& large = of(plan, 1);
  // One start at a time: the small one is launched once the large one sends, 800 ms in.
  EXPECT_EQ(large.launch_ms, 0);
  EXPECT_EQ(small.launch_ms, 800);
  // The small one at half the link from its own start; the link is work-conserving, so the
  // large one ends when both guests' bytes have crossed it.
  EXPECT_NEAR(small.end_ms, 1600 + wire_ms(0.5 * kGiB, link / 2), 250);
  EXPECT_NEAR(large.end_ms, 800 + wire_ms(2.5 * kGiB, link), 250);
  EXPECT_NEAR(plan.total_ms, large.end_ms + 1500, 1e-6);
  // Alone, each would have had the whole link.
  EXPECT_NEAR(small.alone_result.total_time_ms, 800 + wire_ms(0.5 * kGiB, link), 250);
  EXPECT_LT(small.mean_bandwidth_bytes_per_s, 0.6 * link);
}

TEST(Drain, CapsThatFitTheLinkDoNotSlowEachOther) {
  const double link = 100 * kMiB;
  std::vector<DrainDomain> ds{domain("a", 1 * kGiB, 40 * kMiB), domain("b", 1 * kGiB, 40 * kMiB)};
  const auto plan = plan_drain(ds, link, 2);
  ASSERT_TRUE(plan.all_converge);
  ASSERT_EQ(plan.migrations.size(), 2u);
  for (const auto& m : plan.migrations) {
    EXPECT_NEAR(m.result.total_time_ms - m.result.downtime_ms,
                m.alone_result.total_time_ms - m.alone_result.downtime_ms, 1e-6);
  }
  // The stop-and-copy is not capped: the first, ending while the other sends, gets what it
  // leaves (60 of 100 MiB/s); the second, launched 800 ms later, ends alone.
  const auto& first = plan.migrations[0];
  const auto& second = plan.migrations[1];
  EXPECT_NEAR(second.launch_ms, 800, 1e-6);
  EXPECT_NEAR(first.result.downtime_ms, first.alone_result.downtime_ms * 100 / 60, 1e-6);
  EXPECT_NEAR(second.result.downtime_ms, second.alone_result.downtime_ms, 1e-6);
}

TEST(Drain, OneStartAtATimeEachOnceTheOneBeforeSends) {
  // Four slots, four idle guests whose libvirt steps differ: each is launched when the one
  // launched before it starts sending, not all at once; a slot freed later launches at once.
  const double link = 100 * kMiB;
  std::vector<DrainDomain> ds{domain("a", 2 * kGiB, 0, idle(), 1200),
                              domain("b", 1.5 * kGiB, 0, idle(), 300),
                              domain("c", 1 * kGiB, 0, idle(), 800),
                              domain("d", 0.5 * kGiB, 0, idle(), 500)};
  const auto plan = plan_drain(ds, link, 4);
  ASSERT_TRUE(plan.all_converge);
  ASSERT_EQ(plan.migrations.size(), 4u);
  EXPECT_EQ(of(plan, 0).launch_ms, 0);
  EXPECT_NEAR(of(plan, 1).launch_ms, 1200, 1e-6);
  EXPECT_NEAR(of(plan, 2).launch_ms, 1500, 1e-6);
  EXPECT_NEAR(of(plan, 3).launch_ms, 2300, 1e-6);
  // The link is in use from the first send: the last ends when all the bytes have crossed it.
  EXPECT_NEAR(of(plan, 0).end_ms, 1200 + wire_ms(5 * kGiB, link), 250);
  // With two slots the third waits for a slot, then starts at once (no one else starting).
  const auto two = plan_drain(ds, link, 2);
  ASSERT_EQ(two.migrations.size(), 4u);
  EXPECT_NEAR(two.migrations[1].launch_ms, 1200, 1e-6);
  EXPECT_NEAR(two.migrations[2].launch_ms, two.migrations[1].free_ms, 1e-6);
}

TEST(Drain, SlotsLimitHowManyRunAndFreeWhenVirshReturns) {
  const double link = 120 * kMiB;
  std::vector<DrainDomain> ds{domain("a", 1 * kGiB, 40 * kMiB), domain("b", 1 * kGiB, 40 * kMiB),
                              domain("c", 1 * kGiB, 40 * kMiB)};
  const auto plan = plan_drain(ds, link, 2);
  ASSERT_EQ(plan.migrations.size(), 3u);
  const auto& first = plan.migrations[0];
  const auto& third = plan.migrations[2];
  EXPECT_NEAR(third.launch_ms, first.end_ms + 1500, 1e-6);
  EXPECT_NEAR(first.free_ms, first.end_ms + 1500, 1e-6);
  // Equal times: by name.
  EXPECT_EQ(ds[plan.migrations[0].domain].name, "a");
  EXPECT_EQ(ds[plan.migrations[2].domain].name, "c");
}

TEST(Drain, GuestsThatConvergeOnlyWithTheWholeLinkGoFirstAndAlone) {
  const double link = 100 * kMiB;
  // 60 MiB/s of dirtying each: converges at 100 MiB/s, never at the 50 MiB/s a shared link
  // gives, and two such side by side wait on each other until the deadline.
  std::vector<DrainDomain> ds{domain("quiet", 2 * kGiB, 0),
                              domain("hot1", 1 * kGiB, 0, constant_rate(60 * kMiB)),
                              domain("hot2", 1 * kGiB, 0, constant_rate(60 * kMiB))};
  const auto naive = simulate_drain(ds, {0, 1, 2}, {false, false, false}, link, 2);
  EXPECT_FALSE(naive.all_converge);
  const auto plan = plan_drain(ds, link, 2);
  ASSERT_TRUE(plan.all_converge);
  ASSERT_EQ(plan.migrations.size(), 3u);
  EXPECT_EQ(ds[plan.migrations[0].domain].name, "hot1");
  EXPECT_TRUE(plan.migrations[0].alone);
  EXPECT_EQ(ds[plan.migrations[1].domain].name, "hot2");
  EXPECT_TRUE(plan.migrations[1].alone);
  EXPECT_FALSE(plan.migrations[2].alone);
  EXPECT_NEAR(plan.migrations[1].launch_ms, plan.migrations[0].free_ms, 1e-6);
  EXPECT_NEAR(plan.migrations[2].launch_ms, plan.migrations[1].free_ms, 1e-6);
}

TEST(Drain, AGuestThatNeverConvergesIsLeftOut) {
  std::vector<DrainDomain> ds{domain("ok", 1 * kGiB, 0),
                              domain("never", 1 * kGiB, 0, constant_rate(200 * kMiB))};
  ds[1].input.deadline_ms = 60000;
  const auto plan = plan_drain(ds, 100 * kMiB, 2);
  EXPECT_EQ(plan.left_out, (std::vector<std::size_t>{1}));
  ASSERT_EQ(plan.migrations.size(), 1u);
  EXPECT_TRUE(plan.all_converge);
}

TEST(Drain, OneAtATimeIsTheSumOfEachAlone) {
  const double link = 100 * kMiB;
  std::vector<DrainDomain> ds{domain("a", 1 * kGiB, 0), domain("b", 0.5 * kGiB, 0)};
  const auto plan = plan_drain(ds, link, 1);
  double sum = 0;
  for (const auto& m : plan.migrations) {
    EXPECT_NEAR(m.result.total_time_ms, m.alone_result.total_time_ms, 1e-6);
    sum += m.alone_result.total_time_ms + 1500;
  }
  EXPECT_NEAR(plan.total_ms, sum, 1e-6);
}
