// The watch's outside world through libvirt: its event loop (for lifecycle and job-completed
// events and keepalive), and the migration's controls.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include "virt/connection.hpp"
#include "virt/events.hpp"
#include "virt/monitor.hpp"
#include "watch/watch.hpp"

namespace vmp::watch {

// The job type and libvirt's typed parameters as JobStats: from virDomainGetJobStats, and from
// the job-completed event, which carries the same parameters.
JobStats job_stats_from_params(int type, const virTypedParameter* params, int n);

class LibvirtJobStats : public JobStatsReader {
 public:
  explicit LibvirtJobStats(const virt::Domain& domain) : domain_(domain) {}
  JobStats read(bool completed) override;

 private:
  const virt::Domain& domain_;
};

using virt::LibvirtEventLoop;

// Lifecycle and job-completed events of one domain, the connection's closing, and keepalive so
// that a daemon that went away is noticed instead of waited for.
class LibvirtEvents : public EventSource {
 public:
  LibvirtEvents(const virt::Connection& connection, const virt::Domain& domain);
  ~LibvirtEvents() override;
  LibvirtEvents(const LibvirtEvents&) = delete;
  LibvirtEvents& operator=(const LibvirtEvents&) = delete;
  DomainEvents events() override;

 private:
  static int on_lifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* opaque);
  static void on_job_completed(virConnectPtr, virDomainPtr, virTypedParameterPtr params,
                               int nparams, void* opaque);
  static void on_close(virConnectPtr, int reason, void* opaque);

  virConnectPtr conn_;
  int lifecycle_id_ = -1, job_id_ = -1;
  bool close_registered_ = false;
  std::mutex mutex_;
  DomainEvents events_;
};

// QMP through libvirt for the watch: a query-migrate that libvirt itself fails (the domain gone,
// the connection lost) is said as libvirt's failure, as every other reading is.
class LibvirtWatchMonitor : public virt::Monitor {
 public:
  explicit LibvirtWatchMonitor(const virt::Domain& domain) : domain_(domain), inner_(domain) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments) override;

 private:
  const virt::Domain& domain_;
  virt::LibvirtMonitor inner_;
};

// libvirt's API for what libvirt runs (and for the max downtime, which it sets in QEMU either
// way); QMP for a migration a QMP client started.
class LibvirtControl : public MigrationControl {
 public:
  LibvirtControl(const virt::Domain& domain, virt::Monitor* monitor)
      : domain_(domain), monitor_(monitor) {}
  std::optional<double> max_downtime_ms() override;
  void set_max_downtime(double ms) override;
  void start_postcopy(bool libvirt_job) override;
  void abort(bool libvirt_job) override;

 private:
  const virt::Domain& domain_;
  virt::Monitor* monitor_;
};

}  // namespace vmp::watch
