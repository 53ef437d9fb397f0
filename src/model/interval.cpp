#include "model/interval.hpp"

#include <algorithm>
#include <cmath>

namespace vmp::model {

Share wilson_interval(double k, double n, double z) {
  if (n <= 0) return {0, 1};
  const double p = std::clamp(k / n, 0.0, 1.0);
  const double z2n = z * z / n;
  const double centre = (p + z2n / 2) / (1 + z2n);
  const double half = z / (1 + z2n) * std::sqrt(p * (1 - p) / n + z2n / (4 * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

IntervalEnd interval_end(const PrecopyInput& input, const SamplingError& e, CurvePolicy policy,
                         bool high) {
  const double total_pages = std::floor(e.ram_bytes / e.page_size_bytes);
  std::vector<DirtyPoint> points;
  double max_dirty = 0;
  for (const auto& p : e.points) {
    double bytes = p.dirty_bytes;
    if (p.sampled_pages > 0) {
      const double k = p.dirty_sampled_pages >= 0 ? p.dirty_sampled_pages
                                                  : p.dirty_bytes / e.ram_bytes * p.sampled_pages;
      const Share s = wilson_interval(k, p.sampled_pages, e.z);
      // The shift the sampling allows, applied to what QEMU reported (which the floor has
      // already lowered).
      const double measured = std::clamp(k / p.sampled_pages, 0.0, 1.0);
      bytes += ((high ? s.high : s.low) - measured) * e.ram_bytes;
    }
    if (high) bytes += e.rate_floor_bytes_per_s * p.period_ms / 1000;
    bytes = std::clamp(bytes, 0.0, e.ram_bytes);
    max_dirty = std::max(max_dirty, bytes);
    points.push_back({p.period_ms, bytes});
  }
  // Dirtied pages hold data: the zero pages are at most what they leave.
  const double zero_max = std::max(0.0, total_pages - std::ceil(max_dirty / e.page_size_bytes));
  const double shift = e.z * e.zero_pages_standard_error;
  const double zero = std::clamp(high ? e.zero_pages - shift : e.zero_pages + shift, 0.0, zero_max);
  const double ceiling = e.ram_bytes - zero * e.page_size_bytes;

  PrecopyInput in = input;
  in.zero_pages = zero;
  const double start = high ? e.start_high_ms : e.start_low_ms;
  if (start >= 0) in.start_ms = start;
  return {in, build_curve(points, ceiling, choose_curve(points, ceiling, policy))};
}

namespace {

PrecopyResult simulate_end(const PrecopyInput& input, const SamplingError& e, CurvePolicy policy,
                           bool high) {
  const auto end = interval_end(input, e, policy, high);
  return simulate_precopy(end.input, end.curve);
}

}  // namespace

PredictionInterval prediction_interval(const PrecopyInput& input, const SamplingError& error,
                                       CurvePolicy policy) {
  return {simulate_end(input, error, policy, false), simulate_end(input, error, policy, true),
          error.z};
}

}  // namespace vmp::model
