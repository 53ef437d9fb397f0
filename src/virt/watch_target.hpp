#pragma once

// A migration as --watch follows it, from libvirt and QEMU, behind interfaces: the watch
// (src/watch/) sees no libvirt. LibvirtWatchConnection (virt/libvirt_watch_target.hpp) is the
// real one; the measurement's LiveTarget (virt/live_target.hpp) is its sibling.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "virt/job_stats.hpp"
#include "virt/monitor.hpp"

namespace vmp::virt {

// What libvirt's events said about the domain so far.
struct DomainEvents {
  // stopped::* (VIR_DOMAIN_EVENT_STOPPED_*) once the domain stopped (kMigrated: it now runs on
  // the destination).
  std::optional<int> stopped_detail;
  std::optional<JobStats> completed_job;         // the job-completed event's statistics
  std::optional<std::string> connection_closed;  // why, when the connection went away
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual DomainEvents events() = 0;
};

// The migration's controls: what the advice may change, only with --apply.
class MigrationControl {
 public:
  virtual ~MigrationControl() = default;
  virtual std::optional<double> max_downtime_ms() = 0;  // the limit QEMU uses now
  virtual void set_max_downtime(double ms) = 0;
  virtual void start_postcopy(bool libvirt_job) = 0;
  virtual void abort(bool libvirt_job) = 0;
};

// One domain of a connection, for --watch: its job statistics, QMP (when asked for and
// allowed), the migration's controls and its events.
class WatchConnection {
 public:
  virtual ~WatchConnection() = default;
  virtual const std::string& domain() const = 0;  // the domain's name
  virtual std::string uri() = 0;
  virtual bool active() = 0;
  virtual std::string state_text() = 0;  // "shut off", ...
  virtual std::string domain_xml() = 0;
  virtual JobStatsReader& job() = 0;
  virtual Monitor* monitor() = 0;  // null without QMP
  virtual MigrationControl& control() = 0;
  virtual EventSource& events() = 0;
};

// Opens the domain (name, UUID or id) on the connection (URI, read-only), with QMP or not.
using WatchConnector = std::function<std::unique_ptr<WatchConnection>(
    const std::optional<std::string>& uri, bool read_only, const std::string& domain, bool qmp)>;

// libvirt's own (virt/libvirt_watch_target.cpp).
WatchConnector libvirt_watch_connector();

}  // namespace vmp::virt
