#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "model/precopy.hpp"

using namespace vmp::model;

namespace {

constexpr double kMiB = 1048576;
constexpr double kGiB = 1024 * kMiB;
constexpr double kPage = 4096;
constexpr double kFullPage = 4096 + 8;

PrecopyInput guest(double ram_bytes, double bandwidth_bytes_per_s, double downtime_ms = 300) {
  PrecopyInput in;
  in.ram_bytes = ram_bytes;
  in.page_size_bytes = kPage;
  in.bandwidth_bytes_per_s = bandwidth_bytes_per_s;
  in.downtime_limit_ms = downtime_ms;
  return in;
}

DirtyCurve idle() { return DirtyCurve::piecewise_linear({{1000, 0}, {2000, 0}}, 1e15); }

// A constant rate with no working-set limit: D(t) = rate x t.
DirtyCurve constant_rate(double bytes_per_s) {
  return DirtyCurve::piecewise_linear({{1000, bytes_per_s}, {2000, 2 * bytes_per_s}}, 1e15);
}

}  // namespace

TEST(Precopy, AnIdleGuestFinishesInOnePass) {
  auto in = guest(1 * kGiB, 128 * kMiB);
  auto r = simulate_precopy(in, idle());
  ASSERT_TRUE(r.converges());
  EXPECT_EQ(r.iterations, 1);
  const double wire = (kGiB / kPage) * kFullPage;
  EXPECT_DOUBLE_EQ(r.transferred_bytes, wire);
  EXPECT_NEAR(r.total_time_ms, wire / (128 * kMiB) * 1000, 1e-6);
  // The pass stops at the first window that leaves at most bandwidth x downtime; the rest is
  // the pause.
  EXPECT_LE(r.downtime_ms, 300 * kFullPage / kPage);
  EXPECT_GT(r.downtime_ms, 200);
}

TEST(Precopy, ThePausedGuestsLastPagesGoAtTheLinksSpeed) {
  // Capped at 64 MiB/s on a 10x faster link: pre-copy runs at the cap, the stop-and-copy at the
  // link, because QEMU lifts the cap once the guest is paused.
  auto capped = guest(1 * kGiB, 64 * kMiB);
  auto upper = simulate_precopy(capped, idle());
  capped.link_bytes_per_s = 640 * kMiB;
  auto fast = simulate_precopy(capped, idle());
  ASSERT_TRUE(fast.converges());
  EXPECT_DOUBLE_EQ(fast.switchover_pending_bytes, upper.switchover_pending_bytes);
  EXPECT_NEAR(fast.downtime_ms, upper.downtime_ms / 10, 1e-9);
  EXPECT_NEAR(fast.total_time_ms, upper.total_time_ms - upper.downtime_ms * 0.9, 1e-6);
  // A link slower than the cap sets the pace, and the threshold QEMU derives from it.
  capped.link_bytes_per_s = 32 * kMiB;
  auto slow = simulate_precopy(capped, idle());
  EXPECT_DOUBLE_EQ(slow.threshold_bytes, 32 * kMiB * 0.3);
  EXPECT_NEAR(slow.total_time_ms, upper.total_time_ms * 2, 1e-6);
}

TEST(Precopy, TheLinkNotGivenThePausedGuestsLastPagesGoAtTheThreadsPace) {
  // Capped at 64 MiB/s, the link unknown: by default (the upper bound) the stop-and-copy at the
  // cap; taken as no slower than the migration thread, at the thread's pace (a data page in
  // 3 us: 1.37 GB/s), and nothing before the pause changes.
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.thread_cost = {.data_page_ns = 3000, .zero_page_ns = 350};
  const auto upper = simulate_precopy(in, constant_rate(8 * kMiB));
  in.unknown_link_at_thread_pace = true;
  const auto assumed = simulate_precopy(in, constant_rate(8 * kMiB));
  ASSERT_TRUE(upper.converges());
  ASSERT_TRUE(assumed.converges());
  EXPECT_DOUBLE_EQ(assumed.switchover_pending_bytes, upper.switchover_pending_bytes);
  EXPECT_EQ(assumed.iterations, upper.iterations);
  EXPECT_NEAR(assumed.total_time_ms - assumed.downtime_ms, upper.total_time_ms - upper.downtime_ms,
              1e-6);
  const double pages = upper.switchover_pending_bytes / kPage;
  EXPECT_NEAR(assumed.downtime_ms, pages * 3000 / 1e6, 0.01 * assumed.downtime_ms);
  EXPECT_NEAR(upper.downtime_ms, pages * kFullPage / (64 * kMiB) * 1000, 0.001 * upper.downtime_ms);
  EXPECT_GT(upper.downtime_ms, 15 * assumed.downtime_ms);
  // A link given is the link: the assumption is only for an unknown one.
  in.link_bytes_per_s = 128 * kMiB;
  const auto known = simulate_precopy(in, constant_rate(8 * kMiB));
  EXPECT_NEAR(known.downtime_ms, upper.downtime_ms / 2, 1e-6);
}

// The pause beyond the RAM (model/libvirt_steps.hpp): QEMU's part ends its migration later, and
// libvirt's (the guest resumed on the destination) is in the pause only; nothing else moves:
// QEMU decides to stop the guest on the RAM left, whatever the stop costs.
TEST(Precopy, ThePauseCountsWhatStoppingAndResumingTheGuestCost) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.start_ms = 1000;
  const auto ram_only = simulate_precopy(in, constant_rate(8 * kMiB));
  in.switchover_qemu_ms = 10;
  in.switchover_libvirt_ms = 13;
  const auto r = simulate_precopy(in, constant_rate(8 * kMiB));
  ASSERT_TRUE(ram_only.converges());
  ASSERT_TRUE(r.converges());
  EXPECT_DOUBLE_EQ(r.downtime_ms, ram_only.downtime_ms + 23);
  EXPECT_DOUBLE_EQ(r.qemu_total_time_ms, ram_only.qemu_total_time_ms + 10);
  EXPECT_DOUBLE_EQ(r.total_time_ms, ram_only.total_time_ms + 10);
  EXPECT_DOUBLE_EQ(r.total_time_ms, in.start_ms + r.qemu_total_time_ms);
  EXPECT_EQ(r.iterations, ram_only.iterations);
  EXPECT_DOUBLE_EQ(r.transferred_bytes, ram_only.transferred_bytes);
  EXPECT_DOUBLE_EQ(r.switchover_pending_bytes, ram_only.switchover_pending_bytes);
}

TEST(Precopy, ZeroPagesCostNineBytesInTheFirstPass) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.zero_pages = 0.7 * kGiB / kPage;
  auto r = simulate_precopy(in, idle());
  ASSERT_TRUE(r.converges());
  const double pages = kGiB / kPage;
  EXPECT_NEAR(r.transferred_bytes, 0.3 * pages * kFullPage + 0.7 * pages * 9, 1);
  EXPECT_NEAR(r.total_time_ms, r.transferred_bytes / (64 * kMiB) * 1000, 1e-6);
}

TEST(Precopy, AConstantDirtyRateGivesAGeometricSeries) {
  // First pass t1 = 60 s at 64 MiB/s; each later iteration re-sends what the previous one let
  // the guest dirty, so iterations shrink by rho = rate / bandwidth and the whole takes
  // t1 / (1 - rho).
  const double bw = 64 * kMiB, rho = 0.5;
  auto in = guest(60 * bw * kPage / kFullPage, bw);
  auto r = simulate_precopy(in, constant_rate(rho * bw * kPage / kFullPage));
  ASSERT_TRUE(r.converges());
  const double t1 = 60000;
  // Sent bytes are t1 x bw of the first pass plus rho x bw for the whole pre-copy phase; the
  // pause is not pre-copy, so the series is t1 + rho (total - downtime). One correction: at the
  // first sync the pass has not quite finished, and pages dirtied in the part still ahead of the
  // cursor go with the pass, not again: a fraction `ahead` of the first iteration's dirtying.
  ASSERT_GE(r.trace.size(), 2u);
  const double ahead = (r.trace[1].pending_bytes - r.trace[0].dirtied_bytes) / in.ram_bytes;
  EXPECT_GT(ahead, 0);
  EXPECT_LE(ahead * in.ram_bytes, r.threshold_bytes);
  const double expected =
      (t1 - rho * r.downtime_ms - rho * ahead * r.trace[0].duration_ms) / (1 - rho);
  EXPECT_NEAR(r.total_time_ms, expected, 0.001 * expected);
  ASSERT_GE(r.trace.size(), 3u);
  EXPECT_NEAR(r.trace[1].duration_ms / r.trace[0].duration_ms, rho, 0.01);
  EXPECT_NEAR(r.trace[2].duration_ms / r.trace[1].duration_ms, rho, 0.01);
}

TEST(Precopy, ACurveAboveBandwidthTimesDowntimeNeverConverges) {
  // 64 MiB rewritten all the time; 128 MiB/s x 300 ms allows 38.4 MiB.
  auto hot = DirtyCurve::saturating(64 * kMiB, 1e12, 1 * kGiB);
  auto r = simulate_precopy(guest(1 * kGiB, 128 * kMiB), hot);
  EXPECT_FALSE(r.converges());
  EXPECT_NEAR(r.min_pending_bytes, 64 * kMiB, kMiB);
  EXPECT_DOUBLE_EQ(r.threshold_bytes, 128 * kMiB * 0.3);
}

TEST(Precopy, AHotSetWithinTheLimitConverges) {
  // The same hot set re-dirtied at every sync is the same pages: it must not pile up.
  auto hot = DirtyCurve::saturating(32 * kMiB, 1e12, 1 * kGiB);
  auto r = simulate_precopy(guest(1 * kGiB, 128 * kMiB), hot);
  ASSERT_TRUE(r.converges());
  EXPECT_LE(r.switchover_pending_bytes, r.threshold_bytes);
}

TEST(Precopy, DirtyingFasterThanTheBandwidthRunsIntoTheDeadline) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.deadline_ms = 120000;
  auto r = simulate_precopy(in, constant_rate(80 * kMiB));
  EXPECT_FALSE(r.converges());
  EXPECT_EQ(r.outcome, PrecopyOutcome::Deadline);
  EXPECT_GE(r.elapsed_ms, 120000);
}

TEST(Precopy, UnlimitedDowntimeIsStopAndCopy) {
  auto in = guest(1 * kGiB, 128 * kMiB, std::numeric_limits<double>::infinity());
  auto r = simulate_precopy(in, constant_rate(500 * kMiB));
  ASSERT_TRUE(r.converges());
  EXPECT_EQ(r.iterations, 0);
  EXPECT_DOUBLE_EQ(r.downtime_ms, r.total_time_ms);
  EXPECT_NEAR(r.total_time_ms, kGiB / kPage * kFullPage / (128 * kMiB) * 1000, 1e-6);
}

TEST(Precopy, DowntimeNeverExceedsTheLimitAndTimeFallsWithBandwidth) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    double ram = (0.25 + 8 * u(rng)) * kGiB;
    double wss = ram * u(rng) * 0.5;
    double rate = (1 + 400 * u(rng)) * kMiB;
    auto curve = DirtyCurve::saturating(wss, rate, ram);
    double limit = 50 + 2000 * u(rng);
    double previous_total = std::numeric_limits<double>::infinity();
    for (double bw : {128 * kMiB, 512 * kMiB, 2048 * kMiB}) {
      auto in = guest(ram, bw, limit);
      in.zero_pages = std::floor(u(rng) * 0.5 * ram / kPage);
      auto r = simulate_precopy(in, curve);
      if (!r.converges()) continue;
      EXPECT_LE(r.downtime_ms, limit * kFullPage / kPage + 1e-9) << trial;
      EXPECT_GE(r.transferred_bytes, (ram / kPage - in.zero_pages) * kFullPage - 1) << trial;
      EXPECT_LT(r.total_time_ms, previous_total * 1.0001) << trial;
      previous_total = r.total_time_ms;
    }
  }
}

TEST(Precopy, TheTraceAddsUp) {
  auto curve = DirtyCurve::saturating(200 * kMiB, 40 * kMiB, 2 * kGiB);
  auto r = simulate_precopy(guest(2 * kGiB, 128 * kMiB), curve);
  ASSERT_TRUE(r.converges());
  ASSERT_EQ(r.trace.size(), static_cast<std::size_t>(r.iterations));
  double sent = 0, t = 0;
  for (const auto& it : r.trace) {
    EXPECT_DOUBLE_EQ(it.start_ms, t);
    t += it.duration_ms;
    sent += it.sent_bytes;
  }
  EXPECT_NEAR(t + r.downtime_ms, r.total_time_ms, 1e-6);
  EXPECT_NEAR(r.transferred_bytes - sent, r.downtime_ms * 128 * kMiB / 1000, 1);
}

// Auto-converge as QEMU's migration_trigger_throttle runs it: checked at a bitmap sync more than
// 1 s after the last check; when the bytes newly dirtied in that period exceed the trigger share
// of the bytes sent, a counter rises, and every second time the throttle starts (initial) or
// rises (increment), never above the maximum.
TEST(Precopy, AutoConvergeThrottlesAsQemuDoes) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.deadline_ms = 600000;
  const auto curve = constant_rate(96 * kMiB);  // 1.5 x what is sent: never converges plain
  ASSERT_FALSE(simulate_precopy(in, curve).converges());
  for (const auto& trace_it : simulate_precopy(in, curve).trace) {
    EXPECT_EQ(trace_it.throttle_pct, 0);  // nothing throttles without auto-converge
  }

  in.auto_converge.enabled = true;
  auto r = simulate_precopy(in, curve);
  ASSERT_TRUE(r.converges());
  // A vCPU throttled by p runs (1 - p) of the time: 96 MiB/s x (1 - p) must fall well below
  // 64 MiB/s before the dirty pages fit 64 MiB/s x 300 ms, so the throttle climbs in steps.
  EXPECT_GE(r.final_throttle_pct, 40);
  EXPECT_LE(r.final_throttle_pct, 99);
  double previous = 0, last_change_ms = -1;
  int changes = 0;
  for (const auto& it : r.trace) {
    if (it.throttle_pct == previous) continue;
    ++changes;
    EXPECT_DOUBLE_EQ(it.throttle_pct, previous == 0 ? 20 : std::min(previous + 10, 99.0))
        << "iteration " << it.iteration;
    if (last_change_ms >= 0) {
      // Two checks, each more than 1 s after the previous one, between two steps.
      EXPECT_GT(it.start_ms - last_change_ms, 2 * kThrottlePeriodMs) << it.iteration;
    }
    last_change_ms = it.start_ms;
    previous = it.throttle_pct;
  }
  EXPECT_GE(changes, 3);
  EXPECT_DOUBLE_EQ(previous, r.final_throttle_pct);
  // The first step needs two checks over the trigger: not before 2 s into the migration.
  EXPECT_GT(r.throttle_started_ms, 2 * kThrottlePeriodMs);
  EXPECT_NEAR(r.throttled_ms, r.total_time_ms - r.downtime_ms - r.throttle_started_ms, 1e-6);
}

TEST(Precopy, AutoConvergeRespectsTheTriggerAndTheMaximum) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.deadline_ms = 600000;
  in.auto_converge.enabled = true;
  // Dirtying at 40% of what is sent never passes a 50% trigger: no throttle, and plain
  // pre-copy converges on its own.
  auto calm = simulate_precopy(in, constant_rate(0.4 * 64 * kMiB));
  ASSERT_TRUE(calm.converges());
  EXPECT_EQ(calm.final_throttle_pct, 0);
  EXPECT_EQ(calm.throttled_ms, 0);

  // A 30% ceiling cannot tame 4x the bandwidth: it stops at 30% and does not converge.
  in.auto_converge.max_pct = 30;
  auto capped = simulate_precopy(in, constant_rate(4 * 64 * kMiB));
  EXPECT_FALSE(capped.converges());
  EXPECT_DOUBLE_EQ(capped.final_throttle_pct, 30);
  for (const auto& it : capped.trace) EXPECT_LE(it.throttle_pct, 30);

  // tailslow: a step only as large as brings the dirty rate to the trigger, at most the increment.
  in.auto_converge.max_pct = 99;
  in.auto_converge.tailslow = true;
  auto slow = simulate_precopy(in, constant_rate(96 * kMiB));
  ASSERT_TRUE(slow.converges());
  double previous = 0;
  for (const auto& it : slow.trace) {
    if (it.throttle_pct != previous && previous > 0) {
      EXPECT_LE(it.throttle_pct - previous, 10 + 1e-9);
    }
    previous = it.throttle_pct;
  }
}

TEST(Precopy, StopAfterTheFirstIterationForPostcopy) {
  auto hot = DirtyCurve::saturating(64 * kMiB, 1e12, 1 * kGiB);
  auto in = guest(1 * kGiB, 128 * kMiB);
  in.stop_after_iteration = 1;
  auto r = simulate_precopy(in, hot);
  EXPECT_EQ(r.outcome, PrecopyOutcome::SwitchedOver);
  EXPECT_EQ(r.iterations, 1);
  // The hot set, and what was left of the first pass when its estimate fell to the threshold.
  EXPECT_GE(r.pending_pages_at_stop * kPage, 64 * kMiB - kMiB);
  EXPECT_LE(r.pending_pages_at_stop * kPage, 64 * kMiB + r.threshold_bytes);
  // An idle guest converges in the first iteration: it never needs to stop early.
  EXPECT_TRUE(simulate_precopy(in, idle()).converges());
}

TEST(Precopy, WhereTheZeroPagesLieDecidesWhatThePauseSends) {
  // 512 MiB, 70% zero pages, idle, 64 MiB/s on a 640 MiB/s link, 300 ms: threshold 19.2 MiB.
  // QEMU's estimate counts an unsent zero page as 4 KiB, so it reaches the threshold only once
  // at most 19.2 MiB of pages, zero or not, are left in the pass.
  auto in = guest(512 * kMiB, 64 * kMiB);
  in.link_bytes_per_s = 640 * kMiB;
  const double pages = 512 * kMiB / kPage;
  in.zero_pages = 0.7 * pages;
  const double data_wire = 0.3 * pages * kFullPage, zero_wire = 0.7 * pages * 9;
  const double threshold = 64 * kMiB * 0.3;

  // Zeros at the end of RAM: the window that reaches them clears the estimate at 9 bytes a
  // page; nothing is left for the pause.
  in.zero_page_layout = {0, 0, 0.1, 1, 1, 1, 1, 1, 1, 1};
  auto zeros_last = simulate_precopy(in, idle());
  ASSERT_TRUE(zeros_last.converges());
  EXPECT_LT(zeros_last.switchover_pending_bytes, 1);
  EXPECT_NEAR(zeros_last.transferred_bytes, data_wire + zero_wire, 1);

  // Data at the end: the pass stops with up to the threshold's worth of data pages unsent, and
  // they go in the pause at the link's speed, so the migration ends sooner.
  in.zero_page_layout = {1, 1, 1, 1, 1, 1, 1, 0.9, 0, 0};
  auto data_last = simulate_precopy(in, idle());
  ASSERT_TRUE(data_last.converges());
  EXPECT_GT(data_last.switchover_pending_bytes, threshold - 64 * kMiB * 0.1 * kPage / kFullPage);
  EXPECT_LE(data_last.switchover_pending_bytes, threshold);
  EXPECT_NEAR(data_last.downtime_ms,
              data_last.switchover_pending_bytes / kPage * kFullPage / (640 * kMiB) * 1000,
              kFullPage / (640 * kMiB) * 1000);  // the pending figure is in whole pages
  EXPECT_LT(data_last.total_time_ms, zeros_last.total_time_ms - 150);
  EXPECT_NEAR(data_last.transferred_bytes, zeros_last.transferred_bytes, 1);

  // Spread evenly (no layout): between the two.
  in.zero_page_layout.clear();
  auto even = simulate_precopy(in, idle());
  EXPECT_GT(even.switchover_pending_bytes, zeros_last.switchover_pending_bytes);
  EXPECT_LT(even.switchover_pending_bytes, data_last.switchover_pending_bytes);
  // A layout only shapes where the zero pages are; their number stays the measured one.
  in.zero_page_layout = {0.2, 0.2, 0.2, 0.2};
  EXPECT_NEAR(simulate_precopy(in, idle()).transferred_bytes, even.transferred_bytes, 1);
  // Also where stretches already full of zeros cannot take more: the rest goes elsewhere (the
  // prediction interval moves the count by its standard error while the layout stays).
  in.zero_page_layout = {1, 1, 0.5, 0};
  for (double share : {0.05, 0.6, 0.8, 0.95}) {
    in.zero_pages = share * pages;
    auto laid = simulate_precopy(in, idle());
    auto spread = in;
    spread.zero_page_layout.clear();
    EXPECT_NEAR(laid.transferred_bytes, simulate_precopy(spread, idle()).transferred_bytes, 1)
        << share;
  }
}

// A workload that needs only part of its vCPU keeps its pace until the throttle leaves it less
// than that: a paced writer using 30% of a vCPU is not slowed by 20..70% at all.
TEST(Precopy, AutoConvergeSlowsOnlyAWorkloadThatNeedsTheCpu) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.deadline_ms = 600000;
  in.auto_converge.enabled = true;
  // 96 MiB/s of new pages until all of RAM is dirty.
  const auto curve = DirtyCurve::piecewise_linear({{1000, 96 * kMiB}, {2000, 192 * kMiB}}, kGiB);
  auto cpu_bound = simulate_precopy(in, curve);
  in.auto_converge.cpu_demand = 0.3;
  auto paced = simulate_precopy(in, curve);
  ASSERT_TRUE(cpu_bound.converges());
  ASSERT_TRUE(paced.converges());
  EXPECT_GT(paced.final_throttle_pct, cpu_bound.final_throttle_pct);
  EXPECT_GT(paced.total_time_ms, cpu_bound.total_time_ms);
  // Up to a 70% throttle the paced workload dirties exactly as much as unthrottled.
  auto unthrottled = in;
  unthrottled.auto_converge.enabled = false;
  auto plain = simulate_precopy(unthrottled, curve);
  for (std::size_t i = 0; i < paced.trace.size() && i < plain.trace.size(); ++i) {
    if (paced.trace[i].throttle_pct > 70) break;
    EXPECT_DOUBLE_EQ(paced.trace[i].dirtied_bytes, plain.trace[i].dirtied_bytes) << i;
  }
}

// --watch simulates the rest of a migration already under way.
TEST(PrecopyResume, FromTheVeryStartIsTheWholeMigration) {
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.zero_pages = 100000;
  auto curve = DirtyCurve::saturating(256 * kMiB, 20 * kMiB, 1 * kGiB);
  auto whole = simulate_precopy(in, curve);
  in.resume = PrecopyResume{.pending_bytes = 1 * kGiB, .in_first_pass = true, .since_sync_ms = 0};
  auto resumed = simulate_precopy(in, curve);
  ASSERT_TRUE(whole.converges());
  EXPECT_EQ(resumed.iterations, whole.iterations);
  EXPECT_DOUBLE_EQ(resumed.total_time_ms, whole.total_time_ms);
  EXPECT_DOUBLE_EQ(resumed.transferred_bytes, whole.transferred_bytes);
}

TEST(PrecopyResume, AtAnIterationStartIsTheRestOfTheMigration) {
  // The state at the start of each later iteration, as QEMU would report it, continues as the
  // whole simulation does from there. Exactly (but for whole pages) once the first pass is over;
  // at the start of the second iteration QEMU's figures do not tell the first pass's last zero
  // pages (cheap on the wire) from re-dirtied ones, so the rest comes out a little longer.
  auto in = guest(1 * kGiB, 32 * kMiB);
  in.zero_pages = 150000;
  auto curve = DirtyCurve::saturating(128 * kMiB, 20 * kMiB, 1 * kGiB);
  auto whole = simulate_precopy(in, curve);
  ASSERT_TRUE(whole.converges());
  ASSERT_GE(whole.trace.size(), 4u);
  for (std::size_t i = 1; i < whole.trace.size(); ++i) {
    const auto& it = whole.trace[i];
    auto from = in;
    from.resume = PrecopyResume{
        .pending_bytes = it.pending_bytes, .in_first_pass = false, .since_sync_ms = 0};
    auto rest = simulate_precopy(from, curve);
    ASSERT_TRUE(rest.converges()) << "iteration " << it.iteration;
    const double expected = whole.total_time_ms - it.start_ms;
    EXPECT_EQ(rest.iterations, whole.iterations - static_cast<int>(i));
    if (i == 1) {
      EXPECT_GE(rest.total_time_ms, expected) << "iteration " << it.iteration;
      EXPECT_LE(rest.total_time_ms, expected * 1.05) << "iteration " << it.iteration;
    } else {
      // A page or two rounded up at 32 MiB/s: well under a millisecond.
      EXPECT_NEAR(rest.total_time_ms, expected, 0.5) << "iteration " << it.iteration;
    }
  }
}

TEST(PrecopyResume, PagesDirtiedSinceTheLastSyncComeAtTheNext) {
  // Pending already below the threshold: the next check syncs, and what was dirtied since the
  // last sync decides whether the guest pauses now.
  auto in = guest(1 * kGiB, 64 * kMiB);  // threshold 19.2 MiB
  auto curve = constant_rate(32 * kMiB);
  in.resume =
      PrecopyResume{.pending_bytes = 4 * kMiB, .in_first_pass = false, .since_sync_ms = 100};
  auto soon = simulate_precopy(in, curve);
  ASSERT_TRUE(soon.converges());
  EXPECT_EQ(soon.iterations, 1);
  EXPECT_NEAR(soon.switchover_pending_bytes, 4 * kMiB + 3.2 * kMiB, kPage);
  in.resume->since_sync_ms = 1000;  // 32 MiB dirtied meanwhile: over the threshold
  auto later = simulate_precopy(in, curve);
  EXPECT_GT(later.iterations, 1);
}

TEST(Precopy, AvailSwitchoverBandwidthSetsTheThreshold) {
  // 64 MiB rewritten all the time at 128 MiB/s, 300 ms: 38.4 MiB allowed, never converges. QEMU
  // 8.2+ told that 512 MiB/s is available at the switchover allows 153.6 MiB: it converges,
  // as soon as the first pass leaves that much, and the pause sends it at the rate it really has.
  auto hot = DirtyCurve::saturating(64 * kMiB, 1e12, 1 * kGiB);
  auto in = guest(1 * kGiB, 128 * kMiB);
  in.switchover_bandwidth_bytes_per_s = 512 * kMiB;
  auto r = simulate_precopy(in, hot);
  ASSERT_TRUE(r.converges());
  EXPECT_DOUBLE_EQ(r.threshold_bytes, 512 * kMiB * 0.3);
  EXPECT_GT(r.downtime_ms, 300);  // QEMU trusted a bandwidth the link does not give
  EXPECT_LE(r.switchover_pending_bytes, r.threshold_bytes);
  EXPECT_NEAR(r.downtime_ms, 1000 * r.switchover_pending_bytes / (128 * kMiB), 20);
}

// A bitmap left holding a fraction of a page just under the threshold (here: 0.0297 of a page,
// threshold 125 bytes = 0.0305 pages) was neither sent (the fraction was within the threshold)
// nor the switchover (the whole page was not): with auto-converge on, the loop spun forever
// without simulated time passing; without it, it ended as a false "stalled". It is a dirty page,
// sent like one: the guest dirties a few hundredths of a page while it goes, so the migration
// converges, as QEMU's would.
TEST(Precopy, AFractionOfAPageOverTheThresholdIsSentNotSpunOn) {
  auto in = guest(1 * kGiB, 125e6, 0.001);
  in.zero_pages = 175669;
  auto curve = DirtyCurve::piecewise_linear(
      {{1000, 18 * kMiB}, {2000, 36 * kMiB}, {3000, 51 * kMiB}, {4000, 64 * kMiB}}, 1 * kGiB);
  for (bool auto_converge : {false, true}) {
    in.auto_converge.enabled = auto_converge;
    auto r = simulate_precopy(in, curve);
    EXPECT_EQ(r.outcome, PrecopyOutcome::Converged) << "auto-converge " << auto_converge;
    EXPECT_LT(r.iterations, 30);
    EXPECT_LE(r.switchover_pending_bytes, r.threshold_bytes);
  }
}

// Every simulation ends, whatever the inputs: one sync per pass of the loop and at most
// kMaxIterations of them, with time passing at every pass. Inputs from one page to 1 TiB, pages
// of 4 KiB to 1 GiB, caps of 100 bytes/s to 10 GB/s, max downtimes of 0 to infinity.
TEST(Precopy, EverySimulationEndsWithinItsBound) {
  std::mt19937_64 rng(20261202);
  auto log_uniform = [&](double lo, double hi) {
    return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng));
  };
  const double page_sizes[] = {4096, 65536, 2 * kMiB, kGiB};
  int outcomes[5] = {};
  for (int i = 0; i < 400; ++i) {
    PrecopyInput in;
    in.page_size_bytes = page_sizes[rng() % 4];
    in.ram_bytes = in.page_size_bytes * std::floor(log_uniform(1, 1024 * kGiB / in.page_size_bytes));
    in.zero_pages = std::floor(in.ram_bytes / in.page_size_bytes *
                               std::uniform_real_distribution<double>(0, 1)(rng));
    in.bandwidth_bytes_per_s = log_uniform(100, 1e10);
    const int d = static_cast<int>(rng() % 8);
    in.downtime_limit_ms = d == 0   ? 0
                           : d == 1 ? std::numeric_limits<double>::infinity()
                                    : log_uniform(1e-3, 1e4);
    in.auto_converge.enabled = rng() % 2;
    const double ws = std::min(in.ram_bytes, log_uniform(in.page_size_bytes, 1024 * kGiB));
    auto curve = DirtyCurve::saturating(ws, log_uniform(1, 1e11), in.ram_bytes);
    auto r = simulate_precopy(in, curve);
    ++outcomes[static_cast<int>(r.outcome)];
    EXPECT_LE(r.iterations, kMaxIterations) << i;
    EXPECT_TRUE(std::isfinite(r.elapsed_ms)) << i;
    if (r.converges()) {
      EXPECT_LE(r.switchover_pending_bytes, r.threshold_bytes) << i;
    }
  }
  std::printf("[figure] outcomes: converged %d, deadline %d, stalled %d, iteration-limit %d\n",
              outcomes[0], outcomes[1], outcomes[2], outcomes[4]);
}

TEST(Precopy, LibvirtsStepsComeBeforeQemusMigrationAndCountAgainstTheDeadline) {
  auto in = guest(1 * kGiB, 128 * kMiB);
  const auto qemu_only = simulate_precopy(in, constant_rate(4 * kMiB));
  in.start_ms = 980;
  const auto job = simulate_precopy(in, constant_rate(4 * kMiB));
  ASSERT_TRUE(qemu_only.converges());
  ASSERT_TRUE(job.converges());
  // QEMU's migration is the same; libvirt's job is longer by its steps.
  EXPECT_DOUBLE_EQ(qemu_only.qemu_total_time_ms, qemu_only.total_time_ms);
  EXPECT_DOUBLE_EQ(job.qemu_total_time_ms, qemu_only.total_time_ms);
  EXPECT_DOUBLE_EQ(job.total_time_ms, qemu_only.total_time_ms + 980);
  EXPECT_DOUBLE_EQ(job.elapsed_ms, qemu_only.elapsed_ms + 980);
  EXPECT_EQ(job.iterations, qemu_only.iterations);
  EXPECT_DOUBLE_EQ(job.downtime_ms, qemu_only.downtime_ms);
  ASSERT_FALSE(job.trace.empty());
  EXPECT_DOUBLE_EQ(job.trace.front().start_ms, 0);  // the iterations count from QEMU's start
  // A deadline QEMU alone would meet, but not after libvirt's steps.
  in.deadline_ms = qemu_only.total_time_ms + 500;
  EXPECT_FALSE(simulate_precopy(in, constant_rate(4 * kMiB)).converges());
  in.start_ms = 0;
  EXPECT_TRUE(simulate_precopy(in, constant_rate(4 * kMiB)).converges());
}

// The migration thread's work per page (ThreadCost): on a link the cap does not bind, a stretch
// of RAM takes the longer of its wire at the rate and the thread's work.
TEST(PrecopyThreadCost, WithNoCapTheThreadsWorkDecides) {
  auto in = guest(1 * kGiB, 1024 * 1024 * kMiB);  // 1 TiB/s: no cap that binds
  in.zero_pages = 0.75 * kGiB / kPage;
  in.downtime_limit_ms = 300;
  const auto free = simulate_precopy(in, idle());
  ASSERT_TRUE(free.converges());
  EXPECT_LT(free.total_time_ms, 1);  // without the thread: no time at all
  in.thread_cost = {.data_page_ns = 3000, .zero_page_ns = 400};
  const auto r = simulate_precopy(in, idle());
  ASSERT_TRUE(r.converges());
  const double pages = kGiB / kPage;
  // Every page once: a quarter data at 3 us, three quarters zero at 0.4 us (the pause included:
  // the stop-and-copy is the same thread's work).
  EXPECT_NEAR(r.total_time_ms, (0.25 * pages * 3000 + 0.75 * pages * 400) / 1e6, 1);
  EXPECT_NEAR(r.transferred_bytes, free.transferred_bytes, 1);
  // QEMU's switchover threshold follows what it measures, which the thread bounds.
  EXPECT_NEAR(r.threshold_bytes, kFullPage / 3000e-9 * 0.3, 1);
}

// QEMU's migration thread works through pages until a window's wire reaches the cap's share,
// then sleeps to the window's end (migration_rate_limit, 100 ms windows). Reading a zero page
// costs it time but hardly any wire, so zeros are worked through in the time a window of data
// leaves idle: at a cap, they add time only where no data follows them in that window.
TEST(PrecopyThreadCost, AtACapZeroPagesTakeOnlyTheTimeAWindowLeavesThem) {
  // 64 MiB/s: a data page's wire takes 61 us, far above the thread's 3 us; a zero page's 9 bytes
  // take 0.13 us, less than reading it (0.4 us).
  auto in = guest(1 * kGiB, 64 * kMiB);
  in.zero_pages = 0.5 * kGiB / kPage;
  const double zero_pages = 0.5 * kGiB / kPage, data_pages = zero_pages;
  const PrecopyInput without_cost = in;
  in.thread_cost = {.data_page_ns = 3000, .zero_page_ns = 400};
  auto extra = [&](std::vector<double> layout) {
    auto a = without_cost, b = in;
    a.zero_page_layout = b.zero_page_layout = layout;
    const auto before = simulate_precopy(a, idle());
    const auto after = simulate_precopy(b, idle());
    EXPECT_TRUE(before.converges());
    EXPECT_TRUE(after.converges());
    EXPECT_DOUBLE_EQ(after.threshold_bytes, before.threshold_bytes);
    EXPECT_DOUBLE_EQ(after.transferred_bytes, before.transferred_bytes);
    return after.total_time_ms - before.total_time_ms;
  };
  // Zeros first (the first half of RAM): the first window reads all of them (52 ms) and still
  // has time for its share of data: nothing added.
  EXPECT_NEAR(extra({1, 1, 0, 0}), 0, 1e-6);
  // Zeros in every other stretch, as in a large mostly idle guest: nothing added either.
  EXPECT_NEAR(extra({1, 0, 1, 0}), 0, 1e-6);
  // Mixed in every stretch (zero pages spread evenly): nothing added.
  EXPECT_NEAR(extra({}), 0, 1e-6);
  // Zeros last: the pass ends in the window they start in. The data before them fills whole
  // windows but for a tail; that window then takes the thread's work on the tail and all the
  // zeros instead of their wire at the cap.
  const double share = 64 * kMiB * 0.1;  // a window's wire
  const double tail = data_pages - std::floor(data_pages * kFullPage / share) * share / kFullPage;
  const double wire_ms = (tail * kFullPage + zero_pages * 9) / (64 * kMiB) * 1000;
  const double work_ms = (tail * 3000 + zero_pages * 400) / 1e6;
  EXPECT_NEAR(extra({0, 0, 1, 1}), work_ms - wire_ms, 1e-6);
  // Charging each stretch its own longer time, as before, added all the zeros' work beyond their
  // wire (35 ms here), on every layout with a zero stretch.
  EXPECT_LT(work_ms - wire_ms, zero_pages * (400e-9 - 9 / (64 * kMiB)) * 1000 - 10);
}

// Huge pages (host_page_bytes): QEMU sends a huge page's dirty 4 KiB pages in one go and looks
// at its estimate only every 64 huge pages holding dirty pages, or at the end of a pass
// (bench/hugepages.py, QEMU 10.0 and 7.2 with 2 MiB pages).
namespace {
// The integration test's guest: 512 MiB, mostly zero pages, 32 MiB/s, 300 ms.
PrecopyInput huge_guest(double host_page_bytes, double zero_share = 0.8) {
  auto in = guest(512 * kMiB, 32 * kMiB);
  in.host_page_bytes = host_page_bytes;
  in.zero_pages = zero_share * 512 * kMiB / kPage;
  return in;
}
DirtyCurve random_writes(double working_set, double pages_per_s) {
  return DirtyCurve::saturating(working_set, pages_per_s * kPage, 1 * kGiB);
}
}  // namespace

TEST(PrecopyHugePages, AnIterationSendsEveryDirtyPageWhenTheyLieInFewerThan64HugePages) {
  const auto curve = random_writes(64 * kMiB, 2000);  // 32 huge pages
  const auto small = simulate_precopy(huge_guest(0), curve);
  const auto huge = simulate_precopy(huge_guest(2 * kMiB), curve);
  ASSERT_TRUE(small.converges());
  ASSERT_TRUE(huge.converges());
  ASSERT_GE(huge.trace.size(), 2u);
  // After the first pass, each iteration empties the bitmap before QEMU looks again.
  for (std::size_t i = 1; i < huge.trace.size(); ++i) {
    EXPECT_NEAR(huge.trace[i].sent_bytes, huge.trace[i].pending_bytes / kPage * kFullPage,
                kFullPage)
        << "iteration " << huge.trace[i].iteration;
  }
  // With 4 KiB pages the second iteration stops where the estimate reaches the threshold.
  ASSERT_GE(small.trace.size(), 2u);
  EXPECT_LT(small.trace[1].sent_bytes,
            small.trace[1].pending_bytes / kPage * kFullPage - small.threshold_bytes / 2);
  // Longer iterations: more dirtied, a longer migration.
  EXPECT_GT(huge.qemu_total_time_ms, small.qemu_total_time_ms);
  // 4 KiB host pages are the plain model.
  const auto same = simulate_precopy(huge_guest(kPage), curve);
  EXPECT_DOUBLE_EQ(same.total_time_ms, small.total_time_ms);
}

TEST(PrecopyHugePages, QemuLooksEvery64DirtyHugePagesWhenTheyAreMore) {
  // 1 GiB, dirty pages spread over a 512 MiB working set (256 huge pages): QEMU looks after
  // each 64 of them, a quarter of the dirty pages, not only at the end of the pass.
  auto in = guest(1 * kGiB, 32 * kMiB);
  in.host_page_bytes = 2 * kMiB;
  const auto r = simulate_precopy(in, random_writes(512 * kMiB, 3000));
  ASSERT_GE(r.trace.size(), 3u);
  bool short_of_the_pass = false;
  for (std::size_t i = 1; i + 1 < r.trace.size(); ++i) {
    const double pending = r.trace[i].pending_bytes / kPage;
    const double sent = r.trace[i].sent_bytes / kFullPage;
    const double quarters = sent / (pending / 4);
    EXPECT_NEAR(quarters, std::round(quarters), 0.05) << "iteration " << r.trace[i].iteration;
    if (sent < pending * 0.99) short_of_the_pass = true;
  }
  EXPECT_TRUE(short_of_the_pass);
}

TEST(PrecopyHugePages, TheSwitchToPostcopyWaitsForTheNextLookAndMayConvergeFirst) {
  // libvirt asks for the switch at the first pass's sync. With 4 KiB pages QEMU switches a
  // window later; on huge pages it looks at the end of the next pass, and this guest's dirty
  // pages by then fit the threshold: it completes in pre-copy (as the real one did).
  const auto curve = random_writes(64 * kMiB, 2000);
  auto small = huge_guest(0);
  small.stop_after_iteration = 1;
  auto huge = huge_guest(2 * kMiB);
  huge.stop_after_iteration = 1;
  EXPECT_EQ(simulate_precopy(small, curve).outcome, PrecopyOutcome::SwitchedOver);
  const auto converged = simulate_precopy(huge, curve);
  EXPECT_EQ(converged.outcome, PrecopyOutcome::Converged);
  EXPECT_EQ(converged.iterations, 2);
}

TEST(PrecopyHugePages, PostcopySendsEachPartlyDirtyHugePageWhole) {
  // 3000 pages/s over 256 MiB (128 huge pages) cannot converge at 32 MiB/s. After the first
  // pass QEMU next looks half a pass later (64 of the 128 huge pages), and switches: post-copy
  // then sends every huge page holding a dirty page, whole: all 256 MiB, where with 4 KiB pages
  // it sends the dirty pages alone (bench/hugepages.py: 278 MiB against 100 MiB).
  const auto curve = random_writes(256 * kMiB, 3000);
  auto small = huge_guest(0, 0.45);
  small.stop_after_iteration = 1;
  auto huge = huge_guest(2 * kMiB, 0.45);
  huge.stop_after_iteration = 1;
  const auto s = simulate_precopy(small, curve);
  const auto h = simulate_precopy(huge, curve);
  ASSERT_EQ(s.outcome, PrecopyOutcome::SwitchedOver);
  ASSERT_EQ(h.outcome, PrecopyOutcome::SwitchedOver);
  EXPECT_LT(s.pending_wire_bytes_at_stop, 150 * kMiB);
  EXPECT_NEAR(h.pending_pages_at_stop * kPage, 256 * kMiB, 1 * kMiB);
  EXPECT_NEAR(h.pending_wire_bytes_at_stop, h.pending_pages_at_stop * kFullPage, 1);
  // Half a pass later than a window after the sync.
  EXPECT_GT(h.elapsed_ms, s.elapsed_ms + 1000);
}

// QEMU 8.2+ counts a rate-limit window's bytes as its file flushes them, 32 pages at a time, so a
// window ends at the first flush past its limit (kPagesPerFlush); 7.2 counted them as queued. The
// bandwidth QEMU reported itself (query-migrate's mbps, the figure its switchover threshold is
// made of) in the benchmark's real migrations, the value most of each stack's polls read at each
// cap (bench/results/2026-12-0[3-5]-*.jsonl): QEMU 10.0.2 and QEMU 7.2.22, Mbit/s.
TEST(Precopy, ARateLimitWindowCarriesWhatQemuCountsInIt) {
  struct Cap {
    double mib_per_s, qemu10_mbps, qemu7_mbps;
  };
  const Cap caps[] = {{16, 136.58256, 134.28432}, {20, 168.10128, 168.10128},
                      {24, 210.12624, 201.58992}, {28, 241.64496, 235.07856},
                      {32, 273.16368, 268.5672},  {48, 409.7448, 402.85008},
                      {64, 546.32592, 537.13296}, {128, 1082.14416, 1073.93616}};
  for (const auto& c : caps) {
    auto in = guest(1 * kGiB, c.mib_per_s * kMiB);
    in.link_bytes_per_s = 10 * kGiB;  // the pause takes next to nothing
    in.rate_limit_counts_flushed = true;
    const auto r10 = simulate_precopy(in, idle());
    // A window's bytes over its 100 ms, against QEMU's: to within the 18 bytes of section
    // markers a window of QEMU's also carries.
    const double window = r10.threshold_bytes / 0.3 / 10;
    EXPECT_NEAR(window, c.qemu10_mbps * 1e6 / 8 / 10, 20) << c.mib_per_s;
    EXPECT_DOUBLE_EQ(std::fmod(window, kPagesPerFlush * kFullPage), 0) << c.mib_per_s;
    in.rate_limit_counts_flushed = false;
    const auto r7 = simulate_precopy(in, idle());
    // 7.2 stops within the page that passes the limit: at most a page (and the markers) over.
    const double window7 = r7.threshold_bytes / 0.3 / 10;
    EXPECT_LE(c.qemu7_mbps * 1e6 / 8 / 10 - window7, kFullPage + 20) << c.mib_per_s;
    EXPECT_GE(c.qemu7_mbps * 1e6 / 8 / 10 - window7, 0) << c.mib_per_s;
    // The stream goes at that pace: with a limit of 1 ms nearly all of an all-data guest goes
    // in its first pass, its wire at the window's pace.
    in.downtime_limit_ms = 1;
    const double t7 = simulate_precopy(in, idle()).total_time_ms;
    in.rate_limit_counts_flushed = true;
    const double t10 = simulate_precopy(in, idle()).total_time_ms;
    EXPECT_NEAR(t7 / t10, window / window7, 0.001) << c.mib_per_s;
  }
  // The link unknown (taken as the bandwidth for the pause): the limiter's windows all the same.
  auto unknown_link = guest(1 * kGiB, 24 * kMiB);
  unknown_link.rate_limit_counts_flushed = true;
  EXPECT_NEAR(simulate_precopy(unknown_link, idle()).threshold_bytes / 0.3 / 10,
              210.12624e6 / 8 / 10, 20);
  // A cap the link does not allow: the link decides, not the limiter.
  auto slow_link = guest(1 * kGiB, 64 * kMiB);
  slow_link.link_bytes_per_s = 32 * kMiB;
  slow_link.rate_limit_counts_flushed = true;
  EXPECT_DOUBLE_EQ(simulate_precopy(slow_link, idle()).threshold_bytes, 32 * kMiB * 0.3);
}
