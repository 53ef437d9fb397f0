#include "virt/libvirt_live_target.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "virt/libvirt.hpp"
#include "virt/libvirt_watch_target.hpp"
#include "virt/memory_dump.hpp"

namespace vmp::virt {

LibvirtLiveTarget::LibvirtLiveTarget(const Connection& connection, Domain domain,
                                     const LifecycleLog* events)
    : connection_(connection),
      domain_(std::move(domain)),
      events_(events),
      events_at_start_(events ? events->count(domain_.name()) : 0),
      monitor_(domain_),
      dirty_rate_calls_(domain_) {}

StateReading LibvirtLiveTarget::read_state() {
  StateReading r;
  int state = VIR_DOMAIN_NOSTATE, reason = 0;
  if (virDomainGetState(domain_.get(), &state, &reason, 0) < 0) {
    r.running = false;
    if (last_libvirt_error_code() == VIR_ERR_NO_DOMAIN) {
      r.ends_qemu = true;
      r.what = "vanished (destroyed or undefined)";
      return r;
    }
    if (last_error_is_connection_failure()) r.connection_lost = last_libvirt_error();
    r.error = last_libvirt_error();
    return r;
  }
  if (state != VIR_DOMAIN_RUNNING) {
    r.running = false;
    r.ends_qemu = state != VIR_DOMAIN_PAUSED && state != VIR_DOMAIN_PMSUSPENDED;
    r.what = "is " + Domain::state_text(state);
  }
  return r;
}

std::optional<LifecycleChange> LibvirtLiveTarget::lifecycle_change() {
  if (!events_) return std::nullopt;
  auto e = events_->event(domain_.name(), events_at_start_);
  if (!e) return std::nullopt;
  return LifecycleChange{e->text, e->ends_qemu()};
}

std::optional<std::string> LibvirtLiveTarget::connection_closed() {
  return events_ ? events_->closed() : std::nullopt;
}

bool LibvirtLiveTarget::has_job() {
  virDomainJobInfo job{};
  return virDomainGetJobInfo(domain_.get(), &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE;
}

JobStats LibvirtLiveTarget::completed_job() { return LibvirtJobStats(domain_).read(true); }

std::optional<std::vector<std::uint64_t>> LibvirtLiveTarget::vcpu_times_ns() {
  virDomainInfo info{};
  if (virDomainGetInfo(domain_.get(), &info) < 0 || info.nrVirtCpu == 0) return std::nullopt;
  std::vector<virVcpuInfo> vcpus(info.nrVirtCpu);
  int n =
      virDomainGetVcpus(domain_.get(), vcpus.data(), static_cast<int>(vcpus.size()), nullptr, 0);
  if (n <= 0) return std::nullopt;
  std::vector<std::uint64_t> times;
  for (int i = 0; i < n; ++i) times.push_back(vcpus[static_cast<std::size_t>(i)].cpuTime);
  return times;
}

std::uint64_t LibvirtLiveTarget::rss_bytes() {
  virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
  int n = virDomainMemoryStats(domain_.get(), stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
  for (int i = 0; i < n; ++i) {
    if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_RSS) return stats[i].val * 1024;
  }
  return 0;
}

bool LibvirtLiveTarget::read_memory(std::uint64_t address, std::size_t length,
                                    unsigned char* buffer) {
  return virDomainMemoryPeek(domain_.get(), address, length, buffer, VIR_MEMORY_PHYSICAL) == 0;
}

bool LibvirtLiveTarget::read_memory_via_monitor(std::uint64_t address, std::size_t length,
                                                unsigned char* buffer) {
  try {
    const auto text =
        monitor_.execute("human-monitor-command", {{"command-line", xp_command(address, length)}});
    return text.is_string() && parse_xp(text.get<std::string>(), length, buffer);
  } catch (const QmpError&) {
    return false;
  }
}

MigrationConfig LibvirtLiveTarget::libvirt_migration_settings() {
  return read_libvirt_migration_settings(domain_);
}

LibvirtLiveConnection::LibvirtLiveConnection(const std::optional<std::string>& uri,
                                             bool read_only)
    : connection_(Connection::open_qemu(uri, read_only, "guests can be measured")),
      events_(connection_),
      uri_(connection_.uri()),
      local_(uri_is_local(uri_)) {}

std::vector<std::string> LibvirtLiveConnection::running_domains() {
  return connection_.running_domain_names();
}

std::unique_ptr<LiveTarget> LibvirtLiveConnection::open(const std::string& name) {
  auto domain = connection_.lookup(name);
  if (domain.state() != VIR_DOMAIN_RUNNING) {
    throw RuntimeError("domain " + domain.name() + " is " + domain.state_text() +
                           ": only a running guest can be measured",
                       "domain-not-running");
  }
  // Each domain gets a connection of its own where that is cheap (this host's daemon): libvirtd
  // serves at most max_client_requests (5 by default) calls of one connection at a time, and
  // with 20 domains measured at once a domain's quick call (virDomainGetState: under 1 ms)
  // waited 1-2 s behind other domains' memory reads (0.2-7 s each on a busy host). The domain
  // handle keeps its connection open; lifecycle events stay on the shared one, which sees every
  // domain's. A remote URI (ssh, tls) shares one: another connection could ask for a password.
  if (local_) {
    const std::string uuid = domain.uuid();
    if (!uuid.empty()) {
      try {
        Connection own = Connection::open(uri_, connection_.read_only());
        domain = own.lookup(uuid);
      } catch (const RuntimeError&) {
        // the shared connection serves it, slower
      }
    }
  }
  return std::make_unique<LibvirtLiveTarget>(connection_, std::move(domain), &events_);
}

LiveConnector libvirt_connector() {
  return [](const std::optional<std::string>& uri, bool read_only) {
    return std::make_unique<LibvirtLiveConnection>(uri, read_only);
  };
}

}  // namespace vmp::virt
