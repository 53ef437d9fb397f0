// --watch without a migration: the tracker, the stall detector and the loop on migrations
// simulated as QEMU runs them (fake_migration.hpp), on a fake clock.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "cli/cli.hpp"
#include "fake_migration.hpp"
#include "watch/forecast.hpp"
#include "virt/job_stats.hpp"
#include "virt/libvirt_watch_target.hpp"
#include "watch/sample.hpp"
#include "watch/stall.hpp"
#include "watch/tracker.hpp"
#include "watch/watch.hpp"

using namespace vmp;
using namespace vmp::watch;
using vmp::test::FakeClock;
using vmp::test::FakeMigration;

namespace {

constexpr double kMiB = 1048576;

// Random writes at `rate` over a working set `wss`: what an iteration of t ms leaves dirty.
std::function<double(double)> random_writes(double wss_bytes, double rate_bytes_per_s) {
  return [=](double t_ms) {
    return wss_bytes * -std::expm1(-rate_bytes_per_s * t_ms / 1000 / wss_bytes);
  };
}

// Samples of a fake migration every `interval_ms`, starting `phase_ms` in, as QMP reports them.
std::vector<Sample> sampled(FakeMigration m, double interval_ms, double phase_ms, double until_ms) {
  std::vector<Sample> out;
  m.start();
  for (double now = phase_ms; now <= until_ms && m.status == "active"; now += interval_ms) {
    m.update(now);
    out.push_back(merge_sample(now, std::nullopt, m.query_migrate()));
  }
  return out;
}

FakeMigration converging() {
  FakeMigration m;
  m.bandwidth_bytes_per_s = 32 * kMiB;
  m.dirtied = random_writes(128 * kMiB, 20 * kMiB);
  m.working_set_bytes = 128 * kMiB;
  return m;
}

FakeMigration stalling() {
  FakeMigration m;
  m.bandwidth_bytes_per_s = 64 * kMiB;
  m.dirtied = random_writes(64 * kMiB, 390 * kMiB);
  m.working_set_bytes = 64 * kMiB;
  return m;
}

}  // namespace

// ------------------------------------------------------------------------------ samples

TEST(WatchSample, PrefersLibvirtWhenItRunsTheJobAndSaysWhere) {
  FakeMigration m = converging();
  m.start();
  m.update(5000);
  auto s = merge_sample(0, m.job_stats(), m.query_migrate());
  EXPECT_EQ(s.owner, JobOwner::Libvirt);
  EXPECT_EQ(s.phase, Phase::Active);
  EXPECT_EQ(s.sources.at("elapsed_ms"), "libvirt:time_elapsed");
  EXPECT_DOUBLE_EQ(*s.elapsed_ms, m.t);
  EXPECT_EQ(s.sources.at("ram_transferred_bytes"), "libvirt:memory_processed");
  // Without a libvirt job, the same migration is QMP's.
  auto q = merge_sample(0, JobStats{}, m.query_migrate());
  EXPECT_EQ(q.owner, JobOwner::Qmp);
  EXPECT_EQ(q.sources.at("elapsed_ms"), "qmp:total-time");
  EXPECT_DOUBLE_EQ(*q.elapsed_ms, m.t);
}

TEST(WatchSample, TheSystemWideRemainingOfQemu111Wins) {
  // QEMU 11.1 adds `remaining`: RAM and device state (VFIO). It is what a stall is judged on.
  nlohmann::json q = {
      {"status", "active"},
      {"total-time", 1000},
      {"remaining", 300 * kMiB},
      {"ram", {{"remaining", 100 * kMiB}, {"transferred", 1}, {"dirty-sync-count", 2}}}};
  JobStats lv;
  lv.type = 2;
  lv.numbers = {{"operation", 5}, {"data_remaining", 100 * kMiB}, {"memory_iteration", 2}};
  auto s = merge_sample(0, lv, q);
  EXPECT_DOUBLE_EQ(*s.remaining_bytes, 300 * kMiB);
  EXPECT_EQ(s.sources.at("remaining_bytes"), "qmp:remaining");
  EXPECT_DOUBLE_EQ(*s.ram_remaining_bytes, 100 * kMiB);
}

TEST(WatchSample, AQemuThatLacksFieldsLeavesThemAbsent) {
  auto s = merge_sample(0, std::nullopt, nlohmann::json{{"status", "active"}});
  EXPECT_EQ(s.owner, JobOwner::Qmp);
  EXPECT_FALSE(s.iteration);
  EXPECT_FALSE(s.remaining_bytes);
  EXPECT_FALSE(s.qemu_expected_downtime_ms);
  auto none = merge_sample(0, std::nullopt, nlohmann::json{{"status", "completed"}});
  EXPECT_EQ(none.phase, Phase::Completed);
  EXPECT_EQ(none.owner, JobOwner::None);
}

// ------------------------------------------------------------------------------ tracker

TEST(WatchTracker, ReconstructsThePeakOfEveryIterationFromSamplesThatMissIt) {
  // Remaining is a sawtooth whose peaks (pending at each sync) samples almost never catch. The
  // tracker rebuilds each from the bytes sent between the samples around the sync.
  for (double phase : {0.0, 37.0, 71.0}) {
    FakeMigration m = converging();
    auto samples = sampled(m, 200, phase, 60000);
    IterationTracker tracker;
    for (const auto& s : samples) tracker.add(s, m.threshold(), m.bandwidth_bytes_per_s / 10);
    FakeMigration truth = m;
    truth.start();
    truth.update(60000);
    int checked = 0;
    for (std::size_t i = 0; i < truth.true_peaks.size(); ++i) {
      const IterationRecord* r = tracker.record(static_cast<int>(i) + 2);
      if (!r || !r->peak_bytes || !r->peak_measured) continue;
      // Within one 10 ms step of sending (the fake's resolution) plus the threshold's slack.
      // At the end of the first pass, what remains counts zero pages that cost next to nothing
      // on the wire, so the bytes sent around that sync say less: a little under, never over.
      if (i == 0) {
        EXPECT_LE(*r->peak_bytes, truth.true_peaks[i] + 0.6 * kMiB);
        EXPECT_GE(*r->peak_bytes, truth.true_peaks[i] * 0.95) << "iteration 2";
      } else {
        EXPECT_NEAR(*r->peak_bytes, truth.true_peaks[i], 0.6 * kMiB) << "iteration " << i + 2;
      }
      ++checked;
    }
    EXPECT_GE(checked, 3) << "phase " << phase;
  }
}

TEST(WatchTracker, ThroughputIsTheWindowsAverage) {
  FakeMigration m = converging();
  auto samples = sampled(m, 200, 0, 5000);
  IterationTracker tracker;
  for (const auto& s : samples) tracker.add(s, m.threshold(), m.bandwidth_bytes_per_s / 10);
  ASSERT_TRUE(tracker.throughput_bytes_per_s());
  EXPECT_NEAR(*tracker.throughput_bytes_per_s(), 32 * kMiB, 0.5 * kMiB);
}

// ------------------------------------------------------------------------------ stall detector

TEST(StallDetector, FallingPeaksAreNoStall) {
  StallDetector d;
  double t = 6000;
  for (double peak_mib : {83.0, 44.0, 24.0, 15.0, 11.0, 9.0}) {
    EXPECT_FALSE(d.add_peak(static_cast<int>(t / 1000), t, peak_mib * kMiB));
    t += 1000;
  }
  EXPECT_FALSE(d.stall());
}

TEST(StallDetector, FlatPeaksAreAStallSinceTheLastLow) {
  StallDetector d;  // 10% within 3 iterations
  std::vector<double> peaks = {64.1, 63.0, 63.4, 62.9, 63.3, 63.1};
  int fired_at = 0;
  for (std::size_t i = 0; i < peaks.size(); ++i) {
    int it = static_cast<int>(i) + 2;
    if (d.add_peak(it, it * 700.0, peaks[i] * kMiB)) fired_at = it;
  }
  // Iteration 2 sets the low; 3, 4 and 5 do not beat it by 10%: stalled at 5.
  EXPECT_EQ(fired_at, 5);
  ASSERT_TRUE(d.stall());
  EXPECT_EQ(d.stall()->since_iteration, 2);
  EXPECT_DOUBLE_EQ(d.stall()->since_ms, 1400);
  EXPECT_DOUBLE_EQ(d.stall()->last_peak_bytes, 63.1 * kMiB);
}

TEST(StallDetector, RecoveryEndsTheStall) {
  StallDetector d;
  int it = 2;
  auto peak = [&](double mib) {
    d.add_peak(it, it * 700.0, mib * kMiB);
    ++it;
  };
  for (double p : {60.0, 60.0, 60.0, 60.0}) peak(p);
  ASSERT_TRUE(d.stall());
  // Auto-converge throttles the guest, or someone raised the bandwidth: peaks fall again.
  peak(50);
  EXPECT_FALSE(d.stall());
  peak(40);
  EXPECT_FALSE(d.stall());
}

TEST(StallDetector, SlowButSteadyProgressIsNoStall) {
  StallDetector d;
  double p = 100;
  for (int it = 2; it < 30; ++it, p *= 0.95) EXPECT_FALSE(d.add_peak(it, it * 1000.0, p * kMiB));
}

TEST(StallDetector, SeveralSyncsBetweenSamplesCountAsIterations) {
  // Short iterations: the samples see every other one. Iterations are QEMU's counts, but two
  // peaks that did not fall are needed.
  StallDetector d;
  EXPECT_FALSE(d.add_peak(2, 0, 20 * kMiB));
  EXPECT_FALSE(d.add_peak(5, 0, 20 * kMiB));
  EXPECT_TRUE(d.add_peak(7, 0, 20 * kMiB));
}

TEST(StallDetector, ANaiveDetectorOnTheSawtoothWouldHaveFired) {
  // What the detector avoids: in a converging migration, remaining rises between consecutive
  // samples at every sync. Judged at the peaks, nothing stalls.
  FakeMigration m = converging();
  auto samples = sampled(m, 200, 0, 60000);
  int rises = 0;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    if (*samples[i].remaining_bytes > *samples[i - 1].remaining_bytes) ++rises;
  }
  EXPECT_GE(rises, 3);
  IterationTracker tracker;
  StallDetector d;
  for (const auto& s : samples) {
    for (int k : tracker.add(s, m.threshold(), m.bandwidth_bytes_per_s / 10)) {
      const auto* r = tracker.record(k);
      if (k >= 2 && r->peak_bytes) d.add_peak(k, *r->started_ms, *r->peak_bytes);
    }
  }
  EXPECT_FALSE(d.stall());
}

// ------------------------------------------------------------------------------ forecast

TEST(WatchForecast, GranularityMakesRandomWritesCostWholeHugePages) {
  auto base = model::DirtyCurve::saturating(1024 * kMiB, 10 * kMiB, 4096 * kMiB);
  auto same = at_granularity(base, 4096, 4096);
  EXPECT_DOUBLE_EQ(same.dirty_bytes(1000), base.dirty_bytes(1000));
  auto huge = at_granularity(base, 4096, 2 * kMiB);
  // 10 MiB of 4 KiB pages in a second touch 2560 pages, nearly all in different 2 MiB pages.
  EXPECT_GT(huge.dirty_bytes(1000), 500 * kMiB);
  EXPECT_LE(huge.dirty_bytes(1000), 1024 * kMiB);
  EXPECT_NEAR(huge.dirty_bytes(3.6e6), 1024 * kMiB, 1 * kMiB);
  virt::DomainFacts power;
  power.hugepages = true;
  power.arch = "ppc64le";
  EXPECT_DOUBLE_EQ(dirty_granularity(power, 65536).bytes, 16 * kMiB);
  virt::DomainFacts x86 = power;
  x86.arch = "x86_64";
  EXPECT_DOUBLE_EQ(dirty_granularity(x86, 4096).bytes, 4096);
  EXPECT_FALSE(dirty_granularity(x86, 4096).reason.empty());
}

TEST(WatchForecast, AdviceCommandsAreExact) {
  AdviceContext c;
  c.domain = "vm 1";
  c.uri = "qemu:///system";
  EXPECT_EQ(virsh_command(c, Action::RaiseDowntime, 1190.2),
            "virsh -c qemu:///system migrate-setmaxdowntime 'vm 1' 1191");
  EXPECT_EQ(virsh_command(c, Action::Postcopy), "virsh -c qemu:///system migrate-postcopy 'vm 1'");
  EXPECT_EQ(virsh_command(c, Action::Abort), "virsh -c qemu:///system domjobabort 'vm 1'");
  c.libvirt_job = false;
  EXPECT_EQ(
      virsh_command(c, Action::Abort),
      "virsh -c qemu:///system qemu-monitor-command 'vm 1' '{\"execute\":\"migrate_cancel\"}'");
}

TEST(WatchForecast, AdviceRaisesTheDowntimeThenPostcopyThenAborts) {
  model::PrecopyInput in;
  in.ram_bytes = 512 * kMiB;
  in.bandwidth_bytes_per_s = 64 * kMiB;
  in.downtime_limit_ms = 300;
  auto curve = model::DirtyCurve::saturating(64 * kMiB, 390 * kMiB, 512 * kMiB);
  model::PrecopyResume r{.pending_bytes = 63 * kMiB, .in_first_pass = false, .since_sync_ms = 0};
  AdviceContext c;
  c.domain = "vm1";
  c.max_downtime_ms = 2000;
  c.stalled_peak_bytes = 63 * kMiB;
  c.qemu_bandwidth_bytes_per_s = 64 * kMiB;
  auto a = advise_on_stall(in, r, curve, c);
  ASSERT_EQ(a.action, Action::RaiseDowntime);
  // The peaks, 63 MiB, must fit within 64 MiB/s x max downtime: 985 ms, plus headroom.
  EXPECT_DOUBLE_EQ(*a.least_converging_ms, 985);
  EXPECT_DOUBLE_EQ(*a.downtime_limit_ms, 1190);
  // Without the observed peaks, the model's answer alone.
  c.stalled_peak_bytes.reset();
  auto model_only = advise_on_stall(in, r, curve, c);
  ASSERT_EQ(model_only.action, Action::RaiseDowntime);
  EXPECT_GT(*model_only.least_converging_ms, 500);
  EXPECT_LT(*model_only.least_converging_ms, 1050);
  c.stalled_peak_bytes = 63 * kMiB;
  c.max_downtime_ms = 500;
  EXPECT_EQ(advise_on_stall(in, r, curve, c).action, Action::Abort);
  c.postcopy_allowed = true;
  EXPECT_EQ(advise_on_stall(in, r, curve, c).action, Action::Postcopy);
  c.vfio_devices = {"0000:3b:00.0"};
  auto vfio = advise_on_stall(in, r, curve, c);
  EXPECT_EQ(vfio.action, Action::Abort);
  EXPECT_NE(vfio.why.find("VFIO"), std::string::npos);
}

// ------------------------------------------------------------------------------ the loop

namespace {

// Stops the watch (as SIGINT would) once the fake clock passes `at`.
class StoppingClock : public FakeClock {
 public:
  void sleep_ms(double ms) override {
    FakeClock::sleep_ms(ms);
    if (stop_at && now >= *stop_at) stop.store(2);
  }
  std::optional<double> stop_at;
  std::atomic<int> stop{0};
};

struct Rig {
  FakeMigration m;
  StoppingClock clock;
  vmp::test::FakeQmp qmp{m, clock};
  vmp::test::FakeJobStats job{m, clock};
  vmp::test::FakeControl control{m};
  vmp::test::RecordingOutput out;
  WatchTarget target;
  WatchOptions options;

  explicit Rig(FakeMigration mig, bool libvirt_job) : m(std::move(mig)) {
    m.start();
    target.domain = "vm1";
    target.uri = "qemu:///system";
    target.monitor = &qmp;
    if (libvirt_job) target.job = &job;
    target.control = &control;
    target.facts.memory_bytes = static_cast<std::uint64_t>(m.ram_bytes);
  }
  int run() { return watch_migration(target, options, clock, out, &clock.stop); }
};

}  // namespace

TEST(WatchLoop, FollowsAConvergingMigrationToItsEnd) {
  Rig rig(converging(), /*libvirt_job=*/false);
  const int status = rig.run();
  EXPECT_EQ(status, kWatchCompleted);
  ASSERT_TRUE(rig.out.summary);
  const auto& s = *rig.out.summary;
  EXPECT_EQ(s.outcome, "completed");
  EXPECT_EQ(s.figures_from, "qmp");
  EXPECT_DOUBLE_EQ(*s.total_time_ms, std::llround(rig.m.t));
  EXPECT_DOUBLE_EQ(*s.downtime_ms, std::llround(rig.m.downtime_ms));
  EXPECT_TRUE(rig.out.stalls.empty());
  EXPECT_TRUE(rig.control.actions.empty());
  // Predicted at the start of the second iteration from the iterations' own figures: the first
  // pass's dirtying, drawn as a straight line, overstates shorter iterations' a little.
  ASSERT_TRUE(s.at_second_iteration);
  ASSERT_TRUE(s.at_second_iteration->converges());
  EXPECT_NEAR(s.at_second_iteration->total_time_ms(), *s.total_time_ms, 0.25 * *s.total_time_ms);
}

TEST(WatchLoop, APredictionFromTheProfileIsCloser) {
  Rig rig(converging(), false);
  probe::DirtyProfile p;
  p.ram_bytes = static_cast<std::uint64_t>(rig.m.ram_bytes);
  for (double t : {1000.0, 2000.0, 4000.0}) {
    p.dirty_curve.push_back({t, rig.m.dirtied(t), 0, 0});
  }
  // The fake's first pass sends 150 MiB of the 512: the rest are zero pages.
  p.zero_pages.count =
      static_cast<std::uint64_t>((rig.m.ram_bytes - rig.m.first_pass_bytes) / 4096);
  rig.options.profile = p;
  rig.options.profile_path = "p.json";
  ASSERT_EQ(rig.run(), kWatchCompleted);
  const auto& s = *rig.out.summary;
  ASSERT_TRUE(s.at_second_iteration);
  EXPECT_NEAR(s.at_second_iteration->total_time_ms(), *s.total_time_ms, 0.05 * *s.total_time_ms);
  EXPECT_EQ(rig.out.attach->curve_origin, "profile p.json");
  // Attached at the very start, before any throughput: predicted at the first sample with one.
  ASSERT_TRUE(s.at_attach);
  ASSERT_TRUE(s.at_attach->converges());
  EXPECT_LT(s.at_attach->at_elapsed_ms, 1000);
  EXPECT_NEAR(s.at_attach->total_time_ms(), *s.total_time_ms, 0.10 * *s.total_time_ms);
}

TEST(WatchLoop, AStalledMigrationIsNoticedAndAdvisedButNotChanged) {
  Rig rig(stalling(), /*libvirt_job=*/true);
  rig.options.max_downtime_ms = 2000;
  rig.clock.stop_at = 30000;
  const int status = rig.run();
  EXPECT_EQ(status, 128 + 2);
  EXPECT_EQ(rig.out.summary->outcome, "interrupted");
  ASSERT_EQ(rig.out.stalls.size(), 1u);
  const Stall& st = rig.out.stalls[0];
  // The peaks settle from the second iteration on: noticed three iterations later.
  EXPECT_LE(st.detected_iteration - st.since_iteration, 4);
  EXPECT_LE(st.detected_iteration, 7);
  ASSERT_EQ(rig.out.advice[0].action, Action::RaiseDowntime);
  EXPECT_EQ(
      rig.out.advice[0].command.rfind("virsh -c qemu:///system migrate-setmaxdowntime vm1 ", 0),
      0u);
  EXPECT_TRUE(rig.control.actions.empty()) << "nothing changes without --apply";
  EXPECT_EQ(rig.m.status, "active");
}

TEST(WatchLoop, ApplyRaisesTheDowntimeOnceAndTheMigrationFinishes) {
  Rig rig(stalling(), true);
  rig.options.max_downtime_ms = 2000;
  rig.options.apply = true;
  rig.clock.stop_at = 60000;
  EXPECT_EQ(rig.run(), kWatchCompleted);
  ASSERT_EQ(rig.control.actions.size(), 1u);
  EXPECT_EQ(rig.control.actions[0].rfind("downtime ", 0), 0u);
  ASSERT_EQ(rig.out.applied_actions.size(), 1u);
  EXPECT_TRUE(rig.out.applied_actions[0].ok);
  EXPECT_EQ(rig.out.summary->figures_from, "libvirt");
  EXPECT_EQ(rig.m.status, "completed");
  // libvirt's clock: its final figure is the job's.
  EXPECT_DOUBLE_EQ(*rig.out.summary->total_time_ms, rig.m.t);
}

TEST(WatchLoop, ApplyAbortsWhenNothingElseHelps) {
  Rig rig(stalling(), true);
  rig.options.max_downtime_ms = 400;
  rig.options.apply = true;
  rig.clock.stop_at = 60000;
  EXPECT_EQ(rig.run(), kWatchFailed);
  EXPECT_EQ(rig.control.actions, std::vector<std::string>{"abort"});
  EXPECT_EQ(rig.out.summary->outcome, "cancelled");
}

TEST(WatchLoop, NoMigrationIsItsOwnExitStatus) {
  Rig rig(converging(), true);
  rig.m.status = "none";
  EXPECT_EQ(rig.run(), kWatchNoMigration);
  EXPECT_EQ(rig.out.summary->outcome, "none");
  EXPECT_NE(rig.out.summary->detail.find("no migration running"), std::string::npos);
}

namespace {

class ThrowingJobStats : public JobStatsReader {
 public:
  explicit ThrowingJobStats(JobStatsReader& inner) : inner_(inner) {}
  JobStats read(bool completed) override {
    if (++reads > vanish_after) throw DomainGone("domain vm1 no longer exists (Domain not found)");
    return inner_.read(completed);
  }
  int reads = 0, vanish_after = 10;

 private:
  JobStatsReader& inner_;
};

}  // namespace

TEST(WatchLoop, ADomainThatVanishesIsOneError) {
  Rig rig(converging(), true);
  ThrowingJobStats vanishing(rig.job);
  rig.target.job = &vanishing;
  EXPECT_EQ(rig.run(), kWatchError);
  EXPECT_EQ(rig.out.summary->outcome, "error");
  EXPECT_NE(rig.out.summary->detail.find("vanished"), std::string::npos);
}

TEST(WatchLoop, AMigrationCancelledWhileWatchedEndsIt) {
  // Another client cancels (migrate_cancel) 8 s in: one line, exit status 11.
  Rig rig(stalling(), false);
  rig.m.cancel_at_ms = 8000;
  EXPECT_EQ(rig.run(), kWatchFailed);
  EXPECT_EQ(rig.out.summary->outcome, "cancelled");
  EXPECT_NE(rig.out.summary->detail.find("cancelled"), std::string::npos);
}

TEST(WatchLoop, ADroppedConnectionIsOneError) {
  // libvirt's close callback (the daemon went away, or keepalive gave up on it).
  class Closed : public EventSource {
   public:
    DomainEvents events() override {
      DomainEvents e;
      if (++calls > 5) e.connection_closed = "the daemon stopped answering (keepalive)";
      return e;
    }
    int calls = 0;
  };
  Rig rig(stalling(), true);
  Closed closed;
  rig.target.events = &closed;
  EXPECT_EQ(rig.run(), kWatchError);
  EXPECT_EQ(rig.out.summary->outcome, "error");
  EXPECT_EQ(rig.out.summary->detail,
            "lost the connection to libvirt (qemu:///system): the daemon stopped answering "
            "(keepalive)");
}

TEST(WatchLoop, ADestroyedSourceIsAFailedMigration) {
  class Destroyed : public EventSource {
   public:
    DomainEvents events() override {
      DomainEvents e;
      if (++calls > 5) e.stopped_detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
      return e;
    }
    int calls = 0;
  };
  Rig rig(stalling(), true);
  Destroyed destroyed;
  rig.target.events = &destroyed;
  EXPECT_EQ(rig.run(), kWatchFailed);
  EXPECT_EQ(rig.out.summary->detail,
            "the domain stopped (destroyed) while migrating: the migration failed");
}

TEST(WatchLoop, ReadingsThatKeepFailingEndTheWatch) {
  class Failing : public JobStatsReader {
   public:
    explicit Failing(JobStatsReader& inner) : inner_(inner) {}
    JobStats read(bool completed) override {
      if (++reads > 3) throw RuntimeError("domain vm1: reading the job statistics failed: timeout");
      return inner_.read(completed);
    }
    int reads = 0;

   private:
    JobStatsReader& inner_;
  };
  Rig rig(stalling(), true);
  Failing failing(rig.job);
  rig.target.job = &failing;
  rig.options.give_up_after_ms = 5000;
  EXPECT_EQ(rig.run(), kWatchError);
  EXPECT_NE(rig.out.summary->detail.find("timeout"), std::string::npos);
  EXPECT_LT(rig.clock.now, 7000);
}

TEST(WatchLoop, AttachedWhileLibvirtStillPreparesTheDestination) {
  // libvirt's job exists before QEMU's migration: zeros for RAM and page size, no iteration, and
  // QEMU's query-migrate still empty. The watch waits for figures instead of taking the zeros.
  FakeMigration m = converging();
  m.started_at_ms = 800;
  Rig rig(m, /*libvirt_job=*/true);
  ASSERT_EQ(rig.run(), kWatchCompleted);
  const auto& s = *rig.out.summary;
  EXPECT_EQ(s.figures_from, "libvirt");
  EXPECT_DOUBLE_EQ(*s.total_time_ms, rig.m.t + 800);
  ASSERT_TRUE(s.at_second_iteration);
  ASSERT_TRUE(s.at_second_iteration->converges());
  // What is left for the pause: over 100 ms of the 32 MiB/s cap (the pause itself goes at the
  // migration thread's pace, the link not given).
  EXPECT_GT(s.at_second_iteration->rest.switchover_pending_bytes, 3.2 * kMiB);
  EXPECT_FALSE(s.at_second_iteration->downtime_upper_bound);
  EXPECT_NEAR(s.at_second_iteration->total_time_ms(), *s.total_time_ms, 0.25 * *s.total_time_ms);
}

TEST(WatchLoop, ThePredictedPauseHasLibvirtsPartOnlyWhenLibvirtRunsTheJob) {
  // The pause beyond the RAM: QEMU's part always, libvirt's (the guest resumed on the
  // destination) only when libvirt runs the migration; a QMP-driven one's pause is QEMU's.
  Rig by_libvirt(converging(), /*libvirt_job=*/true);
  Rig by_qmp(converging(), /*libvirt_job=*/false);
  ASSERT_EQ(by_libvirt.run(), kWatchCompleted);
  ASSERT_EQ(by_qmp.run(), kWatchCompleted);
  const auto& l = by_libvirt.out.summary->at_second_iteration;
  const auto& q = by_qmp.out.summary->at_second_iteration;
  ASSERT_TRUE(l && q && l->converges() && q->converges());
  EXPECT_NEAR(l->rest.switchover_pending_bytes, q->rest.switchover_pending_bytes, 1);
  EXPECT_NEAR(l->rest.downtime_ms - q->rest.downtime_ms, 13, 0.5);  // libvirt 11.3's figure
}

// ------------------------------------------------------------------------------ command line

namespace {

struct CliRun {
  int status;
  std::string out, err;
};

CliRun cli_run(std::vector<std::string> args) {
  std::ostringstream out, err;
  int status = vmp::cli::tool_main(args, out, err);
  return {status, out.str(), err.str()};
}

void expect_one_error(const CliRun& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

}  // namespace

TEST(WatchCli, HelpDocumentsWatchAndItsExitStatuses) {
  auto r = cli_run({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* s : {"--watch", "--apply", "--interval", "10 the domain has no migration",
                        "11 the migration failed or was cancelled"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
}

TEST(WatchCli, WrongCommandLinesAreOneUsageError) {
  expect_one_error(cli_run({"--watch"}), 2, "--watch needs --domain");
  expect_one_error(cli_run({"--watch", "-d", "vm1", "--bandwidth", "1Gbit/s", "--table"}), 2,
                   "--bandwidth, --table do not apply to --watch");
  expect_one_error(cli_run({"--apply", "-d", "vm1"}), 2, "--apply only applies to --watch");
  expect_one_error(cli_run({"--interval", "1s", "--profile", "x.json"}), 2,
                   "--interval only applies to --watch");
  expect_one_error(cli_run({"--watch", "-d", "vm1", "--interval", "10ms"}), 2, "50ms..60s");
  expect_one_error(cli_run({"--watch", "-d", "vm1", "--apply", "-r"}), 2, "read-only");
  expect_one_error(cli_run({"--watch", "-d", "vm1", "--curve", "cubic"}), 2, "--curve");
  expect_one_error(cli_run({"--watch", "-d", "vm1", "--profile", "/nonexistent.json"}), 1,
                   "/nonexistent.json");
  // Offline prediction keeps refusing --domain with --profile.
  EXPECT_EQ(cli_run({"-d", "vm1", "--profile", "x.json"}).status, 2);
}

TEST(WatchCli, OnlyQemuDomainsCanBeWatched) {
  expect_one_error(cli_run({"--watch", "-c", "test:///default", "-d", "test"}), 1, "not QEMU");
}

// ------------------------------------------------------------------------------ job statistics

TEST(WatchJobStats, TypedParametersBecomeNumbersAndStrings) {
  // As virDomainGetJobStats and the job-completed event hand them over.
  virTypedParameter p[4] = {};
  std::snprintf(p[0].field, sizeof p[0].field, "%s", VIR_DOMAIN_JOB_TIME_ELAPSED);
  p[0].type = VIR_TYPED_PARAM_ULLONG;
  p[0].value.ul = 11554;
  std::snprintf(p[1].field, sizeof p[1].field, "%s", VIR_DOMAIN_JOB_OPERATION);
  p[1].type = VIR_TYPED_PARAM_INT;
  p[1].value.i = VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT;
  std::snprintf(p[2].field, sizeof p[2].field, "%s", VIR_DOMAIN_JOB_ERRMSG);
  p[2].type = VIR_TYPED_PARAM_STRING;
  p[2].value.s = const_cast<char*>("Unable to write to socket");
  std::snprintf(p[3].field, sizeof p[3].field, "%s", "some_flag");
  p[3].type = VIR_TYPED_PARAM_BOOLEAN;
  p[3].value.b = 1;
  JobStats s = virt::job_stats_from_params(VIR_DOMAIN_JOB_FAILED, p, 4);
  EXPECT_EQ(s.type, VIR_DOMAIN_JOB_FAILED);
  EXPECT_EQ(s.number(VIR_DOMAIN_JOB_TIME_ELAPSED), 11554);
  EXPECT_TRUE(s.migrating_out());
  EXPECT_EQ(s.string(VIR_DOMAIN_JOB_ERRMSG), "Unable to write to socket");
  EXPECT_EQ(s.number("some_flag"), 1);
  EXPECT_FALSE(s.number(VIR_DOMAIN_JOB_DATA_REMAINING));
}
