#include "model/advisor.hpp"

#include <algorithm>
#include <cmath>

#include "base/format.hpp"
#include "base/virsh.hpp"

namespace vmp::model {

std::string to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::Migrate: return "migrate";
    case Verdict::RaiseDowntime: return "raise-downtime";
    case Verdict::MoreBandwidth: return "more-bandwidth";
    case Verdict::AutoConverge: return "auto-converge";
    case Verdict::PostCopy: return "post-copy";
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
// At most 64 halvings of the log-interval: ends even if lo is 0 or the interval is huge.
template <typename F>
double smallest_converging(double lo, double hi, F converges) {
  lo = std::max(lo, hi * 1e-12);
  for (int step = 0; step < 64 && hi / lo > 1.01; ++step) {
    double mid = std::sqrt(lo * hi);
    (converges(mid) ? hi : lo) = mid;
  }
  return hi;
}

// QEMU's loop is not quite monotone in either setting: the switchover is checked once a
// 100 ms window, so a slightly larger value can miss the window a smaller one caught. The
// advised value is the bisection's, rounded up to what virsh takes, and checked: when it does
// not converge, the next steps up (1% at a time) are tried, up to the limit, which converges.
template <typename F>
std::pair<double, PrecopyResult> checked_setting(double candidate, double limit, double unit,
                                                 F simulate) {
  double v = std::min(limit, std::max(unit, std::ceil(candidate / unit - 1e-9) * unit));
  // Each step rises by at least one unit and at least 1%, so at most a few thousand to any limit.
  for (int step = 0; step < 4096; ++step) {
    auto r = simulate(v);
    if (r.converges() || v >= limit) return {v, r};
    v = std::min(limit, std::max(v + unit, std::ceil(v * 1.01 / unit) * unit));
  }
  return {limit, simulate(limit)};
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
  auto [limit_ms, result] = checked_setting(best, limits.max_downtime_ms, virsh::kDowntimeStepMs,
                                            [&](double d) { return with_downtime(in, curve, d); });
  DowntimeAdvice a{limit_ms, result, limit_ms};
  // Walk up the limits: the knee is where going all the way to the tolerated maximum would
  // save less than 5% more.
  int walked = 0;
  for (double d = a.downtime_limit_ms; d <= limits.max_downtime_ms && walked < 400;
       d *= 1.1, ++walked) {
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
  auto [bandwidth, result] =
      checked_setting(best, hi, virsh::kSpeedStepBytesPerS,
                      [&](double b) { return with_bandwidth(in, curve, b); });
  return BandwidthAdvice{bandwidth, result};
}

std::optional<AutoConvergeAdvice> search_auto_converge(PrecopyInput in, const DirtyCurve& curve) {
  if (in.bandwidth_bytes_per_s <= 0) return std::nullopt;
  in.auto_converge.enabled = true;
  auto r = simulate_precopy(in, curve);
  if (!r.converges()) return std::nullopt;
  r.trace.clear();
  return AutoConvergeAdvice{r};
}

std::optional<PostcopyAdvice> search_postcopy(const PrecopyInput& in, const DirtyCurve& curve,
                                              const PostcopyConstraints& constraints) {
  if (in.bandwidth_bytes_per_s <= 0) return std::nullopt;
  PostcopyInput pc;
  pc.precopy = in;
  pc.precopy.auto_converge.enabled = false;
  pc.postcopy_bandwidth_bytes_per_s = constraints.bandwidth_bytes_per_s;
  auto r = simulate_postcopy(pc, curve);
  // The first pass must end before the deadline for post-copy to start at all.
  if (!r.postcopy_started && !r.warmup.converges()) return std::nullopt;
  if (r.total_time_ms > in.deadline_ms) return std::nullopt;
  r.warmup.trace.clear();
  return PostcopyAdvice{r};
}

BestEffort best_effort(PrecopyInput in, const DirtyCurve& curve, const AdviceLimits& limits) {
  in.downtime_limit_ms = std::max(in.downtime_limit_ms, limits.max_downtime_ms);
  if (limits.max_bandwidth_bytes_per_s) {
    in.bandwidth_bytes_per_s = std::max(in.bandwidth_bytes_per_s, *limits.max_bandwidth_bytes_per_s);
  }
  in.auto_converge.enabled = limits.allow_auto_converge;
  auto r = simulate_precopy(in, curve);
  r.trace.clear();
  return {in.downtime_limit_ms, in.bandwidth_bytes_per_s, in.auto_converge.enabled, r};
}

}  // namespace

Advice advise(const PrecopyInput& configured, const DirtyCurve& curve, const AdviceLimits& limits,
              std::optional<bool> converges_as_configured,
              const PostcopyConstraints& postcopy) {
  Advice a;
  if (converges_as_configured && *converges_as_configured) {
    a.verdict = Verdict::Migrate;
    return a;
  }
  PrecopyInput in = configured;
  in.auto_converge.enabled = false;
  a.raise_downtime = search_downtime(in, curve, limits);
  a.more_bandwidth = search_bandwidth(in, curve, limits);
  a.auto_converge = search_auto_converge(in, curve);
  if (postcopy.vfio_devices > 0) {
    a.post_copy_refused = "the guest has " + std::to_string(postcopy.vfio_devices) +
                          " VFIO host device(s), which post-copy cannot migrate";
  } else {
    a.post_copy = search_postcopy(in, curve, postcopy);
    // A vCPU that faults on a page after the switch waits for its whole host page: on 1 GiB
    // huge pages that can outlast the pause the operator accepts, on each fault.
    if (a.post_copy && a.post_copy->result.postcopy_started &&
        in.host_page_bytes > in.page_size_bytes &&
        a.post_copy->result.fault_stall_ms > in.downtime_limit_ms) {
      a.post_copy_refused =
          "each page fault after the switch waits for a whole " +
          format_page_size(in.host_page_bytes) + " huge page: " +
          format_duration(a.post_copy->result.fault_stall_ms) +
          " at the post-copy stream's speed, longer than the max downtime of " +
          format_duration(in.downtime_limit_ms);
      a.post_copy.reset();
    }
  }
  const bool ac_allowed = a.auto_converge && limits.allow_auto_converge;
  const bool pc_allowed = a.post_copy && limits.allow_postcopy;
  if (!converges_as_configured) {
    a.verdict = Verdict::NoBandwidth;
  } else if (a.raise_downtime) {
    a.verdict = Verdict::RaiseDowntime;
  } else if (a.more_bandwidth) {
    a.verdict = Verdict::MoreBandwidth;
  } else if (ac_allowed && pc_allowed) {
    // Both slow the guest for a while; the sooner done is the better of the two.
    a.verdict = a.post_copy->result.total_time_ms < a.auto_converge->result.total_time_ms
                    ? Verdict::PostCopy
                    : Verdict::AutoConverge;
  } else if (ac_allowed) {
    a.verdict = Verdict::AutoConverge;
  } else if (pc_allowed) {
    a.verdict = Verdict::PostCopy;
  } else {
    a.verdict = Verdict::DoNotMigrate;
    if (in.bandwidth_bytes_per_s > 0) a.best = best_effort(in, curve, limits);
  }
  return a;
}

}  // namespace vmp::model
