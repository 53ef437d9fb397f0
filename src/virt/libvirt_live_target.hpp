#pragma once

#include <cstddef>

#include "virt/connection.hpp"
#include "virt/dirty_rate_calls.hpp"
#include "virt/events.hpp"
#include "virt/live_target.hpp"
#include "virt/monitor.hpp"

namespace vmp::virt {

// A running domain of a libvirt connection, as the measurement sees it. `events` (optional) is
// the connection's lifecycle log; what it held before the target was opened is not a change.
class LibvirtLiveTarget : public LiveTarget {
 public:
  LibvirtLiveTarget(const Connection& connection, Domain domain, const LifecycleLog* events);

  const std::string& name() const override { return domain_.name(); }
  std::string uuid() override { return domain_.uuid(); }
  bool read_only() const override { return connection_.read_only(); }
  std::string hypervisor_version() override { return connection_.hypervisor_version(); }
  std::string libvirt_version() override { return connection_.libvirt_version(); }
  std::string domain_xml() override { return domain_.xml(); }
  StateReading read_state() override;
  std::optional<LifecycleChange> lifecycle_change() override;
  std::optional<std::string> connection_closed() override;
  bool has_job() override;
  JobStats completed_job() override;
  std::optional<std::vector<std::uint64_t>> vcpu_times_ns() override;
  std::uint64_t rss_bytes() override;
  bool read_memory(std::uint64_t address, std::size_t length, unsigned char* buffer) override;
  bool read_memory_via_monitor(std::uint64_t address, std::size_t length,
                               unsigned char* buffer) override;
  Monitor& monitor() override { return monitor_; }
  DirtyRateCalls& dirty_rate_calls() override { return dirty_rate_calls_; }
  MigrationConfig libvirt_migration_settings() override;

 private:
  const Connection& connection_;
  Domain domain_;
  const LifecycleLog* events_;
  std::size_t events_at_start_;
  LibvirtMonitor monitor_;
  LibvirtDirtyRateCalls dirty_rate_calls_;
};

// A connection to libvirt's QEMU driver with its lifecycle events watched.
class LibvirtLiveConnection : public LiveConnection {
 public:
  LibvirtLiveConnection(const std::optional<std::string>& uri, bool read_only);
  std::vector<std::string> running_domains() override;
  std::unique_ptr<LiveTarget> open(const std::string& name) override;

 private:
  // In this order, so that they go in the reverse one: the loop before the connection it serves
  // (events are noticed at once), the events after the connection they use.
  LibvirtEventLoop loop_;
  Connection connection_;
  LifecycleLog events_;
  std::string uri_;  // as libvirt names it
  bool local_;       // this host's daemon: each target opens a connection of its own
};

}  // namespace vmp::virt
