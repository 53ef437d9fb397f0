#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "cli/cli.hpp"
#include "fake_clock.hpp"
#include "replay.hpp"
#include "watch_replay.hpp"
#include "predict/predict.hpp"
#include "probe/profile.hpp"
#include "report/drain.hpp"
#include "report/human.hpp"
#include "report/json_report.hpp"
#include "report/recommendation.hpp"
#include "watch/forecast.hpp"

using nlohmann::json;
using namespace vmp::cli;

namespace {

const std::string kExample =
    std::string(VMP_SOURCE_ROOT) + "/examples/profiles/1gib-256mib-random.json";

struct Run {
  int status;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  std::ostringstream out, err;
  int status = tool_main(args, out, err);
  return {status, out.str(), err.str()};
}

// One line, "error: ...", as virsh prints them.
void expect_one_error_line(const Run& r, const std::string& needle) {
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace

TEST(Cli, HelpListsExitStatuses) {
  auto r = run({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--bandwidth"), std::string::npos);
  EXPECT_NE(r.out.find("Exit status"), std::string::npos);
  EXPECT_EQ(run({"--version"}).status, 0);
}

TEST(Cli, ConvergesExitsZeroWithASummaryFirst) {
  auto r = run({"--profile", kExample, "--bandwidth", "64MiB/s"});
  EXPECT_EQ(r.status, kExitConverges) << r.err;
  EXPECT_EQ(r.out.rfind(kExample + ": migrate: ", 0), 0u) << r.out;
  // The summary is one line an operator reads at a glance: what to do, how long, the pause.
  const std::string first = r.out.substr(0, r.out.find('\n'));
  EXPECT_NE(first.find(" s, paused about "), std::string::npos) << first;
  EXPECT_TRUE(r.err.empty());
}

TEST(Cli, JsonContract) {
  auto r = run({"--profile", kExample, "--bandwidth", "1Gbit/s", "--downtime", "500", "--json"});
  ASSERT_EQ(r.status, kExitConverges) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["report_version"], 2);
  const auto& p = j["prediction"];
  EXPECT_TRUE(p["converges"].get<bool>());
  EXPECT_TRUE(p["total_time_ms"].is_number());
  EXPECT_TRUE(p["downtime_ms"].is_number());
  EXPECT_TRUE(p["iterations"].is_number_integer());
  EXPECT_TRUE(p["transferred_bytes"].is_number_integer());
  EXPECT_TRUE(p["trace"].is_array());
  EXPECT_DOUBLE_EQ(j["settings"]["bandwidth"]["bytes_per_s"].get<double>(), 1.25e8);
  EXPECT_EQ(j["settings"]["bandwidth"]["source"], "command-line");
  EXPECT_DOUBLE_EQ(j["settings"]["downtime_limit"]["ms"].get<double>(), 500);
  EXPECT_EQ(j["settings"]["deadline"]["source"], "default");
  EXPECT_DOUBLE_EQ(j["settings"]["deadline"]["ms"].get<double>(), 3600000);
  EXPECT_FALSE(j.contains("grid"));
  EXPECT_TRUE(j["settings"]["link_speed"]["bytes_per_s"].is_null());
  EXPECT_NE(j["settings"]["link_speed"]["note"].get<std::string>().find("migration thread"),
            std::string::npos);
  auto fast = json::parse(run({"--profile", kExample, "--bandwidth", "1Gbit/s", "--downtime", "500",
                               "--link-speed", "10Gbit/s", "--json"})
                              .out);
  EXPECT_DOUBLE_EQ(fast["settings"]["link_speed"]["bytes_per_s"].get<double>(), 1.25e9);
  EXPECT_FALSE(fast["settings"]["link_speed"].contains("note"));
  // A link as slow as the cap pauses the guest far longer: the pause without --link-speed (the
  // link taken as no slower than the migration thread) is not that, but the interval's
  // unfavourable end is.
  auto slow = json::parse(run({"--profile", kExample, "--bandwidth", "1Gbit/s", "--downtime", "500",
                               "--link-speed", "1Gbit/s", "--json"})
                              .out);
  const double at_cap = slow["prediction"]["downtime_ms"].get<double>();
  EXPECT_LT(fast["prediction"]["downtime_ms"].get<double>(), at_cap / 5);
  EXPECT_LT(p["downtime_ms"].get<double>(), at_cap / 5);
  EXPECT_GE(p["downtime_interval_ms"]["high"].get<double>(), at_cap);
}

TEST(Cli, TheTotalIsLibvirtsJobWithQemusOwnTimeBesideIt) {
  auto j = json::parse(run({"--profile", kExample, "--bandwidth", "64MiB/s", "--json"}).out);
  const auto& steps = j["libvirt_steps"];
  // The example was measured on QEMU 7.2: that stack's figures, nothing preallocated.
  EXPECT_EQ(steps["measured_on"], "QEMU 7.2 / libvirt 9.0");
  EXPECT_FALSE(steps["memory_preallocated"].get<bool>());
  EXPECT_EQ(steps["preallocation_ms"].get<double>(), 0);
  const auto& p = j["prediction"];
  EXPECT_NEAR(p["total_time_ms"].get<double>(),
              p["qemu_total_time_ms"].get<double>() + steps["ms"].get<double>(), 1);
  // The pause counts the stop and the resume beyond the RAM (that stack's figures), QEMU's own
  // part inside QEMU's total-time.
  EXPECT_EQ(steps["switchover_qemu_ms"], 8.0);
  EXPECT_EQ(steps["switchover_libvirt_ms"], 12.0);
  EXPECT_EQ(steps["switchover_low_ms"], 0.0);
  EXPECT_EQ(steps["switchover_high_ms"], 33.0);
  EXPECT_GE(p["downtime_ms"].get<double>(), 20);
  // The interval's ends take the steps' measured spread too.
  const auto& iv = p["total_time_interval_ms"];
  EXPECT_LT(iv["low"].get<double>(), p["total_time_ms"].get<double>() -
                                         (steps["ms"].get<double>() - steps["low_ms"].get<double>()));
  EXPECT_GT(iv["high"].get<double>(), p["total_time_ms"].get<double>() +
                                          (steps["high_ms"].get<double>() - steps["ms"].get<double>()));

  // A preallocated guest: the destination touches its RAM before QEMU's migration starts.
  auto profile = vmp::probe::load_profile(kExample);
  profile.memory_preallocated = true;
  const std::string path = testing::TempDir() + "preallocated.json";
  vmp::probe::save_profile(profile, path);
  auto k = json::parse(run({"--profile", path, "--bandwidth", "64MiB/s", "--json"}).out);
  EXPECT_GT(k["libvirt_steps"]["preallocation_ms"].get<double>(), 0);
  EXPECT_NEAR(k["prediction"]["total_time_ms"].get<double>(),
              p["total_time_ms"].get<double>() + k["libvirt_steps"]["preallocation_ms"].get<double>(),
              1);
  EXPECT_EQ(k["prediction"]["qemu_total_time_ms"], p["qemu_total_time_ms"]);

  auto human = run({"--profile", path, "--bandwidth", "64MiB/s"});
  EXPECT_NE(human.out.find("libvirt:      690 ms before QEMU starts migrating"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("not timed on this host: between two hosts measured on QEMU 7.2 / "
                           "libvirt 9.0, 290 ms to 1.5 s"),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("to preallocate 1.00 GiB"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("QEMU's own migration (its total-time): "), std::string::npos)
      << human.out;
  std::remove(path.c_str());
}

TEST(Cli, NotConvergingExitsThreeWithNullTimeAndAdvice) {
  auto r = run({"--profile", kExample, "--bandwidth", "100Mbit/s", "--json"});
  EXPECT_EQ(r.status, kExitChangedSettings);
  auto j = json::parse(r.out);
  EXPECT_FALSE(j["prediction"]["converges"].get<bool>());
  EXPECT_TRUE(j["prediction"]["total_time_ms"].is_null());
  EXPECT_TRUE(j["prediction"]["downtime_ms"].is_null());
  EXPECT_EQ(j["advice"]["verdict"], "more-bandwidth");
  EXPECT_GT(j["advice"]["more_bandwidth"]["bandwidth_bytes_per_s"].get<double>(), 100e6 / 8);
  auto human = run({"--profile", kExample, "--bandwidth", "100Mbit/s"});
  EXPECT_EQ(human.out.rfind(kExample + ": give it ", 0), 0u) << human.out;
  EXPECT_NE(human.out.find("it does not converge"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("What would converge (* the advice):\n  * give it at least"),
            std::string::npos)
      << human.out;
  // What a script applies: the setting, the virsh command, and the outcome with it.
  const auto& rec = j["advice"]["recommended"];
  EXPECT_EQ(rec["verdict"], "more-bandwidth");
  EXPECT_DOUBLE_EQ(rec["bandwidth_bytes_per_s"].get<double>(),
                   j["advice"]["more_bandwidth"]["bandwidth_bytes_per_s"].get<double>());
  ASSERT_EQ(rec["commands"].size(), 1u);
  EXPECT_EQ(rec["commands"][0].get<std::string>().rfind("virsh migrate-setspeed DOMAIN ", 0), 0u);
  EXPECT_TRUE(rec["virsh_migrate_flags"].empty());
}

TEST(Cli, NothingAllowedConvergesExitsFour) {
  auto r = run({"--profile", kExample, "--bandwidth", "100Mbit/s", "--max-bandwidth", "100Mbit/s",
                "--json"});
  EXPECT_EQ(r.status, kExitNoConvergence);
  auto j = json::parse(r.out);
  EXPECT_EQ(j["advice"]["verdict"], "do-not-migrate");
  EXPECT_TRUE(j["advice"]["recommended"].is_null());
  // The best that was found: the limits applied, and how far from converging it stays.
  const auto& best = j["advice"]["best"];
  EXPECT_DOUBLE_EQ(best["downtime_limit_ms"].get<double>(), 1000);
  EXPECT_FALSE(best["prediction"]["converges"].get<bool>());
  EXPECT_GT(best["prediction"]["min_pending_bytes"].get<double>(),
            best["prediction"]["switchover_threshold_bytes"].get<double>());
  auto human =
      run({"--profile", kExample, "--bandwidth", "100Mbit/s", "--max-bandwidth", "100Mbit/s"});
  EXPECT_EQ(human.out.rfind(kExample + ": do not migrate: ", 0), 0u) << human.out;
  EXPECT_NE(human.out.find("the closest: "), std::string::npos) << human.out;
}

// Auto-converge and post-copy are computed either way, and advised only when allowed.
TEST(Cli, AutoConvergeAndPostcopyOnlyWhenAllowed) {
  const std::vector<std::string> base{"--profile",       kExample,  "--bandwidth",    "10MiB/s",
                                      "--max-bandwidth", "10MiB/s", "--max-downtime", "300",
                                      "--json"};
  auto j = json::parse(run(base).out);
  EXPECT_EQ(j["advice"]["verdict"], "do-not-migrate");
  ASSERT_FALSE(j["advice"]["auto_converge"].is_null());
  EXPECT_FALSE(j["advice"]["auto_converge"]["allowed"].get<bool>());
  ASSERT_FALSE(j["advice"]["post_copy"].is_null());
  EXPECT_FALSE(j["advice"]["post_copy"]["allowed"].get<bool>());

  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  auto ac = with({"--allow-auto-converge"});
  EXPECT_EQ(ac.status, kExitChangedSettings);
  auto aj = json::parse(ac.out);
  EXPECT_EQ(aj["advice"]["verdict"], "auto-converge");
  EXPECT_EQ(aj["advice"]["recommended"]["virsh_migrate_flags"], json::array({"--auto-converge"}));
  EXPECT_GE(aj["advice"]["recommended"]["final_throttle_pct"].get<double>(), 20);
  EXPECT_GT(aj["advice"]["recommended"]["throttled_ms"].get<double>(), 0);

  auto pc = with({"--allow-postcopy"});
  EXPECT_EQ(pc.status, kExitChangedSettings);
  auto pj = json::parse(pc.out);
  EXPECT_EQ(pj["advice"]["verdict"], "post-copy");
  EXPECT_EQ(pj["advice"]["recommended"]["virsh_migrate_flags"],
            json::array({"--postcopy", "--postcopy-after-precopy"}));
  EXPECT_GT(pj["advice"]["recommended"]["postcopy_phase_ms"].get<double>(), 0);
  EXPECT_NE(pj["advice"]["post_copy"]["risk"].get<std::string>().find("network"),
            std::string::npos);

  // Both allowed: the one done sooner.
  auto both = json::parse(with({"--allow-postcopy", "--allow-auto-converge"}).out);
  const double ac_ms = both["advice"]["auto_converge"]["prediction"]["total_time_ms"].get<double>();
  const double pc_ms = both["advice"]["post_copy"]["total_time_ms"].get<double>();
  EXPECT_EQ(both["advice"]["verdict"], pc_ms < ac_ms ? "post-copy" : "auto-converge");

  auto human = run({"--profile", kExample, "--bandwidth", "10MiB/s", "--max-bandwidth", "10MiB/s",
                    "--max-downtime", "300", "--allow-postcopy"});
  EXPECT_EQ(human.out.rfind(kExample + ": migrate with post-copy: ", 0), 0u) << human.out;
  EXPECT_NE(human.out.find("remote page faults"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("[not advised without --allow-auto-converge]"), std::string::npos);
}

TEST(Cli, SeveralDomainsGiveTheMostSeriousStatus) {
  EXPECT_EQ(combined_exit_status({}), kExitConverges);
  EXPECT_EQ(combined_exit_status({kExitConverges, kExitConverges}), kExitConverges);
  EXPECT_EQ(combined_exit_status({kExitConverges, kExitChangedSettings}), kExitChangedSettings);
  EXPECT_EQ(combined_exit_status({kExitChangedSettings, kExitNoBandwidth}), kExitNoBandwidth);
  EXPECT_EQ(combined_exit_status({kExitNoBandwidth, kExitNoConvergence}), kExitNoConvergence);
  EXPECT_EQ(combined_exit_status({kExitNoConvergence, kExitUsage}), kExitUsage);
  EXPECT_EQ(combined_exit_status({kExitConverges, kExitError, kExitUsage}), kExitError);
  // An interrupted run says so above all: the others' verdicts are not the whole answer.
  EXPECT_EQ(combined_exit_status({kExitConverges, kExitError, 130}), 130);
  EXPECT_EQ(combined_exit_status({143, kExitNoConvergence}), 143);
}

TEST(Cli, WithoutBandwidthShowsTheTableAndGivesNoVerdict) {
  auto r = run({"--profile", kExample});
  EXPECT_EQ(r.status, kExitNoBandwidth);
  EXPECT_NE(r.out.find("no migration bandwidth known"), std::string::npos);
  EXPECT_NE(r.out.find("40 Gbit/s"), std::string::npos);
  // The least bandwidth that converges is shown, but without a verdict it is not the advice: no
  // line carries the star the heading would explain.
  EXPECT_NE(r.out.find("What would converge:\n    give it at least"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(* the advice)"), std::string::npos) << r.out;
  auto j = json::parse(run({"--profile", kExample, "--json"}).out);
  EXPECT_TRUE(j["prediction"].is_null());
  EXPECT_EQ(j["grid"]["rows"].size(), 8u);
}

TEST(Cli, WithoutACapTheLinkIsTheBandwidth) {
  auto r = run({"--profile", kExample, "--link-speed", "10Gbit/s", "--json"});
  EXPECT_EQ(r.status, kExitConverges) << r.err;
  auto j = json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["settings"]["bandwidth"]["bytes_per_s"].get<double>(), 1.25e9);
  EXPECT_EQ(j["settings"]["bandwidth"]["note"], "(no cap: the link's speed)");
}

TEST(Cli, TableMarksTheSettingsInEffect) {
  auto r = run({"--profile", kExample, "--bandwidth", "3Gbit/s", "--downtime", "400ms", "--table"});
  EXPECT_EQ(r.status, kExitConverges);
  EXPECT_NE(r.out.find("*3 Gbit/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("*400ms"), std::string::npos) << r.out;
}

TEST(Cli, UsageErrorsAreOneLineAndExitTwo) {
  expect_one_error_line(run({}), "--profile");
  expect_one_error_line(run({"--profile", kExample, "--bandwidth", "0"}), "--bandwidth");
  expect_one_error_line(run({"--profile", kExample, "--bandwidth", "-3"}), "--bandwidth");
  expect_one_error_line(run({"--profile", kExample, "--bandwidth", "fast"}), "--bandwidth");
  expect_one_error_line(run({"--profile", kExample, "--downtime", "0"}), "--downtime");
  expect_one_error_line(run({"--profile", kExample, "--deadline", "10ms"}), "--deadline");
  expect_one_error_line(run({"--profile", kExample, "--curve", "wavy"}), "--curve");
  expect_one_error_line(run({"--profile", kExample, "--frobnicate"}), "--frobnicate");
  // Options of a live measurement are refused offline, not ignored.
  for (const char* live_only : {"--no-qmp", "-q", "-r"}) {
    expect_one_error_line(run({"--profile", kExample, live_only}), live_only);
  }
  expect_one_error_line(run({"--profile", kExample, "--measure-time", "5s"}), "--measure-time");
  expect_one_error_line(run({"--domain", "vm1", "--sample-pages", "100"}), "--sample-pages");
  expect_one_error_line(run({"--domain", "vm1", "--profile", kExample}), "--domain");
  expect_one_error_line(run({"--all-running", "--profile", kExample}), "--all-running");
  expect_one_error_line(run({"--domain", "vm1", "--domain", "vm2", "--save-profile", "/tmp/x"}),
                        "--save-profile");
  expect_one_error_line(run({"--all-running", "--save-profile", "/tmp/x"}), "--save-profile");
  // One domain per --domain, as virsh takes one.
  expect_one_error_line(run({"--domain", "vm1", "vm2"}), "vm2");
  for (auto args : std::vector<std::vector<std::string>>{
           {}, {"--profile", kExample, "--bandwidth", "0"}, {"--profile", kExample, "--x"}}) {
    EXPECT_EQ(run(args).status, kExitUsage);
  }
}

TEST(Cli, BadProfilesAreOneLineAndExitOne) {
  auto r = run({"--profile", "/nonexistent.json", "--bandwidth", "1Gbit/s"});
  EXPECT_EQ(r.status, kExitError);
  expect_one_error_line(r, "/nonexistent.json");
  r = run({"--profile", "/etc/hostname", "--bandwidth", "1Gbit/s"});
  EXPECT_EQ(r.status, kExitError);
  expect_one_error_line(r, "not valid JSON");
}

// The commands are pasted into a shell: a domain name with a space or a quote stays one word.
TEST(Cli, RecommendedCommandsQuoteTheDomainName) {
  vmp::predict::Options o;
  // 15 MiB/s is too slow for the example's 300 ms, and the bandwidth may not grow.
  o.settings.bandwidth_bytes_per_s = {15 * 1048576.0, vmp::report::Source::CommandLine, {}};
  o.settings.downtime_limit_ms = {300, vmp::report::Source::Default, {}};
  o.settings.deadline_ms = {vmp::model::kDefaultDeadlineMs, vmp::report::Source::Default, {}};
  o.limits.max_downtime_ms = 5000;
  o.limits.max_bandwidth_bytes_per_s = 15 * 1048576.0;
  auto r = vmp::predict::make_report("x", vmp::probe::load_profile(kExample), o);
  ASSERT_EQ(r.advice.verdict, vmp::model::Verdict::RaiseDowntime);
  vmp::virt::DomainFacts facts;
  for (auto [name, word] : std::vector<std::pair<std::string, std::string>>{
           {"web-1.example", "web-1.example"}, {"my vm", "'my vm'"}, {"it's", "'it'\\''s'"}}) {
    facts.name = name;
    r.facts = facts;
    auto rec = vmp::report::recommend(r);
    ASSERT_TRUE(rec);
    ASSERT_EQ(rec->commands.size(), 1u);
    EXPECT_EQ(rec->commands[0].rfind("virsh migrate-setmaxdowntime " + word + " ", 0), 0u)
        << rec->commands[0];
  }
  // The JSON carries the summary line people read.
  EXPECT_EQ(vmp::report::to_json(r)["summary"].get<std::string>().rfind(
                "x: raise the max downtime to ", 0),
            0u);
}

// A real --no-qmp measurement (QEMU 10.0.2, libvirt's API: 512 sample pages per GiB) of a guest
// writing 256 MiB at 20000 random pages/s, which never converged in 120 s at 64 MiB/s and
// 300 ms. By the measurement it converges in about 18 s; within its sampling error it does not,
// and "migrate" would have been the worst answer the tool can give.
TEST(Cli, NoMigrateVerdictWhereTheSamplingErrorAloneCouldMakeItWrong) {
  const std::string profile =
      std::string(VMP_SOURCE_ROOT) + "/tests/unit/data/profiles/no-qmp-never-converges.json";
  vmp::predict::Options o;
  o.settings.bandwidth_bytes_per_s = {64 * 1048576.0, vmp::report::Source::CommandLine, {}};
  o.settings.downtime_limit_ms = {300, vmp::report::Source::Default, {}};
  o.settings.deadline_ms = {vmp::model::kDefaultDeadlineMs, vmp::report::Source::Default, {}};
  auto r = vmp::predict::make_report("nc", vmp::probe::load_profile(profile), o);
  ASSERT_TRUE(r.prediction && r.interval);
  EXPECT_TRUE(r.prediction->converges());  // the measurement alone says it would
  EXPECT_FALSE(r.interval->high.converges());
  EXPECT_NE(r.advice.verdict, vmp::model::Verdict::Migrate);
  EXPECT_TRUE(r.advice.within_sampling_error);
  EXPECT_NE(exit_status_for(r), kExitConverges);
  const std::string summary = vmp::report::summary_line(r);
  EXPECT_NE(summary.find("but not at the unfavourable end of its sampling error"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("without --no-qmp"), std::string::npos) << summary;
  EXPECT_EQ(vmp::report::to_json(r)["advice"]["within_sampling_error"], true);
  // Whatever it advises converges at that end.
  if (r.advice.raise_downtime) {
    EXPECT_TRUE(r.advice.raise_downtime->result.converges());
  }

  // With the sampling error out of the question (the same figures as an exact count), the
  // verdict is the measurement's again.
  auto exact = vmp::probe::load_profile(profile);
  for (auto& p : exact.dirty_curve) p.sampled_pages = 0;
  exact.zero_pages.method = "none";
  auto e = vmp::predict::make_report("nc", exact, o);
  EXPECT_FALSE(e.advice.within_sampling_error);
}

// A real measurement (QEMU 10.0.2, bench/results/2026-12-03-qemu10.0-libvirt-steps-model.jsonl,
// held-out case "phased", seed 3) of a 512 MiB guest writing 128 MiB at random, 10500 pages/s for
// 4 s then 1500 pages/s for 4 s: the periods up to 1 s fell in the slow phase (6 MiB in 1 s), the
// 5.5 s one took in the fast one (94 MiB). Migrated for real at 48 MiB/s and 300 ms, libvirt's job
// took 7770 ms; read as measured the prediction was 6388 ms (-17.8%).
TEST(Cli, ALoadWhoseRateChangedIsReadAtItsMean) {
  const std::string profile =
      std::string(VMP_SOURCE_ROOT) + "/tests/unit/data/profiles/phased-qemu10.0.json";
  vmp::predict::Options o;
  o.settings.bandwidth_bytes_per_s = {48 * 1048576.0, vmp::report::Source::CommandLine, {}};
  o.settings.link_bytes_per_s = {1769.7 * 1048576.0, vmp::report::Source::CommandLine, {}};
  o.settings.downtime_limit_ms = {300, vmp::report::Source::Default, {}};
  o.settings.deadline_ms = {vmp::model::kDefaultDeadlineMs, vmp::report::Source::Default, {}};
  // libvirt's steps are the host's: that run's took 842 ms (libvirt's 7770 ms less QEMU's
  // total-time, 6928 ms), as the host would have seen them (guest.libvirt_steps_seen_ms).
  auto measured_profile = vmp::probe::load_profile(profile);
  measured_profile.libvirt_steps_seen_ms = 7770 - 6928;
  auto r = vmp::predict::make_report("phased", measured_profile, o);
  ASSERT_TRUE(r.prediction && r.interval && r.model_input && r.rate_change);
  EXPECT_EQ(r.rate_change->kind, vmp::model::RateChange::Kind::Rose);
  EXPECT_TRUE(r.mean_reading);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("dirty rate changed during the measurement"), std::string::npos)
      << r.warnings[0];
  const double real_ms = 7770;
  EXPECT_TRUE(r.prediction->converges());
  EXPECT_NEAR(r.prediction->total_time_ms, real_ms, 0.1 * real_ms);
  // QEMU 10.0 counts a rate-limit window as flushed: the bandwidth it reported in that run
  // (409.7448 Mbit/s at the 48 MiB/s cap) makes the switchover threshold.
  EXPECT_TRUE(r.model_input->rate_limit_counts_flushed);
  EXPECT_NEAR(r.prediction->threshold_bytes, 409.7448e6 / 8 * 0.3, 0.3 * 10 * 20);  // 20 B a window
  auto on_7_2 = measured_profile;
  on_7_2.qemu_version = "7.2.22";
  EXPECT_FALSE(vmp::predict::make_report("phased", on_7_2, o).model_input->rate_limit_counts_flushed);

  // The interval spans the curve as measured too, and holds the real time.
  std::vector<vmp::model::DirtyPoint> as_measured;
  for (const auto& p : r.profile.dirty_curve) as_measured.push_back({p.period_ms, p.dirty_bytes});
  const double ceiling = r.profile.nonzero_ram_bytes();
  const auto curve = vmp::model::build_curve(
      as_measured, ceiling,
      vmp::model::choose_curve(as_measured, ceiling, vmp::model::CurvePolicy::Auto));
  const auto measured = vmp::model::simulate_precopy(*r.model_input, curve);
  EXPECT_LT(measured.total_time_ms, 0.85 * real_ms);  // why the reading changed
  EXPECT_LE(r.interval->low.total_time_ms, measured.total_time_ms);
  EXPECT_GE(r.interval->high.total_time_ms, r.prediction->total_time_ms);
  EXPECT_LE(r.interval->low.total_time_ms, real_ms);
  EXPECT_GE(r.interval->high.total_time_ms, real_ms);

  // --watch forecasts the rest of a migration with the same reading of the profile.
  const auto watched = vmp::watch::curve_from_profile(r.profile, vmp::model::CurvePolicy::Auto);
  for (double t : {125.0, 1000.0, 3000.0, 5500.0, 20000.0}) {
    EXPECT_DOUBLE_EQ(watched.dirty_bytes(t), r.curve.dirty_bytes(t)) << t;
  }
  EXPECT_GT(r.curve.dirty_bytes(1000), curve.dirty_bytes(1000) * 1.5);  // not the as-measured

  // A person reads which curve it is, and why the interval is wider.
  std::ostringstream human;
  vmp::report::write_human(human, r);
  EXPECT_NE(human.str().find("Dirty curve:  hybrid: the load's mean over the measurement"),
            std::string::npos)
      << human.str();
  EXPECT_NE(human.str().find("where the load's bursts fell"), std::string::npos) << human.str();
  // The threshold's bandwidth is QEMU's, above the 48 MiB/s cap: a person is told why.
  EXPECT_NE(human.str().find("the bandwidth as QEMU measures it: 48.8 MiB/s"), std::string::npos)
      << human.str();

  const auto j = vmp::report::to_json(r);
  EXPECT_EQ(j["curve"]["reading"], "mean-rate");
  EXPECT_EQ(j["curve"]["rate_change"]["kind"], "rose");
  EXPECT_EQ(j["curve"]["rate_change"]["longer"]["period_ms"], 5500);
}

// A real case at the edge (QEMU 10.0.2, cap-24-hot seed 2, bench/results/2026-12-05-qemu10.0-
// arrived.jsonl: a 1 GiB guest writing 5000 random pages/s over 256 MiB, 24 MiB/s, 300 ms). Its
// 125 ms period read 27 MiB/s against the load's 19.5 (54 dirty pages of 16384 sampled), so as
// measured the model predicts no convergence; the migration converged in 33.4 s (QEMU's
// total-time; 33.8 s by libvirt). The interval's favourable end converges and holds the real
// time, and the advice is a change, never "migrate": an operator is not sent into a migration the
// measurement cannot vouch for, nor told it is hopeless.
TEST(Cli, ANearCriticalRealCaseIsAdvisedWithinItsInterval) {
  const std::string profile =
      std::string(VMP_SOURCE_ROOT) + "/tests/unit/data/profiles/cap-24-hot-qemu10.0.json";
  vmp::predict::Options o;
  o.settings.bandwidth_bytes_per_s = {24 * 1048576.0, vmp::report::Source::CommandLine, {}};
  o.settings.downtime_limit_ms = {300, vmp::report::Source::CommandLine, {}};
  o.settings.deadline_ms = {vmp::model::kDefaultDeadlineMs, vmp::report::Source::Default, {}};
  const auto r = vmp::predict::make_report("cap-24-hot", vmp::probe::load_profile(profile), o);
  ASSERT_TRUE(r.prediction && r.interval);
  EXPECT_FALSE(r.rate_change);  // a steady load, read as measured
  EXPECT_FALSE(r.prediction->converges());
  ASSERT_TRUE(r.interval->low.converges());
  EXPECT_LE(r.interval->low.total_time_ms, 33759);
  EXPECT_FALSE(r.interval->high.converges());
  EXPECT_NE(r.advice.verdict, vmp::model::Verdict::Migrate);
  EXPECT_NE(r.advice.verdict, vmp::model::Verdict::DoNotMigrate);
  // The threshold is QEMU 10.0's: its windows carry whole flushes past the cap.
  EXPECT_TRUE(r.model_input->rate_limit_counts_flushed);
  // The first line says how near it is, not only that it does not converge.
  std::ostringstream human;
  vmp::report::write_human(human, r);
  const std::string first = human.str().substr(0, human.str().find('\n'));
  EXPECT_NE(first.find("it does not converge within 1h00m by the measurement, though at the "
                       "favourable end of its sampling error it would (28 s)"),
            std::string::npos)
      << first;
}

// An empty value is an error, not the default: '--downtime ""' in a script whose variable is
// unset must not predict with 300 ms. '--profile=' must not take the next argument as the file.
TEST(Cli, EmptyValuesAreUsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"--profile", kExample, "--bandwidth", ""},
      {"--profile", kExample, "--link-speed", ""},
      {"--profile", kExample, "--downtime", ""},
      {"--profile", kExample, "--deadline", ""},
      {"--profile", kExample, "--max-downtime", ""},
      {"--profile", kExample, "--max-bandwidth", ""},
      {"--profile", kExample, "--curve", ""},
      {"--profile", ""},
      {"--domain", ""},
      {"--domain", "vm1", "--connect", ""},
      {"--domain", "vm1", "--measure-time", ""},
      {"--domain", "vm1", "--sample-pages", ""},
      {"--domain", "vm1", "--save-profile", ""},
      {"--watch", "--domain", "vm1", "--interval", ""},
      {"--profile=", "--json"},
      {"--profile", kExample, "--downtime=", "--json"},
  };
  for (const auto& args : cases) {
    auto r = run(args);
    EXPECT_EQ(r.status, kExitUsage) << args.front() << " " << args.back() << "\n" << r.err;
    EXPECT_NE(r.err.find("empty value"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(Cli, OptionMessagesSayWhatIsWrong) {
  auto r = run({"--domain", "vm1", "--sample-pages", "1e3"});
  expect_one_error_line(r, "'1e3' is not a whole number of pages");
  r = run({"--domain", "vm1", "--sample-pages", "100"});
  expect_one_error_line(r, "'100' is not in 128..16384");
  // The limit the message names is a value the parser takes.
  EXPECT_EQ(run({"--profile", kExample, "--bandwidth", "1PB/s"}).status, kExitConverges);
  expect_one_error_line(run({"--profile", kExample, "--bandwidth", "2PB/s"}),
                        "beyond the largest value 1 PB/s");
  // As typed, not last-first.
  expect_one_error_line(run({"--profile", kExample, "--band", "1Gbit/s"}),
                        "unknown option --band; unexpected argument 1Gbit/s");
  expect_one_error_line(run({"--profile", kExample, "stray", "extra"}),
                        "unexpected arguments stray extra");
}

// With --json an error is still one JSON object on stdout, with a machine key beside the
// message, so that an Ansible task that registers the output has something to parse.
TEST(Cli, WithJsonAnErrorIsOneObjectOnStdout) {
  struct Case {
    std::vector<std::string> args;
    std::string key;
    int status;
  };
  const std::string deep = testing::TempDir() + "/vmp-deep.json";
  {
    std::ofstream f(deep);
    f << "{\"x\": " << std::string(1000, '[') << std::string(1000, ']') << "}";
  }
  for (const auto& c : std::vector<Case>{
           {{"--json"}, "usage", kExitUsage},
           {{"--json", "--profile", kExample, "--bandwidth", "0"}, "usage", kExitUsage},
           {{"--json", "--profile", "/nonexistent.json"}, "profile", kExitError},
           {{"--json", "--profile", deep}, "profile", kExitError},
           // The message quotes bytes that are not UTF-8: JSON gets U+FFFD, not an exception.
           {{"--json", "--profile",
             std::string(VMP_SOURCE_ROOT) + "/tests/fuzz/corpus/invalid-utf8-in-string.json"},
            "profile",
            kExitError},
           {{"--json", "-c", "test:///default", "--domain", "test"}, "driver", kExitError},
       }) {
    auto r = run(c.args);
    EXPECT_EQ(r.status, c.status) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    json doc;
    ASSERT_NO_THROW(doc = json::parse(r.out)) << r.out;
    ASSERT_TRUE(doc.is_object()) << r.out;
    EXPECT_EQ(doc.value("error_key", ""), c.key) << r.out;
    EXPECT_EQ(doc.value("exit_status", -1), c.status) << r.out;
    EXPECT_EQ("error: " + doc.value("error", "") + "\n",
              r.err.substr(0, r.err.find(" (see")) +
                  (r.err.find(" (see") == std::string::npos ? "" : "\n"));
  }
  // A libvirt message that spans lines (a test:/// file that is not XML) is one line, in both.
  const std::string not_xml = testing::TempDir() + "/vmp-not-xml";
  {
    std::ofstream f(not_xml);
    f << "not\nxml\n";
  }
  auto r = run({"--json", "-c", "test://" + not_xml, "--domain", "x"});
  EXPECT_EQ(r.status, kExitError);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(json::parse(r.out).value("error_key", ""), "connection") << r.out;
  EXPECT_EQ(json::parse(r.out).value("error", "").find('\n'), std::string::npos);
}

// --watch --json is a stream of events ending in a summary: an error before anything was
// watched ends it too (the man page promises the summary "also when ... an error ended it").
TEST(Cli, WatchJsonErrorsEndInASummary) {
  for (const auto& [args, key, status] :
       std::vector<std::tuple<std::vector<std::string>, std::string, int>>{
           {{"--watch", "--json"}, "usage", kExitUsage},
           {{"--watch", "--json", "--domain", "vm1", "--interval", ""}, "usage", kExitUsage},
           {{"--watch", "--json", "-c", "test:///default", "--domain", "test"}, "driver", 1}}) {
    auto r = run(args);
    EXPECT_EQ(r.status, status) << r.err;
    json summary;
    ASSERT_NO_THROW(summary = json::parse(r.out)) << r.out;
    EXPECT_EQ(summary.value("event", ""), "summary") << r.out;
    EXPECT_EQ(summary.value("outcome", ""), "error") << r.out;
    EXPECT_EQ(summary.value("error_key", ""), key) << r.out;
    EXPECT_EQ(summary.value("exit_status", -1), status) << r.out;
  }
}

// A profile is a file from anywhere: its strings must not drive the terminal or forge lines.
TEST(Cli, StringsFromAProfileAreEscapedInTheHumanReport) {
  std::ifstream in(kExample);
  json doc = json::parse(in);
  doc["qemu_version"] = std::string("7.2\x1b[2J") + '\0' + "x\nforged: line";
  doc["domain"] = "dom\x1b]0;title\x07";
  const std::string path = testing::TempDir() + "/vmp-escapes.json";
  {
    std::ofstream f(path);
    f << doc.dump();
  }
  auto r = run({"--profile", path, "--bandwidth", "1Gbit/s"});
  EXPECT_EQ(r.status, kExitConverges) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.out.find('\0'), std::string::npos);
  EXPECT_EQ(r.out.find("\nforged: line"), std::string::npos);
  EXPECT_NE(r.out.find("QEMU 7.2\\x1b[2J\\x00x forged: line"), std::string::npos) << r.out;
  // JSON stays JSON: the string as it was, escaped by JSON's rules.
  auto j = json::parse(run({"--profile", path, "--bandwidth", "1Gbit/s", "--json"}).out);
  EXPECT_EQ(j["measurement"].value("qemu_version", ""), doc["qemu_version"].get<std::string>());
}

// --domain and --all-running end to end, without root, a daemon or a guest: tool_main's live
// connection answers from whole measurements recorded on each stack (record.sh's
// measure-domain-* scenarios), on a fake clock that takes the time each answer took then.
namespace {

struct LiveRun {
  int status;
  nlohmann::json report;
  std::string err;
  nlohmann::json recorded;  // the tool's own note of the profile it made that day
  std::string text;         // standard output as written (the human report)
};

// Each domain answers from its own recording; the first one's note is kept.
LiveRun run_recorded(const std::map<std::string, std::filesystem::path>& recordings,
                     std::vector<std::string> args) {
  vmp::test::PerDomainClocks clock;
  char claims[] = "/tmp/vmp-cli-claims-XXXXXX";
  EXPECT_NE(mkdtemp(claims), nullptr);
  vmp::cli::LiveServices services;
  services.connect = [&](const std::optional<std::string>&, bool) {
    return std::make_unique<vmp::test::ReplayLiveConnection>(recordings, clock);
  };
  services.clock = &clock;
  services.claim_directory = claims;
  std::ostringstream out, err;
  const int status = tool_main(args, out, err, false, services);
  std::filesystem::remove_all(claims);
  vmp::test::FakeClock note_clock;
  vmp::test::Replay notes(recordings.begin()->second, note_clock);
  return {status, nlohmann::json::parse(out.str(), nullptr, false), err.str(),
          notes.note("measured"), out.str()};
}

LiveRun run_recorded(const std::filesystem::path& recording, std::vector<std::string> args) {
  return run_recorded({{"vmp-rec-c", recording}}, std::move(args));
}

std::vector<double> dirty_bytes_of(const nlohmann::json& points) {
  std::vector<double> v;
  for (const auto& p : points) v.push_back(p["dirty_bytes"].get<double>());
  return v;
}

}  // namespace

TEST(CliLive, DomainIsMeasuredAndPredictedEndToEndFromARecording) {
  for (const auto& dir : vmp::test::recorded_stacks("probe")) {
    for (const std::string scenario : {"measure-domain-qmp", "measure-domain-libvirt"}) {
      SCOPED_TRACE(dir.filename().string() + " " + scenario);
      std::vector<std::string> args = {"--domain", "vmp-rec-c", "--bandwidth", "1Gbit/s",
                                        "--json", "-q"};
      const bool qmp = scenario == "measure-domain-qmp";
      if (!qmp) args.push_back("--no-qmp");
      const LiveRun r = run_recorded(dir / (scenario + ".jsonl"), args);
      // A verdict (converges, with changed settings, or not): not an error, not a usage error.
      EXPECT_TRUE(r.status == kExitConverges || r.status == kExitChangedSettings ||
                  r.status == kExitNoConvergence)
          << r.status << " " << r.err;
      ASSERT_TRUE(r.report.is_object()) << r.err;
      EXPECT_EQ(r.report["subject"], "vmp-rec-c");
      EXPECT_EQ(r.report["measurement"]["interface"], qmp ? "qmp" : "libvirt");
      // The curve and the zero pages are what the tool measured on the stack.
      EXPECT_EQ(dirty_bytes_of(r.report["curve"]["points"]),
                dirty_bytes_of(r.recorded["profile"]["dirty_curve"]));
      EXPECT_EQ(r.report["guest"]["zero_pages"], r.recorded["profile"]["zero_pages"]["count"]);
      // The domain's own max downtime (libvirt's, 300 ms by default) is the one used.
      EXPECT_EQ(r.report["settings"]["downtime_limit"]["source"], "domain");
      EXPECT_EQ(r.report["settings"]["downtime_limit"]["ms"], 300.0);
      EXPECT_GT(r.report["prediction"]["total_time_ms"].get<double>(), 0);
      // What the measurement said is in the report: through QMP, the taint.
      bool taint = false;
      for (const auto& w : r.report["warnings"]) {
        taint = taint || w.get<std::string>().find("custom-monitor") != std::string::npos;
      }
      EXPECT_EQ(taint, qmp);
    }
  }
}

TEST(CliLive, AllRunningMeasuresEachRunningDomainIntoAnArray) {
  for (const auto& dir : vmp::test::recorded_stacks("probe")) {
    SCOPED_TRACE(dir.filename().string());
    const LiveRun r = run_recorded(dir / "measure-domain-qmp.jsonl",
                                   {"--all-running", "--bandwidth", "1Gbit/s", "--json", "-q"});
    ASSERT_TRUE(r.report.is_array()) << r.err;
    ASSERT_EQ(r.report.size(), 1u);
    EXPECT_EQ(r.report[0]["subject"], "vmp-rec-c");
    EXPECT_EQ(dirty_bytes_of(r.report[0]["curve"]["points"]),
              dirty_bytes_of(r.recorded["profile"]["dirty_curve"]));
  }
}

// --drain end to end: two guests measured together on each stack (record.sh's "drain": one
// writing 12000 pages/s over 128 MiB, one idle; 512 MiB each), planned over 64 MiB/s, 2 at once.
TEST(CliLive, ADrainPlansTheMeasuredDomainsOverTheSharedLink) {
  for (const auto& dir : vmp::test::recorded_stacks("probe")) {
    SCOPED_TRACE(dir.filename().string());
    const LiveRun r = run_recorded(
        {{"vmp-rec-d", dir / "drain-hot.jsonl"}, {"vmp-rec-e", dir / "drain-idle.jsonl"}},
        {"--drain", "--all-running", "--link-speed", "64MiB/s", "--concurrent", "2", "--json",
         "-q"});
    EXPECT_EQ(r.status, kExitConverges) << r.err;
    ASSERT_TRUE(r.report.is_object()) << r.err;
    const auto& drain = r.report["drain"];
    EXPECT_EQ(drain["concurrent"], 2);
    EXPECT_EQ(drain["link_bytes_per_s"], 64.0 * 1048576);
    EXPECT_TRUE(drain["all_converge"].get<bool>());
    EXPECT_TRUE(drain["left_out"].empty());
    EXPECT_EQ(drain["order_by"], "alone-first-then-longest");
    const auto& m = drain["migrations"];
    ASSERT_EQ(m.size(), 2u);
    // Longest alone first; neither needs the link to itself (the writing guest, recorded above
    // half of 64 MiB/s, converges once the idle one is done), so both run together: the second
    // launched once the first sends, after the first's libvirt steps (one start at a time).
    EXPECT_EQ(m[0]["domain"], "vmp-rec-d");
    EXPECT_GT(m[0]["alone_total_time_ms"].get<double>(), m[1]["alone_total_time_ms"].get<double>());
    EXPECT_EQ(m[0]["launch_ms"], 0.0);
    const auto& first = r.report["domains"][0]["subject"] == "vmp-rec-d" ? r.report["domains"][0]
                                                                         : r.report["domains"][1];
    EXPECT_GT(m[1]["launch_ms"].get<double>(), 0.0);
    EXPECT_EQ(m[1]["launch_ms"], first["libvirt_steps"]["ms"]);
    for (const auto& one : m) {
      EXPECT_FALSE(one["alone"].get<bool>());
      // Sharing the link, each takes longer than it would alone.
      EXPECT_GT(one["total_time_ms"].get<double>(), one["alone_total_time_ms"].get<double>());
    }
    EXPECT_EQ(drain["total_time_ms"], std::max(m[0]["returns_ms"].get<double>(),
                                               m[1]["returns_ms"].get<double>()));
    // The drain's interval holds its total, and each migration's holds its time: the plan run
    // with every domain at its favourable, then its unfavourable end, wider than either's own
    // (the other domain at its end too, and libvirt's steps after QEMU at their spread).
    const auto& total = drain["total_time_interval_ms"];
    ASSERT_TRUE(total.is_object()) << drain.dump();
    EXPECT_LT(total["low"].get<double>(), drain["total_time_ms"].get<double>());
    EXPECT_GT(total["high"].get<double>(), drain["total_time_ms"].get<double>());
    for (const auto& one : m) {
      const auto& own = one["total_time_interval_ms"];
      EXPECT_LE(own["low"].get<double>(), one["total_time_ms"].get<double>());
      EXPECT_GE(own["high"].get<double>(), one["total_time_ms"].get<double>());
    }
    // Alone is the domain's own prediction, with the link as its link.
    const auto& domains = r.report["domains"];
    ASSERT_EQ(domains.size(), 2u);
    for (const auto& d : domains) {
      const auto& own = d["subject"] == m[0]["domain"] ? m[0] : m[1];
      EXPECT_EQ(own["alone_total_time_ms"], d["prediction"]["total_time_ms"]);
    }
    EXPECT_EQ(drain["concurrency"].size(), 2u);
    // The measured profiles are the recorded ones: the writing guest's as the tool noted it.
    const auto& hot = domains[0]["subject"] == "vmp-rec-d" ? domains[0] : domains[1];
    EXPECT_EQ(dirty_bytes_of(hot["curve"]["points"]),
              dirty_bytes_of(r.recorded["profile"]["dirty_curve"]));
  }
}

// Two domains of one host measured together (record.sh's "lend"): the one that came by migration
// has libvirt's steps as the host saw them; the one started there borrows that figure, named as
// the other's, rather than the default measured on other hosts.
TEST(CliLive, ADomainStartedHereBorrowsTheStepsAnotherDomainsArrivalShowed) {
  for (const auto& dir : vmp::test::recorded_stacks("probe")) {
    SCOPED_TRACE(dir.filename().string());
    const LiveRun r = run_recorded(
        {{"vmp-rec-h", dir / "lend-arrived.jsonl"}, {"vmp-rec-i", dir / "lend-started.jsonl"}},
        {"--domain", "vmp-rec-h", "--domain", "vmp-rec-i", "--measure-time", "3s", "--bandwidth",
         "64MiB/s", "--json", "-q"});
    ASSERT_TRUE(r.report.is_array()) << r.err;
    ASSERT_EQ(r.report.size(), 2u) << r.err;
    const auto& arrived = r.report[0];
    const auto& started = r.report[1];
    ASSERT_EQ(arrived["subject"], "vmp-rec-h");
    ASSERT_EQ(started["subject"], "vmp-rec-i");
    // The arrival's own figure: what libvirt's record held when the tool read it that day.
    const double seen = r.recorded["profile"]["guest"].value("libvirt_steps_seen_ms", -1.0);
    EXPECT_GT(seen, 100);
    EXPECT_LT(seen, 2000);
    EXPECT_TRUE(arrived["libvirt_steps"]["seen_here"].get<bool>());
    EXPECT_TRUE(arrived["libvirt_steps"]["seen_from_domain"].is_null());
    EXPECT_DOUBLE_EQ(arrived["libvirt_steps"]["fixed_ms"].get<double>(), seen);
    // Lent to the other, named.
    EXPECT_TRUE(started["libvirt_steps"]["seen_here"].get<bool>());
    EXPECT_EQ(started["libvirt_steps"]["seen_from_domain"], "vmp-rec-h");
    EXPECT_EQ(started["libvirt_steps"]["measured_on"], "this host");
    EXPECT_DOUBLE_EQ(started["libvirt_steps"]["fixed_ms"].get<double>(), seen);
    // Alone, the started domain has no figure of this host: the default between two hosts.
    const LiveRun alone = run_recorded({{"vmp-rec-i", dir / "lend-started.jsonl"}},
                                       {"--domain", "vmp-rec-i", "--measure-time", "3s",
                                        "--bandwidth", "64MiB/s", "--json", "-q"});
    ASSERT_TRUE(alone.report.is_object()) << alone.err;
    EXPECT_FALSE(alone.report["libvirt_steps"]["seen_here"].get<bool>());
    EXPECT_NE(alone.report["libvirt_steps"]["fixed_ms"].get<double>(), seen);
    // The steps are in the total: the same measurement, predicted with either figure (the
    // seen figure in whole milliseconds, the totals too).
    EXPECT_NEAR(started["prediction"]["total_time_ms"].get<double>() -
                    alone.report["prediction"]["total_time_ms"].get<double>(),
                seen - alone.report["libvirt_steps"]["fixed_ms"].get<double>(), 1.0);
  }
}

// The drain's interval holds the plan's own figure even where the plan run at the favourable end
// takes longer (a migration returning sooner starts the next one beside a hot one).
TEST(DrainReport, TheIntervalHoldsThePlansOwnFigure) {
  using vmp::report::drain_interval;
  const auto plain = drain_interval(13000, 12000, 15000.0);
  EXPECT_EQ(plain.low, 12000);
  EXPECT_EQ(plain.high, 15000);
  const auto above = drain_interval(13486, 14098, 17433.0);
  EXPECT_EQ(above.low, 13486);
  EXPECT_EQ(above.high, 17433);
  const auto below = drain_interval(9790, 12798, 12002.0);
  EXPECT_EQ(below.low, 9790);
  EXPECT_EQ(below.high, 12798);
  const auto open = drain_interval(13000, 14000, std::nullopt);
  EXPECT_EQ(open.low, 13000);
  EXPECT_FALSE(open.high);
}

// A drain's report says where the steps before each migration came from: the arrival it lends
// the others, or, with no domain come by migration, the default of other hosts, which a host
// slow to start QEMU exceeds (2026-12-07: 1.0-3.4 s a migration, against 570-620 ms).
TEST(CliLive, ADrainSaysWhoseStepsItPlannedWith) {
  for (const auto& dir : vmp::test::recorded_stacks("probe")) {
    SCOPED_TRACE(dir.filename().string());
    const LiveRun lent = run_recorded(
        {{"vmp-rec-h", dir / "lend-arrived.jsonl"}, {"vmp-rec-i", dir / "lend-started.jsonl"}},
        {"--drain", "--domain", "vmp-rec-h", "--domain", "vmp-rec-i", "--measure-time", "3s",
         "--link-speed", "64MiB/s", "--concurrent", "2", "-q"});
    EXPECT_NE(lent.text.find("libvirt's steps before each migration sends: as this host saw them "
                             "when vmp-rec-h migrated here"),
              std::string::npos)
        << lent.text;
    const LiveRun none = run_recorded(
        {{"vmp-rec-d", dir / "drain-hot.jsonl"}, {"vmp-rec-e", dir / "drain-idle.jsonl"}},
        {"--drain", "--all-running", "--link-speed", "64MiB/s", "--concurrent", "2", "-q"});
    EXPECT_NE(none.text.find("libvirt's steps before each migration sends: not timed on this "
                             "host"),
              std::string::npos)
        << none.text;
    // The table's start column, as the plan starts them: one at a time (the text unwrapped).
    std::string flat = none.text;
    for (auto at = flat.find("\n  "); at != std::string::npos; at = flat.find("\n  ", at)) {
      flat.replace(at, 3, " ");
    }
    EXPECT_NE(flat.find("start: when virsh migrate runs, one at a time: each once those started "
                        "before it are sending"),
              std::string::npos)
        << none.text;
  }
}

// --watch end to end: tool_main opens the migration through its WatchConnector, here one that
// answers from a libvirt migration recorded on each stack (tests/unit/data/watch,
// complete-libvirt.jsonl: libvirt's job statistics, QEMU's query-migrate, the job-completed
// event, the domain's XML and QEMU's capabilities as they were), on a fake clock.
TEST(CliWatch, ALibvirtMigrationIsFollowedToItsEndThroughToolMain) {
  for (const auto& stack : vmp::test::recorded_stacks("watch")) {
    SCOPED_TRACE(stack.filename().string());
    const vmp::test::Recording r = vmp::test::load(stack, "complete-libvirt.jsonl");
    vmp::test::FakeClock clock;
    clock.now = vmp::test::migration_start_ms(r);
    vmp::cli::LiveServices services;
    services.clock = &clock;
    services.watch_connect = [&](const std::optional<std::string>&, bool read_only,
                                 const std::string& domain, bool qmp) {
      EXPECT_FALSE(read_only);
      EXPECT_EQ(domain, "vmpw-rec");
      EXPECT_TRUE(qmp);
      return std::make_unique<vmp::test::RecordedWatchConnection>(r, clock, qmp);
    };
    std::ostringstream out, err;
    const int status =
        tool_main({"--watch", "--domain", "vmpw-rec", "--json"}, out, err, false, services);
    EXPECT_EQ(status, 0) << err.str();
    std::istringstream lines(out.str());
    std::string line, last;
    int samples = 0;
    while (std::getline(lines, line)) {
      if (line.find("\"event\":\"sample\"") != std::string::npos) ++samples;
      last = line;
    }
    EXPECT_GT(samples, 5);
    const json summary = json::parse(last);
    EXPECT_EQ(summary["event"], "summary");
    EXPECT_EQ(summary["outcome"], "completed");
    EXPECT_EQ(summary["figures_from"], "libvirt");
    // libvirt's own figures: the job-completed event's time elapsed and downtime.
    double elapsed = 0, downtime = 0;
    for (const auto& e : r.events) {
      if (e["event"] == "job-completed") {
        elapsed = e["stats"]["time_elapsed"].get<double>();
        downtime = e["stats"]["downtime"].get<double>();
      }
    }
    ASSERT_GT(elapsed, 0);
    EXPECT_EQ(summary["total_time_ms"], std::llround(elapsed));
    EXPECT_EQ(summary["downtime_ms"], std::llround(downtime));
    EXPECT_GT(summary["iterations"].get<int>(), 0);
  }
}

// A real measurement (QEMU 10.0.2, bench/bench.py --cases fast, tuning case "fast-1g-zero",
// seed 1) of an idle 1 GiB guest, 64 MiB of it written once, migrated over loopback with a cap
// of 1 TiB/s (none that binds): QEMU's total-time was 196 ms (the link measured 2130 MiB/s).
// By the wire alone the prediction was 75 ms: reading the 225 000 zero pages and sending the
// 37 000 others is the migration thread's work, which decides here.
TEST(Cli, OnAFastLinkTheMigrationThreadDecides) {
  const std::string profile =
      std::string(VMP_SOURCE_ROOT) + "/tests/unit/data/profiles/fast-1g-zero-qemu10.0.json";
  auto j = json::parse(run({"--profile", profile, "--bandwidth", "1048576MiB/s", "--link-speed",
                            "2130MiB/s", "--json"})
                           .out);
  const auto& t = j["migration_thread"];
  EXPECT_EQ(t["measured_on"], "QEMU 10.0 / libvirt 11.3");
  EXPECT_GT(t["data_page_ns"].get<double>(), 0);
  EXPECT_LT(t["least"]["data_page_ns"].get<double>(), t["most"]["data_page_ns"].get<double>());
  const auto& p = j["prediction"];
  ASSERT_TRUE(p["converges"].get<bool>());
  const double real_ms = 196;
  EXPECT_NEAR(p["qemu_total_time_ms"].get<double>(), real_ms, 0.15 * real_ms);
  const auto& iv = p["total_time_interval_ms"];
  const double steps = j["libvirt_steps"]["ms"].get<double>();
  EXPECT_LT(iv["low"].get<double>() - steps, p["qemu_total_time_ms"].get<double>());
  EXPECT_GT(iv["high"].get<double>() - steps, p["qemu_total_time_ms"].get<double>());

  auto human = run({"--profile", profile, "--bandwidth", "1048576MiB/s"});
  EXPECT_NE(human.out.find("migration thread sends at most"), std::string::npos) << human.out;
  // At a cap it cannot reach, the thread is not mentioned.
  auto capped = run({"--profile", profile, "--bandwidth", "64MiB/s"});
  EXPECT_EQ(capped.out.find("migration thread sends"), std::string::npos) << capped.out;
  // The table of links says where the thread, not the link, sets the pace.
  auto table = run({"--profile", profile, "--table"});
  EXPECT_NE(table.out.find("Above 11.1 Gbit/s the migration thread, not the link, sets the pace"),
            std::string::npos)
      << table.out;
}
