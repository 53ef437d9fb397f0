#include "virt/events.hpp"

#include <libvirt/libvirt.h>

#include "base/error.hpp"
#include "virt/libvirt.hpp"

namespace vmp::virt {

LibvirtEventLoop::LibvirtEventLoop() {
  if (virEventRegisterDefaultImpl() < 0) {
    throw RuntimeError("cannot start libvirt's event loop: " + last_libvirt_error());
  }
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      if (virEventRunDefaultImpl() < 0) break;
    }
  });
}

LibvirtEventLoop::~LibvirtEventLoop() {
  stop_.store(true);
  // A timer due at once wakes the loop from its poll, so that it sees the flag.
  int timer = virEventAddTimeout(
      0, [](int, void*) {}, nullptr, nullptr);
  thread_.join();
  if (timer >= 0) virEventRemoveTimeout(timer);
}

std::string close_reason_text(int reason) {
  switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR:
      return "a read or write error";
    case VIR_CONNECT_CLOSE_REASON_EOF:
      return "the daemon closed the connection";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
      return "the daemon stopped answering (keepalive)";
    case VIR_CONNECT_CLOSE_REASON_CLIENT:
      return "closed by the client";
    default:
      return "closed";
  }
}

std::optional<std::string> lifecycle_text(int event, int detail) {
  switch (event) {
    case VIR_DOMAIN_EVENT_SUSPENDED:
      switch (detail) {
        case VIR_DOMAIN_EVENT_SUSPENDED_IOERROR:
          return "was paused by an I/O error";
        case VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG:
          return "was paused by its watchdog";
        case VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED:
        case VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY:
          return "was paused by a migration";
        default:
          return "was paused";
      }
    case VIR_DOMAIN_EVENT_RESUMED:
      return "was resumed";
    case VIR_DOMAIN_EVENT_STOPPED:
      switch (detail) {
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
          return "shut down";
        case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
          return "was destroyed";
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
          return "crashed";
        case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
          return "migrated away";
        case VIR_DOMAIN_EVENT_STOPPED_SAVED:
          return "was saved";
        default:
          return "stopped";
      }
    case VIR_DOMAIN_EVENT_SHUTDOWN:
      return detail == VIR_DOMAIN_EVENT_SHUTDOWN_GUEST ? "shut down from inside"
                                                       : "stopped (its QEMU shut down)";
    case VIR_DOMAIN_EVENT_CRASHED:
      return "crashed";
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
      return "was suspended by its guest";
    case VIR_DOMAIN_EVENT_STARTED:
      return "was started again";
    default:
      return std::nullopt;
  }
}

LifecycleLog::LifecycleLog(const Connection& connection) : conn_(connection.get()) {
  // Keepalive is best effort: a driver without it (test://) still works, only without it.
  virConnectSetKeepAlive(conn_, kKeepAliveIntervalS, kKeepAliveCount);
  close_registered_ = virConnectRegisterCloseCallback(conn_, on_close, this, nullptr) == 0;
  lifecycle_id_ =
      virConnectDomainEventRegisterAny(conn_, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), this, nullptr);
}

LifecycleLog::~LifecycleLog() {
  if (lifecycle_id_ >= 0) virConnectDomainEventDeregisterAny(conn_, lifecycle_id_);
  if (close_registered_) virConnectUnregisterCloseCallback(conn_, on_close);
}

int LifecycleLog::on_lifecycle(virConnectPtr, virDomainPtr dom, int event, int detail,
                               void* opaque) {
  auto* self = static_cast<LifecycleLog*>(opaque);
  auto text = lifecycle_text(event, detail);
  const char* name = virDomainGetName(dom);
  if (!text || !name) return 0;
  std::lock_guard lock(self->mutex_);
  self->events_[name].push_back({event, detail, *text});
  return 0;
}

void LifecycleLog::on_close(virConnectPtr, int reason, void* opaque) {
  auto* self = static_cast<LifecycleLog*>(opaque);
  std::lock_guard lock(self->mutex_);
  self->closed_ = close_reason_text(reason);
}

std::size_t LifecycleLog::count(const std::string& domain) const {
  std::lock_guard lock(mutex_);
  auto it = events_.find(domain);
  return it == events_.end() ? 0 : it->second.size();
}

bool LifecycleEvent::ends_qemu() const {
  return event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_SHUTDOWN ||
         event == VIR_DOMAIN_EVENT_CRASHED;
}

std::optional<LifecycleEvent> LifecycleLog::event(const std::string& domain, std::size_t n) const {
  std::lock_guard lock(mutex_);
  auto it = events_.find(domain);
  if (it == events_.end() || n >= it->second.size()) return std::nullopt;
  return it->second[n];
}

std::optional<std::string> LifecycleLog::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace vmp::virt
