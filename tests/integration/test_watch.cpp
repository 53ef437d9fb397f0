// --watch on real migrations of the test guest, QMP-driven (QEMU's migrate to a destination QEMU
// started with -incoming) and libvirt-driven (virsh migrate to vmpdest's session daemon):
//   - a guest that converges (512 MiB, 128 MiB written at 5000 random pages/s, 32 MiB/s): the
//     watch follows it to completion, and its prediction at the start of the second iteration
//     is within 15% of the real total time;
//   - a guest that cannot converge (64 MiB written at 100 000 pages/s, 64 MiB/s, 300 ms): the
//     stall is reported within three iterations of the last new low, with advice, and nothing
//     changes without --apply; with --apply the raised max downtime lets it finish.
// Each guest is booted once; a QMP-migrated source is resumed for the next case.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <cmath>
#include <cstdio>
#include <thread>

#include "migration.hpp"
#include "support.hpp"

namespace vmp::it {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr double kMiB = 1048576.0;
const std::string kUri = "qemu:///system";
// The bound on the prediction made at the start of the second iteration, from a profile
// measured before the migration: |predicted - real| / real.
constexpr double kPredictionBound = 0.15;
// Without a profile, from the first pass alone (a straight line through what it dirtied).
constexpr double kJobOnlyPredictionBound = 0.30;

GuestSpec converging_spec() {
  return {.name = "vmp-it-watch",
          .mem_mib = 512,
          .wss_mib = 128,
          .rate = 5000,
          .pattern = "random",
          .seed = 3,
          .extra_cmdline = "",
          .memory_backing = ""};
}

GuestSpec stalling_spec() {
  return {.name = "vmp-it-stall",
          .mem_mib = 512,
          .wss_mib = 64,
          .rate = 100000,
          .pattern = "random",
          .seed = 4,
          .extra_cmdline = "",
          .memory_backing = ""};
}

std::vector<std::string> watch_args(const Guest& g, std::vector<std::string> more) {
  std::vector<std::string> a{"--watch", "-d", g.name(), "-c", kUri, "--json"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

std::string events_text(const std::vector<json>& lines) {
  std::string s;
  for (const auto& l : lines) {
    if (l.value("event", "") != "sample") s += l.dump() + "\n";
  }
  return s;
}

class WatchTest : public ::testing::Test {
 protected:
  Guest& guest(const GuestSpec& spec) {
    try {
      return Guests::get(spec);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("cannot start the guest: ") + e.what());
    }
  }
};

// The converging guest's profile, measured once per boot before its first migration.
const std::string& profile_of(Guest& g) {
  static TempDir dir;
  static std::uint64_t boot = 0;
  static std::string path;
  if (boot != g.boot()) {
    path = dir.path() + "/" + g.name() + ".json";
    RunResult r = run_tool({"--domain", g.name(), "-c", kUri, "--json", "--bandwidth", "32MiB/s",
                            "--save-profile", path},
                           within(90s));
    if (r.exit_status != 0) throw std::runtime_error("profile failed\n" + r.describe());
    boot = g.boot();
  }
  return path;
}

// What every completed watch must show; returns the summary.
json check_completed(const RunResult& r, const std::vector<json>& lines,
                     const std::string& figures_from) {
  EXPECT_EQ(r.exit_status, 0) << r.describe();
  json summary = first_event(lines, "summary");
  EXPECT_TRUE(summary.is_object()) << r.out;
  if (!summary.is_object()) return json::object();
  EXPECT_EQ(summary["outcome"], "completed");
  EXPECT_EQ(summary["figures_from"], figures_from);
  EXPECT_TRUE(summary["total_time_ms"].is_number()) << summary.dump();
  EXPECT_TRUE(summary["downtime_ms"].is_number()) << summary.dump();
  EXPECT_TRUE(first_event(lines, "stall").is_null()) << "a converging migration stalled:\n"
                                                     << events_text(lines);
  int iterations = 0;
  for (const auto& l : lines) iterations += l.value("event", "") == "iteration";
  EXPECT_GE(iterations, 3) << events_text(lines);
  return summary;
}

// The prediction made at the start of the second iteration against the real total time.
void check_prediction(const json& summary, const std::string& what,
                      double bound = kPredictionBound) {
  const json& p = summary["predicted_at_second_iteration"];
  ASSERT_TRUE(p.is_object()) << summary.dump();
  ASSERT_EQ(p["converges"], true) << summary.dump();
  const double predicted = p["total_time_ms"].get<double>();
  const double real = summary["total_time_ms"].get<double>();
  const double error = (predicted - real) / real;
  const json& a = summary["predicted_at_attach"];
  std::printf(
      "[figure] %s: real total %.0f ms, downtime %.0f ms; predicted at the start of "
      "iteration 2 (%.0f ms in): %.0f ms (%+.1f%%, bound +-%.0f%%), paused %.0f "
      "ms; when attached: %s\n",
      what.c_str(), real, summary["downtime_ms"].get<double>(), p["made_at_ms"].get<double>(),
      predicted, 100 * error, 100 * bound, p["downtime_ms"].get<double>(),
      a.is_object() && a["converges"] == true
          ? (std::to_string(a["total_time_ms"].get<long long>()) + " ms (made " +
             std::to_string(a["made_at_ms"].get<long long>()) + " ms in)")
                .c_str()
          : "none");
  std::fflush(stdout);
  EXPECT_LE(std::abs(error), bound) << summary.dump();
}

void check_sources(const std::vector<json>& lines, const std::string& elapsed_source) {
  int samples = 0;
  for (const auto& l : lines) {
    if (l.value("event", "") != "sample" || l["status"] != "active") continue;
    ++samples;
    EXPECT_EQ(l["sources"].value("elapsed_ms", ""), elapsed_source) << l.dump();
  }
  EXPECT_GT(samples, 10);
}

}  // namespace

// ------------------------------------------------------------------ the converging guest

TEST_F(WatchTest, NoMigrationRunningIsOneLineAndExitTen) {
  VMP_REQUIRE_PREREQUISITES();
  Guest& g = guest(converging_spec());
  RunResult human = run_tool({"--watch", "-d", g.name(), "-c", kUri}, within(30s));
  EXPECT_EQ(human.exit_status, 10) << human.describe();
  EXPECT_EQ(human.out, "domain " + g.name() +
                           " has no migration running: libvirt has no migration job and QEMU's "
                           "migration status is 'none'\n");
  RunResult j = run_tool(watch_args(g, {}), within(30s));
  EXPECT_EQ(j.exit_status, 10) << j.describe();
  auto lines = json_lines(j.out);
  ASSERT_EQ(lines.size(), 1u) << j.out;
  EXPECT_EQ(lines[0]["outcome"], "none");
  EXPECT_EQ(lines[0]["exit_status"], 10);
}

TEST_F(WatchTest, QmpDrivenMigrationIsFollowedToCompletion) {
  VMP_REQUIRE_PREREQUISITES();
  Guest& g = guest(converging_spec());
  const std::string profile = profile_of(g);
  DestinationQemu dest(g);
  start_qmp_migration(g.name(), dest, 32, 300);
  ASSERT_TRUE(wait_for_migration(g.name(), false, 10s))
      << "QEMU's migration status: " << qmp(g.name(), "query-migrate").dump() << "\n"
      << dest.log();
  BackgroundTool watch(watch_args(g, {"--profile", profile}), within(120s));
  BackgroundTool without_profile(watch_args(g, {}), within(120s));
  const RunResult& r = watch.wait();
  auto lines = json_lines(r.out);
  json summary = check_completed(r, lines, "qmp");
  // The real figures are QEMU's own.
  json q = qmp(g.name(), "query-migrate");
  ASSERT_EQ(q["status"], "completed");
  EXPECT_EQ(summary["total_time_ms"].get<double>(), q["total-time"].get<double>());
  EXPECT_EQ(summary["downtime_ms"].get<double>(), q["downtime"].get<double>());
  EXPECT_EQ(first_event(lines, "attach")["run_by"], "qmp");
  check_sources(lines, "qmp:total-time");
  check_prediction(summary, "QMP-driven migration, 32 MiB/s");
  const RunResult& w = without_profile.wait();
  check_prediction(check_completed(w, json_lines(w.out), "qmp"),
                   "QMP-driven migration, 32 MiB/s, no profile", kJobOnlyPredictionBound);
  dest.kill();
  resume_source(g.name());
}

TEST_F(WatchTest, LibvirtDrivenMigrationIsFollowedToCompletion) {
  VMP_REQUIRE_PREREQUISITES();
  Guest& g = guest(converging_spec());
  const std::string profile = profile_of(g);
  LibvirtMigration migration(g.name(), 32, 300);
  ASSERT_TRUE(wait_for_migration(g.name(), true, 30s)) << migration.wait().describe();
  BackgroundTool watch(watch_args(g, {"--profile", profile}), within(120s));
  BackgroundTool without_profile(watch_args(g, {}), within(120s));
  const RunResult& r = watch.wait();
  EXPECT_EQ(migration.wait().exit_status, 0) << migration.wait().describe();
  auto lines = json_lines(r.out);
  json summary = check_completed(r, lines, "libvirt");
  EXPECT_EQ(first_event(lines, "attach")["run_by"], "libvirt");
  check_sources(lines, "libvirt:time_elapsed");
  // libvirt's clock (time_elapsed) ran all the while the watch did, and a little before.
  EXPECT_GE(summary["total_time_ms"].get<double>(), r.seconds * 1000 - 3000) << summary.dump();
  EXPECT_LE(summary["total_time_ms"].get<double>(), r.seconds * 1000 + 5000) << summary.dump();
  check_prediction(summary, "libvirt-driven migration, 32 MiB/s");
  const RunResult& w = without_profile.wait();
  check_prediction(check_completed(w, json_lines(w.out), "libvirt"),
                   "libvirt-driven migration, 32 MiB/s, no profile", kJobOnlyPredictionBound);
}

// ------------------------------------------------------------------ the guest that stalls

namespace {

struct StallFigures {
  int since = 0, detected = 0;
};

// The stall event and its advice, as the cases below expect them.
StallFigures check_stall(const std::vector<json>& lines, const std::string& domain) {
  json stall = first_event(lines, "stall");
  EXPECT_TRUE(stall.is_object()) << events_text(lines);
  if (!stall.is_object()) return {};
  StallFigures f{stall["since_iteration"].get<int>(), stall["detected_iteration"].get<int>()};
  // The peaks settle at about the working set from the third iteration on (the second carries
  // what the whole first pass let the guest dirty and is not judged); the rule fires three
  // iterations after the last new low: the stall is reported at iteration 6, or 7 when the
  // third was still well above the plateau.
  EXPECT_GE(f.since, 3) << stall.dump();
  EXPECT_LE(f.since, 4) << stall.dump();
  EXPECT_EQ(f.detected - f.since, 3) << stall.dump();
  const json& a = stall["advice"];
  EXPECT_EQ(a["action"], "raise-downtime") << stall.dump();
  // About 64 MiB at 64 MiB/s: about a second; --max-downtime 2s allows it.
  EXPECT_GE(a["least_converging_downtime_limit_ms"].get<double>(), 850) << a.dump();
  EXPECT_LE(a["least_converging_downtime_limit_ms"].get<double>(), 1400) << a.dump();
  EXPECT_LE(a["downtime_limit_ms"].get<double>(), 2000) << a.dump();
  EXPECT_EQ(a["command"].get<std::string>().rfind(
                "virsh -c qemu:///system migrate-setmaxdowntime " + domain + " ", 0),
            0u)
      << a.dump();
  std::printf(
      "[figure] stall: last new low at iteration %d (%.1f s, %.1f MiB), reported at "
      "iteration %d (%.1f s): %d iterations later; latest peak %.1f MiB; advice: %s\n",
      f.since, stall["since_ms"].get<double>() / 1000, stall["low_peak_bytes"].get<double>() / kMiB,
      f.detected, stall["detected_ms"].get<double>() / 1000, f.detected - f.since,
      stall["last_peak_bytes"].get<double>() / kMiB, a["command"].get<std::string>().c_str());
  std::fflush(stdout);
  return f;
}

}  // namespace

TEST_F(WatchTest, AStalledQmpMigrationIsReportedAndAdvisedAndNotChanged) {
  VMP_REQUIRE_PREREQUISITES();
  Guest& g = guest(stalling_spec());
  DestinationQemu dest(g);
  start_qmp_migration(g.name(), dest, 64, 300);
  ASSERT_TRUE(wait_for_migration(g.name(), false, 10s))
      << "QEMU's migration status: " << qmp(g.name(), "query-migrate").dump() << "\n"
      << dest.log();
  BackgroundTool watch(watch_args(g, {"--max-downtime", "2s"}), within(120s));
  // Beside it, a watch for people, stopped as Ctrl-C would: a summary, and the migration goes on.
  RunOptions interrupted = within(60s);
  interrupted.interrupt_after = 9s;
  BackgroundTool person({"--watch", "-d", g.name(), "-c", kUri}, interrupted);
  // The first pass takes about 3 s, an iteration about 0.7 s: by 12 s the stall is long seen.
  std::this_thread::sleep_for(12s);
  const RunResult& p = person.wait();
  EXPECT_EQ(p.exit_status, 130) << p.describe();
  EXPECT_NE(p.out.find(g.name() + ": stopped watching (signal 2); the migration goes on"),
            std::string::npos)
      << p.out;
  EXPECT_NE(p.out.find("stall: since iteration"), std::string::npos) << p.out;
  EXPECT_EQ(qmp(g.name(), "query-migrate-parameters")["downtime-limit"], 300)
      << "the watch changed the migration without --apply";
  qmp(g.name(), "migrate_cancel");
  const RunResult& r = watch.wait();
  auto lines = json_lines(r.out);
  EXPECT_EQ(r.exit_status, 11) << r.describe();
  json summary = first_event(lines, "summary");
  ASSERT_TRUE(summary.is_object()) << r.out;
  EXPECT_EQ(summary["outcome"], "cancelled");
  EXPECT_TRUE(first_event(lines, "applied").is_null());
  check_stall(lines, g.name());
  // Cancelled, the source runs on.
  EXPECT_EQ(g.state(), VIR_DOMAIN_RUNNING);
}

TEST_F(WatchTest, ALostDestinationIsAFailedMigration) {
  VMP_REQUIRE_PREREQUISITES();
  Guest& g = guest(stalling_spec());
  DestinationQemu dest(g);
  start_qmp_migration(g.name(), dest, 64, 300);
  ASSERT_TRUE(wait_for_migration(g.name(), false, 10s))
      << "QEMU's migration status: " << qmp(g.name(), "query-migrate").dump() << "\n"
      << dest.log();
  BackgroundTool watch({"--watch", "-d", g.name(), "-c", kUri}, within(120s));
  std::this_thread::sleep_for(5s);
  dest.kill();
  const RunResult& r = watch.wait();
  EXPECT_EQ(r.exit_status, 11) << r.describe();
  EXPECT_NE(r.out.find(g.name() + ": migration failed"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
  std::printf("[figure] destination killed: %s",
              r.out.substr(r.out.rfind(g.name() + ": ")).c_str());
  std::fflush(stdout);
  EXPECT_EQ(g.state(), VIR_DOMAIN_RUNNING);
}

TEST_F(WatchTest, ApplyRaisesTheMaxDowntimeOnceAndTheLibvirtMigrationFinishes) {
  VMP_REQUIRE_PREREQUISITES();
  Guest& g = guest(stalling_spec());
  LibvirtMigration migration(g.name(), 64, 300);
  ASSERT_TRUE(wait_for_migration(g.name(), true, 30s)) << migration.wait().describe();
  BackgroundTool watch(watch_args(g, {"--apply", "--max-downtime", "2s"}), within(120s));
  const RunResult& r = watch.wait();
  EXPECT_EQ(migration.wait().exit_status, 0) << migration.wait().describe();
  auto lines = json_lines(r.out);
  EXPECT_EQ(r.exit_status, 0) << r.describe() << events_text(lines);
  check_stall(lines, g.name());
  int applied = 0;
  json action;
  for (const auto& l : lines) {
    if (l.value("event", "") == "applied") {
      ++applied;
      action = l;
    }
  }
  ASSERT_EQ(applied, 1) << "exactly once:\n" << events_text(lines);
  EXPECT_EQ(action["action"], "raise-downtime");
  EXPECT_EQ(action["ok"], true);
  json summary = first_event(lines, "summary");
  ASSERT_TRUE(summary.is_object()) << r.out;
  EXPECT_EQ(summary["outcome"], "completed");
  EXPECT_EQ(summary["figures_from"], "libvirt");
  // The pause: what was pending over the link, the cap lifted: far below the limit raised to.
  EXPECT_LT(summary["downtime_ms"].get<double>(), action["downtime_limit_ms"].get<double>());
  std::printf(
      "[figure] --apply: %s at %.1f s (iteration %d); completed at %.1f s, paused %.0f "
      "ms\n",
      action["command"].get<std::string>().c_str(), action["at_ms"].get<double>() / 1000,
      action["iteration"].get<int>(), summary["total_time_ms"].get<double>() / 1000,
      summary["downtime_ms"].get<double>());
  std::fflush(stdout);
}

}  // namespace vmp::it
