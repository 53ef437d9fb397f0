// How far the prediction can be off because the measurement is a sample: a prediction interval
// from the same simulation run on the measurement's two plausible extremes. Pure: no I/O.
//
// Two sources of error are known from how the figures are made:
//   - QEMU's page sampling (calc-dirty-rate) hashes n pages and counts the k that changed: the
//     dirty share k/n is a binomial estimate; its interval is Wilson's score interval (which,
//     unlike the normal approximation, stays meaningful at k = 0, an idle guest);
//   - query-dirty-rate reports an integer MiB/s, truncated: up to 1 MiB/s x the period is lost,
//     never added, so it widens only the high end;
//   - the zero-page count is a sample too; its standard error comes with the profile.
// The low end takes fewer dirty pages and more zero pages, the high end the opposite; the curve
// is rebuilt from the shifted points with the same policy.
#pragma once

#include <optional>
#include <vector>

#include "model/dirty_curve.hpp"
#include "model/precopy.hpp"

namespace vmp::model {

// query-dirty-rate's unit, MiB/s, which it truncates to.
inline constexpr double kDirtyRateFloorBytesPerS = 1048576;
// Two-sided 95%.
inline constexpr double kIntervalZ = 1.96;

struct SampledPoint {
  double period_ms = 0;
  double dirty_bytes = 0;           // as QEMU reported it, scaled to all of RAM
  double sampled_pages = 0;         // n; 0: unknown, no sampling error counted
  double dirty_sampled_pages = -1;  // k; < 0: unknown, taken as dirty_bytes / RAM x n
  // What at_floor_midpoint added to QEMU's reading (in dirty_bytes); the interval's ends are the
  // floor's, around it.
  double floor_shift_bytes = 0;
};

// QEMU floors the dirty rate it reports to whole MiB/s (migration/dirtyrate.c, update_dirtyrate:
// integer division), so a reading is on average below what its page sample found: by half a
// MiB/s less half the sample's own step (one dirty sample's worth of MiB/s: RAM in MiB x 1000 /
// (n x period in ms), 1/16 MiB/s for a 1 s period at 16384 pages/GiB, 1/2 at 125 ms). The point
// taken at that expected value; a reading of 0 (nothing dirty in the sample, most likely) and
// one without a known sample are left as they are.
SampledPoint at_floor_midpoint(SampledPoint p, double ram_bytes);

struct SamplingError {
  std::vector<SampledPoint> points;
  double ram_bytes = 0;
  double page_size_bytes = 4096;
  double zero_pages = 0;
  double zero_pages_standard_error = 0;
  double rate_floor_bytes_per_s = kDirtyRateFloorBytesPerS;
  double z = kIntervalZ;
  // libvirt's steps before QEMU starts (PrecopyInput::start_ms) at the favourable and the
  // unfavourable end of their measured spread; < 0: the input's start_ms at both ends.
  double start_low_ms = -1;
  double start_high_ms = -1;
  // The pause beyond the RAM (PrecopyInput::switchover_qemu_ms + switchover_libvirt_ms) at the
  // favourable and the unfavourable end of its measured spread, shared between the two parts as
  // the input shares it; < 0: the input's at both ends.
  double switchover_low_ms = -1;
  double switchover_high_ms = -1;
  // The migration thread's cost per page at the favourable and the unfavourable end of its
  // measured spread; not counted(): the input's at both ends.
  ThreadCost thread_cost_low;
  ThreadCost thread_cost_high;
};

// Two periods of one measurement that a steady load cannot produce. Under a steady load the
// distinct bytes dirtied in a window, D(t), never fall as t grows and grow at most in
// proportion to it (D is concave from D(0) = 0: a longer window re-dirties pages more often), so
// D(t)/t never rises. A pair beyond QEMU's error (three standard errors of its page sample and
// its flooring to whole MiB/s, on both) and by more than a fifth says the load changed during
// the measurement: bursts, phases, a pause.
struct RateChange {
  enum class Kind {
    FellAtEnd,  // the longest period dirtied clearly less than a shorter one: the load slowed
                // (a slow phase), stopped, or the guest was paused late in the measurement
    Fell,       // a longer period (not the longest) dirtied less than a shorter one
    Rose,       // a longer period dirtied at a clearly higher rate than a shorter one
  };
  Kind kind;
  SampledPoint shorter;
  SampledPoint longer;
};
// nullopt for a steady measurement. FellAtEnd first, then the first pair found.
std::optional<RateChange> rate_change(const std::vector<SampledPoint>& points, double ram_bytes);

// A load whose rate changed: each shorter period saw one phase of it, the longest the most of it.
// The mean reading: random writes at the rate r that the shorter periods saw together (their
// dirtied bytes over their time) over the working set W with which that rate dirties what the
// longest period read, W (1 - exp(-r T / W)) = D(T); where r cannot reach D(T) in T (the rate
// rose after the short periods), W is all of the memory that can hold data (ceiling_bytes), and
// r the rate that reaches D(T). The points at the same periods, with the sample's k in the same
// proportion; the longest is kept as measured.
std::vector<SampledPoint> mean_rate_points(const std::vector<SampledPoint>& points,
                                           double ram_bytes, double ceiling_bytes);

// What a prediction reads from a measurement: its points as measured, or, where the load's rate
// changed, at the load's mean (mean_rate_points); and the change. A FellAtEnd whose longest period
// dirtied nothing (the load stopped, the guest was paused) stays as measured.
struct Reading {
  std::vector<SampledPoint> points;
  std::optional<RateChange> change;
  bool mean = false;
};
Reading read_measurement(const std::vector<SampledPoint>& measured, double ram_bytes,
                         double ceiling_bytes);

// Wilson's score interval for a binomial share k/n at z standard errors.
struct Share {
  double low;
  double high;
};
Share wilson_interval(double k, double n, double z);

struct PredictionInterval {
  PrecopyResult low;   // the favourable end: fewer dirty pages, more zero pages
  PrecopyResult high;  // the unfavourable end
  double z = kIntervalZ;
};

PredictionInterval prediction_interval(const PrecopyInput& input, const SamplingError& error,
                                       CurvePolicy policy);

// The measurement at one end of its sampling error: the input with that end's zero pages, and
// the curve rebuilt from that end's points. The advice is searched on the unfavourable end when
// the measurement converges and that end does not.
struct IntervalEnd {
  PrecopyInput input;
  DirtyCurve curve;
};
IntervalEnd interval_end(const PrecopyInput& input, const SamplingError& error, CurvePolicy policy,
                         bool unfavourable);

}  // namespace vmp::model
