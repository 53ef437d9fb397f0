// The one thing to do, derived from the advice: the verdict with the settings to migrate with,
// the virsh commands that set them, and what the migration then looks like. The human summary
// line and the JSON's "recommended" object both come from here, so they cannot disagree.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/report.hpp"

namespace vmp::report {

struct Recommendation {
  model::Verdict verdict = model::Verdict::Migrate;
  double downtime_limit_ms = 0;      // the max downtime to migrate with
  double bandwidth_bytes_per_s = 0;  // the max speed to migrate with
  // Options for `virsh migrate` beyond --live: --auto-converge, --postcopy ...
  std::vector<std::string> migrate_flags;
  // What to run before migrating, in order (empty when nothing changes).
  std::vector<std::string> commands;
  double total_time_ms = 0;
  double downtime_ms = 0;  // the guest's pause
  // auto-converge: how hard and how long the guest is slowed
  double final_throttle_pct = 0;
  double throttled_ms = 0;
  // post-copy: how long the guest runs with remote page faults, and when that starts
  double postcopy_phase_ms = 0;
  bool postcopy_phase_lower_bound = false;  // uncapped: at the link's speed, QEMU may be slower
  double switchover_ms = 0;
};

// Absent for do-not-migrate and when no bandwidth is known.
std::optional<Recommendation> recommend(const Report& report);

// A migration flag or command line names the domain; offline (a profile) it is DOMAIN.
std::string domain_word(const Report& report);

}  // namespace vmp::report
