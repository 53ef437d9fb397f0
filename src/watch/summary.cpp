#include "watch/summary.hpp"

#include <algorithm>

namespace vmp::watch {
namespace {

// What every summary carries, whatever the ending.
WatchSummary kept(const Observed& seen) {
  WatchSummary summary;
  summary.domain = seen.domain;
  summary.at_attach = seen.at_attach;
  summary.at_second_iteration = seen.at_second_iteration;
  summary.stall = seen.stall;
  summary.applied = seen.applied;
  summary.iterations = seen.iterations;
  return summary;
}

WatchSummary completed_with(const Observed& seen, const Sample& s, const std::string& from) {
  WatchSummary summary = kept(seen);
  summary.outcome = "completed";
  summary.total_time_ms = s.elapsed_ms;
  summary.downtime_ms = s.downtime_ms;
  summary.figures_from = from;
  if (s.iteration) summary.iterations = std::max(summary.iterations, *s.iteration);
  summary.exit_status = kWatchCompleted;
  return summary;
}

}  // namespace

WatchSummary no_migration_summary(const Observed& seen, const Sample& s, bool qmp,
                                  const std::string& no_monitor_reason) {
  std::string why;
  if (qmp) {
    why = "libvirt has no migration job and QEMU's migration status is '" +
          (s.qemu_status.empty() ? std::string("none") : s.qemu_status) + "'";
  } else {
    why = "libvirt has no migration job (" + no_monitor_reason + ")";
  }
  WatchSummary summary = kept(seen);
  summary.outcome = "none";
  summary.detail = "domain " + seen.domain + " has no migration running: " + why;
  summary.exit_status = kWatchNoMigration;
  return summary;
}

WatchSummary completed_summary(const Observed& seen, const std::optional<Sample>& libvirt_final) {
  if (libvirt_final) return completed_with(seen, *libvirt_final, "libvirt");
  // QEMU's own figures, if it said completed before it went.
  if (seen.last && seen.last->phase == Phase::Completed) {
    return completed_with(seen, *seen.last, "qmp");
  }
  Sample none = seen.last.value_or(Sample{});
  none.elapsed_ms.reset();
  none.downtime_ms.reset();
  WatchSummary summary = completed_with(seen, none, "");
  summary.detail = "libvirt reported no final figures";
  return summary;
}

WatchSummary ended_summary(const Observed& seen, Phase phase, const std::string& detail) {
  WatchSummary summary = kept(seen);
  summary.outcome = phase == Phase::Cancelled ? "cancelled" : "failed";
  summary.detail = detail;
  if (seen.last && seen.last->elapsed_ms) summary.total_time_ms = seen.last->elapsed_ms;
  summary.exit_status = kWatchFailed;
  return summary;
}

std::string ended_detail(Phase phase, const std::string& error) {
  return "migration " + to_string(phase) + (error.empty() ? "" : ": " + error);
}

std::string stopped_detail(const std::string& how) {
  return "the domain stopped (" + how + ") while migrating: the migration failed";
}

WatchSummary interrupted_summary(const Observed& seen, int signal) {
  WatchSummary summary = kept(seen);
  summary.outcome = "interrupted";
  summary.detail =
      "stopped watching (signal " + std::to_string(signal) + "); the migration goes on";
  summary.exit_status = 128 + signal;
  return summary;
}

WatchSummary error_summary(const Observed& seen, const std::string& what, const std::string& key) {
  WatchSummary summary = kept(seen);
  summary.outcome = "error";
  summary.detail = what;
  summary.error_key = key;
  summary.exit_status = kWatchError;
  return summary;
}

WatchSummary vanished_summary(const Observed& seen, const std::string& what) {
  return error_summary(seen, what + " (it vanished while its migration was being watched)",
                       "domain-not-found");
}

}  // namespace vmp::watch
