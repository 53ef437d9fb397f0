// The watch on recorded migrations (tests/unit/data/watch/STACK, recorded with record-all.sh
// there): real job statistics and query-migrate replies, every 200 ms, on QEMU 7.2 / libvirt 9.0
// and QEMU 10.0 / libvirt 11.3, replayed on a fake clock. They pin the stall detector on what QEMU
// really reports: a converging sawtooth, a stall, and a recovery (bandwidth raised mid-stall) that
// stalls again until the max downtime is raised.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <fstream>

#include "fake_migration.hpp"
#include "replay.hpp"
#include "watch_replay.hpp"
#include "watch/watch.hpp"

using namespace vmp;
using namespace vmp::watch;
using nlohmann::json;

using test::load;
using test::Recording;

namespace {

constexpr double kMiB = 1048576;

struct Run {
  int status;
  test::RecordingOutput out;
  test::RecordedControl control;
};

std::unique_ptr<Run> replay(const Recording& r, WatchOptions options = {}) {
  auto run = std::make_unique<Run>();
  test::FakeClock clock;
  // Attach once the migration shows: libvirt's job, or QEMU's status.
  clock.now = test::migration_start_ms(r);
  test::MigrationReplay source(r, clock);
  WatchTarget t;
  t.domain = source.name();
  t.uri = "qemu:///system";
  if (r.header["run_by"] == "libvirt") {
    t.job = &source;
    t.events = &source;
  }
  t.monitor = &source;
  t.control = &run->control;
  t.facts.memory_bytes = 512ull << 20;
  run->control.limit = r.header["downtime_ms"].get<double>();
  run->status = watch_migration(t, options, clock, run->out);
  return run;
}

// The migration's own last figures, as recorded.
json last_query_migrate(const Recording& r) {
  json last;
  for (const auto& s : r.samples) {
    if (!s["query_migrate"].is_null()) last = s["query_migrate"];
  }
  return last;
}

}  // namespace

TEST(WatchReplay, ConvergingSawtoothCompletesWithoutAFalseStall) {
  for (const auto& stack : test::recorded_stacks("watch")) {
    SCOPED_TRACE(stack.filename().string());
    const Recording r = load(stack, "sawtooth-qmp.jsonl");
    // The sawtooth: remaining rises from one sample to the next at every sync.
    int rises = 0;
    double prev = 0;
    for (const auto& s : r.samples) {
      if (s["query_migrate"].is_null() || !s["query_migrate"].contains("ram")) continue;
      double rem = s["query_migrate"]["ram"]["remaining"].get<double>();
      if (rem > prev && prev > 0) ++rises;
      prev = rem;
    }
    EXPECT_GE(rises, 3);

    auto run = replay(r);
    EXPECT_EQ(run->status, kWatchCompleted);
    const auto& s = *run->out.summary;
    EXPECT_EQ(s.outcome, "completed");
    EXPECT_TRUE(run->out.stalls.empty()) << "a converging sawtooth is no stall";
    const json q = last_query_migrate(r);
    ASSERT_EQ(q["status"], "completed");
    EXPECT_DOUBLE_EQ(*s.total_time_ms, q["total-time"].get<double>());
    EXPECT_DOUBLE_EQ(*s.downtime_ms, q["downtime"].get<double>());
    // Every peak the samples allowed, and QEMU's own expected downtime x bandwidth agree.
    for (const auto& it : run->out.iterations) {
      if (it.record.iteration >= 3 && it.record.peak_measured) {
        EXPECT_GT(*it.record.peak_bytes, 0);
      }
    }
    // Without a profile, the prediction at the start of iteration 2 rests on the first pass alone
    // and QEMU's bandwidth (2026-12-03 recordings: -1.5% on 10.0, -2.0% on 7.2; 22% and 32% long
    // with the watch's own throughput, which a mostly-zero first pass pulls down).
    ASSERT_TRUE(s.at_second_iteration);
    ASSERT_TRUE(s.at_second_iteration->converges());
    EXPECT_NEAR(s.at_second_iteration->total_time_ms(), *s.total_time_ms, 0.08 * *s.total_time_ms);
  }
}

TEST(WatchReplay, AStallIsReportedWithinThreeIterationsOfItsStart) {
  for (const auto& stack : test::recorded_stacks("watch")) {
    SCOPED_TRACE(stack.filename().string());
    const Recording r = load(stack, "stall-libvirt.jsonl");
    WatchOptions o;
    o.max_downtime_ms = 2000;
    auto run = replay(r, o);
    // Cancelled by the recorder at 12 s: libvirt's job is gone and QEMU says cancelled.
    EXPECT_EQ(run->status, kWatchFailed);
    EXPECT_EQ(run->out.summary->outcome, "cancelled");
    ASSERT_EQ(run->out.stalls.size(), 1u);
    const Stall& st = run->out.stalls[0];
    // The peaks settle at about 63 MiB from iteration 3 on (iteration 2 carries the first pass's
    // extra, and is not judged): the last low is iteration 3, the rule fires three iterations
    // after it.
    EXPECT_EQ(st.since_iteration, 3);
    EXPECT_EQ(st.detected_iteration, st.since_iteration + 3);
    EXPECT_NEAR(st.last_peak_bytes, 63.5 * kMiB, 1.5 * kMiB);
    const StallAdvice& a = run->out.advice[0];
    ASSERT_EQ(a.action, Action::RaiseDowntime);
    // The plateau's pages at 64 MiB/s: about 1 s (63.3-63.8 MiB in the recordings; the advice
    // rests on the throughput QEMU reached, within a few percent of the cap).
    const double plateau_ms = st.last_peak_bytes / (64 * kMiB) * 1000;
    EXPECT_GE(*a.least_converging_ms, 0.97 * plateau_ms);
    EXPECT_LE(*a.least_converging_ms, 1.05 * plateau_ms);
    EXPECT_EQ(a.command, "virsh -c qemu:///system migrate-setmaxdowntime vmpw-rec " +
                             std::to_string(static_cast<long long>(*a.downtime_limit_ms)));
    EXPECT_TRUE(run->control.actions.empty());
  }
}

TEST(WatchReplay, RecoveryEndsTheStallAndTheRaisedDowntimeFinishesIt) {
  for (const auto& stack : test::recorded_stacks("watch")) {
    SCOPED_TRACE(stack.filename().string());
    const Recording r = load(stack, "recovery-libvirt.jsonl");
    WatchOptions o;
    o.max_downtime_ms = 2000;
    auto run = replay(r, o);
    EXPECT_EQ(run->status, kWatchCompleted);
    const auto& s = *run->out.summary;
    EXPECT_EQ(s.figures_from, "libvirt");
    // Stalled at about 63 MiB; the bandwidth raised to 128 MiB/s at 8 s brings the peaks down
    // (a recovery: to 53-58 MiB in the recordings, as fast as the TCG guest lets QEMU send), where
    // they stall again.
    ASSERT_EQ(run->out.stalls.size(), 2u);
    EXPECT_LT(run->out.stalls[0].detected_ms, 8000);
    EXPECT_GT(run->out.stalls[1].detected_ms, 8000);
    EXPECT_NEAR(run->out.stalls[0].last_peak_bytes, 63.5 * kMiB, 1.5 * kMiB);
    EXPECT_LT(run->out.stalls[1].last_peak_bytes, 0.95 * run->out.stalls[0].last_peak_bytes);
    EXPECT_GT(run->out.stalls[1].last_peak_bytes, 48 * kMiB);
    // The second advice: the lower plateau at twice the bandwidth needs less.
    ASSERT_EQ(run->out.advice[1].action, Action::RaiseDowntime);
    EXPECT_LT(*run->out.advice[1].least_converging_ms, *run->out.advice[0].least_converging_ms);
    // The end: libvirt's job-completed event.
    double elapsed = 0;
    for (const auto& e : r.events) {
      if (e["event"] == "job-completed") elapsed = e["stats"]["time_elapsed"].get<double>();
    }
    ASSERT_GT(elapsed, 0);
    EXPECT_DOUBLE_EQ(*s.total_time_ms, elapsed);
  }
}

TEST(WatchReplay, EveryStackIsRecorded) {
  // Both stacks the project supports (record-all.sh); QEMU 10.0's query-migrate has no
  // ram.skipped, libvirt 11.3's job statistics hold the same fields as 9.0's.
  std::vector<std::string> stacks;
  for (const auto& d : test::recorded_stacks("watch")) stacks.push_back(d.filename().string());
  EXPECT_EQ(stacks, (std::vector<std::string>{"qemu-10.0.2-libvirt-11.3.0",
                                              "qemu-7.2.22-libvirt-9.0.0"}));
}
