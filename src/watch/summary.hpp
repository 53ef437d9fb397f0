// How a watch ends: the WatchSummary handed to WatchOutput::finished, with the exit status in it.
// Pure: built from what the watch kept as it went (Observed) and the ending it saw, with no I/O,
// no libvirt call and no clock, so that every ending's outcome, figures and exit status are
// tested without a migration. The Watcher decides which ending it saw and hands the result on.
#pragma once

#include <optional>
#include <string>

#include "watch/forecast.hpp"
#include "watch/sample.hpp"
#include "watch/stall.hpp"
#include "watch/watch.hpp"

namespace vmp::watch {

// What the watch keeps for its summary, whatever the ending: every summary carries the
// forecasts, the stall, the applied action and the iteration count seen until then.
struct Observed {
  std::string domain;
  // The last sample read: the migration's own figures when its end gives none.
  std::optional<Sample> last;
  std::optional<Forecast> at_attach;
  std::optional<Forecast> at_second_iteration;
  std::optional<Stall> stall;  // the latest one
  std::optional<AppliedAction> applied;
  int iterations = 0;  // the highest iteration whose start was seen
};

// Nothing to watch (kWatchNoMigration), from the sample that showed no job. `qmp`: QEMU was
// asked, and its migration status is said; else `no_monitor_reason` says why it was not.
WatchSummary no_migration_summary(const Observed& seen, const Sample& s, bool qmp,
                                  const std::string& no_monitor_reason);

// The migration completed (kWatchCompleted). `libvirt_final`: libvirt's figures of the
// completed job (its job-completed event, or the completed job's statistics), when it gave
// them; else QEMU's, when the last sample says completed; else none, and the detail says so.
WatchSummary completed_summary(const Observed& seen, const std::optional<Sample>& libvirt_final);

// The migration failed or was cancelled (kWatchFailed). Its time so far is the last sample's.
WatchSummary ended_summary(const Observed& seen, Phase phase, const std::string& detail);

// The detail of a migration that reports its end: "migration cancelled", or "migration failed:
// " and the error libvirt or QEMU gave.
std::string ended_detail(Phase phase, const std::string& error);

// The detail of a domain that stopped while migrating. `how`: what libvirt's lifecycle event
// said ("destroyed", "crashed", ...; the Watcher reads libvirt's codes, this layer does not).
std::string stopped_detail(const std::string& how);

// Stopped by a signal (128 + its number): the migration goes on without the watch.
WatchSummary interrupted_summary(const Observed& seen, int signal);

// libvirt or QEMU failed, or the connection dropped (kWatchError). `key`: the error's machine
// key (man page), e.g. "connection".
WatchSummary error_summary(const Observed& seen, const std::string& what, const std::string& key);

// The domain vanished and no event said why (kWatchError, key "domain-not-found").
WatchSummary vanished_summary(const Observed& seen, const std::string& what);

}  // namespace vmp::watch
