// The measurement against QEMU and libvirt as recorded on real stacks (tests/unit/replay.hpp,
// tests/unit/data/probe/): QEMU 7.2 / libvirt 9.0 (whole seconds) and QEMU 10.0 / libvirt 11.3
// (milliseconds, asked for in both calc-dirty-rate and query-dirty-rate).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "../common/guest_reads.hpp"
#include "base/error.hpp"
#include "fake_clock.hpp"
#include "model/interval.hpp"
#include "predict/predict.hpp"
#include "probe/claim.hpp"
#include "probe/dirty_rate.hpp"
#include "probe/live.hpp"
#include "probe/zero_pages.hpp"
#include "replay.hpp"
#include "virt/connection.hpp"
#include "virt/domain_facts.hpp"
#include "virt/job_keys.hpp"
#include "virt/memory_dump.hpp"
#include "virt/migration_config.hpp"
#include "virt/monitor.hpp"

using nlohmann::json;
using namespace vmp;
using namespace vmp::probe;
using test::FakeClock;
using test::Replay;

namespace {

constexpr std::uint64_t kGiB = 1ull << 30;

// The files recorded in tests/unit/data/FOLDER whose names end in `extension` (".txt"), in
// name order; a folder with none fails the test that asked (its recordings are missing).
std::vector<std::filesystem::path> recorded_files(const std::string& folder,
                                                  const std::string& extension) {
  std::vector<std::filesystem::path> files;
  const auto dir = std::filesystem::path(VMP_SOURCE_ROOT) / "tests/unit/data" / folder;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == extension) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  EXPECT_FALSE(files.empty()) << "no " << extension << " file in " << dir;
  return files;
}

// The stack a recording was made on, e.g. "qemu-10.0.2-libvirt-11.3.0".
std::string stack_of(const std::filesystem::path& dir) { return dir.filename().string(); }

bool qemu_has_milliseconds(const Replay& replay) {
  int major = 0, minor = 0;
  std::sscanf(replay.header()["hypervisor_version"].get<std::string>().c_str(), "%d.%d", &major,
              &minor);
  return major > 8 || (major == 8 && minor >= 2);
}

// The test guest's load, as the header says: random writes over a working set dirty
// W (1 - e^(-r t / W)) distinct bytes in t.
double expected_dirty_bytes(const json& guest, double period_ms) {
  const double w = guest["wss_mib"].get<double>() * 1048576;
  const double r = guest["rate_pages_per_s"].get<double>() * 4096;
  return w * (1 - std::exp(-r * period_ms / 1000 / w));
}

// How far a point may be from the load and still be a true reading: four standard errors of
// QEMU's page sample, its flooring to whole MiB/s, and 10% for the guest's own writes and the
// load's pacing under TCG.
double allowed_error_bytes(const CurvePoint& p, double ram_bytes, double expected) {
  const double q = std::clamp(expected / ram_bytes, 1e-6, 1.0);
  const double sample = static_cast<double>(p.sampled_pages);
  const double sampling = sample > 0 ? 4 * ram_bytes * std::sqrt(q * (1 - q) / sample) : 0;
  return sampling + 1048576.0 * p.period_ms / 1000 + 0.1 * expected;
}

std::unique_ptr<DirtyRateMeter> replayed_meter(Replay& replay, test::ReplayMonitor& monitor,
                                               test::ReplayDirtyRateCalls& calls) {
  if (replay.header()["interface"] == "libvirt") {
    return std::make_unique<LibvirtDirtyRateMeter>(calls);
  }
  return qmp_dirty_rate_meter(monitor, "domain x", "recorded");
}

// Runs the measurement the tool ran when it recorded `scenario`, against the recording.
std::vector<CurvePoint> replay_measurement(Replay& replay, FakeClock& clock,
                                           const Safeguards& safe = {}) {
  test::ReplayMonitor monitor(replay);
  test::ReplayDirtyRateCalls calls(replay);
  auto meter = replayed_meter(replay, monitor, calls);
  const json plan = replay.note("dirty-rate budget");
  const auto pages = plan["sample_pages_per_gib"].get<std::uint64_t>();
  const auto mode = plan["mode"].get<std::string>();
  std::optional<WarmUp> warm_up;
  if (replay.has_note("warm-up check")) {
    // The tool checked for (and started) QEMU's warm-up before it read the guest's memory; the
    // reads (not replayed here) took until the budget's note.
    replay.begin_at(replay.note("warm-up check")["t_ms"].get<double>());
    warm_up = start_warm_up(*meter, clock, pages, mode, {}, safe);
    clock.now += std::max(0.0, plan["t_ms"].get<double>() - replay.recorded_now());
  } else {
    replay.begin_at(plan["t_ms"].get<double>());
  }
  return measure_dirty_curve(*meter, clock, plan["budget_ms"].get<double>(), pages, mode,
                             plan["ram_bytes"].get<std::uint64_t>(), {}, safe, kNoDeadline,
                             warm_up);
}

// Runs measure_domain as the tool ran it when it recorded `replay` (a measure-domain-* scenario:
// the domain's side recorded too), the command line's defaults, claims in a folder of its own.
LiveResult replay_measure_domain(Replay& replay, FakeClock& clock, bool use_qmp,
                                 std::size_t measured_together = 1,
                                 std::optional<double> started_ms = std::nullopt,
                                 double measure_time_ms = 10000) {
  test::ReplayLiveTarget target(replay);
  char claims[] = "/tmp/vmp-claims-XXXXXX";
  EXPECT_NE(mkdtemp(claims), nullptr);
  LiveOptions options;
  options.use_qmp = use_qmp;
  // Recorded before the sample read through the monitor: libvirt's reads, as then.
  options.zero_pages_via_monitor = !replay.has_call("virDomainMemoryPeek");
  options.measured_together = measured_together;
  options.started_ms = started_ms;
  options.measure_time_ms = measure_time_ms;
  // Where the tool's time began before its transcript (a busy daemon's slow connection opening).
  if (!started_ms && replay.has_note("measurement started")) {
    options.started_ms = clock.now - replay.note("measurement started")["ms_before"].get<double>();
  }
  options.claim_directory = claims;
  LiveResult out = measure_domain(target, options, clock);
  std::filesystem::remove_all(claims);
  return out;
}

// The profile and warnings a replay made are those the tool made on the stack. The busiest vCPU's
// share divides the CPU time recorded by the wall time between the two readings, which a replay
// re-enacts to within the calls' own durations.
void expect_as_recorded(const LiveResult& out, const Replay& replay) {
  const json measured = replay.note("measured");
  json made = profile_to_json(out.profile), then = measured["profile"];
  made.erase("taken_at");
  then.erase("taken_at");
  const double busy = made["guest"]["vcpu_busy_fraction"].get<double>();
  const double busy_then = then["guest"]["vcpu_busy_fraction"].get<double>();
  EXPECT_NEAR(busy, busy_then, 0.03 * busy_then);
  made["guest"].erase("vcpu_busy_fraction");
  then["guest"].erase("vcpu_busy_fraction");
  // Recorded before profiles kept the guest's architecture: the domain's XML in the recording
  // says it, and the profile now does too.
  EXPECT_EQ(made["guest"].value("arch", ""), out.facts.arch);
  if (!then["guest"].contains("arch")) made["guest"].erase("arch");
  EXPECT_EQ(made, then);
  EXPECT_EQ(out.accelerator, measured["accelerator"].get<std::string>());
  EXPECT_EQ(out.warnings, measured["warnings"].get<std::vector<std::string>>());
}

}  // namespace

TEST(Recordings, EveryStackIsRecorded) {
  // Both stacks the project supports; re-record (tests/unit/data/probe/record.sh) when one
  // changes, and keep the old folder only while the stack is still supported.
  std::vector<std::string> stacks;
  for (const auto& d : test::recorded_stacks("probe")) stacks.push_back(stack_of(d));
  EXPECT_EQ(stacks,
            (std::vector<std::string>{"qemu-10.0.2-libvirt-11.3.0", "qemu-7.2.22-libvirt-9.0.0"}));
}

TEST(Measure, RecordedMeasurementsReadTheGuestsLoad) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    for (const char* scenario : {"measure-qmp", "measure-libvirt"}) {
      SCOPED_TRACE(stack_of(dir) + " " + scenario);
      FakeClock clock;
      Replay replay(dir / (std::string(scenario) + ".jsonl"), clock);
      const bool ms = replay.header()["interface"] == "qmp" && qemu_has_milliseconds(replay);
      std::vector<CurvePoint> points;
      ASSERT_NO_THROW(points = replay_measurement(replay, clock));
      EXPECT_TRUE(replay.all_changes_replayed());
      ASSERT_GE(points.size(), ms ? 5u : 2u);
      // Sub-second periods where QEMU has them: they are what set the last iterations.
      EXPECT_EQ(points.front().period_ms < 1000, ms);
      const double ram = replay.note("dirty-rate budget")["ram_bytes"].get<double>();
      for (const auto& p : points) {
        const double expected = expected_dirty_bytes(replay.header()["guest"], p.period_ms);
        EXPECT_NEAR(p.dirty_bytes, expected, allowed_error_bytes(p, ram, expected))
            << "period " << p.period_ms << " ms";
      }
    }
  }
}

TEST(Measure, MillisecondPeriodsAreAskedAndReadInMilliseconds) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-qmp.jsonl", clock);
    replay_measurement(replay, clock);
    for (const auto& e : replay.entries()) {
      if (e.value("execute", "") != "calc-dirty-rate" &&
          e.value("execute", "") != "query-dirty-rate") {
        continue;
      }
      const json args = e.value("arguments", json::object());
      EXPECT_EQ(args.value("calc-time-unit", "") == "millisecond", qemu_has_milliseconds(replay))
          << e.dump();
      if (e["execute"] == "calc-dirty-rate") {
        EXPECT_FALSE(args.contains("mode")) << e.dump();  // page-sampling is never named
      }
    }
  }
}

TEST(Measure, WaitsForAnotherClientsShortMeasurementAndNeverTakesItsFigures) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    for (const char* scenario : {"measure-busy-qmp", "measure-busy-libvirt"}) {
      SCOPED_TRACE(stack_of(dir) + " " + scenario);
      FakeClock clock;
      Replay replay(dir / (std::string(scenario) + ".jsonl"), clock);
      const json plan = replay.note("dirty-rate budget");
      std::vector<std::string> notes;
      std::vector<CurvePoint> points;
      ASSERT_NO_THROW(points = replay_measurement(replay, clock, {nullptr, nullptr, &notes}));
      EXPECT_TRUE(replay.all_changes_replayed());
      // The other client's 3 s measurement, waited for and said so; none of its figures kept.
      ASSERT_EQ(notes.size(), 1u);
      EXPECT_NE(notes[0].find("waited"), std::string::npos) << notes[0];
      EXPECT_NE(notes[0].find("over 3 s"), std::string::npos) << notes[0];
      EXPECT_LE(clock.now, plan["budget_ms"].get<double>() + 2000);  // never past the budget
      const double ram = plan["ram_bytes"].get<double>();
      for (const auto& p : points) {
        const double expected = expected_dirty_bytes(replay.header()["guest"], p.period_ms);
        EXPECT_NEAR(p.dirty_bytes, expected, allowed_error_bytes(p, ram, expected));
      }
    }
  }
}

// The "ends in about N s" a refusal of record.sh's blocked run gives: its other client measures
// for 60 s, and the tool asked QEMU within 5 s of that start (QEMU's start-time is whole seconds,
// floored, and the text adds half a second).
void expect_ends_in_about_a_minute(const std::string& what) {
  const std::string marker = "ends in about ";
  const auto at = what.find(marker);
  ASSERT_NE(at, std::string::npos) << what;
  const double s = std::stod(what.substr(at + marker.size()));
  EXPECT_GE(s, 55) << what;
  EXPECT_LE(s, 61.5) << what;
}

TEST(Measure, RefusesAtOnceWhenAnotherClientsMeasurementOutlastsTheWait) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-blocked-qmp.jsonl", clock);
    // The tool refused at its check before the memory reads (see the next test), so the
    // recording has no dirty-rate budget: the curve's own check (for a client that starts during
    // the reads) is replayed from that check, with the budget record.sh's run (--measure-time 2s,
    // a 1 GiB guest) would have had.
    replay.begin_at(replay.note("warm-up check")["t_ms"].get<double>());
    test::ReplayMonitor monitor(replay);
    test::ReplayDirtyRateCalls calls(replay);
    auto meter = replayed_meter(replay, monitor, calls);
    try {
      measure_dirty_curve(*meter, clock, 2000 * (1 - kZeroSampleTimeShare),
                          default_sample_pages_per_gib(1ull << 30), "page-sampling", 1ull << 30,
                          {});
      FAIL() << "a measurement blocked for 60 s succeeded";
    } catch (const RuntimeError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.key(), "busy");
      // Who and until when, from QEMU's own start-time, in whole words.
      EXPECT_NE(what.find("another client's dirty-rate measurement (page-sampling over 60 s"),
                std::string::npos)
          << what;
      expect_ends_in_about_a_minute(what);
      EXPECT_EQ(what.find("000000"), std::string::npos) << what;
    }
    // At once, not after the budget: within 100 ms.
    EXPECT_LE(clock.now, 100);
  }
}

// The same recording, the whole measurement: another client's 60 s measurement cannot end within
// the wait the first period allows, whatever the memory reads take, so the tool refuses before it
// reads guest memory for nothing.
TEST(LiveReplay, AnotherClientsLongMeasurementIsRefusedBeforeGuestMemoryIsRead) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-blocked-qmp.jsonl", clock, /*target_calls=*/true);
    test::ReplayLiveTarget target(replay);
    char claims[] = "/tmp/vmp-claims-XXXXXX";
    ASSERT_NE(mkdtemp(claims), nullptr);
    LiveOptions options;
    options.claim_directory = claims;
    options.measure_time_ms = 2000;  // record.sh's --measure-time 2s
    try {
      measure_domain(target, options, clock);
      ADD_FAILURE() << "a measurement blocked for 60 s succeeded";
    } catch (const RuntimeError& e) {
      EXPECT_EQ(e.key(), "busy");
      expect_ends_in_about_a_minute(e.what());
    }
    EXPECT_EQ(target.memory_reads(), 0u);
    // One query of QEMU's measurement state finds both that QEMU measured before (no warm-up)
    // and the other client's measurement, and the refusal says what that query found.
    EXPECT_EQ(target.qmp_sent("query-dirty-rate"), 1u);
    std::filesystem::remove_all(claims);
  }
}

// The guard of a recorded run that was interrupted: the stop comes when the recording says it
// came.
class ReplayedStop : public MeasurementGuard {
 public:
  ReplayedStop(const Replay& replay, double at_ms) : replay_(replay), at_ms_(at_ms) {}
  void check() override {
    if (replay_.recorded_now() >= at_ms_) throw Interrupted(SIGINT, "interrupted (SIGINT)");
  }
  bool qemu_reachable() override { return true; }

 private:
  const Replay& replay_;
  double at_ms_;
};

TEST(Measure, AnInterruptWaitsOutThePeriodQemuMeasuresAndSaysSo) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-interrupted-qmp.jsonl", clock);
    ReplayedStop stop(replay, replay.note("stopped")["t_ms"].get<double>());
    try {
      replay_measurement(replay, clock, {&stop, nullptr, nullptr});
      FAIL() << "an interrupted measurement ended normally";
    } catch (const Interrupted& e) {
      EXPECT_EQ(e.exit_status(), 130);
      EXPECT_NE(std::string(e.what()).find("nothing is left running"), std::string::npos)
          << e.what();
    }
    // Every period the tool started was asked for, and none after the stop.
    EXPECT_TRUE(replay.all_changes_replayed());
    EXPECT_LE(replay.recorded_now() - replay.note("stopped")["t_ms"].get<double>(),
              kWaitOutMs + 1000);
  }
}

TEST(Measure, QemusStartTimeIsReadOnTheClockItCameFrom) {
  // QEMU 10.0: wall-clock seconds; QEMU 7.2: the host's monotonic clock.
  EXPECT_DOUBLE_EQ(*measurement_ends_in_ms(1796265743, 60000, 1796265745.5, 32000), 57500);
  EXPECT_DOUBLE_EQ(*measurement_ends_in_ms(31990, 3000, 1796265745.5, 31991.25), 1750);
  EXPECT_DOUBLE_EQ(*measurement_ends_in_ms(1796265700, 3000, 1796265745.5, 32000), 0);
  EXPECT_FALSE(measurement_ends_in_ms(12, 3000, 1796265745.5, 32000000));
}

TEST(Claim, ASecondRunIsRefusedAndAnInterruptedRunsLeftoverIsKnown) {
  char dir_template[] = "/tmp/vmp-claim-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = std::string(dir_template) + "/claims";
  const std::string uuid = "8f1c4b3e-0d7a-4c52-9a51-2b1e6f0c9d11";
  {
    MeasurementClaim first(dir, uuid, "vm1");
    try {
      MeasurementClaim second(dir, uuid, "vm1");
      FAIL() << "two claims on one domain";
    } catch (const RuntimeError& e) {
      EXPECT_EQ(e.key(), "busy");
      EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(getpid())), std::string::npos)
          << e.what();
    }
    MeasurementClaim other_domain(dir, "0b7e2f4c-7a11-4e0e-8d2c-5f3a9c1e7b22", "vm2");
    first.leave_running(1000.0);
  }
  {
    MeasurementClaim next(dir, uuid, "vm1");
    auto left = next.left_by_previous_run(990.0);
    ASSERT_TRUE(left);
    EXPECT_EQ(left->pid, getpid());
    EXPECT_DOUBLE_EQ(left->until_epoch_s, 1000.0);
    EXPECT_FALSE(next.left_by_previous_run(1001.0));  // ended since
  }
  {
    MeasurementClaim after(dir, uuid, "vm1");  // the run before left nothing
    EXPECT_FALSE(after.left_by_previous_run(990.0));
  }
  // Without a directory (no runtime directory for this user), nothing is claimed or refused.
  MeasurementClaim a("", uuid, "vm1"), b("", uuid, "vm1");
  std::filesystem::remove_all(dir_template);
}

TEST(Curve, EveryRecordedMeasurementOfASteadyGuestReadsAsSteady) {
  // The test guest's load is steady random writes: no two periods of a real measurement of it,
  // on either stack, through either interface, may read as a rate that changed.
  for (const auto& dir : test::recorded_stacks("probe")) {
    for (const char* scenario : {"measure-qmp", "measure-libvirt"}) {
      SCOPED_TRACE(stack_of(dir) + " " + scenario);
      FakeClock clock;
      Replay replay(dir / (std::string(scenario) + ".jsonl"), clock);
      auto points = replay_measurement(replay, clock);
      ASSERT_GE(points.size(), 2u);
      std::vector<model::SampledPoint> sampled;
      for (const auto& p : points) {
        sampled.push_back({p.period_ms, p.dirty_bytes, static_cast<double>(p.sampled_pages),
                           static_cast<double>(p.dirty_sampled_pages)});
      }
      const double ram = replay.note("dirty-rate budget")["ram_bytes"].get<double>();
      EXPECT_FALSE(model::rate_change(sampled, ram));
    }
  }
}

TEST(Measure, RefusesFiguresThatAreNotOurs) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-qmp.jsonl", clock);
    // Another client's measurement, finished as soon as ours started: QEMU's real answer to the
    // recording's longest period, given whatever we asked.
    json longest;
    for (const auto& e : replay.entries()) {
      if (e.value("execute", "") == "query-dirty-rate" && e["return"]["status"] == "measured") {
        longest = e;
      }
    }
    ASSERT_FALSE(longest.is_null());
    struct Swapped : virt::Monitor {
      json reply;
      json execute(std::string_view command, const json&) override {
        return command == "query-dirty-rate" ? reply : json::object();
      }
    } swapped;
    swapped.reply = longest["return"];
    QmpDirtyRateMeter meter(swapped, qemu_has_milliseconds(replay));
    EXPECT_THROW(measure_curve(meter, clock, {1000}, 16384, "page-sampling", kGiB, 5000, {}),
                 RuntimeError);
  }
}

TEST(Measure, PeriodsQemuMeasuredALittleLongerAreOurs) {
  // QEMU 10.0 reported 1045 ms and 1001 ms for 1000 ms asked: hashing the sampled pages counts.
  EXPECT_TRUE(period_matches(1000, 1000, 1));
  EXPECT_TRUE(period_matches(1000, 1045, 1));
  EXPECT_TRUE(period_matches(125, 170, 1));
  EXPECT_FALSE(period_matches(1000, 999, 1));
  EXPECT_FALSE(period_matches(125, 2000, 1));
  EXPECT_FALSE(period_matches(1000, 5767, 1));
  EXPECT_FALSE(period_matches(1000, 60000, 1));
  // Whole seconds, floored: 2 s asked, measured over 2.3 s, reads 2.
  EXPECT_TRUE(period_matches(2000, 2, 1000));
  EXPECT_TRUE(period_matches(2000, 3, 1000));
  EXPECT_FALSE(period_matches(2000, 1, 1000));
  EXPECT_FALSE(period_matches(2000, 60, 1000));
}

TEST(Plan, PeriodsAreNamedForTheirWarnings) {
  // A busy host may leave a curve a single period: "one period", not "1 periods".
  EXPECT_EQ(periods_text({125}), "one period of 125 ms");
  EXPECT_EQ(periods_text({1000, 2000, 3000}), "3 periods up to 3.0 s");
  EXPECT_EQ(periods_text({}), "no period");
}

TEST(Plan, WholeSecondsOnOldQemu) {
  EXPECT_EQ(plan_periods_ms(10000, false), (std::vector<double>{1000, 2000, 6000}));
  // The whole budget less the microseconds it took to compute it plans the same.
  EXPECT_EQ(plan_periods_ms(10000 - 0.001, false), (std::vector<double>{1000, 2000, 6000}));
  EXPECT_EQ(plan_periods_ms(9990, false), (std::vector<double>{1000, 2000, 5000}));
  EXPECT_EQ(plan_periods_ms(1000, false), (std::vector<double>{1000}));
  for (double budget = 1000; budget <= 120000; budget += 700) {
    auto plan = plan_periods_ms(budget, false);
    double sum = 0;
    for (double p : plan) {
      EXPECT_EQ(std::fmod(p, 1000), 0) << budget;
      EXPECT_GE(p, 1000);
      EXPECT_LE(p, 60000);
      sum += p;
    }
    if (plan.size() > 1) {
      EXPECT_LE(sum, budget * 0.9 + 1) << budget;  // a millisecond short counts as the step
    }
  }
}

TEST(Plan, SubSecondPeriodsWhenQemuHasMilliseconds) {
  EXPECT_EQ(plan_periods_ms(10000, true), (std::vector<double>{125, 250, 500, 1000, 2000, 5000}));
}

TEST(Plan, PeriodsFittedIntoWhatIsLeft) {
  using V = std::vector<double>;
  // They fit (an idle host: 60 ms beyond each): unchanged.
  EXPECT_EQ(fit_periods_ms({250, 500, 1000, 5500}, 7600, 60, true), (V{250, 500, 1000, 5500}));
  // A busy host, 600 ms beyond each: the longest is shortened, in quarter seconds.
  EXPECT_EQ(fit_periods_ms({250, 500, 1000, 5500}, 7600, 600, true), (V{250, 500, 1000, 3250}));
  // Shorter than the one before would add nothing: that one goes, the longest keeps its reach.
  EXPECT_EQ(fit_periods_ms({250, 500, 1000, 5500}, 3000, 600, true), (V{250, 1500}));
  EXPECT_EQ(fit_periods_ms({2000, 5000}, 5500, 500, false), (V{5000}));
  EXPECT_EQ(fit_periods_ms({2000, 5000}, 5200, 500, false), (V{4000}));
  // Whole seconds where QEMU counts in seconds; nothing when not even the shortest fits.
  EXPECT_EQ(fit_periods_ms({1000, 4000}, 3900, 800, false), (V{3000}));
  EXPECT_EQ(fit_periods_ms({1000, 4000}, 1700, 800, false), V{});
  EXPECT_EQ(fit_periods_ms({125, 250}, 300, 100, true), (V{125}));
  EXPECT_EQ(fit_periods_ms({125, 250}, 200, 100, true), V{});
  // Whatever is left, the fitted plan ends in it and only ever shortens.
  for (double left = 0; left <= 12000; left += 37) {
    for (double overhead : {0.0, 50.0, 400.0, 900.0}) {
      const V plan{125, 250, 500, 1000, 2000, 5000};
      const V fitted = fit_periods_ms(plan, left, overhead, true);
      double end = 0;
      for (double p : fitted) end += p + overhead;
      EXPECT_LE(end, left) << left << " " << overhead;
      ASSERT_LE(fitted.size(), plan.size());
      for (std::size_t i = 0; i + 1 < fitted.size(); ++i) EXPECT_EQ(fitted[i], plan[i]);
      if (!fitted.empty()) {
        EXPECT_LE(fitted.back(), plan.back());
      }
    }
  }
}

// The periods end by the measurement time plus kMeasureOverrunMs, less what the run does after
// them: with many domains at once, their predictions and the report.
TEST(Plan, ThePeriodsLeaveTheRunsLastStepsTheirTime) {
  EXPECT_EQ(periods_end_by_ms(0, 10000, 0), 11000);
  EXPECT_EQ(periods_end_by_ms(300, 10000, kAfterPeriodsMsPerDomain), 11275);
  // 20 domains: half a second for their predictions and the report.
  EXPECT_EQ(periods_end_by_ms(0, 10000, 20 * kAfterPeriodsMsPerDomain), 10500);
  // Never less than half the overrun (QEMU's hashing and the last polls), and never more.
  EXPECT_EQ(periods_end_by_ms(0, 10000, 32 * kAfterPeriodsMsPerDomain), 10500);
  EXPECT_EQ(periods_end_by_ms(0, 10000, -5), 11000);
  // On a busy host (QEMU 7.2: 0.8 s beyond each period, the last one planned 5 s long, 6 s into
  // the measurement) the last period is 4 s for one domain, 3 s when 20 share the host.
  using V = std::vector<double>;
  const double now = 6000, overhead = 800;
  EXPECT_EQ(fit_periods_ms({5000}, periods_end_by_ms(0, 10000, kAfterPeriodsMsPerDomain) - now,
                           overhead, false),
            (V{4000}));
  EXPECT_EQ(fit_periods_ms({5000},
                           periods_end_by_ms(0, 10000, 20 * kAfterPeriodsMsPerDomain) - now,
                           overhead, false),
            (V{3000}));
}

// Where QEMU takes milliseconds the periods aim to end so that the run ends within the
// measurement time: its last steps (at least kAfterPeriodsLeastMs) come off it.
TEST(Plan, WhereQemuTakesMillisecondsThePeriodsAimAtTheMeasurementTime) {
  EXPECT_EQ(periods_aim_by_ms(0, 10000, 0), 10000 - kAfterPeriodsLeastMs);
  EXPECT_EQ(periods_aim_by_ms(300, 10000, kAfterPeriodsMsPerDomain),
            10300 - kAfterPeriodsLeastMs);
  EXPECT_EQ(periods_aim_by_ms(0, 10000, 20 * kAfterPeriodsMsPerDomain), 9500);
  // Always before the hard end.
  for (double after : {0.0, 25.0, 500.0, 800.0}) {
    EXPECT_LT(periods_aim_by_ms(0, 10000, after), periods_end_by_ms(0, 10000, after));
  }
  // A 4 GiB guest on QEMU 10.0 (2026-12-07): ~100 ms beyond each period, the 5.75 s one asked
  // 3.94 s in: it would end at 9.8 s and the run at 9.9 s; asked 0.2 s later on a busier host,
  // it gives way a quarter second.
  using V = std::vector<double>;
  EXPECT_EQ(fit_periods_ms({5750}, periods_aim_by_ms(0, 10000, 25) - 3940, 100, true), (V{5750}));
  EXPECT_EQ(fit_periods_ms({5750}, periods_aim_by_ms(0, 10000, 25) - 4140, 100, true), (V{5500}));
}

TEST(Schema, MillisecondsFromTheRecordedSchemas) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-qmp.jsonl", clock);
    json schema;
    for (const auto& e : replay.entries()) {
      if (e.value("execute", "") == "query-qmp-schema") schema = e["return"];
    }
    ASSERT_TRUE(schema.is_array());
    EXPECT_TRUE(schema_has_command(schema, "calc-dirty-rate"));
    EXPECT_EQ(schema_has_millisecond_dirty_rate(schema), qemu_has_milliseconds(replay));
    EXPECT_EQ(schema_command_has_argument(schema, "query-dirty-rate", "calc-time-unit"),
              qemu_has_milliseconds(replay));
    // QEMU before 5.2 has no calc-dirty-rate at all.
    json older = json::array();
    for (const auto& entry : schema) {
      if (entry.value("name", "") != "calc-dirty-rate") older.push_back(entry);
    }
    EXPECT_FALSE(schema_has_command(older, "calc-dirty-rate"));
    EXPECT_FALSE(schema_has_millisecond_dirty_rate(older));
  }
  EXPECT_FALSE(schema_has_millisecond_dirty_rate(json::array()));
}

namespace {

// Guest memory whose first `nonzero_fraction` of every range holds data, with a hole that fails.
class FakeMemory : public GuestMemory {
 public:
  FakeMemory(std::uint64_t ram, double nonzero_fraction, std::uint64_t hole_start = 0,
             std::uint64_t hole_length = 0)
      : ram_(ram), nonzero_(nonzero_fraction), hole_start_(hole_start), hole_length_(hole_length) {}
  bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
    ++reads;
    if (address >= hole_start_ && address < hole_start_ + hole_length_) return false;
    for (std::size_t i = 0; i < length; i += 4096) {
      bool data = static_cast<double>(address + i) < nonzero_ * static_cast<double>(ram_);
      std::fill(buffer + i, buffer + i + 4096, data ? 0x5a : 0);
    }
    return true;
  }
  int reads = 0;

 private:
  std::uint64_t ram_;
  double nonzero_;
  std::uint64_t hole_start_, hole_length_;
};

}  // namespace

TEST(ZeroPages, SamplingEstimatesTheZeroShare) {
  FakeMemory memory(kGiB, 0.3);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc-i440fx-7.2", "x86_64"), 4096, 1);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 8192, 1e9);
  EXPECT_EQ(sampler.sampled(), 8192u);
  EXPECT_EQ(memory.reads, 8192 / 16);  // 64 KiB, 16 pages, per read
  // Evenly spread clusters see a layout of long runs almost exactly: 512 random clusters would
  // have a standard error of 2% here, the spread ones are off by at most one cluster's share
  // per run boundary.
  double share = static_cast<double>(sampler.estimate(kGiB / 4096)) / (kGiB / 4096);
  EXPECT_NEAR(share, 0.7, 2.0 / 512);
}

// Reads that take `ms` each on the clock.
class SlowMemory : public GuestMemory {
 public:
  // `first_ms` for the first read (negative: `ms` as the others).
  SlowMemory(GuestMemory& memory, FakeClock& clock, double ms, double first_ms = -1)
      : memory_(memory), clock_(clock), ms_(ms), first_ms_(first_ms) {}
  bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
    clock_.now += reads_++ == 0 && first_ms_ >= 0 ? first_ms_ : ms_;
    return memory_.read(address, length, buffer);
  }

 private:
  GuestMemory& memory_;
  FakeClock& clock_;
  double ms_;
  double first_ms_;
  int reads_ = 0;
};

TEST(ZeroPages, ABusyHostReadsTheLeastAnEstimateNeedsWithinTwiceTheBudgetOrStopsAtOnce) {
  FakeMemory memory(kGiB, 0.3);
  const auto ram = guest_ram_ranges(kGiB, "pc-i440fx-7.2", "x86_64");
  {
    // 200 ms a read (as measured with 4 guests at once on 2 cores): 8 reads in the 1.5 s
    // budget are 128 pages; it reads on to the least, 208 pages, 2.6 s in.
    FakeClock clock;
    SlowMemory slow(memory, clock, 200);
    ZeroPageSampler sampler(slow, ram, 4096, 1);
    sample_zero_pages(sampler, clock, 16384, 1500);
    EXPECT_EQ(sampler.sampled(), 208u);
    EXPECT_EQ(clock.now, 2600);
  }
  {
    // Slower still, the least out of reach by twice the budget (12 more reads of 500 ms after
    // the first): it stops at once, leaving the time to the dirty rate (RSS's bound it is,
    // whatever it read).
    FakeClock clock;
    SlowMemory slow(memory, clock, 500);
    ZeroPageSampler sampler(slow, ram, 4096, 1);
    sample_zero_pages(sampler, clock, 16384, 1500);
    EXPECT_EQ(sampler.sampled(), 16u);
    EXPECT_EQ(clock.now, 500);
  }
  {
    // A slow first read alone while QEMU's warm-up hashes does not stop it (drain-idle, QEMU
    // 10.0: 269 ms, with 12 more reads needed within 2.7 s at that pace; the reads after took
    // 20-40 ms).
    FakeClock clock;
    SlowMemory slow(memory, clock, 30, 269);
    ZeroPageSampler sampler(slow, ram, 4096, 1);
    sample_zero_pages(sampler, clock, 16384, 1500, nullptr, /*cold_first_read=*/true);
    EXPECT_GE(sampler.sampled(), 200u);
    EXPECT_LE(clock.now, 1500 + 30);
  }
  {
    // Without one, it is the pace (20 domains, no warm-up: a first read of 0.4 s, then 7.5 s).
    FakeClock clock;
    SlowMemory slow(memory, clock, 7500, 400);
    ZeroPageSampler sampler(slow, ram, 4096, 1);
    sample_zero_pages(sampler, clock, 16384, 1500);
    EXPECT_EQ(sampler.sampled(), 16u);
    EXPECT_EQ(clock.now, 400);
  }
  {
    // A page at a time through the monitor: the least is in reads, 13 as for clusters (a page
    // spread over RAM tells as much as a cluster of alike pages), so 13 pages, 2.6 s in.
    FakeClock clock;
    SlowMemory slow(memory, clock, 200);
    ZeroPageSampler sampler(slow, ram, 4096, 1, 4096);
    sample_zero_pages(sampler, clock, 16384, 1500);
    EXPECT_EQ(sampler.reads(), kMinZeroReads);
    EXPECT_EQ(sampler.sampled(), 13u);
    EXPECT_EQ(clock.now, 2600);
  }
  {
    // A fast host reads to the budget, past the least, as before.
    FakeClock clock;
    SlowMemory slow(memory, clock, 5);
    ZeroPageSampler sampler(slow, ram, 4096, 1);
    sample_zero_pages(sampler, clock, 16384, 1500);
    EXPECT_EQ(sampler.sampled(), 300u * 16);
  }
}

TEST(ZeroPages, AnyPrefixOfTheSampleIsSpreadOverRam) {
  FakeMemory memory(kGiB, 0.3);
  FakeClock clock;
  for (std::uint64_t seed : {1, 2, 3, 4, 5}) {
    ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, seed);
    for (std::uint64_t clusters : {10u, 37u, 100u}) {
      while (sampler.sampled() < clusters * 16) sampler.sample_unit();
      double share = static_cast<double>(sampler.zero()) / static_cast<double>(sampler.sampled());
      EXPECT_NEAR(share, 0.7, 2.0 / static_cast<double>(clusters)) << seed << " " << clusters;
    }
  }
}

TEST(ZeroPages, StandardErrorReflectsTheLayoutNotIndependentDraws) {
  // One run boundary (data below 30%, zeros above): the spread sample is off by at most about
  // one cluster's share, and the successive-difference error says so: one jump among m clusters
  // gives sqrt(1 / (2 m (m - 1))) of RAM, far below the binomial sqrt(p (1 - p) / m).
  FakeMemory memory(kGiB, 0.3);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 1);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 8192, 1e9);
  const double pages = kGiB / 4096, m = 512;
  EXPECT_NEAR(sampler.standard_error_pages(kGiB / 4096), pages * std::sqrt(1 / (2 * m * (m - 1))),
              1);
  const double binomial = pages * std::sqrt(0.3 * 0.7 / m);
  EXPECT_LT(sampler.standard_error_pages(kGiB / 4096), binomial / 10);
  // The true error is within a few of those standard errors.
  const double error = static_cast<double>(sampler.estimate(kGiB / 4096)) - 0.7 * pages;
  EXPECT_LE(std::abs(error), 4 * sampler.standard_error_pages(kGiB / 4096) + 16);

  ZeroPageSampler empty(memory, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 1);
  EXPECT_EQ(empty.standard_error_pages(kGiB / 4096), 0);
  EXPECT_TRUE(empty.layout(32).empty());
}

TEST(ZeroPages, LayoutFollowsAddressOrder) {
  FakeMemory memory(kGiB, 0.25);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 7);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 8192, 1e9);
  auto layout = sampler.layout(8);
  ASSERT_EQ(layout.size(), 8u);
  EXPECT_EQ(layout[0], 0);  // the first quarter holds data
  EXPECT_EQ(layout[1], 0);
  for (std::size_t k = 2; k < 8; ++k) EXPECT_EQ(layout[k], 1) << k;

  // Fewer clusters than regions: the empty regions borrow their nearest neighbour's share.
  ZeroPageSampler few(memory, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 7);
  few.sample_unit();
  auto sparse = few.layout(64);
  ASSERT_EQ(sparse.size(), 64u);
  for (double share : sparse) EXPECT_EQ(share, sparse[0]);
}

TEST(ZeroPages, ThroughTheMonitorEachReadIsOnePageSpreadOverRam) {
  FakeMemory memory(kGiB, 0.3);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 1, 4096);
  EXPECT_EQ(sampler.unit_pages(), 1u);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 1024, 1e9);
  EXPECT_EQ(sampler.sampled(), 1024u);
  EXPECT_EQ(memory.reads, 1024);
  EXPECT_EQ(sampler.reads(), 1024u);
  const double share = static_cast<double>(sampler.estimate(kGiB / 4096)) / (kGiB / 4096);
  EXPECT_NEAR(share, 0.7, 2.0 / 1024);
}

namespace {

// A real guest's RAM as zero and data pages (tests/unit/data/xp/record.sh: runs of each kind).
class RecordedLayout : public GuestMemory {
 public:
  explicit RecordedLayout(const std::filesystem::path& path) {
    std::ifstream in(path);
    int kind = 0;
    in >> kind;
    bool zero = kind == 1;
    for (std::uint64_t n; in >> n; zero = !zero) zero_.insert(zero_.end(), n, zero);
  }
  std::uint64_t pages() const { return zero_.size(); }
  std::uint64_t zero_pages() const {
    return static_cast<std::uint64_t>(std::count(zero_.begin(), zero_.end(), true));
  }
  bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
    for (std::size_t i = 0; i < length; i += 4096) {
      const std::uint64_t page = (address + i) / 4096;
      if (page >= zero_.size()) return false;
      std::fill(buffer + i, buffer + i + 4096, zero_[page] ? 0 : 0x5a);
    }
    return true;
  }

 private:
  std::vector<bool> zero_;
};

}  // namespace

// Why the monitor's pages: in the same time (1.5 s, the default measurement's share: 430 pages
// at 3.5 ms, or 88 clusters of 16 at 17 ms) pages spread over a real test guest's RAM estimate
// its zero pages several times closer than clusters; and the standard error the sample reports
// is of the size of the error it makes.
TEST(ZeroPages, OnARealGuestsMemoryPagesSpreadBeatClustersInTheSameTime) {
  int layouts = 0;
  for (const auto& path : recorded_files("xp", ".runs")) {
    ++layouts;
    SCOPED_TRACE(path.filename().string());
    RecordedLayout memory(path);
    ASSERT_EQ(memory.pages(), 512u * 256);
    const std::vector<PhysicalRange> ram = {{0, memory.pages() * 4096}};
    const double truth = static_cast<double>(memory.zero_pages());
    auto rms_error = [&](std::uint64_t unit_bytes, int reads, double* mean_se) {
      double sum_sq = 0, se = 0;
      const int seeds = 200;
      for (int seed = 1; seed <= seeds; ++seed) {
        ZeroPageSampler sampler(memory, ram, 4096, static_cast<std::uint64_t>(seed), unit_bytes);
        for (int i = 0; i < reads; ++i) sampler.sample_unit();
        const double e = static_cast<double>(sampler.estimate(memory.pages())) - truth;
        sum_sq += e * e;
        se += sampler.standard_error_pages(memory.pages());
      }
      *mean_se = se / seeds;
      return std::sqrt(sum_sq / seeds);
    };
    double se_pages = 0, se_clusters = 0;
    const double pages = rms_error(4096, 430, &se_pages);
    const double clusters = rms_error(ZeroPageSampler::kClusterBytes, 88, &se_clusters);
    std::cout << "[figure] zero pages of " << truth << ", root mean square error: 430 pages "
              << pages << " (standard error said " << se_pages << "), 88 clusters " << clusters
              << " (said " << se_clusters << ")\n";
    EXPECT_LT(pages, clusters / 2);
    for (const auto& [rms, se] : {std::pair{pages, se_pages}, std::pair{clusters, se_clusters}}) {
      EXPECT_GT(se, rms / 2);
      EXPECT_LT(se, rms * 2);
    }
  }
  EXPECT_GE(layouts, 1);
}

// QEMU's own answers to xp (tests/unit/data/xp/record.sh), on each stack recorded.
TEST(MemoryDump, XpAnswersAreReadWordForWord) {
  EXPECT_EQ(virt::xp_command(0x100000, 4096), "xp /512gx 0x100000");
  std::map<std::string, std::vector<std::filesystem::path>> by_kind;
  for (const auto& path : recorded_files("xp", ".json")) {
    const std::string name = path.filename().string();
    for (const char* kind : {"zero-page", "data-page", "one-word-page", "outside-ram"}) {
      if (name.find(kind) != std::string::npos) by_kind[kind].push_back(path);
    }
  }
  ASSERT_FALSE(by_kind["zero-page"].empty());
  auto text_of = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    return json::parse(in)["return"].get<std::string>();
  };
  auto nonzero_words = [](const std::vector<unsigned char>& page) {
    int n = 0;
    for (std::size_t w = 0; w < page.size(); w += 8) {
      n += std::any_of(page.begin() + static_cast<std::ptrdiff_t>(w),
                       page.begin() + static_cast<std::ptrdiff_t>(w + 8),
                       [](unsigned char b) { return b != 0; });
    }
    return n;
  };
  std::vector<unsigned char> page(4096, 0xee);
  for (const auto& p : by_kind["zero-page"]) {
    SCOPED_TRACE(p.filename().string());
    ASSERT_TRUE(virt::parse_xp(text_of(p), 4096, page.data()));
    EXPECT_EQ(nonzero_words(page), 0);
  }
  for (const auto& p : by_kind["one-word-page"]) {
    SCOPED_TRACE(p.filename().string());
    std::fill(page.begin(), page.end(), 0xee);
    ASSERT_TRUE(virt::parse_xp(text_of(p), 4096, page.data()));
    EXPECT_EQ(nonzero_words(page), 1);
  }
  for (const auto& p : by_kind["data-page"]) {
    SCOPED_TRACE(p.filename().string());
    const std::string text = text_of(p);
    ASSERT_TRUE(virt::parse_xp(text, 4096, page.data()));
    EXPECT_GE(nonzero_words(page), 400);
    // The first word, least significant byte first.
    const auto first = std::stoull(text.substr(text.find("0x") + 2, 16), nullptr, 16);
    for (int b = 0; b < 8; ++b) EXPECT_EQ(page[b], static_cast<unsigned char>(first >> (8 * b)));
    // Cut short, it is not a page.
    EXPECT_FALSE(virt::parse_xp(text.substr(0, text.size() / 2), 4096, page.data()));
  }
  for (const auto& p : by_kind["outside-ram"]) {
    SCOPED_TRACE(p.filename().string());
    EXPECT_FALSE(virt::parse_xp(text_of(p), 4096, page.data()));
  }
  EXPECT_FALSE(virt::parse_xp("", 4096, page.data()));
  EXPECT_FALSE(virt::parse_xp("unknown command: 'xp'\r\n", 4096, page.data()));
}

TEST(ZeroPages, SkipsHolesAndGivesUpOnUnreadableMemory) {
  FakeMemory holey(kGiB, 0.5, 0, kGiB / 4);
  ZeroPageSampler sampler(holey, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 2);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 4096, 1e9);
  EXPECT_EQ(sampler.sampled(), 4096u);
  EXPECT_GT(sampler.failed(), 0u);

  FakeMemory unreadable(kGiB, 0.5, 0, kGiB);
  ZeroPageSampler none(unreadable, guest_ram_ranges(kGiB, "pc", "x86_64"), 4096, 3);
  sample_zero_pages(none, clock, 4096, 1e9);
  EXPECT_EQ(none.sampled(), 0u);
  EXPECT_LE(unreadable.reads, 60);
}

TEST(ZeroPages, MapsKnownWithoutQemuPcQ35AndAarch64Virt) {
  constexpr std::uint64_t kHole = 0xa0000, kMiB = 1 << 20;
  auto pc = guest_ram_ranges(4 * kGiB, "pc-i440fx-7.2", "x86_64");
  ASSERT_EQ(pc.size(), 3u);
  EXPECT_EQ(pc[0].start, 0u);
  EXPECT_EQ(pc[0].length, kHole);  // the VGA window and the ROMs above it are never read
  EXPECT_EQ(pc[1].start, kMiB);
  EXPECT_EQ(pc[1].length, 3 * kGiB - kMiB);
  EXPECT_EQ(pc[2].start, 4 * kGiB);
  EXPECT_EQ(pc[2].length, kGiB);
  auto q35 = guest_ram_ranges(4 * kGiB, "pc-q35-7.2", "x86_64");
  EXPECT_EQ(q35[1].length, 2 * kGiB - kMiB);
  EXPECT_EQ(q35[2].length, 2 * kGiB);
  auto small = guest_ram_ranges(kGiB / 2, "pc", "x86_64");
  ASSERT_EQ(small.size(), 2u);
  EXPECT_EQ(small[1].start + small[1].length, kGiB / 2);
  // Another architecture's map is not guessed (aarch64 virt: flash and devices below 1 GiB).
  // aarch64 virt: one block from 1 GiB, as QEMU's own map of the test guest says on each stack.
  for (const auto& path : recorded_files("mtree", ".txt")) {
    if (path.filename().string().find("-virt-aarch64") == std::string::npos) continue;
    SCOPED_TRACE(path.filename().string());
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto from_qemu = ram_ranges_from_flat_view(text);
    ASSERT_TRUE(from_qemu);
    const auto table = guest_ram_ranges(kGiB / 2, "virt-7.2", "aarch64");
    ASSERT_EQ(table.size(), from_qemu->size());
    for (std::size_t i = 0; i < table.size(); ++i) {
      EXPECT_EQ(table[i].start, (*from_qemu)[i].start);
      EXPECT_EQ(table[i].length, (*from_qemu)[i].length);
    }
  }
  // Another aarch64 machine, or another architecture: not guessed.
  EXPECT_TRUE(guest_ram_ranges(kGiB, "sbsa-ref", "aarch64").empty());
  EXPECT_TRUE(guest_ram_ranges(kGiB, "pseries-7.2", "ppc64le").empty());
  EXPECT_EQ(zero_pages_from_rss(kGiB, kGiB / 4, 4096), (kGiB * 3 / 4) / 4096);
  EXPECT_EQ(zero_pages_from_rss(kGiB, 2 * kGiB, 4096), 0u);
}

// No map of the guest's RAM (--no-qmp on an architecture whose map the tool does not know):
// nothing is read, and the zero-page budget is not spent waiting.
TEST(ZeroPages, NoRamMapReadsNothingAndReturnsAtOnce) {
  struct Counting : GuestMemory {
    int reads = 0;
    bool read(std::uint64_t, std::size_t, unsigned char*) override { return ++reads, true; }
  } memory;
  ZeroPageSampler sampler(memory, {}, 4096, 1, 4096);
  EXPECT_FALSE(sampler.has_ram());
  FakeClock clock;
  const double before = clock.now;
  sample_zero_pages(sampler, clock, 16384, 1500);
  EXPECT_EQ(memory.reads, 0);
  EXPECT_EQ(sampler.reads(), 0u);
  EXPECT_EQ(clock.now, before);
}

TEST(ZeroPages, RamFromQemusFlatViewOnly) {
  // Recorded on both stacks: HMP's `info mtree -f` of the test guest, of the same guest with a
  // VGA card, and of the aarch64 test guest (tests/unit/data/mtree/).
  int files = 0, aarch64 = 0;
  for (const auto& path : recorded_files("mtree", ".txt")) {
    ++files;
    SCOPED_TRACE(path.filename().string());
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto ranges = ram_ranges_from_flat_view(text);
    ASSERT_TRUE(ranges);
    const bool vga = path.filename().string().find("-vga") != std::string::npos;
    const bool virt = path.filename().string().find("-virt-aarch64") != std::string::npos;
    aarch64 += virt;
    std::uint64_t total = 0;
    for (const auto& r : *ranges) {
      total += r.length;
      if (virt) {
        // aarch64 virt: flash, the GIC, the UART and PCI's windows below 1 GiB, RAM from there.
        EXPECT_GE(r.start, kGiB) << std::hex << r.start;
        continue;
      }
      // Never the VGA card's window (where the guest has one: without one it is RAM), never
      // anything in the 32-bit hole (video RAM, BIOS, devices).
      if (vga) {
        EXPECT_FALSE(r.start < 0xc0000 && r.start + r.length > 0xa0000) << std::hex << r.start;
      }
      EXPECT_FALSE(r.start >= 0xe0000000 && r.start < 4 * kGiB) << std::hex << r.start;
    }
    // Every read the sampler makes stays inside those ranges.
    struct Recording : GuestMemory {
      std::vector<PhysicalRange> reads;
      bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
        reads.push_back({address, length});
        std::fill(buffer, buffer + length, 0);
        return true;
      }
    } memory;
    ZeroPageSampler sampler(memory, *ranges, 4096, 1);
    FakeClock clock;
    sample_zero_pages(sampler, clock, 8192, 1e9);
    ASSERT_EQ(memory.reads.size(), 512u);
    for (const auto& read : memory.reads) {
      EXPECT_TRUE(std::any_of(ranges->begin(), ranges->end(),
                              [&](const PhysicalRange& r) {
                                return read.start >= r.start &&
                                       read.start + read.length <= r.start + r.length;
                              }))
          << std::hex << read.start;
    }
    // The guests have 512 MiB: all of it is mapped, less the VGA window where there is one.
    EXPECT_LE(total, 512u << 20);
    EXPECT_GE(total, (512u << 20) - 0x20000);
  }
  EXPECT_GE(files, 6);  // three guests on each of two stacks
  EXPECT_GE(aarch64, 2);
  EXPECT_FALSE(ram_ranges_from_flat_view("not a memory tree"));
}

TEST(SamplePages, AsManyAsQemuAllowsExceptOnHugeGuests) {
  EXPECT_EQ(default_sample_pages_per_gib(kGiB), 16384u);
  EXPECT_EQ(default_sample_pages_per_gib(16 * kGiB), 16384u);
  EXPECT_EQ(default_sample_pages_per_gib(64 * kGiB), 4096u);
  EXPECT_EQ(default_sample_pages_per_gib(4096 * kGiB), 512u);
}

// QEMU hashes the sampled pages again after each period: the end is seen soon after it comes
// (each of five periods used to be seen up to 50 ms late), and a QEMU a second late is not
// asked much more often than every 50 ms.
TEST(PeriodPolls, SeeTheEndSoonWithoutAskingALateQemuOften) {
  EXPECT_EQ(period_poll_wait_ms(0), 10);
  EXPECT_EQ(period_poll_wait_ms(100), 25);
  EXPECT_EQ(period_poll_wait_ms(1000), 50);
  auto polls_until = [](double ended_ms) {
    double t = 0;
    int polls = 1;  // at the period's end
    while (t < ended_ms) {
      t += period_poll_wait_ms(t);
      ++polls;
    }
    return std::pair{t, polls};
  };
  // Hashing 16384 pages (QEMU 10.0, recorded): ends 10-60 ms past the period.
  for (double ended : {10.0, 35.0, 60.0, 120.0}) {
    const auto [seen, polls] = polls_until(ended);
    EXPECT_LE(seen - ended, std::max(10.0, ended / 4)) << ended;
    EXPECT_LE(polls, 12) << ended;
  }
  // A busy host: QEMU a second late is asked at most 40 times, as against 21 every 50 ms.
  EXPECT_LE(polls_until(1000).second, 40);
  // Twenty domains at once: every 50 ms, as before; two: 20 ms at first.
  EXPECT_EQ(period_poll_wait_ms(0, 20), 50);
  EXPECT_EQ(period_poll_wait_ms(0, 5), 50);
  EXPECT_EQ(period_poll_wait_ms(0, 2), 20);
  EXPECT_EQ(period_poll_wait_ms(100, 2), 25);
  EXPECT_EQ(period_poll_wait_ms(0, 0), 10);
}

TEST(DomainXml, FactsThatMatterToMigration) {
  auto f = virt::parse_domain_xml(R"(<domain type='kvm'>
    <features><kvm><dirty-ring state='on' size='4096'/></kvm></features>
    <name>vm1</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>
    <memory unit='GiB'>8</memory><currentMemory unit='KiB'>4194304</currentMemory>
    <vcpu placement='static' current='2'>4</vcpu>
    <memoryBacking><hugepages><page size='2' unit='M'/></hugepages><locked/>
      <allocation mode='immediate'/></memoryBacking>
    <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/var/lib/libvirt/images/vm1.qcow2'/>
        <target dev='vda'/></disk>
      <disk type='network' device='disk'><source protocol='rbd' name='pool/vm1-data'/>
        <target dev='vdb'/></disk>
      <disk type='block' device='disk'><source dev='/dev/sdc'/><target dev='vdc'/><shareable/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
      <hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/>
        <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source></hostdev>
    </devices></domain>)");
  EXPECT_EQ(f.name, "vm1");
  EXPECT_EQ(f.virt_type, "kvm");
  EXPECT_TRUE(f.kvm_dirty_ring);
  EXPECT_EQ(f.memory_bytes, 8 * kGiB);
  EXPECT_EQ(f.current_memory_bytes, 4 * kGiB);
  EXPECT_EQ(f.vcpus, 2u);
  EXPECT_TRUE(f.hugepages);
  EXPECT_EQ(f.hugepage_size_bytes, 2u << 20);
  EXPECT_EQ(f.huge_page_bytes(), 2u << 20);
  // <hugepages/> without a size: the host's default, as libvirt takes it.
  virt::DomainFacts plain;
  EXPECT_EQ(plain.huge_page_bytes(), 0u);
  plain.hugepages = true;
  plain.arch = "x86_64";
  EXPECT_EQ(plain.huge_page_bytes(), 2u << 20);
  plain.arch = "ppc64le";
  EXPECT_EQ(plain.huge_page_bytes(), 16u << 20);
  plain.hugepage_size_bytes = 1u << 30;
  EXPECT_EQ(plain.huge_page_bytes(), 1u << 30);
  EXPECT_TRUE(f.memory_locked);
  EXPECT_TRUE(f.preallocated);
  EXPECT_EQ(f.machine, "pc-q35-7.2");
  ASSERT_EQ(f.vfio_devices.size(), 1u);
  EXPECT_EQ(f.vfio_devices[0], "0x0000:0x3b:0x00.0x1");
  ASSERT_EQ(f.disks.size(), 3u);
  EXPECT_FALSE(f.disks[0].shared);
  EXPECT_TRUE(f.disks[1].shared);
  EXPECT_EQ(f.disks[1].source, "rbd:pool/vm1-data");
  EXPECT_TRUE(f.disks[2].shared);
  EXPECT_THROW(virt::parse_domain_xml("<domain><name>x</name></domain>"), RuntimeError);
  EXPECT_THROW(virt::parse_domain_xml("not xml"), RuntimeError);
}

TEST(MigrationSettings, LibvirtUnlimitedIsNoBandwidth) {
  EXPECT_FALSE(virt::libvirt_speed_bytes_per_s(8796093022207UL));
  EXPECT_FALSE(virt::libvirt_speed_bytes_per_s(0));
  EXPECT_DOUBLE_EQ(*virt::libvirt_speed_bytes_per_s(128), 128.0 * 1048576);
}

TEST(MigrationSettings, CommandLineWinsThenTheDomain) {
  virt::MigrationConfig config;
  config.max_downtime_ms = 500;
  config.max_speed_bytes_per_s = 64.0 * 1048576;
  config.qemu_parameters = {{"max-bandwidth", 134217728}};  // QEMU's own: not what libvirt uses

  report::Settings from_domain;
  from_domain.downtime_limit_ms = {300, report::Source::Default, {}};
  predict::apply_domain_settings(from_domain, config);
  EXPECT_DOUBLE_EQ(*from_domain.bandwidth_bytes_per_s.value, 64.0 * 1048576);
  EXPECT_EQ(from_domain.bandwidth_bytes_per_s.source, report::Source::Domain);
  EXPECT_DOUBLE_EQ(*from_domain.downtime_limit_ms.value, 500);

  report::Settings given;
  given.bandwidth_bytes_per_s = {1e9, report::Source::CommandLine, {}};
  given.downtime_limit_ms = {200, report::Source::CommandLine, {}};
  predict::apply_domain_settings(given, config);
  EXPECT_DOUBLE_EQ(*given.bandwidth_bytes_per_s.value, 1e9);
  EXPECT_DOUBLE_EQ(*given.downtime_limit_ms.value, 200);

  virt::MigrationConfig unlimited;
  unlimited.max_speed_unlimited = true;
  report::Settings none;
  none.downtime_limit_ms = {300, report::Source::Default, {}};
  predict::apply_domain_settings(none, unlimited);
  EXPECT_FALSE(none.bandwidth_bytes_per_s.value);
  EXPECT_NE(none.bandwidth_bytes_per_s.note.find("no cap"), std::string::npos);
}

// QEMU's parameters as the real stacks report them: QEMU 10.0 has avail-switchover-bandwidth 0
// and zero-page-detection multifd, which without multifd detects zero pages as 7.2 does.
TEST(MigrationSettings, QemuParametersThatChangePrecopyFromTheRecordings) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    FakeClock clock;
    Replay replay(dir / "measure-qmp.jsonl", clock);
    test::ReplayMonitor monitor(replay);
    virt::MigrationConfig config;
    config.qemu_parameters = monitor.execute("query-migrate-parameters", nullptr);
    predict::Options o;
    predict::apply_guest_constraints(o, config, virt::DomainFacts{});
    EXPECT_EQ(o.switchover_bandwidth_bytes_per_s, 0);
    EXPECT_TRUE(o.zero_page_detection);
    EXPECT_EQ(config.qemu_parameters.contains("zero-page-detection"),
              qemu_has_milliseconds(replay));

    config.qemu_parameters["avail-switchover-bandwidth"] = 1e9;
    config.qemu_parameters["zero-page-detection"] = "none";
    predict::apply_guest_constraints(o, config, virt::DomainFacts{});
    EXPECT_EQ(o.switchover_bandwidth_bytes_per_s, 1e9);
    EXPECT_FALSE(o.zero_page_detection);
  }
}

// The whole measurement of a domain, replayed: measure_domain against the domain (its XML,
// state, memory, vCPU times, libvirt's settings), QMP and libvirt's dirty-rate calls as a real
// stack answered them (virt::RecordingLiveTarget, record.sh's measure-domain-* scenarios), with
// no libvirt and no guest. The profile, the accelerator and the warnings are the ones the tool
// made on the stack that day, and every change the recording holds is asked for again.
// A host too busy for QEMU to keep time (record.sh: measure-domain-busy-*, one domain each of 20
// measured at once on QEMU 7.2): QEMU's periods take far longer than asked. Fresh guests (skip):
// the 1 s warm-up, started before the memory read, answered 6.0 s after it started, the first
// period then runs (a curve needs one), and the 5 s period planned after it could not end within
// the measurement's time. Guests
// measured before (fitted): QEMU took 0.4-0.8 s beyond each period, and the periods after the
// first were fitted into what was left. The domain is measured from the periods that ended, the report
// says so, and the fitted run ends within the measurement time plus kMeasureOverrunMs.
TEST(LiveReplay, ABusyHostsPeriodsEndWithinTheMeasurementsTime) {
  struct Case {
    std::string scenario, why;
    std::size_t points;
  };
  const std::vector<Case> cases = {
      {"measure-domain-busy-skip",
       "the 5.0 s period could not end within the measurement's time: the dirty curve rests on "
       "the 1 of 2 planned periods",
       1},
      {"measure-domain-busy-fitted",
       "QEMU took longer than asked for each dirty-rate period (a busy host): to end within the "
       "measurement's time the curve measured 3 periods up to 3.0 s instead of the 3 planned up "
       "to 5.0 s",
       3}};
  const auto dir =
      std::filesystem::path(VMP_SOURCE_ROOT) / "tests/unit/data/probe/qemu-7.2.22-libvirt-9.0.0";
  for (const auto& c : cases) {
    SCOPED_TRACE(c.scenario);
    FakeClock clock;
    Replay replay(dir / (c.scenario + ".jsonl"), clock, /*target_calls=*/true);
    const LiveResult out = replay_measure_domain(replay, clock, /*use_qmp=*/true, 20);
    expect_as_recorded(out, replay);
    EXPECT_TRUE(replay.all_changes_replayed());
    EXPECT_EQ(out.profile.dirty_curve.size(), c.points);
    // Past it only where the warm-up left no time for the one period a curve needs.
    if (c.points > 1) {
      EXPECT_LE(clock.now, kDefaultMeasureTimeMs + kMeasureOverrunMs);
    }
    const auto said = std::find_if(out.warnings.begin(), out.warnings.end(),
                                   [&](const std::string& w) { return w.rfind(c.why, 0) == 0; });
    ASSERT_NE(said, out.warnings.end()) << testing::PrintToString(out.warnings);
    // One 64 KiB read, and 19 other domains' reads to wait for: the least (200 pages) out of
    // reach, it read no more. RSS's bound, and why: libvirt serving every domain's reads one at
    // a time, and fewer at once the remedy.
    const auto rss = std::find_if(out.warnings.begin(), out.warnings.end(), [](const auto& w) {
      return w.find("zero pages estimated from the QEMU process's RSS") != std::string::npos;
    });
    ASSERT_NE(rss, out.warnings.end()) << testing::PrintToString(out.warnings);
    EXPECT_NE(rss->find("(16 pages, at least 200 needed; 20 domains were measured at once, and "
                        "libvirt serves their memory reads one at a time: measuring fewer at "
                        "once reads more"),
              std::string::npos)
        << *rss;
  }
  // The fitted curve: 1, 2 and 3 s where 1, 2 and 5 s were planned.
  FakeClock clock;
  Replay replay(dir / "measure-domain-busy-fitted.jsonl", clock, true);
  std::vector<double> asked;
  for (const auto& e : replay.entries()) {
    if (e.value("execute", "") == "calc-dirty-rate") asked.push_back(e["arguments"]["calc-time"]);
  }
  EXPECT_EQ(asked, (std::vector<double>{1, 2, 3}));
  // The fresh guests' warm-up in the first recording: answered 6.0 s after it started, the
  // guest's memory read (2.3 s) meanwhile.
  FakeClock clock_skip;
  Replay skip(dir / "measure-domain-busy-skip.jsonl", clock_skip, true);
  double started = -1, answered = -1;
  for (const auto& e : skip.entries()) {
    if (started < 0 && e.value("execute", "") == "calc-dirty-rate") started = e["t_ms"];
    if (started >= 0 && answered < 0 && e.value("execute", "") == "query-dirty-rate" &&
        e["return"]["status"] == "measured") {
      answered = e["t_ms"];
    }
  }
  ASSERT_GE(started, 0);
  EXPECT_GT(answered - started, 6000);
}

// Before periods were fitted to the measurement's time (measure-domain-busy-late, recorded with
// the tool of 2026-12-03 before it): QEMU had not ended the 2 s period when the time was up. The
// dirty-rate measurement alone, replayed with no time to end by: the curve keeps the period that
// ended, and the report says why.
TEST(LiveReplay, APeriodQemuDoesNotEndInTimeLeavesTheCurveOfThoseThatEnded) {
  FakeClock clock;
  Replay replay(std::filesystem::path(VMP_SOURCE_ROOT) /
                    "tests/unit/data/probe/qemu-7.2.22-libvirt-9.0.0/measure-domain-busy-late.jsonl",
                clock, /*target_calls=*/true);
  // As that tool measured: no time for the periods to end by (a start far ahead puts it out of
  // reach), and no count of the domains measured with it.
  const LiveResult out = replay_measure_domain(replay, clock, true, 1, 1e12);
  expect_as_recorded(out, replay);
  EXPECT_TRUE(replay.all_changes_replayed());
  ASSERT_EQ(out.profile.dirty_curve.size(), 1u);
  const std::string why = "QEMU did not finish measuring the dirty rate over 2.0 s";
  const auto said = std::find_if(out.warnings.begin(), out.warnings.end(),
                                 [&](const std::string& w) { return w.rfind(why, 0) == 0; });
  ASSERT_NE(said, out.warnings.end()) << testing::PrintToString(out.warnings);
  EXPECT_NE(said->find("rests on the 1 of 2 planned periods"), std::string::npos) << *said;
}

TEST(LiveReplay, MeasureDomainMakesTheProfileTheToolMadeOnTheStack) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    for (const std::string scenario : {"measure-domain-qmp", "measure-domain-libvirt"}) {
      SCOPED_TRACE(stack_of(dir) + " " + scenario);
      FakeClock clock;
      Replay replay(dir / (scenario + ".jsonl"), clock, /*target_calls=*/true);
      // The command line's defaults, as record.sh ran the tool.
      const LiveResult out =
          replay_measure_domain(replay, clock, scenario == "measure-domain-qmp");
      expect_as_recorded(out, replay);
      EXPECT_EQ(out.facts.name, "vmp-rec-c");
      EXPECT_EQ(out.facts.memory_bytes, kGiB);
      EXPECT_TRUE(replay.all_changes_replayed());
      // What the guest did (the header) is in the figures: 256 MiB written at random.
      ASSERT_FALSE(out.profile.dirty_curve.empty());
      EXPECT_GT(out.profile.dirty_curve.back().dirty_bytes, 8.0 * 1048576);
      EXPECT_LE(out.profile.dirty_curve.back().dirty_bytes, 300.0 * 1048576);
      // Through QMP guest memory is read a page at a time through the monitor (xp), without it
      // 16 pages at a time through libvirt; either way enough for an estimate in its 1.5 s.
      const bool qmp = scenario == "measure-domain-qmp";
      EXPECT_EQ(replay.has_call("xp"), qmp);
      EXPECT_EQ(replay.has_call("virDomainMemoryPeek"), !qmp);
      EXPECT_EQ(out.profile.zero_pages.method, "memory-peek");
      EXPECT_GE(out.profile.zero_pages.sampled_pages, qmp ? 300u : 16u * kMinZeroReads);
    }
  }
}

// A guest measured where it started, then migrated by libvirt and measured on the host it came
// to (record.sh "incoming", each stack): libvirt keeps no job for the first, and for the second
// its incoming migration, from which the profile takes libvirt's steps as that host saw them,
// as the tool did on the stack. (These 3 s runs end their zero-page sample a read apart in a
// replay, so the rest of the profile is not compared here: measure-domain-* does that.)
TEST(LiveReplay, AGuestThatCameByMigrationCarriesTheStepsItsHostSaw) {
  for (const auto& dir : test::recorded_stacks("probe")) {
    SCOPED_TRACE(stack_of(dir));
    auto seen_then = [](const Replay& r) {
      return r.note("measured")["profile"]["guest"].value("libvirt_steps_seen_ms", -1.0);
    };
    FakeClock clock;
    Replay before(dir / "measure-before-migration-qmp.jsonl", clock, /*target_calls=*/true);
    ASSERT_TRUE(before.has_call("virDomainGetJobStats"));
    // record.sh ran the tool with --measure-time 3s.
    const LiveResult started_here = replay_measure_domain(before, clock, true, 1, {}, 3000);
    EXPECT_FALSE(started_here.profile.libvirt_steps_seen_ms);
    EXPECT_EQ(seen_then(before), -1.0);

    FakeClock clock_there;
    Replay after(dir / "measure-incoming-qmp.jsonl", clock_there, /*target_calls=*/true);
    const LiveResult came = replay_measure_domain(after, clock_there, true, 1, {}, 3000);
    ASSERT_TRUE(came.profile.libvirt_steps_seen_ms);
    EXPECT_DOUBLE_EQ(*came.profile.libvirt_steps_seen_ms, seen_then(after));
    // bench/libvirt_steps.py on 2-core TCG hosts: 0.2-1.4 s, both stacks.
    EXPECT_GT(*came.profile.libvirt_steps_seen_ms, 100);
    EXPECT_LT(*came.profile.libvirt_steps_seen_ms, 2000);

    // Where QEMU takes milliseconds the 1.25 s period planned for 3 s gave way to the run's
    // end (periods_aim_by_ms), and the report says so; whole seconds never give way.
    for (const LiveResult* r : {&started_here, &came}) {
      const bool said = std::any_of(r->warnings.begin(), r->warnings.end(), [](const auto& w) {
        return w.find("to end within the measurement's time the longest period was") !=
               std::string::npos;
      });
      EXPECT_EQ(said, qemu_has_milliseconds(before));
    }
    if (qemu_has_milliseconds(before)) {
      EXPECT_LE(clock.now, 3000 - kAfterPeriodsLeastMs);
      EXPECT_LE(clock_there.now, 3000 - kAfterPeriodsLeastMs);
    }
  }
}

// A fresh 4 GiB guest measured twice with the defaults (record.sh fresh-4g). The first run's
// warm-up (QEMU's first measurement in the process: QEMU 10.0, 7.3 s for a 125 ms period) takes
// most of the time, and the report names it, not a busy host, and says a second run measures
// without it; the second has none, and its longest period stays the longest. Both end within the
// measurement time plus kMeasureOverrunMs.
std::vector<double> periods_of(const DirtyProfile& profile) {
  std::vector<double> out;
  for (const auto& p : profile.dirty_curve) out.push_back(p.period_ms);
  return out;
}
std::vector<double> periods_of(const Replay& replay) {
  std::vector<double> out;
  const json measured = replay.note("measured");
  for (const auto& p : measured["profile"]["dirty_curve"]) {
    out.push_back(p["period_ms"].get<double>());
  }
  return out;
}

TEST(LiveReplay, AFreshGuestsSlowWarmUpIsNamedAndTheNextRunHasNone) {
  int stacks = 0;
  for (const auto& dir : test::recorded_stacks("probe")) {
    if (!std::filesystem::exists(dir / "measure-domain-fresh-4g-qmp.jsonl")) continue;
    SCOPED_TRACE(stack_of(dir));
    ++stacks;
    auto said = [](const LiveResult& r, const std::string& text) {
      return std::any_of(r.warnings.begin(), r.warnings.end(), [&](const std::string& w) {
        return w.find(text) != std::string::npos;
      });
    };
    const std::string warm_up_note =
        "QEMU's first dirty-rate measurement in this process (its figures unused) took ";
    {
      FakeClock clock;
      Replay fresh(dir / "measure-domain-fresh-4g-qmp.jsonl", clock, /*target_calls=*/true);
      // From the recording: when the warm-up was asked, for how long, and when QEMU first
      // reported a rate.
      double asked = -1, answered = -1, period_ms = 0;
      for (const auto& e : fresh.entries()) {
        if (asked < 0 && e.value("execute", "") == "calc-dirty-rate") {
          asked = e["t_ms"];
          period_ms = e["arguments"]["calc-time"].get<double>() *
                      (e["arguments"].value("calc-time-unit", "second") == "millisecond" ? 1 : 1000);
        }
        if (asked >= 0 && answered < 0 && e.value("execute", "") == "query-dirty-rate" &&
            e["return"].contains("dirty-rate")) {
          answered = e["t_ms"];
        }
      }
      ASSERT_GE(answered, asked);
      const LiveResult out = replay_measure_domain(fresh, clock, /*use_qmp=*/true);
      // Not expect_as_recorded: a 4 GiB guest's zero-page sample (a read more or less) and the
      // warm-up's time in the note (a poll later) move with the replay's clock by a little.
      EXPECT_EQ(periods_of(out.profile), periods_of(fresh));
      const bool late = answered - asked > kMeasureOverrunMs + period_ms;
      EXPECT_EQ(said(out, warm_up_note), late) << testing::PrintToString(out.warnings);
      if (late) {
        EXPECT_TRUE(said(out, "a second run measures without it"));
        EXPECT_FALSE(said(out, "(a busy host)"));
      }
      EXPECT_LE(clock.now, kDefaultMeasureTimeMs + kMeasureOverrunMs);
    }
    FakeClock clock;
    Replay again(dir / "measure-domain-again-4g-qmp.jsonl", clock, /*target_calls=*/true);
    // No warm-up: QEMU was asked for the curve's periods and nothing more.
    const auto asked_again = std::count_if(again.entries().begin(), again.entries().end(),
                                           [](const json& e) {
                                             return e.value("execute", "") == "calc-dirty-rate";
                                           });
    EXPECT_EQ(static_cast<std::size_t>(asked_again), periods_of(again).size());
    const LiveResult out = replay_measure_domain(again, clock, /*use_qmp=*/true);
    EXPECT_EQ(periods_of(out.profile), periods_of(again));
    EXPECT_FALSE(said(out, warm_up_note));
    const auto& curve = out.profile.dirty_curve;
    ASSERT_GE(curve.size(), 2u);
    for (std::size_t i = 0; i + 1 < curve.size(); ++i) {
      EXPECT_LT(curve[i].period_ms, curve.back().period_ms);
    }
    EXPECT_LE(clock.now, kDefaultMeasureTimeMs + kMeasureOverrunMs);
  }
  EXPECT_GE(stacks, 1);
}

// What is not a completed incoming migration, or lacks a figure, gives no steps.
TEST(IncomingSteps, OnlyACompletedIncomingMigrationWithItsFiguresCounts) {
  virt::JobStats in;
  in.type = virt::job::kCompleted;
  in.numbers = {{"operation", virt::job::kOperationMigrationIn},
                {"time_elapsed", 390},
                {"setup_time", 1},
                {"memory_processed", 100.0 * 1048576},
                {"memory_bps", 1000.0 * 1048576}};
  ASSERT_TRUE(incoming_libvirt_steps_ms(in));
  EXPECT_DOUBLE_EQ(*incoming_libvirt_steps_ms(in), 390 - 1 - 100);
  auto with = [&](auto change) {
    virt::JobStats j = in;
    change(j);
    return incoming_libvirt_steps_ms(j);
  };
  EXPECT_FALSE(with([](virt::JobStats& j) { j.type = virt::job::kNone; }));
  EXPECT_FALSE(with([](virt::JobStats& j) { j.type = virt::job::kFailed; }));
  EXPECT_FALSE(with([](virt::JobStats& j) {
    j.numbers["operation"] = virt::job::kOperationMigrationOut;
  }));
  EXPECT_FALSE(with([](virt::JobStats& j) { j.numbers.erase("operation"); }));
  EXPECT_FALSE(with([](virt::JobStats& j) { j.numbers.erase("time_elapsed"); }));
  EXPECT_FALSE(with([](virt::JobStats& j) { j.numbers["memory_bps"] = 0; }));
  EXPECT_FALSE(with([](virt::JobStats& j) { j.numbers["time_elapsed"] = 50; }));
  // No setup time reported: none counted.
  EXPECT_DOUBLE_EQ(*with([](virt::JobStats& j) { j.numbers.erase("setup_time"); }), 290);
}

// An aarch64 `virt` guest (TCG) as the tool measured it on each stack: guest memory is read only
// inside the RAM QEMU's own map reports (at 1 GiB there; below it flash and device registers,
// whose reads can act): through QMP, from that map; without QMP, from the virt machine's fixed
// map, which must be the same.
TEST(LiveReplay, AnAarch64GuestIsReadOnlyInsideTheRamQemuReports) {
  int stacks = 0;
  for (const auto& dir : test::recorded_stacks("probe-aarch64")) {
    ++stacks;
    // QEMU's map of the guest, as the QMP measurement asked for it.
    std::optional<std::vector<PhysicalRange>> ram;
    {
      FakeClock clock;
      Replay qmp(dir / "measure-domain-aarch64-qmp.jsonl", clock, /*target_calls=*/true);
      ram = test::guest_reads(qmp.entries()).ram;
    }
    ASSERT_TRUE(ram) << stack_of(dir);
    ASSERT_EQ(ram->size(), 1u);
    EXPECT_EQ(ram->front().start, kGiB);
    EXPECT_EQ(ram->front().length, kGiB);
    for (const std::string scenario :
         {"measure-domain-aarch64-qmp", "measure-domain-aarch64-libvirt"}) {
      SCOPED_TRACE(stack_of(dir) + " " + scenario);
      const bool qmp = scenario == "measure-domain-aarch64-qmp";
      FakeClock clock;
      Replay replay(dir / (scenario + ".jsonl"), clock, /*target_calls=*/true);
      EXPECT_EQ(replay.header()["guest"]["arch"], "aarch64");
      // Every read the tool made on the stack: a page through the monitor, 16 through libvirt.
      const auto made = test::guest_reads(replay.entries());
      EXPECT_TRUE((qmp ? made.peek : made.xp).empty());
      const auto& reads = qmp ? made.xp : made.peek;
      EXPECT_GE(reads.size(), kMinZeroReads);
      for (const auto& r : reads) {
        EXPECT_EQ(r.length, qmp ? 4096u : 65536u);
        EXPECT_TRUE(test::inside(r, *ram)) << std::hex << r.start;
      }
      // The code under test does as the tool did then, and makes the same profile.
      const LiveResult out = replay_measure_domain(replay, clock, qmp);
      expect_as_recorded(out, replay);
      EXPECT_EQ(out.facts.arch, "aarch64");
      EXPECT_TRUE(replay.all_changes_replayed());
      ASSERT_FALSE(out.profile.dirty_curve.empty());
      EXPECT_GT(out.profile.dirty_curve.back().dirty_bytes, 8.0 * 1048576);
      EXPECT_LE(out.profile.dirty_curve.back().dirty_bytes, 300.0 * 1048576);
      EXPECT_EQ(out.profile.zero_pages.method, "memory-peek");
      // 256 MiB written of 1 GiB: most of the rest is zero.
      EXPECT_GT(out.profile.zero_pages.count, 100000u);
      EXPECT_LT(out.profile.zero_pages.count, 200000u);
    }
  }
  EXPECT_GE(stacks, 2);
}

TEST(SchemaCache, EachBinaryIsReadOnceWhateverItsDomains) {
  QmpSchemaCache cache;
  std::atomic<int> reads{0};
  auto read = [&] {
    ++reads;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the others arrive meanwhile
    return QmpDirtyRateSupport{true, true};
  };
  std::vector<std::thread> domains;
  for (int i = 0; i < 8; ++i) {
    domains.emplace_back(
        [&] { EXPECT_TRUE(cache.get("/usr/bin/qemu-system-x86_64 7.2", read).milliseconds); });
  }
  for (auto& t : domains) t.join();
  EXPECT_EQ(reads.load(), 1);
  // Another binary (or another version of it, still running an older build) is read apart.
  EXPECT_FALSE(cache.get("/usr/bin/qemu-system-x86_64 10.0", [&] {
                      ++reads;
                      return QmpDirtyRateSupport{true, false};
                    }).milliseconds);
  EXPECT_EQ(reads.load(), 2);
}

TEST(SchemaCache, AFailedReadIsThatDomainsErrorNotTheOthers) {
  QmpSchemaCache cache;
  auto fails = []() -> QmpDirtyRateSupport {
    throw RuntimeError("domain a vanished", "domain-gone");
  };
  EXPECT_THROW(cache.get("qemu", fails), RuntimeError);
  int reads = 0;
  EXPECT_TRUE(cache.get("qemu", [&] {
                     ++reads;
                     return QmpDirtyRateSupport{true, false};
                   }).calc_dirty_rate);
  EXPECT_EQ(reads, 1);  // read again: the failure was not kept
}

// Which connections open one per measured domain (libvirt_live_target.cpp): this host's daemon
// only; a remote one could ask for a password again.
TEST(Connection, OnlyThisHostsDaemonIsLocal) {
  using vmp::virt::uri_is_local;
  EXPECT_TRUE(uri_is_local("qemu:///system"));
  EXPECT_TRUE(uri_is_local("qemu:///session"));
  EXPECT_TRUE(uri_is_local("qemu+unix:///system?socket=/run/vmp-peer/libvirt-sock"));
  EXPECT_FALSE(uri_is_local("qemu+ssh://root@host-b/system"));
  EXPECT_FALSE(uri_is_local("qemu+tls://host-b/system"));
  EXPECT_FALSE(uri_is_local("qemu+tcp://host-b:16509/system"));
  EXPECT_FALSE(uri_is_local("qemu://host-b/system"));
  EXPECT_FALSE(uri_is_local("qemu+ext:///system?command=/opt/bin/tunnel"));
  EXPECT_FALSE(uri_is_local(""));
}
