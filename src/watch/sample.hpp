// One look at a running migration: libvirt's job statistics and QEMU's query-migrate merged into
// one set of figures, each with where it came from. Pure: the readings come in as values.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "virt/job_stats.hpp"

namespace vmp::watch {

using virt::JobStats;

// Who runs the migration: libvirt (virsh migrate; its job API sees it) or a client of QEMU's
// monitor (QMP `migrate`; only query-migrate sees it).
enum class JobOwner { None, Libvirt, Qmp };
std::string to_string(JobOwner owner);

// QEMU's migration states (MigrationStatus), reduced to what the watch acts on.
enum class Phase { None, Setup, Active, PostcopyActive, Completed, Failed, Cancelled };
std::string to_string(Phase phase);
bool running(Phase phase);
Phase phase_from_qemu(const std::string& status);

struct Sample {
  double at_ms = 0;  // the watch's own clock
  JobOwner owner = JobOwner::None;
  Phase phase = Phase::None;
  std::string qemu_status;  // as QEMU says it ("active", "pre-switchover", ...); empty without QMP
  // The migration's own clock: libvirt's time_elapsed, or QEMU's total-time.
  std::optional<double> elapsed_ms;
  // All that is still to send: QEMU's system-wide `remaining` (11.1+: RAM and device state such
  // as VFIO) when it reports one, else libvirt's data_remaining, else RAM's.
  std::optional<double> remaining_bytes;
  std::optional<double> ram_remaining_bytes;  // dirty pages x page size
  std::optional<double> ram_transferred_bytes;
  std::optional<double> ram_total_bytes;
  std::optional<int> iteration;  // dirty bitmap syncs so far: 1 during the first pass
  std::optional<double> dirty_rate_bytes_per_s;  // QEMU's, over its last period of >= 1 s
  std::optional<double> page_size_bytes;
  std::optional<double> qemu_expected_downtime_ms;
  std::optional<double> qemu_bandwidth_bytes_per_s;  // QEMU's last 100 ms window
  std::optional<double> throttle_percent;            // auto-converge
  std::optional<double> vfio_transferred_bytes;
  std::optional<double> downtime_ms;  // the real pause, once completed
  std::string error;                  // why it failed, when QEMU or libvirt says
  // Figure name -> source, e.g. "remaining_bytes" -> "qmp:remaining".
  std::map<std::string, std::string> sources;
};

// `job`: libvirt's job now, absent when not read; `query_migrate`: QEMU's reply, absent without
// QMP. Figures libvirt has come from libvirt when it runs the migration (its clock and counters
// belong together), the rest from QMP. A field a QEMU or libvirt does not report stays absent.
Sample merge_sample(double at_ms, const std::optional<JobStats>& job,
                    const std::optional<nlohmann::json>& query_migrate);

// libvirt's statistics of a job that ended (VIR_DOMAIN_JOB_STATS_COMPLETED or the job-completed
// event): completed, failed or cancelled, with its totals.
Sample sample_from_finished_job(double at_ms, const JobStats& job);

}  // namespace vmp::watch
