// One live measurement of a running domain: what it is (XML facts), how it is set up to migrate,
// and how it dirties memory, into a DirtyProfile. Reads only: it never sets a migration
// parameter, capability, speed or downtime, and never pauses the guest.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "probe/clock.hpp"
#include "probe/dirty_rate.hpp"
#include "probe/profile.hpp"
#include "probe/zero_pages.hpp"
#include "virt/domain_facts.hpp"
#include "virt/migration_config.hpp"

namespace vmp::virt {
class Connection;
class Domain;
class Monitor;
}  // namespace vmp::virt

namespace vmp::probe {

inline constexpr double kDefaultMeasureTimeMs = 10000;
inline constexpr std::uint64_t kDefaultZeroSamplePages = 8192;
// Of the measurement time, the share zero-page sampling may take. It runs before the dirty-rate
// periods, never during one: reading guest memory stalls a TCG guest enough to halve a 1 s
// measurement (seen on QEMU 7.2: 2 MiB/s instead of 7).
inline constexpr double kZeroSampleTimeShare = 0.15;

using ProgressFn = std::function<void(const std::string&)>;

struct LiveOptions {
  double measure_time_ms = kDefaultMeasureTimeMs;
  std::uint64_t sample_pages_per_gib = 0;  // 0: chosen from the RAM size
  std::string mode = "page-sampling";
  bool use_qmp = true;
  std::uint64_t zero_sample_pages = kDefaultZeroSamplePages;
  std::uint64_t seed = 1;
  ProgressFn progress;
  // Non-empty: every QMP command and libvirt dirty-rate call of the measurement, with what QEMU
  // and libvirt answered, goes to DIR/DOMAIN.jsonl (virt/transcript.hpp), for the unit tests'
  // fakes. Set from $VMP_RECORD_EXCHANGES.
  std::string record_directory;
};

struct LiveResult {
  DirtyProfile profile;
  virt::DomainFacts facts;
  virt::MigrationConfig config;
  std::string accelerator;  // "kvm" | "tcg"
  std::vector<std::string> warnings;
};

// As many sample pages per GiB as QEMU allows, fewer on very large guests so that hashing stays
// under ~1 GiB of reads at each end of a period.
std::uint64_t default_sample_pages_per_gib(std::uint64_t ram_bytes);

// Measures `periods` one after another. Fails when another client keeps QEMU busy, or a
// measurement does not end, beyond `budget_ms` plus grace; never takes another client's figures
// (unless `any_figures`: for a warm-up, whose figures are dropped).
std::vector<CurvePoint> measure_curve(DirtyRateMeter& meter, Clock& clock,
                                      const std::vector<double>& periods_ms,
                                      std::uint64_t sample_pages_per_gib, const std::string& mode,
                                      std::uint64_t ram_bytes, double budget_ms,
                                      const ProgressFn& progress, bool any_figures = false);

// The curve within `budget_ms`: the periods planned for what the meter can ask, after a
// measurement of the shortest period that is dropped where QEMU never measured before (see
// DirtyRateMeter::never_measured).
std::vector<CurvePoint> measure_dirty_curve(DirtyRateMeter& meter, Clock& clock, double budget_ms,
                                            std::uint64_t sample_pages_per_gib,
                                            const std::string& mode, std::uint64_t ram_bytes,
                                            const ProgressFn& progress);

// The QMP meter, in milliseconds where the schema allows. Throws RuntimeError when this QEMU
// cannot measure dirty rates at all.
std::unique_ptr<DirtyRateMeter> qmp_dirty_rate_meter(virt::Monitor& monitor, const std::string& who,
                                                     const std::string& qemu_version);

// Samples clusters until `target_pages` are read or `budget_ms` has passed.
void sample_zero_pages(ZeroPageSampler& sampler, Clock& clock, std::uint64_t target_pages,
                       double budget_ms);

LiveResult measure_domain(const virt::Connection& connection, const virt::Domain& domain,
                          const LiveOptions& options, Clock& clock);

}  // namespace vmp::probe
