// The watch's outside world through libvirt: its event loop (for lifecycle and job-completed
// events and keepalive), and the migration's controls.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include <memory>
#include <optional>
#include <string>

#include "virt/connection.hpp"
#include "virt/events.hpp"
#include "virt/monitor.hpp"
#include "virt/watch_target.hpp"

namespace vmp::virt {

// The job type and libvirt's typed parameters as JobStats: from virDomainGetJobStats, and from
// the job-completed event, which carries the same parameters.
JobStats job_stats_from_params(int type, const virTypedParameter* params, int n);

class LibvirtJobStats : public JobStatsReader {
 public:
  explicit LibvirtJobStats(const Domain& domain) : domain_(domain) {}
  JobStats read(bool completed) override;

 private:
  const Domain& domain_;
};

// Lifecycle and job-completed events of one domain, the connection's closing, and keepalive so
// that a daemon that went away is noticed instead of waited for.
class LibvirtEvents : public EventSource {
 public:
  LibvirtEvents(const Connection& connection, const Domain& domain);
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
class LibvirtWatchMonitor : public Monitor {
 public:
  explicit LibvirtWatchMonitor(const Domain& domain) : domain_(domain), inner_(domain) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments) override;

 private:
  const Domain& domain_;
  LibvirtMonitor inner_;
};

// libvirt's API for what libvirt runs (and for the max downtime, which it sets in QEMU either
// way); QMP for a migration a QMP client started.
class LibvirtControl : public MigrationControl {
 public:
  LibvirtControl(const Domain& domain, Monitor* monitor)
      : domain_(domain), monitor_(monitor) {}
  std::optional<double> max_downtime_ms() override;
  void set_max_downtime(double ms) override;
  void start_postcopy(bool libvirt_job) override;
  void abort(bool libvirt_job) override;

 private:
  const Domain& domain_;
  Monitor* monitor_;
};

// A domain of a libvirt connection, for --watch: the event loop (lifecycle and job-completed
// events, keepalive), the connection, the domain, and the adapters above.
class LibvirtWatchConnection : public WatchConnection {
 public:
  LibvirtWatchConnection(const std::optional<std::string>& uri, bool read_only,
                         const std::string& domain, bool qmp);
  const std::string& domain() const override { return domain_.name(); }
  std::string uri() override { return connection_.uri(); }
  bool active() override { return domain_.is_active(); }
  std::string state_text() override { return domain_.state_text(); }
  std::string domain_xml() override { return domain_.xml(); }
  JobStatsReader& job() override { return job_; }
  Monitor* monitor() override { return monitor_ ? &*monitor_ : nullptr; }
  MigrationControl& control() override { return control_; }
  EventSource& events() override { return events_; }

 private:
  // In this order, so that they go in the reverse one: the events before the connection they
  // use, the loop after the connection it serves.
  LibvirtEventLoop loop_;
  Connection connection_;
  Domain domain_;
  LibvirtJobStats job_;
  std::optional<LibvirtWatchMonitor> monitor_;
  LibvirtControl control_;
  LibvirtEvents events_;
};

}  // namespace vmp::virt
