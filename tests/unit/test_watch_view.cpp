// What --watch shows of each sample, as the pure function the Watcher calls (watch/view.hpp):
// concrete samples in, the figures a user or a wrapper reads out. No migration, no clock.
#include <gtest/gtest.h>

#include "watch/sample.hpp"
#include "watch/view.hpp"
#include "watch/watch.hpp"

using namespace vmp;
using namespace vmp::watch;

namespace {

constexpr double kMiB = 1048576;

// The guest dirties 20 MiB in every second, in 512 MiB of RAM: linear through the origin.
model::DirtyCurve twenty_mib_per_s(double ceiling_bytes = 512 * kMiB) {
  return model::DirtyCurve::piecewise_linear({{1000, 20 * kMiB}}, ceiling_bytes);
}

// Iteration 3 of a pre-copy migration of 512 MiB, 10 s in, 100 MiB left.
Sample third_iteration() {
  Sample s;
  s.owner = JobOwner::Qmp;
  s.phase = Phase::Active;
  s.elapsed_ms = 10000;
  s.remaining_bytes = 100 * kMiB;
  s.ram_remaining_bytes = 100 * kMiB;
  s.ram_total_bytes = 512 * kMiB;
  s.iteration = 3;
  s.qemu_bandwidth_bytes_per_s = 64 * kMiB;  // QEMU's last 100 ms window: a burst
  return s;
}

Forecast forecast_of(model::PrecopyOutcome outcome, double at_elapsed_ms, double rest_ms) {
  Forecast f;
  f.rest.outcome = outcome;
  f.rest.total_time_ms = rest_ms;
  f.at_elapsed_ms = at_elapsed_ms;
  return f;
}

}  // namespace

// ------------------------------------------------------------------------------ the sample view

TEST(WatchView, TheExpectedDowntimeCountsWhatWasDirtiedSinceTheLastSync) {
  const auto curve = twenty_mib_per_s();
  SampleViewInputs in;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  in.last_sync_ms = 9000;  // 1 s before the sample: 20 MiB dirtied since, not yet found by QEMU
  in.dirty_curve = &curve;
  in.downtime_limit_ms = 300;
  in.stalled = true;
  const SampleView v = sample_view(third_iteration(), in);
  // Ours over the window, not QEMU's burst of 64 MiB/s.
  EXPECT_DOUBLE_EQ(*v.throughput_bytes_per_s, 32 * kMiB);
  EXPECT_DOUBLE_EQ(*v.dirtied_since_sync_bytes, 20 * kMiB);
  EXPECT_DOUBLE_EQ(*v.pending_if_paused_bytes, 120 * kMiB);
  EXPECT_DOUBLE_EQ(*v.downtime_rate_bytes_per_s, 32 * kMiB);
  EXPECT_FALSE(v.downtime_at_link_speed);
  // 120 MiB at 32 MiB/s.
  EXPECT_DOUBLE_EQ(*v.expected_downtime_ms, 3750);
  EXPECT_DOUBLE_EQ(*v.downtime_limit_ms, 300);
  EXPECT_TRUE(v.stalled);
  EXPECT_DOUBLE_EQ(*v.sample.elapsed_ms, 10000);
  // No forecast made yet: no end predicted, not even "does not converge".
  EXPECT_FALSE(v.predicted_total_time_ms);
  EXPECT_FALSE(v.predicted_converges);
}

TEST(WatchView, WithALinkSpeedThePauseIsSentAtIt) {
  // QEMU lifts the bandwidth cap while the guest is paused: --link-speed is the rate then.
  const auto curve = twenty_mib_per_s();
  SampleViewInputs in;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  in.last_sync_ms = 9000;
  in.dirty_curve = &curve;
  in.link_bytes_per_s = 1024 * kMiB;
  const SampleView v = sample_view(third_iteration(), in);
  EXPECT_TRUE(v.downtime_at_link_speed);
  EXPECT_DOUBLE_EQ(*v.downtime_rate_bytes_per_s, 1024 * kMiB);
  EXPECT_DOUBLE_EQ(*v.pending_if_paused_bytes, 120 * kMiB);
  EXPECT_DOUBLE_EQ(*v.expected_downtime_ms, 117.1875);  // 120 MiB at 1 GiB/s
  EXPECT_DOUBLE_EQ(*v.throughput_bytes_per_s, 32 * kMiB) << "the throughput is still ours";
}

TEST(WatchView, InTheFirstPassOnlyPagesBehindTheCursorCount) {
  // 4 s into the first pass, a quarter of RAM sent: of the 80 MiB the guest dirtied since the
  // start, the quarter that lies behind the cursor must be sent again.
  const auto curve = twenty_mib_per_s();
  Sample s = third_iteration();
  s.iteration = 1;
  s.elapsed_ms = 4000;
  s.remaining_bytes = 384 * kMiB;
  s.ram_remaining_bytes = 384 * kMiB;
  SampleViewInputs in;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  in.last_sync_ms = 2000;  // not a sync of this pass: not used
  in.dirty_curve = &curve;
  const SampleView v = sample_view(s, in);
  EXPECT_DOUBLE_EQ(*v.dirtied_since_sync_bytes, 20 * kMiB);
  EXPECT_DOUBLE_EQ(*v.pending_if_paused_bytes, 404 * kMiB);
  EXPECT_DOUBLE_EQ(*v.expected_downtime_ms, 12625);  // 404 MiB at 32 MiB/s
}

TEST(WatchView, WhatWasDirtiedIsAtMostAllOfRam) {
  // A 64 MiB guest 10 s after a sync, by a curve of 20 MiB/s with a ceiling above its RAM.
  const auto curve = twenty_mib_per_s(1024 * kMiB);
  Sample s = third_iteration();
  s.ram_total_bytes = 64 * kMiB;
  s.remaining_bytes = 10 * kMiB;
  s.ram_remaining_bytes = 10 * kMiB;
  SampleViewInputs in;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  in.last_sync_ms = 0;
  in.dirty_curve = &curve;
  const SampleView v = sample_view(s, in);
  EXPECT_DOUBLE_EQ(*v.dirtied_since_sync_bytes, 64 * kMiB);
  EXPECT_DOUBLE_EQ(*v.pending_if_paused_bytes, 74 * kMiB);
}

TEST(WatchView, BeforeOurOwnThroughputQemusWindowIsUsedAndNoCurveCountsNothing) {
  // The first samples: the tracker has no window yet (or measured 0), and no dirty curve exists
  // before the first pass ends without a profile.
  Sample s = third_iteration();
  s.remaining_bytes = 16 * kMiB;
  for (std::optional<double> measured : {std::optional<double>{}, std::optional<double>{0.0}}) {
    EXPECT_DOUBLE_EQ(*throughput_bytes_per_s(measured, s), 64 * kMiB);
    SampleViewInputs in;
    in.measured_throughput_bytes_per_s = measured;
    in.last_sync_ms = 9000;
    const SampleView v = sample_view(s, in);
    EXPECT_DOUBLE_EQ(*v.throughput_bytes_per_s, 64 * kMiB);
    EXPECT_DOUBLE_EQ(*v.dirtied_since_sync_bytes, 0);
    EXPECT_DOUBLE_EQ(*v.pending_if_paused_bytes, 16 * kMiB);
    EXPECT_DOUBLE_EQ(*v.expected_downtime_ms, 250);  // 16 MiB at 64 MiB/s
  }
}

TEST(WatchView, NoRateOrNoRunningMigrationEstimatesNoPause) {
  const auto curve = twenty_mib_per_s();
  Sample s = third_iteration();
  s.qemu_bandwidth_bytes_per_s.reset();
  SampleViewInputs in;
  in.last_sync_ms = 9000;
  in.dirty_curve = &curve;
  EXPECT_FALSE(throughput_bytes_per_s(std::nullopt, s));
  EXPECT_DOUBLE_EQ(downtime_rate_bytes_per_s(std::nullopt, std::nullopt), 0);
  EXPECT_FALSE(estimates_downtime(s, 0));
  SampleView v = sample_view(s, in);
  EXPECT_FALSE(v.throughput_bytes_per_s);
  EXPECT_FALSE(v.expected_downtime_ms);
  EXPECT_FALSE(v.pending_if_paused_bytes);
  EXPECT_FALSE(v.dirtied_since_sync_bytes);
  EXPECT_FALSE(v.downtime_rate_bytes_per_s);
  // With a rate, but over: a completed migration's pause is the real one, not ours.
  s = third_iteration();
  s.phase = Phase::Completed;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  EXPECT_FALSE(estimates_downtime(s, 32 * kMiB));
  v = sample_view(s, in);
  EXPECT_DOUBLE_EQ(*v.throughput_bytes_per_s, 32 * kMiB);
  EXPECT_FALSE(v.expected_downtime_ms);
  // Running with a rate, but nothing said about what is left.
  s = third_iteration();
  s.remaining_bytes.reset();
  EXPECT_FALSE(estimates_downtime(s, 32 * kMiB));
}

TEST(WatchView, ThePredictedEndIsTheLatestForecastsWhenItConverges) {
  SampleViewInputs in;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  const Forecast converging = forecast_of(model::PrecopyOutcome::Converged, 4000, 15000);
  in.forecast = &converging;
  SampleView v = sample_view(third_iteration(), in);
  EXPECT_TRUE(*v.predicted_converges);
  EXPECT_DOUBLE_EQ(*v.predicted_total_time_ms, 19000);  // made at 4 s, 15 s from then
  const Forecast stalling = forecast_of(model::PrecopyOutcome::Stalled, 4000, 15000);
  in.forecast = &stalling;
  v = sample_view(third_iteration(), in);
  EXPECT_FALSE(*v.predicted_converges);
  EXPECT_FALSE(v.predicted_total_time_ms) << "a migration that does not converge has no end";
}

TEST(WatchView, InPostcopyTheRestIsSentAtTheThroughputAndNothingIsResent) {
  // Post-copy: the guest runs on the destination, pages dirtied are not sent again; the end is
  // what is left at the throughput, whatever the pre-copy forecast said.
  const auto curve = twenty_mib_per_s();
  Sample s = third_iteration();
  s.phase = Phase::PostcopyActive;
  s.elapsed_ms = 20000;
  s.remaining_bytes = 64 * kMiB;
  s.ram_remaining_bytes = 64 * kMiB;
  s.iteration = 5;
  SampleViewInputs in;
  in.measured_throughput_bytes_per_s = 32 * kMiB;
  in.last_sync_ms = 10000;
  in.dirty_curve = &curve;
  const Forecast stalling = forecast_of(model::PrecopyOutcome::Stalled, 4000, 15000);
  in.forecast = &stalling;
  const SampleView v = sample_view(s, in);
  EXPECT_DOUBLE_EQ(*v.dirtied_since_sync_bytes, 0);
  EXPECT_DOUBLE_EQ(*v.expected_downtime_ms, 2000);  // 64 MiB at 32 MiB/s
  EXPECT_DOUBLE_EQ(*v.predicted_total_time_ms, 22000);
  EXPECT_TRUE(*v.predicted_converges);
}
