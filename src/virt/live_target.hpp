#pragma once

// Everything a live measurement needs of one running domain, from libvirt and QEMU, behind one
// interface: the measurement (probe/live.cpp) sees no libvirt, and tests run it against a target
// that answers from exchanges recorded on a real stack. LibvirtLiveTarget
// (virt/libvirt_live_target.hpp) is the real one. The watch's WatchTarget is its sibling.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "virt/dirty_rate_calls.hpp"
#include "virt/job_stats.hpp"
#include "virt/migration_config.hpp"
#include "virt/monitor.hpp"

namespace vmp::virt {

// The domain's run state as read during a measurement.
struct StateReading {
  bool running = true;
  bool ends_qemu = false;  // stopped, crashed or vanished: QEMU is gone
  std::string what;        // when not running: "is paused", "vanished (destroyed or undefined)"
  // The state could not be read (the domain did not vanish): libvirt's message.
  std::optional<std::string> error;
  std::optional<std::string> connection_lost;  // why, when the connection itself failed
};

// A lifecycle event of the domain since the target was opened (libvirt's events).
struct LifecycleChange {
  std::string what;  // "was paused", "was destroyed", ...
  bool ends_qemu = false;
};

class LiveTarget {
 public:
  virtual ~LiveTarget() = default;

  virtual const std::string& name() const = 0;
  virtual std::string uuid() = 0;  // "" when libvirt cannot say
  virtual bool read_only() const = 0;
  virtual std::string hypervisor_version() = 0;
  virtual std::string libvirt_version() = 0;
  virtual std::string domain_xml() = 0;

  // What can stop a measurement: the state as read now, the first lifecycle event since the
  // target was opened, the connection's closing (the last two only where events are watched).
  virtual StateReading read_state() = 0;
  virtual std::optional<LifecycleChange> lifecycle_change() = 0;
  virtual std::optional<std::string> connection_closed() = 0;

  // A libvirt job (a migration, save or dump) runs on the domain.
  virtual bool has_job() = 0;
  // libvirt's record of the last job that ended on the domain (virDomainGetJobStats,
  // VIR_DOMAIN_JOB_STATS_COMPLETED), type none when it kept none: on the host a domain was
  // migrated to, its incoming migration, timed by libvirt from the source's first step.
  virtual JobStats completed_job() = 0;
  // The CPU time of each vCPU thread so far; nothing when libvirt cannot say.
  virtual std::optional<std::vector<std::uint64_t>> vcpu_times_ns() = 0;
  // The QEMU process's RSS; 0 when libvirt does not report it.
  virtual std::uint64_t rss_bytes() = 0;
  // Guest-physical memory (at most 64 KiB a call); false when the read failed.
  virtual bool read_memory(std::uint64_t address, std::size_t length, unsigned char* buffer) = 0;
  // The same through QEMU's monitor (HMP xp, virt/memory_dump.hpp): a page costs a fifth of a
  // virDomainMemoryPeek. Needs QMP (a read-write connection; libvirt marks the domain tainted).
  virtual bool read_memory_via_monitor(std::uint64_t address, std::size_t length,
                                       unsigned char* buffer) = 0;

  virtual Monitor& monitor() = 0;  // QMP, through libvirt
  virtual DirtyRateCalls& dirty_rate_calls() = 0;
  // libvirt's migration settings of the domain (QEMU's come through monitor():
  // add_qemu_migration_settings).
  virtual MigrationConfig libvirt_migration_settings() = 0;
};

// A connection to libvirt as the tool's live commands (--domain, --all-running) use it.
class LiveConnection {
 public:
  virtual ~LiveConnection() = default;
  virtual std::vector<std::string> running_domains() = 0;
  // The domain (name, UUID or id) as a measurement target. Throws as a lookup does for an unknown
  // domain, and RuntimeError "domain-not-running" for one that is not running.
  virtual std::unique_ptr<LiveTarget> open(const std::string& name) = 0;
};

// Opens a connection (URI, read-only): the tool's seam to the world. cli::tool_main takes one,
// as bloaty's main takes its file factory; tests give one that answers from recordings.
using LiveConnector =
    std::function<std::unique_ptr<LiveConnection>(const std::optional<std::string>& uri,
                                                  bool read_only)>;

// libvirt's own (virt/libvirt_live_target.cpp).
LiveConnector libvirt_connector();

}  // namespace vmp::virt
