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

namespace {

// How far one period's reading may be off: three standard errors of QEMU's page sample (none
// where every page is counted) and QEMU's flooring of the rate to whole MiB/s.
double reading_tolerance(const SampledPoint& p, double ram_bytes) {
  double t = kDirtyRateFloorBytesPerS * p.period_ms / 1000;
  if (p.sampled_pages > 0 && ram_bytes > 0) {
    const double n = p.sampled_pages;
    const double q = std::clamp(p.dirty_bytes / ram_bytes, 0.5 / n, 1.0);
    t += 3 * ram_bytes * std::sqrt(q * (1 - q) / n);
  }
  return t;
}

std::vector<SampledPoint> by_period(std::vector<SampledPoint> points) {
  std::sort(points.begin(), points.end(),
            [](const auto& a, const auto& b) { return a.period_ms < b.period_ms; });
  return points;
}

bool clearly_above(double more, double tolerance_more, double less, double tolerance_less) {
  const double gap = more - less;
  return gap > 0.2 * less && gap > std::hypot(tolerance_more, tolerance_less);
}

}  // namespace

std::optional<RateChange> rate_change(const std::vector<SampledPoint>& points, double ram_bytes) {
  const std::vector<SampledPoint> sorted = by_period(points);
  if (sorted.size() < 2) return std::nullopt;
  const SampledPoint& longest = sorted.back();
  for (std::size_t i = 0; i + 1 < sorted.size(); ++i) {
    const auto& s = sorted[i];
    if (s.period_ms < longest.period_ms &&
        clearly_above(s.dirty_bytes, reading_tolerance(s, ram_bytes), longest.dirty_bytes,
                      reading_tolerance(longest, ram_bytes))) {
      return RateChange{RateChange::Kind::FellAtEnd, s, longest};
    }
  }
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    for (std::size_t j = i + 1; j < sorted.size(); ++j) {
      const auto &s = sorted[i], &l = sorted[j];
      if (l.period_ms <= s.period_ms) continue;
      const double ts = reading_tolerance(s, ram_bytes), tl = reading_tolerance(l, ram_bytes);
      if (clearly_above(s.dirty_bytes, ts, l.dirty_bytes, tl)) {
        return RateChange{RateChange::Kind::Fell, s, l};
      }
      // At the shorter period's rate, the longer one could dirty at most this much.
      const double stretch = l.period_ms / s.period_ms;
      if (clearly_above(l.dirty_bytes, tl, s.dirty_bytes * stretch, ts * stretch)) {
        return RateChange{RateChange::Kind::Rose, s, l};
      }
    }
  }
  return std::nullopt;
}

std::vector<SampledPoint> mean_rate_points(const std::vector<SampledPoint>& points,
                                           double ram_bytes, double ceiling_bytes) {
  std::vector<SampledPoint> sorted = by_period(points);
  if (sorted.size() < 2) return sorted;
  const SampledPoint longest = sorted.back();
  const double t_end = longest.period_ms / 1000, d_end = longest.dirty_bytes;
  if (d_end <= 0 || t_end <= 0) return sorted;
  double dirtied = 0, seconds = 0;
  for (std::size_t i = 0; i + 1 < sorted.size(); ++i) {
    dirtied += sorted[i].dirty_bytes;
    seconds += sorted[i].period_ms / 1000;
  }
  const double pooled_rate = seconds > 0 ? dirtied / seconds : 0;
  auto reached = [&](double w) { return w * (1 - std::exp(-pooled_rate * t_end / w)); };
  double w = std::max(ceiling_bytes, d_end);
  if (pooled_rate * t_end > d_end && reached(w) > d_end) {
    double low = d_end, high = w;  // reached() grows with w: reached(d_end) < d_end
    for (int i = 0; i < 100; ++i) {
      const double mid = (low + high) / 2;
      (reached(mid) > d_end ? high : low) = mid;
    }
    w = high;
  }
  w = std::max(w, d_end * 1.02);
  const double rate = -w / t_end * std::log(1 - d_end / w);
  for (std::size_t i = 0; i + 1 < sorted.size(); ++i) {
    auto& p = sorted[i];
    const double bytes = w * (1 - std::exp(-rate * p.period_ms / 1000 / w));
    if (p.sampled_pages > 0 && ram_bytes > 0) {
      p.dirty_sampled_pages = bytes / ram_bytes * p.sampled_pages;
    }
    p.dirty_bytes = bytes;
  }
  return sorted;
}

SampledPoint at_floor_midpoint(SampledPoint p, double ram_bytes) {
  if (!(p.dirty_bytes > 0) || !(p.sampled_pages > 0) || !(p.period_ms > 0) || !(ram_bytes > 0)) {
    return p;
  }
  const double step_mib_per_s = ram_bytes / 1048576 * 1000 / (p.sampled_pages * p.period_ms);
  if (step_mib_per_s >= 1) return p;
  const double shift = std::min((1 - step_mib_per_s) / 2 * kDirtyRateFloorBytesPerS *
                                    p.period_ms / 1000,
                                ram_bytes - p.dirty_bytes);
  p.dirty_bytes += shift;
  p.floor_shift_bytes = shift;
  return p;
}

Reading read_measurement(const std::vector<SampledPoint>& measured, double ram_bytes,
                         double ceiling_bytes) {
  Reading r{measured, rate_change(measured, ram_bytes), false};
  // A fall at the end is read at the mean too where the longest period still dirtied something:
  // on QEMU 7.2 (periods of 1, 2 and 4 s) a load that changes rate every 4 s ends its longest
  // period in a slow phase as often as not. Where it dirtied nothing the load stopped (the guest
  // was paused): there is no mean to read, and the points stay as measured.
  r.mean = r.change && (r.change->kind != RateChange::Kind::FellAtEnd ||
                        r.change->longer.dirty_bytes > 0);
  if (r.mean) r.points = mean_rate_points(measured, ram_bytes, ceiling_bytes);
  return r;
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
    // The floor's width: from what QEMU reported to a whole MiB/s above it.
    bytes += high ? e.rate_floor_bytes_per_s * p.period_ms / 1000 - p.floor_shift_bytes
                  : -p.floor_shift_bytes;
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
  const double beyond = in.switchover_qemu_ms + in.switchover_libvirt_ms;
  if (const double end = high ? e.switchover_high_ms : e.switchover_low_ms; end >= 0 && beyond > 0) {
    in.switchover_qemu_ms *= end / beyond;
    in.switchover_libvirt_ms *= end / beyond;
  }
  if (const ThreadCost& cost = high ? e.thread_cost_high : e.thread_cost_low; cost.counted()) {
    in.thread_cost = cost;
  }
  // An unknown link taken as no slower than the thread (PrecopyInput::unknown_link_at_thread_pace)
  // is at the unfavourable end as slow as the bandwidth: the pause's upper bound.
  if (high) in.unknown_link_at_thread_pace = false;
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
