// Integration cases on the load guest: 512 MiB, a 64 MiB working set written at 2000 random
// 4 KiB pages/s (tests/guest). The guest is booted once for all of them (see Guests).
#include <gtest/gtest.h>
#include <libvirt/libvirt-qemu.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>
#include <vector>

#include "support.hpp"

namespace vmp::it {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr double kMiB = 1048576.0;
constexpr double kPage = 4096.0;
const std::string kUri = "qemu:///system";

class LoadGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    VMP_REQUIRE_PREREQUISITES();
    try {
      guest_ = &Guests::get(load_guest_spec());
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  Guest& guest() { return *guest_; }
  const LoadRun& measured() {
    const LoadRun& r = measured_load_guest(guest());
    return r;
  }
  // The tool on this guest with these options.
  RunResult tool(std::vector<std::string> args, const RunOptions& o = within(60s)) {
    std::vector<std::string> all{"--domain", guest().name(), "-c", kUri};
    all.insert(all.end(), args.begin(), args.end());
    return run_tool(all, o);
  }

  Guest* guest_ = nullptr;
};

RunOptions interrupt_after(std::chrono::milliseconds after) {
  RunOptions o = within(60s);
  o.interrupt_after = after;
  return o;
}

bool is_number(const json& j) { return j.is_number(); }

// Case 1. The volume QEMU measures as dirtied within each period agrees with the load: random
// writes at r pages/s over W pages touch W (1 - e^(-r t / W)) distinct pages in t.
TEST_F(LoadGuest, MeasuredDirtyVolumeAgreesWithTheLoad) {
  expect_dirty_volume_agrees_with_the_load(measured(), guest().spec());
}

// Case 2. The zero-page estimate agrees with the guest's memory as it is: all of RAM dumped with
// QMP pmemsave, all-zero 4 KiB pages counted.
TEST_F(LoadGuest, ZeroPageEstimateAgreesWithAMemoryDump) {
  const LoadRun& run = measured();
  const std::uint64_t ram = run.report.at("guest").at("ram_bytes").get<std::uint64_t>();
  const std::uint64_t estimate = run.report.at("guest").at("zero_pages").get<std::uint64_t>();
  const std::uint64_t sampled = run.profile.at("zero_pages").at("sampled_pages").get<std::uint64_t>();
  ASSERT_EQ(run.report.at("guest").at("zero_pages_method"), "memory-peek");
  ASSERT_GT(sampled, 0u);

  // The file is written by the QEMU process (user libvirt-qemu): a directory it owns, under the
  // guest directory whose parents it can already search.
  TempDir dir(guest_dir());
  const long pid = guest().qemu_pid();
  ASSERT_GT(pid, 0);
  struct stat st {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(pid)).c_str(), &st), 0);
  ASSERT_EQ(chown(dir.path().c_str(), st.st_uid, st.st_gid), 0);
  const std::string dump = dir.path() + "/ram.bin";
  ASSERT_NO_THROW(qmp(guest().name(), "pmemsave",
                      {{"val", 0}, {"size", ram}, {"filename", dump}}));

  // What one read of the tool brings: a page through QMP (HMP's xp), a 64 KiB cluster of 16
  // pages through libvirt (--no-qmp). Per unit, the share of zero pages.
  const bool via_monitor = run.profile.at("measurement").at("interface") == "qmp";
  const std::size_t per_unit = via_monitor ? 1 : 16, unit_bytes = per_unit * 4096;
  std::ifstream in(dump, std::ios::binary);
  ASSERT_TRUE(in) << dump;
  std::vector<char> buf(unit_bytes);
  std::uint64_t zero = 0, units = 0;
  double sum_f = 0, sum_f2 = 0;
  while (in.read(buf.data(), static_cast<std::streamsize>(unit_bytes))) {
    std::uint64_t z = 0;
    for (std::size_t pg = 0; pg < per_unit; ++pg) {
      const char* b = buf.data() + pg * 4096;
      if (std::all_of(b, b + 4096, [](char c) { return c == 0; })) ++z;
    }
    zero += z;
    ++units;
    double f = double(z) / double(per_unit);
    sum_f += f;
    sum_f2 += f * f;
  }
  ASSERT_EQ(units * unit_bytes, ram) << "pmemsave wrote a short dump";
  const std::uint64_t ram_pages = ram / 4096;
  // The dump itself: the working set (64 MiB, every word non-zero) cannot be zero.
  const std::uint64_t wss_pages = std::uint64_t(guest().spec().wss_mib) * 256;
  EXPECT_LE(zero, ram_pages - wss_pages) << "the dump does not look like the guest's memory";

  // Tolerance: the tool reads m = sampled_pages / per_unit units spread over RAM and scales the
  // zero share of their pages to all of RAM. Taken as drawn at random (with replacement; the
  // evenly spread sample does better on memory in long runs), the standard error is RAM pages x
  // sqrt(Var(f) / m), Var(f) the variance over all units of their zero share (pages within a
  // cluster are alike), here computed exactly from the dump. Allowed: 4 standard errors.
  const double m = double(sampled) / double(per_unit);
  const double mean_f = sum_f / double(units);
  const double var_f = sum_f2 / double(units) - mean_f * mean_f;
  const double se = double(ram_pages) * std::sqrt(var_f / m);
  const double diff = double(estimate) - double(zero);
  std::printf("[figure] zero pages: tool %llu (%.1f MiB), dump %llu (%.1f MiB), difference %+.0f "
              "pages; tool read %llu pages in %.0f reads of %zu (%s), their variance %.4f, "
              "standard error as random reads %.0f pages, allowed +-%.0f pages\n",
              static_cast<unsigned long long>(estimate), double(estimate) * 4096 / kMiB,
              static_cast<unsigned long long>(zero), double(zero) * 4096 / kMiB, diff,
              static_cast<unsigned long long>(sampled), m, per_unit,
              via_monitor ? "QEMU's monitor" : "libvirt", var_f, se, 4 * se);
  std::fflush(stdout);
  EXPECT_LE(std::abs(diff), 4 * se);
}

// Case 3. The JSON contract, and the exit statuses 0, 3 and 5.
TEST_F(LoadGuest, JsonContractAndExitStatuses) {
  // Converges: the measured run, --bandwidth 64MiB/s.
  const LoadRun& run = measured();
  EXPECT_EQ(run.result.exit_status, 0) << run.result.describe();
  const json& rep = run.report;
  ASSERT_TRUE(rep.contains("prediction") && rep["prediction"].is_object()) << rep.dump();
  const json& pred = rep["prediction"];
  EXPECT_TRUE(pred.at("converges").is_boolean());
  EXPECT_EQ(pred.at("converges"), true);
  EXPECT_TRUE(is_number(pred.at("total_time_ms"))) << pred.dump();
  EXPECT_TRUE(is_number(pred.at("downtime_ms"))) << pred.dump();
  EXPECT_TRUE(pred.at("iterations").is_number_integer());
  EXPECT_TRUE(is_number(pred.at("transferred_bytes")));
  const json& bw = rep.at("settings").at("bandwidth");
  EXPECT_EQ(bw.at("bytes_per_s"), 64 * kMiB);
  EXPECT_EQ(bw.at("source"), "command-line");
  const json& dt = rep.at("settings").at("downtime_limit");
  EXPECT_TRUE(is_number(dt.at("ms")));
  EXPECT_EQ(dt.at("source"), "domain") << "no --downtime given: the domain's applies";
  EXPECT_EQ(rep.at("domain").at("name"), guest().name());
  EXPECT_EQ(rep.at("measurement").at("interface"), "qmp");
  ASSERT_TRUE(rep.at("curve").at("points").is_array());
  EXPECT_FALSE(rep["curve"]["points"].empty());
  for (const auto& pt : rep["curve"]["points"]) {
    EXPECT_TRUE(is_number(pt.at("period_ms")) && is_number(pt.at("dirty_bytes"))) << pt.dump();
  }
  std::printf("[figure] 64MiB/s: exit %d, converges in %s ms, downtime %s ms, %s iterations, "
              "%s bytes, downtime limit %s ms (%s)\n",
              run.result.exit_status, pred["total_time_ms"].dump().c_str(),
              pred["downtime_ms"].dump().c_str(), pred["iterations"].dump().c_str(),
              pred["transferred_bytes"].dump().c_str(), dt["ms"].dump().c_str(),
              dt["source"].get<std::string>().c_str());

  // Does not converge: the 64 MiB working set is rewritten at ~7 MiB/s; 1 MiB/s cannot keep up.
  RunResult slow = tool({"--json", "--bandwidth", "1MiB/s", "--measure-time", "4s"});
  EXPECT_EQ(slow.exit_status, 3) << slow.describe();
  if (slow.exit_status == 3) {
    json s = slow.json();
    EXPECT_EQ(s.at("prediction").at("converges"), false);
    EXPECT_TRUE(s["prediction"].at("total_time_ms").is_null());
    EXPECT_EQ(s.at("settings").at("bandwidth").at("bytes_per_s"), kMiB);
    std::printf("[figure] 1MiB/s: exit %d, converges %s, total_time_ms %s, outcome %s, "
                "min pending %s bytes (%.1f s)\n",
                slow.exit_status, s["prediction"]["converges"].dump().c_str(),
                s["prediction"]["total_time_ms"].dump().c_str(),
                s["prediction"].value("outcome", "?").c_str(),
                s["prediction"].value("min_pending_bytes", json()).dump().c_str(), slow.seconds);
  }

  // No verdict: no --bandwidth, and a fresh libvirt domain's max speed is unlimited.
  RunResult none = tool({"--json", "--measure-time", "4s"});
  EXPECT_EQ(none.exit_status, 5) << none.describe();
  if (none.exit_status == 5) {
    json s = none.json();
    EXPECT_TRUE(s.at("prediction").is_null());
    EXPECT_TRUE(s.at("settings").at("bandwidth").at("bytes_per_s").is_null());
    ASSERT_TRUE(s.contains("grid")) << "no bandwidth: the report must carry the grid";
    EXPECT_FALSE(s["grid"].at("rows").empty());
    EXPECT_EQ(s.at("migration_config").at("libvirt_max_speed_unlimited"), true);
    std::printf("[figure] no --bandwidth: exit %d, prediction %s, grid of %zu bandwidths, "
                "libvirt max speed unlimited %s (%.1f s)\n",
                none.exit_status, s["prediction"].dump().c_str(), s["grid"]["rows"].size(),
                s["migration_config"]["libvirt_max_speed_unlimited"].dump().c_str(),
                none.seconds);
  }
  std::fflush(stdout);
}

// Case 4. A saved profile predicts what the live run predicted.
TEST_F(LoadGuest, SavedProfileGivesTheSamePrediction) {
  const LoadRun& run = measured();
  RunResult offline = run_tool({"--profile", run.profile_path, "--bandwidth", "64MiB/s", "--json"},
                               within(30s));
  ASSERT_EQ(offline.exit_status, run.result.exit_status) << offline.describe();
  json o = offline.json();
  const json& live = run.report.at("prediction");
  EXPECT_EQ(o.at("settings").at("downtime_limit").at("ms"),
            run.report.at("settings").at("downtime_limit").at("ms"))
      << "the live run used the domain's downtime limit, the profile the default";
  EXPECT_EQ(o.at("guest").at("zero_pages"), run.report.at("guest").at("zero_pages"));
  EXPECT_EQ(o.at("curve").at("points"), run.report.at("curve").at("points"));
  EXPECT_EQ(o.at("prediction"), live) << "live:    " << live.dump() << "\noffline: "
                                       << o["prediction"].dump();
  auto brief = [](const json& p) {
    return "converges " + p.at("converges").dump() + ", " + p.at("total_time_ms").dump() +
           " ms, downtime " + p.at("downtime_ms").dump() + " ms, " + p.at("iterations").dump() +
           " iterations, " + p.at("transferred_bytes").dump() + " bytes";
  };
  std::printf("[figure] live:    %s\n[figure] profile: %s\n", brief(live).c_str(),
              brief(o["prediction"]).c_str());
  std::fflush(stdout);
}

// Case 5b. Several domains in one run: each gets its verdict, a domain that fails is reported
// beside the others instead of hiding them, and the exit status is the most serious one.
TEST_F(LoadGuest, SeveralDomainsOneReportAndTheMostSeriousStatus) {
  const std::string missing = "vmp-it-no-such-domain";
  RunResult r = tool({"--domain", missing, "--bandwidth", "64MiB/s", "--measure-time", "3s",
                      "--json", "-q"},
                     within(90s));
  EXPECT_EQ(r.exit_status, 1) << r.describe();
  json j = r.json();
  ASSERT_TRUE(j.is_array()) << j.dump();
  ASSERT_EQ(j.size(), 2u) << j.dump();
  // In the order given: the guest, then the one that does not exist.
  EXPECT_EQ(j[0].at("subject"), guest().name());
  EXPECT_TRUE(j[0].at("prediction").is_object()) << j[0].dump();
  EXPECT_EQ(j[0].at("advice").at("verdict"), "migrate");
  EXPECT_TRUE(j[0].at("advice").at("recommended").is_object());
  EXPECT_EQ(j[1].at("subject"), missing);
  EXPECT_EQ(j[1].at("exit_status"), 1);
  EXPECT_NE(j[1].at("error").get<std::string>().find(missing), std::string::npos);
  // stderr: the one error line (the QMP taint warning goes with the human report only).
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();

  // For people: a summary line per domain first, then each one's details.
  RunResult human = tool({"--domain", missing, "--bandwidth", "64MiB/s", "--measure-time", "3s"},
                         within(90s));
  EXPECT_EQ(human.exit_status, 1) << human.describe();
  EXPECT_EQ(human.out.rfind(guest().name() + ": migrate: ", 0), 0u) << human.out;
  const auto second = human.out.find('\n') + 1;
  EXPECT_EQ(human.out.compare(second, missing.size() + 9, missing + ": error: "), 0) << human.out;
  EXPECT_NE(human.out.find("=== " + guest().name() + " ==="), std::string::npos) << human.out;

  // --all-running finds the guest (the only test guest running) and gives an array even for one.
  RunResult all = run_tool({"-c", kUri, "--all-running", "--bandwidth", "64MiB/s",
                            "--measure-time", "3s", "--json", "-q"},
                           within(90s));
  EXPECT_EQ(all.exit_status, 0) << all.describe();
  json a = all.json();
  ASSERT_TRUE(a.is_array());
  bool found = false;
  for (const auto& rep : a) found = found || rep.at("subject") == guest().name();
  EXPECT_TRUE(found) << a.dump();
  std::printf("[figure] two domains: exit %d in %.1f s; --all-running: %zu domain(s), exit %d in "
              "%.1f s\n",
              r.exit_status, r.seconds, a.size(), all.exit_status, all.seconds);
  std::fflush(stdout);
}

// One line on stderr, "error: ...", the documented status, nothing on stdout, no hang.
void expect_one_error_line(const RunResult& r, int status, const std::string& must_contain) {
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_status, status) << r.describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r.describe();
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
  EXPECT_NE(r.err.find(must_contain), std::string::npos)
      << "expected the message to mention '" << must_contain << "'\n" << r.describe();
  EXPECT_TRUE(r.out.empty()) << r.describe();
  std::printf("[figure] exit %d in %.2f s: %s", r.exit_status, r.seconds, r.err.c_str());
  std::fflush(stdout);
}

// With --json the same error is also one JSON object on stdout, with its machine key.
void expect_json_error(const RunResult& r, int status, const std::string& key) {
  EXPECT_EQ(r.exit_status, status) << r.describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r.describe();
  EXPECT_EQ(doc.value("error_key", ""), key) << r.describe();
  EXPECT_EQ(doc.value("exit_status", -1), status) << r.describe();
  EXPECT_EQ("error: " + doc.value("error", "") + "\n", r.err) << r.describe();
  std::printf("[figure] --json: exit %d, error_key %s\n", r.exit_status, key.c_str());
  std::fflush(stdout);
}

// Case 6. Bad inputs: one error line and the documented status, never a hang (each run is
// bounded by the helper's timeout).
TEST_F(LoadGuest, BadInputsGiveOneErrorLineAndTheDocumentedStatus) {
  const RunOptions quick = within(30s);
  expect_one_error_line(run_tool({"--domain", "vmp-it-no-such-domain", "-c", kUri, "--bandwidth",
                                  "64MiB/s"},
                                 quick),
                        1, "vmp-it-no-such-domain");

  {
    // A defined but shut-off domain: the guest's own XML under another name, never started.
    const std::string name = "vmp-it-shutoff";
    std::string xml = read_file(guest_dir() + "/" + guest().name() + ".xml");
    ASSERT_FALSE(xml.empty());
    xml = std::regex_replace(xml, std::regex("<name>[^<]*</name>"), "<name>" + name + "</name>");
    if (virDomainPtr old = virDomainLookupByName(libvirt(), name.c_str())) {
      virDomainUndefine(old);  // a leftover of a killed run
      virDomainFree(old);
    }
    register_for_cleanup(name);
    virDomainPtr def = virDomainDefineXML(libvirt(), xml.c_str());
    ASSERT_NE(def, nullptr) << libvirt_error();
    struct Undefine {
      virDomainPtr d;
      std::string name;
      ~Undefine() {
        virDomainUndefine(d);
        virDomainFree(d);
        unregister_for_cleanup(name);
      }
    } undefine{def, name};
    expect_one_error_line(
        run_tool({"--domain", name, "-c", kUri, "--bandwidth", "64MiB/s"}, quick), 1, "shut off");
    expect_json_error(run_tool({"--domain", name, "-c", kUri, "--json"}, quick), 1,
                      "domain-not-running");
  }
  expect_json_error(run_tool({"--domain", "vmp-it-no-such-domain", "-c", kUri, "--json"}, quick),
                    1, "domain-not-found");
  expect_json_error(tool({"-r", "--json"}, quick), 1, "read-only");

  expect_one_error_line(
      run_tool({"-c", "test:///default", "--domain", "test", "--bandwidth", "64MiB/s"}, quick), 1,
      "not QEMU");
  expect_one_error_line(tool({"-r", "--bandwidth", "64MiB/s"}, quick), 1, "read-write");

  // QEMU 7.2 under TCG segfaults on calc-dirty-rate mode dirty-bitmap, killing the guest: the
  // tool must refuse before asking, and the same QEMU process must still run the guest.
  const long pid_before = guest().qemu_pid();
  ASSERT_GT(pid_before, 0);
  expect_one_error_line(tool({"--mode", "dirty-bitmap", "--bandwidth", "64MiB/s"}, quick), 2,
                        "dirty-bitmap");
  std::this_thread::sleep_for(2s);  // a crash would take effect within QEMU's measurement thread
  EXPECT_EQ(guest().qemu_pid(), pid_before);
  EXPECT_EQ(kill(static_cast<pid_t>(pid_before), 0), 0) << "QEMU process " << pid_before << " is gone";
  EXPECT_EQ(guest().state(), VIR_DOMAIN_RUNNING);
  std::printf("[figure] after --mode dirty-bitmap: QEMU pid %ld -> %ld, state %d (1 = running)\n",
              pid_before, guest().qemu_pid(), guest().state());

  expect_one_error_line(tool({"--bandwidth", "0"}, quick), 2, "--bandwidth");
}

// What a run of the tool must leave as it was.
struct Snapshot {
  json parameters, capabilities;
  int speed_rc = 0, postcopy_rc = 0, downtime_rc = 0;
  unsigned long speed = 0, postcopy_speed = 0;
  unsigned long long downtime = 0;
  int state = 0, reason = 0;
  long pid = 0;

  json to_json() const {
    return {{"query-migrate-parameters", parameters},
            {"query-migrate-capabilities", capabilities},
            {"migrate_max_speed", {speed_rc, speed}},
            {"migrate_max_speed_postcopy", {postcopy_rc, postcopy_speed}},
            {"migrate_max_downtime", {downtime_rc, downtime}},
            {"state", {state, reason}},
            {"qemu_pid", pid}};
  }
};

Snapshot snapshot(const Guest& g) {
  Snapshot s;
  s.parameters = qmp(g.name(), "query-migrate-parameters");
  s.capabilities = qmp(g.name(), "query-migrate-capabilities");
  DomainRef dom(g.name());
  s.speed_rc = virDomainMigrateGetMaxSpeed(dom.get(), &s.speed, 0);
  s.postcopy_rc = virDomainMigrateGetMaxSpeed(dom.get(), &s.postcopy_speed,
                                              VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY);
  s.downtime_rc = virDomainMigrateGetMaxDowntime(dom.get(), &s.downtime, 0);
  virDomainGetState(dom.get(), &s.state, &s.reason, 0);
  s.pid = g.qemu_pid();
  return s;
}

void expect_unchanged(const Snapshot& before, const Snapshot& after, const char* what) {
  EXPECT_EQ(after.state, VIR_DOMAIN_RUNNING) << what << ": the guest is not running (paused?)";
  EXPECT_EQ(before.to_json(), after.to_json()) << what << "\nbefore: " << before.to_json().dump()
                                               << "\nafter:  " << after.to_json().dump();
  std::printf("[figure] %s: max speed %lu MiB/s (rc %d), postcopy %lu (rc %d), max downtime %llu "
              "ms (rc %d), state %d/%d, pid %ld; %zu QEMU parameters and %zu capabilities %s\n",
              what, after.speed, after.speed_rc, after.postcopy_speed, after.postcopy_rc,
              after.downtime, after.downtime_rc, after.state, after.reason, after.pid,
              after.parameters.size(), after.capabilities.size(),
              before.to_json() == after.to_json() ? "unchanged" : "CHANGED");
  std::fflush(stdout);
}

// Case 7. No side effects: the migration settings, speed and downtime, and the guest's state are
// as they were after a run, and after a run interrupted by SIGINT mid-measurement.
TEST_F(LoadGuest, NoSideEffectsEvenWhenInterrupted) {
  Snapshot before = snapshot(guest());
  EXPECT_EQ(before.state, VIR_DOMAIN_RUNNING);
  RunResult normal = tool({"--json", "--bandwidth", "64MiB/s", "--measure-time", "4s"});
  EXPECT_EQ(normal.exit_status, 0) << normal.describe();
  expect_unchanged(before, snapshot(guest()), "after a run");

  // Interrupted after 3 s: the zero-page sampling (0.6 s) and a 1 s period are done, the 2 s
  // period is being measured.
  RunResult interrupted = tool({"--json", "--bandwidth", "64MiB/s", "--measure-time", "4s"},
                               interrupt_after(3s));
  EXPECT_FALSE(interrupted.timed_out) << interrupted.describe();
  EXPECT_FALSE(interrupted.exit_status == 0 && interrupted.term_signal == 0)
      << "the run ended before the interrupt: nothing was interrupted\n" << interrupted.describe();
  std::printf("[figure] interrupted run: signal %d, exit %d, after %.2f s\n",
              interrupted.term_signal, interrupted.exit_status, interrupted.seconds);
  json dirty_rate = qmp(guest().name(), "query-dirty-rate");
  std::printf("[figure] QEMU's dirty-rate measurement right after the interrupt: %s\n",
              dirty_rate.value("status", "?").c_str());
  expect_unchanged(before, snapshot(guest()), "after an interrupted run");

  // QEMU may still be measuring for the interrupted run: the next run waits for it.
  RunResult next = tool({"--json", "--bandwidth", "64MiB/s", "--measure-time", "4s"});
  EXPECT_EQ(next.exit_status, 0) << next.describe();
  std::printf("[figure] next run: exit %d after %.2f s\n", next.exit_status, next.seconds);
  expect_unchanged(before, snapshot(guest()), "after the next run");
}

}  // namespace
}  // namespace vmp::it
