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
};

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
};

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
