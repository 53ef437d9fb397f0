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
class DirtyRateCalls;
}  // namespace vmp::virt

namespace vmp::probe {

inline constexpr std::uint64_t kMinSamplePagesPerGiB = 128;  // QEMU's bounds
inline constexpr std::uint64_t kMaxSamplePagesPerGiB = 16384;
inline constexpr std::uint64_t kQemuDefaultSamplePagesPerGiB = 512;

struct DirtyRateRequest {
  double period_ms = 1000;
  std::uint64_t sample_pages_per_gib = kMaxSamplePagesPerGiB;  // page-sampling only
  std::string mode = "page-sampling";
};

struct DirtyRateResult {
  double mib_per_s = 0;  // QEMU's dirty-rate: floored to whole MiB/s
  // The period QEMU measured over, which it reports to the millisecond on QEMU >= 8.2 (a little
  // longer than asked when hashing the sampled pages outlasts it; QEMU's rate is per this
  // period); the period asked for where QEMU reports whole seconds only.
  double period_ms = 0;
  // Set when the finished measurement cannot be ours (another client's replaced it): what it
  // was, for the error.
  std::optional<std::string> not_ours;
};

// A measurement QEMU is running for someone else, as QEMU describes it.
struct RunningMeasurement {
  std::string what;  // "page-sampling over 30 s, sample-pages 512"
  // Until it ends, from QEMU's start-time (whole seconds: up to a second early) and period;
  // nullopt when QEMU does not say.
  std::optional<double> ends_in_ms;
};

struct MeterStatus {
  bool never_measured = false;
  std::optional<RunningMeasurement> running;
};

// How long until a measurement QEMU started at `start_s` (its start-time: wall-clock seconds on
// QEMU 10.0, the host's monotonic clock on 7.2, told apart by which one it is near) over
// `period_ms` ends; nullopt when it is near neither clock. Never negative.
std::optional<double> measurement_ends_in_ms(double start_s, double period_ms, double epoch_s,
                                             double monotonic_s);

// Whether a finished measurement's period (as QEMU reports it, in `unit_ms` units) can be the
// one asked for: never shorter, and longer only by what hashing the sampled pages may add.
bool period_matches(double asked_ms, double reported, double unit_ms);

class DirtyRateMeter {
 public:
  virtual ~DirtyRateMeter() = default;
  virtual std::string interface_name() const = 0;  // "qmp" | "libvirt"
  // Whether periods below a second can be asked for (calc-time-unit, QEMU >= 8.2).
  virtual bool supports_milliseconds() const = 0;
  virtual bool controls_sample_pages() const = 0;
  // What QEMU's measurement state is now, from one query: whether nothing was ever measured in
  // this QEMU process (the first measurement of a QEMU 7.2 process reads far too low, seen: 0
  // MiB/s, then 8 and 8 on the same load, so it is run and dropped), and the measurement
  // running now, whoever started it.
  virtual MeterStatus status(double epoch_s, double monotonic_s) = 0;
  // Starts one measurement. Returns false, having started nothing, when QEMU is already
  // measuring for someone else.
  virtual bool start(const DirtyRateRequest& request) = 0;
  // The result once the measurement is done (marked when it is not ours); nullopt while it runs.
  virtual std::optional<DirtyRateResult> poll() = 0;
  // The measurement QEMU is running now, whoever started it; nullopt when it is not measuring.
  std::optional<RunningMeasurement> running(double epoch_s, double monotonic_s) {
    return status(epoch_s, monotonic_s).running;
  }
};

// calc-dirty-rate / query-dirty-rate through QMP. With `milliseconds` (from the QMP schema: QEMU
// >= 8.2), both commands name the unit: QEMU answers query-dirty-rate in the unit the query asks
// for, and in seconds when it names none, whatever unit the measurement was started with.
class QmpDirtyRateMeter : public DirtyRateMeter {
 public:
  QmpDirtyRateMeter(virt::Monitor& monitor, bool milliseconds)
      : monitor_(monitor), milliseconds_(milliseconds) {}
  std::string interface_name() const override { return "qmp"; }
  bool supports_milliseconds() const override { return milliseconds_; }
  bool controls_sample_pages() const override { return true; }
  MeterStatus status(double epoch_s, double monotonic_s) override;
  bool start(const DirtyRateRequest& request) override;
  std::optional<DirtyRateResult> poll() override;

 private:
  nlohmann::json query();
  virt::Monitor& monitor_;
  bool milliseconds_;
  DirtyRateRequest request_;
};

// virDomainStartDirtyRateCalc, results from virDomainListGetStats(VIR_DOMAIN_STATS_DIRTYRATE).
class LibvirtDirtyRateMeter : public DirtyRateMeter {
 public:
  explicit LibvirtDirtyRateMeter(virt::DirtyRateCalls& calls) : calls_(calls) {}
  std::string interface_name() const override { return "libvirt"; }
  bool supports_milliseconds() const override { return false; }
  bool controls_sample_pages() const override { return false; }
  MeterStatus status(double epoch_s, double monotonic_s) override;
  bool start(const DirtyRateRequest& request) override;
  std::optional<DirtyRateResult> poll() override;

 private:
  virt::DirtyRateCalls& calls_;
  DirtyRateRequest request_;
};

// What the QMP schema (query-qmp-schema) says; the schema, not the version number, is the
// authority. calc-dirty-rate and query-dirty-rate take calc-time-unit from QEMU 8.2 on.
bool schema_has_command(const nlohmann::json& schema, std::string_view command);
bool schema_command_has_argument(const nlohmann::json& schema, std::string_view command,
                                 std::string_view argument);
// Both commands name the unit: periods below a second can be asked for and read back.
bool schema_has_millisecond_dirty_rate(const nlohmann::json& schema);

// The periods to measure within a budget: short ones for the last iterations of a migration,
// the longest the budget allows for the first pass. Whole seconds unless `milliseconds`.
std::vector<double> plan_periods_ms(double budget_ms, bool milliseconds);
// The periods still to measure, fitted into `left_ms` where each costs `overhead_ms` beyond its
// length (QEMU's hashing and the calls around it, as the periods measured so far took): unchanged
// when they fit; else the longest (the last) is shortened, in the plan's steps, and when that
// would leave it no longer than the one before, the one before goes instead (reach matters most).
// Empty when not even one fits.
std::vector<double> fit_periods_ms(std::vector<double> periods_ms, double left_ms,
                                   double overhead_ms, bool milliseconds);
// "3 periods up to 3.0 s", "one period of 125 ms": a curve's periods, for its warnings.
std::string periods_text(const std::vector<double>& periods_ms);

}  // namespace vmp::probe
