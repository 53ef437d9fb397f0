// The command line: options in, one report and an exit status out. main() only forwards here, so
// tests run the whole tool in-process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "probe/clock.hpp"
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

int exit_status_for(const report::Report& report);
// Several domains: the most serious status among them, in this order: 1, 2, 4, 5, 3, 0.
int combined_exit_status(const std::vector<int>& statuses);

// What the live commands (--domain, --all-running, --watch) use of the world: libvirt, the clock, the
// claims' folder. Tests give connections that answer from recordings and a fake clock.
struct LiveServices {
  virt::LiveConnector connect = virt::libvirt_connector();
  virt::WatchConnector watch_connect = virt::libvirt_watch_connector();  // --watch
  probe::Clock* clock = nullptr;  // null: the system's clocks (the measurement's, the watch's)
  std::string claim_directory;    // empty: probe::default_claim_directory()
};

// args excludes the program name. `terminal`: err is a terminal, so progress may be shown.
int tool_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              bool terminal = false, const LiveServices& services = {});

}  // namespace vmp::cli
