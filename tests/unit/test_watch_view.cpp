// What --watch shows of each sample and how it sums up its end, as the pure functions the
// Watcher calls (watch/view.hpp, watch/summary.hpp): concrete samples and endings in, the
// figures, outcomes and exit statuses a user or a wrapper reads out. No migration, no clock.
#include <gtest/gtest.h>

#include "virt/job_keys.hpp"
#include "virt/job_stats.hpp"
#include "watch/sample.hpp"
#include "watch/summary.hpp"
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

// ------------------------------------------------------------------------------ the summary

namespace {

// A watch that attached, saw seven iterations and a stall, and was last told 8.2 s in.
Observed seen_until_iteration_7() {
  Observed seen;
  seen.domain = "vm1";
  seen.at_attach = forecast_of(model::PrecopyOutcome::Converged, 1000, 11000);
  seen.at_second_iteration = forecast_of(model::PrecopyOutcome::Converged, 3000, 9500);
  Stall stall;
  stall.since_iteration = 3;
  stall.detected_iteration = 6;
  seen.stall = stall;
  seen.iterations = 7;
  Sample last = third_iteration();
  last.owner = JobOwner::Libvirt;
  last.iteration = 7;
  last.elapsed_ms = 8200;
  last.qemu_expected_downtime_ms = 310;
  seen.last = last;
  return seen;
}

// What libvirt says of a job that ended (virDomainGetJobStats with
// VIR_DOMAIN_JOB_STATS_COMPLETED, or the job-completed event).
JobStats finished_job(int type) {
  JobStats j;
  j.type = type;
  j.numbers = {{virt::job::kOperation, virt::job::kOperationMigrationOut},
               {virt::job::kTimeElapsed, 11554},
               {virt::job::kDowntime, 87},
               {virt::job::kMemoryIteration, 9}};
  return j;
}

void expect_kept(const WatchSummary& s) {
  EXPECT_EQ(s.domain, "vm1");
  ASSERT_TRUE(s.at_attach);
  EXPECT_DOUBLE_EQ(s.at_attach->total_time_ms(), 12000);
  ASSERT_TRUE(s.at_second_iteration);
  EXPECT_DOUBLE_EQ(s.at_second_iteration->total_time_ms(), 12500);
  ASSERT_TRUE(s.stall);
  EXPECT_EQ(s.stall->detected_iteration, 6);
  EXPECT_GE(s.iterations, 7);
}

}  // namespace

TEST(WatchSummary, ACompletedLibvirtJobGivesLibvirtsTimeAndDowntime) {
  const Observed seen = seen_until_iteration_7();
  const Sample final_figures = sample_from_finished_job(12000, finished_job(virt::job::kCompleted));
  const WatchSummary s = completed_summary(seen, final_figures);
  EXPECT_EQ(s.outcome, "completed");
  EXPECT_EQ(s.exit_status, kWatchCompleted);
  EXPECT_EQ(s.figures_from, "libvirt");
  EXPECT_DOUBLE_EQ(*s.total_time_ms, 11554);  // libvirt's clock, not the last sample's 8.2 s
  EXPECT_DOUBLE_EQ(*s.downtime_ms, 87);       // the real pause, not the expected 310 ms
  EXPECT_EQ(s.iterations, 9) << "libvirt counted two syncs the samples missed";
  EXPECT_TRUE(s.detail.empty());
  EXPECT_TRUE(s.error_key.empty());
  expect_kept(s);
}

TEST(WatchSummary, WithoutLibvirtsFiguresQemusCompletedSampleGivesThem) {
  // A QMP client ran it, or libvirt's final figures never came: QEMU said completed first.
  Observed seen = seen_until_iteration_7();
  seen.last->phase = Phase::Completed;
  seen.last->elapsed_ms = 10234;
  seen.last->downtime_ms = 45;
  seen.last->iteration = 8;
  const WatchSummary s = completed_summary(seen, std::nullopt);
  EXPECT_EQ(s.outcome, "completed");
  EXPECT_EQ(s.exit_status, kWatchCompleted);
  EXPECT_EQ(s.figures_from, "qmp");
  EXPECT_DOUBLE_EQ(*s.total_time_ms, 10234);
  EXPECT_DOUBLE_EQ(*s.downtime_ms, 45);
  EXPECT_EQ(s.iterations, 8);
  EXPECT_TRUE(s.detail.empty());
}

TEST(WatchSummary, ACompletionWithNoFiguresAtAllSaysSo) {
  // libvirt's domain event said MIGRATED, but neither libvirt nor QEMU gave final figures: the
  // last running sample's clock is no total time.
  const Observed seen = seen_until_iteration_7();
  const WatchSummary s = completed_summary(seen, std::nullopt);
  EXPECT_EQ(s.outcome, "completed");
  EXPECT_EQ(s.exit_status, kWatchCompleted);
  EXPECT_EQ(s.figures_from, "");
  EXPECT_FALSE(s.total_time_ms);
  EXPECT_FALSE(s.downtime_ms);
  EXPECT_EQ(s.detail, "libvirt reported no final figures");
  EXPECT_EQ(s.iterations, 7);
}

TEST(WatchSummary, AFailedOrCancelledMigrationIsExit11WithItsTimeSoFar) {
  const Observed seen = seen_until_iteration_7();
  const WatchSummary cancelled =
      ended_summary(seen, Phase::Cancelled, ended_detail(Phase::Cancelled, ""));
  EXPECT_EQ(cancelled.outcome, "cancelled");
  EXPECT_EQ(cancelled.exit_status, kWatchFailed);
  EXPECT_EQ(cancelled.exit_status, 11);
  EXPECT_EQ(cancelled.detail, "migration cancelled");
  EXPECT_DOUBLE_EQ(*cancelled.total_time_ms, 8200);
  EXPECT_FALSE(cancelled.downtime_ms);
  expect_kept(cancelled);
  // libvirt's failed job, with its error message.
  JobStats j = finished_job(virt::job::kFailed);
  j.strings[virt::job::kErrmsg] = "Unable to write to socket";
  const Sample f = sample_from_finished_job(12000, j);
  const WatchSummary failed = ended_summary(seen, f.phase, ended_detail(f.phase, f.error));
  EXPECT_EQ(failed.outcome, "failed");
  EXPECT_EQ(failed.exit_status, kWatchFailed);
  EXPECT_EQ(failed.detail, "migration failed: Unable to write to socket");
  // Attached to nothing that reported a clock: no time.
  Observed blind = seen;
  blind.last->elapsed_ms.reset();
  EXPECT_FALSE(ended_summary(blind, Phase::Failed, "x").total_time_ms);
}

TEST(WatchSummary, ADomainThatStoppedWhileMigratingIsAFailedMigration) {
  // libvirt's lifecycle event said the source stopped, and not because it migrated.
  const WatchSummary s =
      ended_summary(seen_until_iteration_7(), Phase::Failed, stopped_detail("destroyed"));
  EXPECT_EQ(s.outcome, "failed");
  EXPECT_EQ(s.exit_status, kWatchFailed);
  EXPECT_EQ(s.detail, "the domain stopped (destroyed) while migrating: the migration failed");
  EXPECT_DOUBLE_EQ(*s.total_time_ms, 8200);
  expect_kept(s);
}

TEST(WatchSummary, AVanishedDomainIsAnErrorWithItsKey) {
  const WatchSummary s =
      vanished_summary(seen_until_iteration_7(), "domain vm1 no longer exists (Domain not found)");
  EXPECT_EQ(s.outcome, "error");
  EXPECT_EQ(s.exit_status, kWatchError);
  EXPECT_EQ(s.error_key, "domain-not-found");
  EXPECT_EQ(s.detail,
            "domain vm1 no longer exists (Domain not found) (it vanished while its migration was "
            "being watched)");
  EXPECT_FALSE(s.total_time_ms);
  expect_kept(s);
}

TEST(WatchSummary, AnErrorKeepsItsKeyAndWhatWasApplied) {
  // --apply's command failed: the error ends the watch, and the summary still says what was
  // tried.
  Observed seen = seen_until_iteration_7();
  AppliedAction a;
  a.advice.action = Action::RaiseDowntime;
  a.advice.downtime_limit_ms = 1190;
  a.iteration = 6;
  a.ok = false;
  a.error = "operation failed: job is not active";
  seen.applied = a;
  const WatchSummary s =
      error_summary(seen, "--apply: virsh migrate-setmaxdowntime vm1 1190 failed", "libvirt");
  EXPECT_EQ(s.outcome, "error");
  EXPECT_EQ(s.exit_status, kWatchError);
  EXPECT_EQ(s.error_key, "libvirt");
  ASSERT_TRUE(s.applied);
  EXPECT_FALSE(s.applied->ok);
  EXPECT_DOUBLE_EQ(*s.applied->advice.downtime_limit_ms, 1190);
  expect_kept(s);
  EXPECT_EQ(error_summary(seen, "lost the connection", "connection").error_key, "connection");
}

TEST(WatchSummary, ASignalEndsTheWatchNotTheMigration) {
  const WatchSummary s = interrupted_summary(seen_until_iteration_7(), 15);
  EXPECT_EQ(s.outcome, "interrupted");
  EXPECT_EQ(s.exit_status, 128 + 15);
  EXPECT_EQ(s.detail, "stopped watching (signal 15); the migration goes on");
  EXPECT_FALSE(s.total_time_ms);
  expect_kept(s);
}

TEST(WatchSummary, NothingToWatchSaysWhatWasAsked) {
  Observed seen;
  seen.domain = "vm1";
  Sample s;  // no job, and QEMU's status empty: it answered {}
  WatchSummary none = no_migration_summary(seen, s, /*qmp=*/true, "");
  EXPECT_EQ(none.outcome, "none");
  EXPECT_EQ(none.exit_status, kWatchNoMigration);
  EXPECT_EQ(none.exit_status, 10);
  EXPECT_EQ(none.detail,
            "domain vm1 has no migration running: libvirt has no migration job and QEMU's "
            "migration status is 'none'");
  s.qemu_status = "completed";  // the previous migration's
  EXPECT_EQ(no_migration_summary(seen, s, true, "").detail,
            "domain vm1 has no migration running: libvirt has no migration job and QEMU's "
            "migration status is 'completed'");
  none = no_migration_summary(seen, s, /*qmp=*/false,
                              "with --no-qmp a migration started "
                              "through QMP cannot be seen");
  EXPECT_EQ(none.detail,
            "domain vm1 has no migration running: libvirt has no migration job (with --no-qmp a "
            "migration started through QMP cannot be seen)");
  EXPECT_FALSE(none.at_attach);
  EXPECT_EQ(none.iterations, 0);
}
