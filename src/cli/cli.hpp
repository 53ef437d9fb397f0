// The command line: options in, one report and an exit status out. main() only forwards here, so
// tests run the whole tool in-process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "model/defaults.hpp"
#include "model/dirty_curve.hpp"
#include "probe/clock.hpp"
#include "probe/profile.hpp"
#include "report/report.hpp"
#include "virt/live_target.hpp"
#include "virt/watch_target.hpp"

namespace vmp::cli {

// Documented in --help and the man page; scripts depend on them.
enum ExitStatus : int {
  kExitConverges = 0,        // converges with the settings in effect
  kExitError = 1,            // the run failed: libvirt/QEMU error, domain not running, bad profile
  kExitUsage = 2,            // the command line is wrong
  kExitChangedSettings = 3,  // converges only with changed settings (the advice says which)
  kExitNoConvergence = 4,    // nothing allowed converges: do not migrate
  kExitNoBandwidth = 5,      // no verdict: no migration bandwidth known
  kExitInterrupted = 128,    // + the signal's number: 130 SIGINT, 143 SIGTERM
};

using model::kDefaultDeadlineMs;
using model::kDefaultDowntimeLimitMs;

struct PredictOptions {
  report::Settings settings;
  model::CurvePolicy curve_policy = model::CurvePolicy::Auto;
  model::AdviceLimits limits;
  bool with_grid = false;
  // The guest's auto-converge parameters (QEMU's, else QEMU's defaults) and what rules out or
  // caps post-copy; a saved profile knows neither, and gets the defaults.
  model::AutoConverge auto_converge;
  model::PostcopyConstraints postcopy;
  // QEMU's own parameters that change pre-copy itself (read from a live domain; a saved profile
  // knows neither): avail-switchover-bandwidth, and zero-page-detection none, which sends zero
  // pages whole.
  double switchover_bandwidth_bytes_per_s = 0;
  bool zero_page_detection = true;
};

// With no cap on the migration, the link's speed is what it gets.
report::Settings with_link_as_bandwidth(report::Settings settings);

// The pure half of a run: a measured profile and the settings in, a report out.
report::Report predict(std::string subject, probe::DirtyProfile profile,
                       const PredictOptions& options);

int exit_status_for(const report::Report& report);
// Several domains: the most serious status among them, in this order: 1, 2, 4, 5, 3, 0.
int combined_exit_status(const std::vector<int>& statuses);

// Settings in effect for a live domain: the command line wins, then what libvirt applies to a
// migration it starts. QEMU's own max-bandwidth (128 MiB/s by default) is not what a libvirt
// migration uses: libvirt passes its own value when the migration starts.
void apply_domain_settings(report::Settings& settings, const virt::MigrationConfig& config);
// Auto-converge parameters as QEMU has them now (libvirt passes them on unless the migration
// names its own), and post-copy's cap and whether VFIO devices rule it out.
void apply_guest_constraints(PredictOptions& options, const virt::MigrationConfig& config,
                             const virt::DomainFacts& facts);

// args excludes the program name. `terminal`: err is a terminal, so progress may be shown.
// What the live commands (--domain, --all-running, --watch) use of the world: libvirt, the clock, the
// claims' folder. Tests give connections that answer from recordings and a fake clock.
struct LiveServices {
  virt::LiveConnector connect = virt::libvirt_connector();
  virt::WatchConnector watch_connect = virt::libvirt_watch_connector();  // --watch
  probe::Clock* clock = nullptr;  // null: the system's clocks (the measurement's, the watch's)
  std::string claim_directory;    // empty: probe::default_claim_directory()
};

int tool_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              bool terminal = false, const LiveServices& services = {});

}  // namespace vmp::cli
