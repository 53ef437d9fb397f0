#include "model/advisor.hpp"

#include <cmath>

namespace vmp::model {

std::string to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::Migrate: return "migrate";
    case Verdict::RaiseDowntime: return "raise-downtime";
    case Verdict::MoreBandwidth: return "more-bandwidth";
    case Verdict::DoNotMigrate: return "do-not-migrate";
    case Verdict::NoBandwidth: return "no-bandwidth";
  }
  return "do-not-migrate";
}

namespace {

PrecopyResult with_downtime(PrecopyInput in, const DirtyCurve& curve, double downtime_ms) {
  in.downtime_limit_ms = downtime_ms;
  auto r = simulate_precopy(in, curve);
  r.trace.clear();
  return r;
}

PrecopyResult with_bandwidth(PrecopyInput in, const DirtyCurve& curve, double bytes_per_s) {
  in.bandwidth_bytes_per_s = bytes_per_s;
  auto r = simulate_precopy(in, curve);
  r.trace.clear();
  return r;
}

// Smallest x in [lo, hi] (geometric bisection to 1%) for which converges(x), given converges(hi).
// More downtime or more bandwidth never makes QEMU's loop converge later, so the search is sound.
template <typename F>
double smallest_converging(double lo, double hi, F converges) {
  while (hi / lo > 1.01) {
    double mid = std::sqrt(lo * hi);
    (converges(mid) ? hi : lo) = mid;
  }
  return hi;
}

std::optional<DowntimeAdvice> search_downtime(const PrecopyInput& in, const DirtyCurve& curve,
                                              const AdviceLimits& limits) {
  if (in.bandwidth_bytes_per_s <= 0 || limits.max_downtime_ms <= in.downtime_limit_ms) {
    return std::nullopt;
  }
  auto at_max = with_downtime(in, curve, limits.max_downtime_ms);
  if (!at_max.converges()) return std::nullopt;
  double best = smallest_converging(in.downtime_limit_ms, limits.max_downtime_ms, [&](double d) {
    return with_downtime(in, curve, d).converges();
  });
  DowntimeAdvice a{std::ceil(best), with_downtime(in, curve, std::ceil(best)), best};
  // Walk up the limits: the knee is where going all the way to the tolerated maximum would
  // save less than 5% more.
  for (double d = a.downtime_limit_ms; d <= limits.max_downtime_ms; d *= 1.1) {
    auto r = with_downtime(in, curve, d);
    if (r.converges() && at_max.total_time_ms >= 0.95 * r.total_time_ms) {
      a.no_gain_beyond_ms = std::ceil(d);
      break;
    }
    a.no_gain_beyond_ms = limits.max_downtime_ms;
  }
  return a;
}

std::optional<BandwidthAdvice> search_bandwidth(const PrecopyInput& in, const DirtyCurve& curve,
                                                const AdviceLimits& limits) {
  double hi = limits.max_bandwidth_bytes_per_s.value_or(kMaxAdvisedBandwidthBytesPerS);
  double lo = in.bandwidth_bytes_per_s > 0 ? in.bandwidth_bytes_per_s : 1e6 / 8;
  if (hi <= lo || !with_bandwidth(in, curve, hi).converges()) return std::nullopt;
  if (with_bandwidth(in, curve, lo).converges()) {
    return BandwidthAdvice{lo, with_bandwidth(in, curve, lo)};
  }
  double best = smallest_converging(lo, hi, [&](double b) {
    return with_bandwidth(in, curve, b).converges();
  });
  return BandwidthAdvice{best, with_bandwidth(in, curve, best)};
}

}  // namespace

Advice advise(const PrecopyInput& in, const DirtyCurve& curve, const AdviceLimits& limits,
              std::optional<bool> converges_as_configured) {
  Advice a;
  if (converges_as_configured && *converges_as_configured) {
    a.verdict = Verdict::Migrate;
    return a;
  }
  a.raise_downtime = search_downtime(in, curve, limits);
  a.more_bandwidth = search_bandwidth(in, curve, limits);
  if (!converges_as_configured) {
    a.verdict = Verdict::NoBandwidth;
  } else if (a.raise_downtime) {
    a.verdict = Verdict::RaiseDowntime;  // the cheapest change: nothing else to provision
  } else if (a.more_bandwidth) {
    a.verdict = Verdict::MoreBandwidth;
  } else {
    a.verdict = Verdict::DoNotMigrate;
  }
  return a;
}

}  // namespace vmp::model
