// --watch: attach to a domain's running migration and follow it to its end, with an expected
// downtime of our own, a predicted completion, stall detection and advice (applied only with
// --apply). The loop reads and acts through narrow interfaces (libvirt's job statistics, QMP,
// libvirt's events, the migration's controls), so that tests replay recorded migrations on a
// fake clock.
#pragma once

#include <atomic>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/defaults.hpp"
#include "model/dirty_curve.hpp"
#include "probe/clock.hpp"
#include "probe/profile.hpp"
#include "virt/domain_facts.hpp"
#include "watch/forecast.hpp"
#include "virt/job_stats.hpp"
#include "virt/watch_target.hpp"
#include "watch/sample.hpp"
#include "watch/stall.hpp"
#include "watch/tracker.hpp"

namespace vmp::virt {
class Monitor;
}

namespace vmp::watch {

using virt::ConnectionLost;
using virt::DomainEvents;
using virt::DomainGone;
using virt::EventSource;
using virt::JobStatsReader;
using virt::MigrationControl;

// Exit statuses of --watch. 1 and 2 keep their meaning (error, usage); 3-5 are the prediction's
// verdicts and are not used here. Interrupted by SIGINT or SIGTERM: 128 + the signal's number.
enum WatchExit : int {
  kWatchCompleted = 0,     // the migration completed
  kWatchError = 1,         // libvirt or QEMU failed, the domain vanished, the connection dropped
  kWatchUsage = 2,         // the command line is wrong
  kWatchNoMigration = 10,  // the domain has no migration running: nothing to watch
  kWatchFailed = 11,       // the migration failed or was cancelled (also by --apply's abort)
};

struct WatchTarget {
  std::string domain;
  std::string uri;
  JobStatsReader* job = nullptr;     // libvirt's job statistics
  virt::Monitor* monitor = nullptr;  // QMP; null with --no-qmp
  // Why there is no monitor, for messages.
  std::string no_monitor_reason = "with --no-qmp a migration started through QMP cannot be seen";
  MigrationControl* control = nullptr;
  EventSource* events = nullptr;
  virt::DomainFacts facts;
};

// --interval's bounds.
constexpr double kMinIntervalMs = 50, kMaxIntervalMs = 60000;

struct WatchOptions {
  double interval_ms = 200;
  bool apply = false;
  double max_downtime_ms = model::kDefaultMaxDowntimeMs;  // --max-downtime: the most advised
  std::optional<double> link_bytes_per_s;      // --link-speed
  double deadline_ms = model::kDefaultDeadlineMs;  // the rest of the migration, for the model
  std::optional<probe::DirtyProfile> profile;  // --profile: the dirty curve measured before
  std::string profile_path;
  model::CurvePolicy curve_policy = model::CurvePolicy::Auto;
  StallRule stall_rule;
  // Readings that keep failing for this long end the watch (a daemon that hangs).
  double give_up_after_ms = 60000;
};

// One sample with what the watch derives from it.
struct SampleView {
  Sample sample;
  std::optional<double> throughput_bytes_per_s;  // over kThroughputWindowMs
  // Ours: pending if the guest paused now (remaining plus what was dirtied since QEMU's last
  // sync) over `downtime_rate_bytes_per_s`.
  std::optional<double> expected_downtime_ms;
  std::optional<double> pending_if_paused_bytes;
  std::optional<double> dirtied_since_sync_bytes;
  std::optional<double> downtime_rate_bytes_per_s;
  bool downtime_at_link_speed = false;
  std::optional<double> predicted_total_time_ms;  // on the migration's clock; absent: no end
  std::optional<bool> predicted_converges;
  std::optional<double> downtime_limit_ms;
  bool stalled = false;
};

struct IterationView {
  IterationRecord record;
  std::optional<Forecast> forecast;  // made at its start
  std::string curve_origin;          // "profile", "iterations", "QEMU's dirty rate"
  std::optional<double> downtime_limit_ms;
};

struct AttachView {
  std::string domain;
  JobOwner owner = JobOwner::None;
  Sample sample;
  std::optional<double> downtime_limit_ms;
  std::optional<bool> postcopy_allowed;
  DirtyGranularity granularity;
  std::string curve_origin;
  std::optional<Forecast> forecast;
  bool apply = false;
};

struct AppliedAction {
  StallAdvice advice;
  double at_elapsed_ms = 0;
  int iteration = 0;
  bool ok = true;
  std::string error;
};

struct WatchSummary {
  std::string domain;
  // completed, failed, cancelled, interrupted, none (nothing to watch), or error (the domain
  // vanished, libvirt failed).
  std::string outcome;
  std::string detail;  // one line: why it failed, what the error was
  std::string error_key;  // outcome "error": the machine key of the error (man page)
  std::optional<double> total_time_ms;
  std::optional<double> downtime_ms;
  std::string figures_from;  // "libvirt" or "qmp"
  std::optional<Forecast> at_attach;
  std::optional<Forecast> at_second_iteration;
  std::optional<Stall> stall;
  std::optional<AppliedAction> applied;
  int iterations = 0;
  int exit_status = kWatchError;
};

class WatchOutput {
 public:
  virtual ~WatchOutput() = default;
  virtual void attached(const AttachView& view) = 0;
  virtual void sample(const SampleView& view) = 0;
  virtual void iteration(const IterationView& view) = 0;
  virtual void stall(const Stall& stall, const StallAdvice& advice) = 0;
  virtual void applied(const AppliedAction& action) = 0;
  // The end: also "nothing to watch" (outcome "none") and errors (outcome "error").
  virtual void finished(const WatchSummary& summary) = 0;
};

// Runs until the migration ends, `stop` holds a signal number, or an error. Returns the exit
// status (also in the summary given to out.finished()).
int watch_migration(WatchTarget& target, const WatchOptions& options, probe::Clock& clock,
                    WatchOutput& out, const std::atomic<int>* stop = nullptr);

// --watch from the command line, checked and parsed by the command line's own rules (cli/).
struct WatchRequest {
  std::string domain;
  std::optional<std::string> connect;  // absent: libvirt's default URI
  bool readonly = false;
  bool no_qmp = false;
  bool json = false;
  bool quiet = false;
  WatchOptions options;
};

// Throws RuntimeError when libvirt fails before watching.
// `connect` opens the domain's migration: libvirt's (virt::libvirt_watch_connector()) or a test's;
// `clock` is the system's, or a test's.
int run_watch(const WatchRequest& request, std::ostream& out, std::ostream& err, bool terminal,
              const virt::WatchConnector& connect, probe::Clock& clock);

// --json: the watch ended by an error before or instead of watching, as the stream's last
// event (a summary with outcome "error" and the error's key), so that a consumer always gets
// one. Returns `status`.
int json_error_summary(std::ostream& out, std::ostream& err, const std::string& domain,
                       const std::string& detail, const std::string& error_key, int status);

// Human output: the live line on a terminal (err), events and the summary on `out`.
std::unique_ptr<WatchOutput> human_output(std::ostream& out, std::ostream& err, bool live_line);
// --json: one JSON object per line on `out`: attach, sample, iteration, stall, applied, summary.
std::unique_ptr<WatchOutput> json_output(std::ostream& out, std::ostream& err);

}  // namespace vmp::watch
