#include "virt/libvirt_watch_target.hpp"

#include <libvirt/libvirt.h>

#include <cmath>

#include "virt/libvirt.hpp"

namespace vmp::virt {

JobStats job_stats_from_params(int type, const virTypedParameter* params, int n) {
  auto t = typed_params(params, n);
  return JobStats{type, std::move(t.numbers), std::move(t.strings)};
}

JobStats LibvirtJobStats::read(bool completed) {
  int type = VIR_DOMAIN_JOB_NONE;
  virTypedParameterPtr params = nullptr;
  int n = 0;
  // Reading a completed job's statistics removes them unless asked to keep them: the record is
  // the administrator's (virsh domjobinfo --completed), not the tool's to take.
  const unsigned int flags =
      completed ? VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED : 0;
  if (virDomainGetJobStats(domain_.get(), &type, &params, &n, flags) < 0) {
    throw_libvirt_failure(domain_.name(), "reading the job statistics");
  }
  JobStats s = job_stats_from_params(type, params, n);
  virTypedParamsFree(params, n);
  return s;
}

nlohmann::json LibvirtWatchMonitor::execute(std::string_view command,
                                            const nlohmann::json& arguments) {
  try {
    return inner_.execute(command, arguments);
  } catch (const QmpError& e) {
    if (e.error_class() == "libvirt" && command == "query-migrate") {
      throw_libvirt_failure(domain_.name(),
                                  "asking QEMU for the migration's state (query-migrate)");
    }
    throw;
  }
}

// ------------------------------------------------------------------ events

namespace {
std::string close_reason(int reason) { return close_reason_text(reason); }
}  // namespace

LibvirtEvents::LibvirtEvents(const Connection& connection, const Domain& domain)
    : conn_(connection.get()) {
  // Keepalive is best effort: a driver without it (test://) still works, only without it.
  virConnectSetKeepAlive(conn_, kKeepAliveIntervalS, kKeepAliveCount);
  close_registered_ = virConnectRegisterCloseCallback(conn_, on_close, this, nullptr) == 0;
  lifecycle_id_ =
      virConnectDomainEventRegisterAny(conn_, domain.get(), VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), this, nullptr);
  job_id_ =
      virConnectDomainEventRegisterAny(conn_, domain.get(), VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                       VIR_DOMAIN_EVENT_CALLBACK(on_job_completed), this, nullptr);
}

LibvirtEvents::~LibvirtEvents() {
  if (lifecycle_id_ >= 0) virConnectDomainEventDeregisterAny(conn_, lifecycle_id_);
  if (job_id_ >= 0) virConnectDomainEventDeregisterAny(conn_, job_id_);
  if (close_registered_) virConnectUnregisterCloseCallback(conn_, on_close);
}

DomainEvents LibvirtEvents::events() {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

int LibvirtEvents::on_lifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* opaque) {
  auto* self = static_cast<LibvirtEvents*>(opaque);
  if (event == VIR_DOMAIN_EVENT_STOPPED) {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->events_.stopped_detail = detail;
  }
  return 0;
}

void LibvirtEvents::on_job_completed(virConnectPtr, virDomainPtr, virTypedParameterPtr params,
                                     int nparams, void* opaque) {
  auto* self = static_cast<LibvirtEvents*>(opaque);
  JobStats s = job_stats_from_params(VIR_DOMAIN_JOB_COMPLETED, params, nparams);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->events_.completed_job = s;
}

void LibvirtEvents::on_close(virConnectPtr, int reason, void* opaque) {
  auto* self = static_cast<LibvirtEvents*>(opaque);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->events_.connection_closed = close_reason(reason);
}

// ------------------------------------------------------------------ controls

std::optional<double> LibvirtControl::max_downtime_ms() {
  unsigned long long ms = 0;
  if (virDomainMigrateGetMaxDowntime(domain_.get(), &ms, 0) < 0) {
    throw_libvirt_failure(domain_.name(), "reading the max downtime");
  }
  return static_cast<double>(ms);
}

void LibvirtControl::set_max_downtime(double ms) {
  if (virDomainMigrateSetMaxDowntime(domain_.get(), static_cast<unsigned long long>(std::ceil(ms)),
                                     0) < 0) {
    throw_libvirt_failure(domain_.name(), "setting the max downtime");
  }
}

void LibvirtControl::start_postcopy(bool libvirt_job) {
  if (!libvirt_job && monitor_) {
    monitor_->execute("migrate-start-postcopy", nlohmann::json());
    return;
  }
  if (virDomainMigrateStartPostCopy(domain_.get(), 0) < 0) {
    throw_libvirt_failure(domain_.name(), "switching the migration to post-copy");
  }
}

void LibvirtControl::abort(bool libvirt_job) {
  if (!libvirt_job && monitor_) {
    monitor_->execute("migrate_cancel", nlohmann::json());
    return;
  }
  if (virDomainAbortJob(domain_.get()) < 0) {
    throw_libvirt_failure(domain_.name(), "aborting the migration");
  }
}

LibvirtWatchConnection::LibvirtWatchConnection(const std::optional<std::string>& uri,
                                               bool read_only, const std::string& domain,
                                               bool qmp)
    : connection_(Connection::open_qemu(uri, read_only, "guests' migrations can be watched")),
      domain_(connection_.lookup(domain)),
      job_(domain_),
      // QMP sees migrations libvirt does not run; it needs read-write and taints the domain.
      monitor_(qmp ? std::optional<LibvirtWatchMonitor>(std::in_place, domain_) : std::nullopt),
      control_(domain_, monitor_ ? &*monitor_ : nullptr),
      events_(connection_, domain_) {}

WatchConnector libvirt_watch_connector() {
  return [](const std::optional<std::string>& uri, bool read_only, const std::string& domain,
            bool qmp) -> std::unique_ptr<WatchConnection> {
    return std::make_unique<LibvirtWatchConnection>(uri, read_only, domain, qmp);
  };
}

}  // namespace vmp::virt
