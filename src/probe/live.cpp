#include "probe/live.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "error.hpp"
#include "report/format.hpp"
#include "virt/connection.hpp"
#include "virt/dirty_rate_calls.hpp"
#include "virt/monitor.hpp"
#include "virt/transcript.hpp"
#include "vmp_config.h"

namespace vmp::probe {
namespace {

constexpr double kPollIntervalMs = 50;
// Beyond the budget: QEMU hashes the sampled pages after each period, and polls lag.
constexpr double kGraceMs = 5000;
constexpr std::uint64_t kMinZeroSample = 200;
// Stretches of RAM whose zero share the profile keeps: a few clusters read in each at the usual
// sample (a few hundred clusters), fine enough to see a zero or non-zero stretch at RAM's end as
// large as the switchover threshold usually is (tens of MiB on a guest of a few GiB).
constexpr std::size_t kZeroLayoutRegions = 32;

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool migration_running(const std::string& status) {
  return status != "none" && status != "completed" && status != "failed" && status != "cancelled" &&
         !status.empty();
}

std::string version_text(const nlohmann::json& v) {
  const auto& q = v.at("qemu");
  return std::to_string(q.value("major", 0)) + "." + std::to_string(q.value("minor", 0)) + "." +
         std::to_string(q.value("micro", 0));
}

// The CPU time of each of the guest's vCPU threads so far (libvirt reads /proc for the QEMU
// driver); nothing when libvirt cannot say.
std::optional<std::vector<std::uint64_t>> vcpu_times_ns(const virt::Domain& domain) {
  virDomainInfo info{};
  if (virDomainGetInfo(domain.get(), &info) < 0 || info.nrVirtCpu == 0) return std::nullopt;
  std::vector<virVcpuInfo> vcpus(info.nrVirtCpu);
  int n = virDomainGetVcpus(domain.get(), vcpus.data(), static_cast<int>(vcpus.size()), nullptr, 0);
  if (n <= 0) return std::nullopt;
  std::vector<std::uint64_t> times;
  for (int i = 0; i < n; ++i) times.push_back(vcpus[static_cast<std::size_t>(i)].cpuTime);
  return times;
}

// The busiest vCPU's share of the wall time: a workload that dirties from one vCPU of several
// is slowed by the throttle as that vCPU's demand says, not the average.
std::optional<double> busiest_vcpu_fraction(const std::optional<std::vector<std::uint64_t>>& before,
                                            const std::optional<std::vector<std::uint64_t>>& after,
                                            double wall_ms) {
  if (!before || !after || before->size() != after->size() || wall_ms <= 0) return std::nullopt;
  double busiest = 0;
  for (std::size_t i = 0; i < before->size(); ++i) {
    if ((*after)[i] < (*before)[i]) return std::nullopt;
    busiest = std::max(busiest, static_cast<double>((*after)[i] - (*before)[i]) / 1e6 / wall_ms);
  }
  return std::min(busiest, 1.0);
}

}  // namespace

std::uint64_t default_sample_pages_per_gib(std::uint64_t ram_bytes) {
  double gib = std::max(1.0, static_cast<double>(ram_bytes) / (1ull << 30));
  auto per_gib = static_cast<std::uint64_t>(262144 / gib);
  return std::clamp<std::uint64_t>(per_gib, kQemuDefaultSamplePagesPerGiB, kMaxSamplePagesPerGiB);
}

std::vector<CurvePoint> measure_curve(DirtyRateMeter& meter, Clock& clock,
                                      const std::vector<double>& periods_ms,
                                      std::uint64_t sample_pages_per_gib, const std::string& mode,
                                      std::uint64_t ram_bytes, double budget_ms,
                                      const ProgressFn& progress, bool any_figures) {
  const double give_up_at = clock.now_ms() + budget_ms + kGraceMs;
  const double ram = static_cast<double>(ram_bytes);
  // Only page-sampling samples; the other modes count every dirtied page.
  const auto sampled = mode != "page-sampling"
                           ? 0
                           : static_cast<std::uint64_t>(std::llround(
                                 static_cast<double>(sample_pages_per_gib) * ram / (1ull << 30)));
  auto wait_a_little = [&] { clock.sleep_ms(kPollIntervalMs); };

  std::vector<CurvePoint> points;
  for (std::size_t i = 0; i < periods_ms.size(); ++i) {
    DirtyRateRequest request{periods_ms[i], sample_pages_per_gib, mode};
    if (progress) {
      progress("measuring dirty rate, period " + std::to_string(i + 1) + "/" +
               std::to_string(periods_ms.size()) + " (" + report::format_duration(periods_ms[i]) +
               ")");
    }
    while (!meter.start(request)) {
      if (clock.now_ms() > give_up_at) {
        throw RuntimeError(
            "another client is measuring the dirty rate (QEMU: the dirty rate is already being "
            "measured) and did not finish within the measurement time; try again later",
            "busy");
      }
      wait_a_little();
    }
    const double started = clock.now_ms();
    clock.sleep_ms(periods_ms[i]);  // QEMU cannot be done before the period is over
    std::optional<DirtyRateResult> result;
    while (!(result = meter.poll())) {
      if (clock.now_ms() > give_up_at) {
        throw RuntimeError("QEMU did not finish measuring the dirty rate over " +
                           report::format_duration(periods_ms[i]) + " after " +
                           report::format_duration(clock.now_ms() - started));
      }
      wait_a_little();
    }
    if (result->not_ours && !any_figures) {
      throw RuntimeError("another client's dirty-rate measurement replaced ours (" +
                             *result->not_ours + ")",
                         "busy");
    }
    CurvePoint p;
    p.period_ms = result->period_ms;
    p.dirty_bytes = std::min(ram, result->mib_per_s * 1048576.0 * result->period_ms / 1000);
    p.sampled_pages = sampled;
    p.dirty_sampled_pages = std::min<std::uint64_t>(
        sampled, static_cast<std::uint64_t>(
                     std::llround(p.dirty_bytes / ram * static_cast<double>(sampled))));
    points.push_back(p);
  }
  return points;
}

std::vector<CurvePoint> measure_dirty_curve(DirtyRateMeter& meter, Clock& clock, double budget_ms,
                                            std::uint64_t sample_pages_per_gib,
                                            const std::string& mode, std::uint64_t ram_bytes,
                                            const ProgressFn& progress) {
  const bool ms = meter.supports_milliseconds();
  auto periods = plan_periods_ms(budget_ms, ms);
  if (meter.never_measured()) {
    if (progress) progress("warming up QEMU's dirty-rate measurement");
    const double warm_up_ms = ms ? 125 : 1000;
    // QEMU's first hashing of the sampled pages is slow (QEMU 10.0: a 125 ms period measured
    // over 1458 ms); its figures go unused, so whatever QEMU reports ends the warm-up.
    measure_curve(meter, clock, {warm_up_ms}, sample_pages_per_gib, mode, ram_bytes, warm_up_ms, {},
                  true);
    periods = plan_periods_ms(budget_ms - warm_up_ms, ms);
  }
  return measure_curve(meter, clock, periods, sample_pages_per_gib, mode, ram_bytes, budget_ms,
                       progress);
}

std::unique_ptr<DirtyRateMeter> qmp_dirty_rate_meter(virt::Monitor& monitor, const std::string& who,
                                                     const std::string& qemu_version) {
  auto schema = monitor.execute("query-qmp-schema");
  if (!schema_has_command(schema, "calc-dirty-rate")) {
    throw RuntimeError(who + ": QEMU " + qemu_version +
                       " cannot measure dirty rates (calc-dirty-rate needs QEMU 5.2 or newer)",
                       "qemu-unsupported");
  }
  return std::make_unique<QmpDirtyRateMeter>(monitor, schema_has_millisecond_dirty_rate(schema));
}

void sample_zero_pages(ZeroPageSampler& sampler, Clock& clock, std::uint64_t target_pages,
                       double budget_ms) {
  const double stop_at = clock.now_ms() + budget_ms;
  while (sampler.sampled() < target_pages && clock.now_ms() < stop_at) {
    sampler.sample_cluster();
    // Holes in the memory map fail; a guest whose memory cannot be read at all fails always.
    if (sampler.failed() > 50 && sampler.failed() > 4 * (sampler.sampled() / 16)) return;
  }
}

LiveResult measure_domain(const virt::Connection& connection, const virt::Domain& domain,
                          const LiveOptions& options, Clock& clock) {
  const std::string who = "domain " + domain.name();
  if (connection.read_only()) {
    throw RuntimeError(who +
                       ": measuring needs a read-write connection (QEMU's dirty-rate "
                       "measurement and guest memory reads are refused read-only)",
                       "read-only");
  }
  LiveResult out;
  out.facts = virt::parse_domain_xml(domain.xml());
  const auto& facts = out.facts;

  std::unique_ptr<virt::Transcript> transcript;
  if (!options.record_directory.empty()) {
    transcript = std::make_unique<virt::Transcript>(
        options.record_directory + "/" + domain.name() + ".jsonl",
        nlohmann::json{{"domain", domain.name()},
                       {"tool", std::string("virt-migrate-predict ") + VMP_VERSION},
                       {"hypervisor_version", connection.hypervisor_version()},
                       {"libvirt_version", connection.libvirt_version()},
                       {"interface", options.use_qmp ? "qmp" : "libvirt"}});
  }
  virt::LibvirtMonitor libvirt_monitor(domain);
  virt::LibvirtDirtyRateCalls libvirt_calls(domain);
  std::optional<virt::RecordingMonitor> recording_monitor;
  std::optional<virt::RecordingDirtyRateCalls> recording_calls;
  if (transcript) {
    recording_monitor.emplace(libvirt_monitor, *transcript);
    recording_calls.emplace(libvirt_calls, *transcript);
  }
  virt::Monitor* monitor = nullptr;
  if (options.use_qmp) {
    monitor =
        recording_monitor ? static_cast<virt::Monitor*>(&*recording_monitor) : &libvirt_monitor;
  }
  virt::DirtyRateCalls& dirty_rate_calls =
      recording_calls ? static_cast<virt::DirtyRateCalls&>(*recording_calls) : libvirt_calls;

  std::string qemu_version;
  if (monitor) {
    qemu_version = version_text(monitor->execute("query-version"));
    out.accelerator = monitor->execute("query-kvm").value("enabled", false) ? "kvm" : "tcg";
  } else {
    qemu_version = connection.hypervisor_version();
    out.accelerator = facts.virt_type == "kvm" ? "kvm" : "tcg";
  }
  // Under TCG, calc-dirty-rate mode dirty-bitmap segfaults QEMU 7.2, killing the guest, and reads
  // 0 MiB/s on QEMU 10.0 whatever the guest writes; dirty-ring needs KVM's dirty ring. The
  // KVM-only modes are refused before QEMU ever sees them.
  if (options.mode != "page-sampling" && out.accelerator != "kvm") {
    throw UsageError(who + " runs under TCG, not KVM: --mode " + options.mode +
                     " needs KVM (under TCG, QEMU 7.2 crashes the guest on it and QEMU 10.0 "
                     "reads 0 MiB/s); use page-sampling");
  }
  if (options.mode == "dirty-ring" && !facts.kvm_dirty_ring) {
    throw UsageError(who +
                     ": --mode dirty-ring needs the KVM dirty ring, which the domain does "
                     "not enable (<features><kvm><dirty-ring state='on'/>)");
  }
  if (options.mode == "dirty-bitmap" && facts.kvm_dirty_ring) {
    throw UsageError(who +
                     ": --mode dirty-bitmap does not work with the KVM dirty ring the "
                     "domain enables; use dirty-ring or page-sampling");
  }

  // Never measure during a migration: it would disturb the migration, and the figures would be
  // the migration's as much as the guest's.
  virDomainJobInfo job{};
  if (virDomainGetJobInfo(domain.get(), &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE) {
    throw RuntimeError(who +
                       " has a job running (a migration, save or dump): not measuring "
                       "while it runs",
                       "busy");
  }
  if (monitor) {
    std::string status = monitor->execute("query-migrate").value("status", "none");
    if (migration_running(status)) {
      throw RuntimeError(who + " is migrating (QEMU migration status: " + status +
                         "): not measuring while it runs",
                         "busy");
    }
  }

  out.config = virt::read_migration_config(domain, monitor);

  std::unique_ptr<DirtyRateMeter> meter =
      monitor ? qmp_dirty_rate_meter(*monitor, who, qemu_version)
              : std::make_unique<LibvirtDirtyRateMeter>(dirty_rate_calls);

  DirtyProfile& p = out.profile;
  p.taken_at = utc_now();
  p.domain = domain.name();
  p.qemu_version = qemu_version;
  p.ram_bytes = facts.memory_bytes;
  p.page_size_bytes = 4096;
  p.measurement.mode = options.mode;
  p.measurement.interface = meter->interface_name();
  p.measurement.sample_pages_per_gib =
      !meter->controls_sample_pages()    ? kQemuDefaultSamplePagesPerGiB
      : options.sample_pages_per_gib > 0 ? options.sample_pages_per_gib
                                         : default_sample_pages_per_gib(p.ram_bytes);

  LibvirtGuestMemory memory(domain);
  ZeroPageSampler sampler(memory, guest_ram_ranges(p.ram_bytes, facts.machine), p.page_size_bytes,
                          options.seed);
  if (options.progress) options.progress("sampling guest memory for zero pages");
  const double zero_budget_ms = options.measure_time_ms * kZeroSampleTimeShare;
  const double zero_started = clock.now_ms();
  sample_zero_pages(sampler, clock, options.zero_sample_pages, zero_budget_ms);
  const double dirty_budget_ms = options.measure_time_ms - (clock.now_ms() - zero_started);

  if (transcript) {
    transcript->record({{"note", "dirty-rate budget"},
                        {"budget_ms", dirty_budget_ms},
                        {"sample_pages_per_gib", p.measurement.sample_pages_per_gib},
                        {"mode", options.mode},
                        {"ram_bytes", p.ram_bytes}});
  }
  const auto vcpu_before = vcpu_times_ns(domain);
  const double curve_started_ms = clock.now_ms();
  p.dirty_curve =
      measure_dirty_curve(*meter, clock, dirty_budget_ms, p.measurement.sample_pages_per_gib,
                          options.mode, p.ram_bytes, options.progress);
  p.vcpu_busy_fraction =
      busiest_vcpu_fraction(vcpu_before, vcpu_times_ns(domain), clock.now_ms() - curve_started_ms);

  const std::uint64_t ram_pages = p.ram_bytes / p.page_size_bytes;
  if (sampler.sampled() >= kMinZeroSample) {
    p.zero_pages = {sampler.estimate(ram_pages), "memory-peek", sampler.sampled(),
                    sampler.standard_error_pages(ram_pages), sampler.layout(kZeroLayoutRegions)};
  } else if (std::uint64_t rss = domain_rss_bytes(domain); rss > 0) {
    p.zero_pages = {zero_pages_from_rss(p.ram_bytes, rss, p.page_size_bytes), "rss", 0, {}, {}};
    out.warnings.push_back("guest memory could not be read (" + std::to_string(sampler.failed()) +
                           " reads failed): zero pages estimated from the QEMU process's RSS, "
                           "a lower bound");
  }
  // The pages measured as dirtied hold data: the zero estimate cannot claim them.
  double max_dirty = 0;
  for (const auto& c : p.dirty_curve) max_dirty = std::max(max_dirty, c.dirty_bytes);
  auto dirty_pages = static_cast<std::uint64_t>(std::ceil(max_dirty / p.page_size_bytes));
  p.zero_pages.count = std::min(p.zero_pages.count, ram_pages - std::min(ram_pages, dirty_pages));

  if (monitor) {
    out.warnings.push_back("measured through QMP: libvirt now marks " + domain.name() +
                           " tainted (custom-monitor); --no-qmp avoids that");
  }
  for (const auto& d : facts.disks) {
    if (!d.shared) {
      out.warnings.push_back("disk " + d.target + " (" + d.source +
                             ") does not look like shared storage: copying it "
                             "(--copy-storage-all) is not modelled");
    }
  }
  if (!facts.vfio_devices.empty()) {
    out.warnings.push_back(
        "the guest has VFIO host devices; their state is not modelled and "
        "they may block migration");
  }
  if (facts.hugepages) {
    out.warnings.push_back(
        "guest memory is backed by huge pages: RSS says nothing about zero "
        "pages, and some architectures re-send whole huge pages");
  }
  return out;
}

}  // namespace vmp::probe
