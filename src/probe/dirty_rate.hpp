// Measuring how much memory a running guest dirties, with QEMU's calc-dirty-rate: through QMP
// (sub-second periods on QEMU >= 8.2, sample-pages under our control) or through libvirt's own
// virDomainStartDirtyRateCalc (whole seconds, QEMU's default sampling, no taint).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vmp::virt {
class Monitor;
class Domain;
}  // namespace vmp::virt

namespace vmp::probe {

inline constexpr std::uint64_t kMinSamplePagesPerGiB = 128;    // QEMU's bounds
inline constexpr std::uint64_t kMaxSamplePagesPerGiB = 16384;
inline constexpr std::uint64_t kQemuDefaultSamplePagesPerGiB = 512;

struct DirtyRateRequest {
  double period_ms = 1000;
  std::uint64_t sample_pages_per_gib = kMaxSamplePagesPerGiB;
  std::string mode = "page-sampling";
};

class DirtyRateMeter {
 public:
  virtual ~DirtyRateMeter() = default;
  virtual std::string interface_name() const = 0;  // "qmp" | "libvirt"
  // Whether periods below a second can be asked for (calc-time-unit, QEMU >= 8.2).
  virtual bool supports_milliseconds() const = 0;
  virtual bool controls_sample_pages() const = 0;
  // Nothing was ever measured in this QEMU process. The first measurement of a QEMU 7.2 process
  // reads far too low (seen: 0 MiB/s, then 8 and 8 on the same load), so it is run and dropped.
  virtual bool never_measured() = 0;
  // Starts one measurement. Returns false, having started nothing, when QEMU is already
  // measuring for someone else.
  virtual bool start(const DirtyRateRequest& request) = 0;
  // QEMU's dirty-rate in MiB/s once our measurement is done; nullopt while it runs.
  virtual std::optional<double> poll() = 0;
};

// calc-dirty-rate / query-dirty-rate through QMP. `milliseconds` from the QMP schema.
class QmpDirtyRateMeter : public DirtyRateMeter {
 public:
  QmpDirtyRateMeter(virt::Monitor& monitor, bool milliseconds)
      : monitor_(monitor), milliseconds_(milliseconds) {}
  std::string interface_name() const override { return "qmp"; }
  bool supports_milliseconds() const override { return milliseconds_; }
  bool controls_sample_pages() const override { return true; }
  bool never_measured() override;
  bool start(const DirtyRateRequest& request) override;
  std::optional<double> poll() override;

 private:
  virt::Monitor& monitor_;
  bool milliseconds_;
  DirtyRateRequest request_;
};

// virDomainStartDirtyRateCalc, results from virDomainListGetStats(VIR_DOMAIN_STATS_DIRTYRATE).
class LibvirtDirtyRateMeter : public DirtyRateMeter {
 public:
  explicit LibvirtDirtyRateMeter(const virt::Domain& domain) : domain_(domain) {}
  std::string interface_name() const override { return "libvirt"; }
  bool supports_milliseconds() const override { return false; }
  bool controls_sample_pages() const override { return false; }
  bool never_measured() override;
  bool start(const DirtyRateRequest& request) override;
  std::optional<double> poll() override;

 private:
  int calc_status(long long* period_s, long long* mib_per_s);
  const virt::Domain& domain_;
  DirtyRateRequest request_;
};

// Does the QMP schema (query-qmp-schema) give calc-dirty-rate a calc-time-unit argument? Only
// QEMU >= 8.2 does; the schema, not the version number, is the authority.
bool schema_has_calc_time_unit(const nlohmann::json& schema);
bool schema_has_command(const nlohmann::json& schema, std::string_view command);

// The periods to measure within a budget: short ones for the last iterations of a migration,
// the longest the budget allows for the first pass. Whole seconds unless `milliseconds`.
std::vector<double> plan_periods_ms(double budget_ms, bool milliseconds);

}  // namespace vmp::probe
