#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.hpp"

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
  EXPECT_EQ(r.out.rfind(kExample + ": converges in ", 0), 0u) << r.out;
  EXPECT_TRUE(r.err.empty());
}

TEST(Cli, JsonContract) {
  auto r = run({"--profile", kExample, "--bandwidth", "1Gbit/s", "--downtime", "500", "--json"});
  ASSERT_EQ(r.status, kExitConverges) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["report_version"], 1);
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
  auto fast = json::parse(run({"--profile", kExample, "--bandwidth", "1Gbit/s", "--downtime",
                               "500", "--link-speed", "10Gbit/s", "--json"}).out);
  EXPECT_DOUBLE_EQ(fast["settings"]["link_speed"]["bytes_per_s"].get<double>(), 1.25e9);
  EXPECT_LT(fast["prediction"]["downtime_ms"].get<double>(), p["downtime_ms"].get<double>() / 5);
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
  EXPECT_NE(human.out.find(": does not converge"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("advice: give it at least"), std::string::npos) << human.out;
}

TEST(Cli, NothingAllowedConvergesExitsFour) {
  auto r = run({"--profile", kExample, "--bandwidth", "100Mbit/s", "--max-bandwidth",
                "100Mbit/s", "--json"});
  EXPECT_EQ(r.status, kExitNoConvergence);
  EXPECT_EQ(json::parse(r.out)["advice"]["verdict"], "do-not-migrate");
}

TEST(Cli, WithoutBandwidthShowsTheTableAndGivesNoVerdict) {
  auto r = run({"--profile", kExample});
  EXPECT_EQ(r.status, kExitNoBandwidth);
  EXPECT_NE(r.out.find("no migration bandwidth known"), std::string::npos);
  EXPECT_NE(r.out.find("40 Gbit/s"), std::string::npos);
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
