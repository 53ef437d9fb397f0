#include "watch/sample.hpp"

#include "virt/job_keys.hpp"


namespace vmp::watch {

std::string to_string(JobOwner owner) {
  switch (owner) {
    case JobOwner::None:
      return "none";
    case JobOwner::Libvirt:
      return "libvirt";
    case JobOwner::Qmp:
      return "qmp";
  }
  return "none";
}

std::string to_string(Phase phase) {
  switch (phase) {
    case Phase::None:
      return "none";
    case Phase::Setup:
      return "setup";
    case Phase::Active:
      return "active";
    case Phase::PostcopyActive:
      return "postcopy-active";
    case Phase::Completed:
      return "completed";
    case Phase::Failed:
      return "failed";
    case Phase::Cancelled:
      return "cancelled";
  }
  return "none";
}

bool running(Phase phase) {
  return phase == Phase::Setup || phase == Phase::Active || phase == Phase::PostcopyActive;
}

Phase phase_from_qemu(const std::string& s) {
  if (s.empty() || s == "none") return Phase::None;
  if (s == "setup" || s == "wait-unplug") return Phase::Setup;
  if (s == "completed") return Phase::Completed;
  if (s == "failed") return Phase::Failed;
  if (s == "cancelled" || s == "cancelling") return Phase::Cancelled;
  if (s.rfind("postcopy", 0) == 0) return Phase::PostcopyActive;
  // active, pre-switchover, device, colo: the pre-copy stream or its end.
  return Phase::Active;
}

namespace {

class Builder {
 public:
  explicit Builder(Sample& s) : s_(s) {}

  template <typename T>
  void set(std::optional<T>& field, const char* name, std::optional<double> value,
           const std::string& source, bool overwrite = false) {
    if (!value || (field && !overwrite)) return;
    field = static_cast<T>(*value);
    s_.sources[name] = source;
  }

 private:
  Sample& s_;
};

std::optional<double> json_number(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

void from_libvirt(Sample& s, const JobStats& job) {
  Builder b(s);
  const std::string lv = "libvirt:";
  b.set(s.elapsed_ms, "elapsed_ms", job.number(virt::job::kTimeElapsed),
        lv + virt::job::kTimeElapsed);
  b.set(s.remaining_bytes, "remaining_bytes", job.number(virt::job::kDataRemaining),
        lv + virt::job::kDataRemaining);
  b.set(s.ram_remaining_bytes, "ram_remaining_bytes", job.number(virt::job::kMemoryRemaining),
        lv + virt::job::kMemoryRemaining);
  b.set(s.ram_transferred_bytes, "ram_transferred_bytes",
        job.number(virt::job::kMemoryProcessed), lv + virt::job::kMemoryProcessed);
  // Until QEMU's migration starts, libvirt's job reports zeros: they mean "not yet".
  auto total = job.number(virt::job::kMemoryTotal);
  if (total && *total > 0) {
    b.set(s.ram_total_bytes, "ram_total_bytes", total, lv + virt::job::kMemoryTotal);
  }
  b.set(s.iteration, "iteration", job.number(virt::job::kMemoryIteration),
        lv + virt::job::kMemoryIteration);
  auto page = job.number(virt::job::kMemoryPageSize);
  if (page && *page > 0) {
    b.set(s.page_size_bytes, "page_size_bytes", page, lv + virt::job::kMemoryPageSize);
  }
  auto pages_per_s = job.number(virt::job::kMemoryDirtyRate);
  if (pages_per_s && s.page_size_bytes) {
    b.set(s.dirty_rate_bytes_per_s, "dirty_rate_bytes_per_s", *pages_per_s * *s.page_size_bytes,
          lv + virt::job::kMemoryDirtyRate);
  }
  b.set(s.qemu_bandwidth_bytes_per_s, "qemu_bandwidth_bytes_per_s",
        job.number(virt::job::kMemoryBps), lv + virt::job::kMemoryBps);
  b.set(s.throttle_percent, "throttle_percent", job.number(virt::job::kAutoConvergeThrottle),
        lv + virt::job::kAutoConvergeThrottle);
  // While the job runs, libvirt's "downtime" is QEMU's expected downtime; once it has ended,
  // the real pause.
  if (job.running()) {
    b.set(s.qemu_expected_downtime_ms, "qemu_expected_downtime_ms",
          job.number(virt::job::kDowntime), lv + virt::job::kDowntime);
  } else {
    b.set(s.downtime_ms, "downtime_ms", job.number(virt::job::kDowntime),
          lv + virt::job::kDowntime);
  }
  if (auto e = job.string(virt::job::kErrmsg); e && s.error.empty()) s.error = *e;
}

void from_qmp(Sample& s, const nlohmann::json& q, bool clock_and_counters) {
  Builder b(s);
  const nlohmann::json ram = q.contains("ram") ? q["ram"] : nlohmann::json::object();
  // QEMU 11.1's system-wide figure wins: it is the only one that counts device state.
  b.set(s.remaining_bytes, "remaining_bytes", json_number(q, "remaining"), "qmp:remaining",
        /*overwrite=*/true);
  if (clock_and_counters) {
    b.set(s.elapsed_ms, "elapsed_ms", json_number(q, "total-time"), "qmp:total-time");
    b.set(s.ram_transferred_bytes, "ram_transferred_bytes", json_number(ram, "transferred"),
          "qmp:ram.transferred");
    b.set(s.iteration, "iteration", json_number(ram, "dirty-sync-count"),
          "qmp:ram.dirty-sync-count");
  }
  b.set(s.ram_remaining_bytes, "ram_remaining_bytes", json_number(ram, "remaining"),
        "qmp:ram.remaining");
  b.set(s.remaining_bytes, "remaining_bytes", json_number(ram, "remaining"), "qmp:ram.remaining");
  b.set(s.ram_total_bytes, "ram_total_bytes", json_number(ram, "total"), "qmp:ram.total");
  b.set(s.page_size_bytes, "page_size_bytes", json_number(ram, "page-size"), "qmp:ram.page-size");
  auto pages_per_s = json_number(ram, "dirty-pages-rate");
  if (pages_per_s && s.page_size_bytes) {
    b.set(s.dirty_rate_bytes_per_s, "dirty_rate_bytes_per_s", *pages_per_s * *s.page_size_bytes,
          "qmp:ram.dirty-pages-rate");
  }
  // mbps is megabits per second, SI.
  if (auto mbps = json_number(ram, "mbps")) {
    b.set(s.qemu_bandwidth_bytes_per_s, "qemu_bandwidth_bytes_per_s", *mbps * 1e6 / 8,
          "qmp:ram.mbps");
  }
  b.set(s.qemu_expected_downtime_ms, "qemu_expected_downtime_ms",
        json_number(q, "expected-downtime"), "qmp:expected-downtime");
  b.set(s.throttle_percent, "throttle_percent", json_number(q, "cpu-throttle-percentage"),
        "qmp:cpu-throttle-percentage");
  if (q.contains("vfio")) {
    b.set(s.vfio_transferred_bytes, "vfio_transferred_bytes", json_number(q["vfio"], "transferred"),
          "qmp:vfio.transferred");
  }
  if (s.phase == Phase::Completed) {
    b.set(s.downtime_ms, "downtime_ms", json_number(q, "downtime"), "qmp:downtime");
  }
  if (q.contains("error-desc") && q["error-desc"].is_string() && s.error.empty()) {
    s.error = q["error-desc"].get<std::string>();
  }
}

}  // namespace

Sample merge_sample(double at_ms, const std::optional<JobStats>& job,
                    const std::optional<nlohmann::json>& query_migrate) {
  Sample s;
  s.at_ms = at_ms;
  const bool libvirt_migrating = job && job->running() && job->migrating_out();
  Phase qmp_phase = Phase::None;
  if (query_migrate && query_migrate->is_object()) {
    s.qemu_status = query_migrate->value("status", "");
    qmp_phase = phase_from_qemu(s.qemu_status);
  }
  if (libvirt_migrating) {
    s.owner = JobOwner::Libvirt;
  } else if (running(qmp_phase)) {
    s.owner = JobOwner::Qmp;
  }
  if (libvirt_migrating) {
    from_libvirt(s, *job);
    // libvirt's job starts before QEMU's migration does (the destination is being prepared).
    // Until QEMU reports an iteration it is setting up, whatever QEMU's status says: that is
    // still the previous migration's, completed or failed.
    if (s.iteration.value_or(0) < 1) {
      s.phase = Phase::Setup;
      return s;
    }
    s.phase = qmp_phase != Phase::None ? qmp_phase : Phase::Active;
  } else {
    s.phase = qmp_phase;
  }
  if (query_migrate && query_migrate->is_object()) {
    from_qmp(s, *query_migrate, s.owner != JobOwner::Libvirt);
  }
  return s;
}

Sample sample_from_finished_job(double at_ms, const JobStats& job) {
  Sample s;
  s.at_ms = at_ms;
  s.owner = JobOwner::Libvirt;
  switch (job.type) {
    case virt::job::kCompleted:
      s.phase = Phase::Completed;
      break;
    case virt::job::kFailed:
      s.phase = Phase::Failed;
      break;
    case virt::job::kCancelled:
      s.phase = Phase::Cancelled;
      break;
    default:
      s.phase = Phase::None;
      break;
  }
  from_libvirt(s, job);
  return s;
}

}  // namespace vmp::watch
