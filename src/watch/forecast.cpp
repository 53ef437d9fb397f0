#include "watch/forecast.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string_view>

#include "base/format.hpp"
#include "base/virsh.hpp"

namespace vmp::watch {

DirtyGranularity dirty_granularity(const virt::DomainFacts& facts, double page_size_bytes) {
  DirtyGranularity g{page_size_bytes, ""};
  if (!facts.hugepages) return g;
  if (facts.arch.rfind("ppc64", 0) == 0) {
    // POWER's hash MMU: KVM logs a write to a huge-page-backed guest page as the whole huge
    // page dirty (16 MiB by default), and QEMU re-sends all of it.
    g.bytes =
        facts.hugepage_size_bytes ? static_cast<double>(facts.hugepage_size_bytes) : 16.0 * 1048576;
    g.reason = "guest memory is backed by huge pages on " + facts.arch +
               ": a write dirties a whole huge page of " + vmp::format_page_size(g.bytes);
  } else {
    g.reason = "guest memory is backed by huge pages, but on " +
               (facts.arch.empty() ? std::string("this architecture") : facts.arch) +
               " writes are tracked in " + vmp::format_page_size(page_size_bytes) +
               " pages during migration (huge pages are split while dirty logging runs)";
  }
  return g;
}

model::DirtyCurve at_granularity(const model::DirtyCurve& curve, double page_size_bytes,
                                 double granularity_bytes) {
  const double w = curve.limit_bytes();
  if (granularity_bytes <= page_size_bytes || page_size_bytes <= 0 || w <= 0) return curve;
  const double exponent = granularity_bytes / page_size_bytes;
  std::vector<model::DirtyPoint> points;
  // 1 ms to 2 h, 12 points a decade: the converted curve as straight lines between them.
  for (double t = 1; t <= 7.2e6; t *= std::pow(10.0, 1.0 / 12)) {
    const double share = std::clamp(curve.dirty_bytes(t) / w, 0.0, 1.0);
    points.push_back({t, w * -std::expm1(exponent * std::log1p(-std::min(share, 1 - 1e-15)))});
  }
  return model::DirtyCurve::piecewise_linear(points, curve.ceiling_bytes());
}

model::DirtyCurve curve_from_profile(const probe::DirtyProfile& profile,
                                     model::CurvePolicy policy) {
  std::vector<model::DirtyPoint> points;
  for (const auto& p : probe::read_curve(profile).points) {
    points.push_back({p.period_ms, p.dirty_bytes});
  }
  const double ceiling = profile.nonzero_ram_bytes();
  return model::build_curve(points, ceiling, model::choose_curve(points, ceiling, policy));
}

std::optional<model::DirtyCurve> curve_from_iterations(std::vector<model::DirtyPoint> points,
                                                       double ceiling_bytes, std::size_t keep) {
  if (points.size() > keep) points.erase(points.begin(), points.end() - keep);
  if (points.empty()) return std::nullopt;
  std::sort(points.begin(), points.end(),
            [](const model::DirtyPoint& a, const model::DirtyPoint& b) {
              return a.period_ms < b.period_ms;
            });
  // Iterations of a steady migration all last about as long: averaged, they make one point
  // instead of a cloud whose noise would read as slope.
  std::vector<model::DirtyPoint> merged;
  double first = 0, sum_t = 0, sum_d = 0;
  int n = 0;
  auto flush = [&] {
    if (n > 0) merged.push_back({sum_t / n, sum_d / n});
    sum_t = sum_d = 0;
    n = 0;
  };
  for (const auto& p : points) {
    if (n > 0 && p.period_ms > first * 1.15) flush();
    if (n == 0) first = p.period_ms;
    sum_t += p.period_ms;
    sum_d += p.dirty_bytes;
    ++n;
  }
  flush();
  return model::build_curve(merged, ceiling_bytes,
                            model::choose_curve(merged, ceiling_bytes, model::CurvePolicy::Auto));
}

Forecast forecast(model::PrecopyInput input, const model::PrecopyResume& resume,
                  const model::DirtyCurve& curve, double elapsed_ms) {
  input.resume = resume;
  Forecast f;
  f.rest = model::simulate_precopy(input, curve);
  f.rest.trace.clear();
  f.at_elapsed_ms = elapsed_ms;
  f.downtime_upper_bound = input.link_bytes_per_s <= 0;
  return f;
}

double expected_downtime_ms(double pending_bytes, double dirtied_since_sync_bytes,
                            double rate_bytes_per_s) {
  if (!(rate_bytes_per_s > 0)) return std::numeric_limits<double>::infinity();
  return (std::max(0.0, pending_bytes) + std::max(0.0, dirtied_since_sync_bytes)) /
         rate_bytes_per_s * 1000;
}

std::string to_string(Action action) {
  switch (action) {
    case Action::RaiseDowntime:
      return "raise-downtime";
    case Action::Postcopy:
      return "post-copy";
    case Action::Abort:
      return "abort";
  }
  return "abort";
}

std::string virsh_command(const AdviceContext& c, Action action,
                          std::optional<double> downtime_limit_ms) {
  const std::string dom = virsh::shell_quoted(c.domain);
  switch (action) {
    case Action::RaiseDowntime:
      return virsh::setmaxdowntime(c.uri, dom, downtime_limit_ms.value_or(0));
    case Action::Postcopy:
      return c.libvirt_job ? virsh::command(c.uri, "migrate-postcopy", dom)
                           : virsh::command(c.uri, "qemu-monitor-command", dom) +
                                 " '{\"execute\":\"migrate-start-postcopy\"}'";
    case Action::Abort:
      return c.libvirt_job ? virsh::command(c.uri, "domjobabort", dom)
                           : virsh::command(c.uri, "qemu-monitor-command", dom) +
                                 " '{\"execute\":\"migrate_cancel\"}'";
  }
  return virsh::command(c.uri, "domjobabort", dom);
}

StallAdvice advise_on_stall(const model::PrecopyInput& input, const model::PrecopyResume& resume,
                            const model::DirtyCurve& curve, const AdviceContext& c) {
  model::PrecopyInput in = input;
  in.resume = resume;
  model::AdviceLimits limits;
  limits.max_downtime_ms = c.max_downtime_ms;
  auto advice = model::advise(in, curve, limits, false);
  std::optional<double> observed;
  const double bw = c.qemu_bandwidth_bytes_per_s.value_or(input.bandwidth_bytes_per_s);
  if (c.stalled_peak_bytes && bw > 0) observed = std::ceil(*c.stalled_peak_bytes / bw * 1000);
  std::optional<double> least;
  if (observed) least = observed;
  if (advice.raise_downtime) {
    least = std::max(least.value_or(0), advice.raise_downtime->downtime_limit_ms);
  }
  StallAdvice a;
  if (least && *least <= c.max_downtime_ms && *least > input.downtime_limit_ms) {
    // Rounded up to 10 ms, never beyond what the operator tolerates.
    const double limit = std::max(
        *least, std::min(c.max_downtime_ms, std::ceil(*least * kDowntimeHeadroom / 10) * 10));
    a.action = Action::RaiseDowntime;
    a.downtime_limit_ms = limit;
    a.least_converging_ms = least;
    a.command = virsh_command(c, a.action, limit);
    a.why = "QEMU switches over when a sync leaves at most bandwidth x max downtime";
    if (c.stalled_peak_bytes) {
      a.why += "; its syncs leave up to " + vmp::format_bytes(*c.stalled_peak_bytes) + " at " +
               vmp::format_rate(bw);
    }
    a.why += ": it needs " + vmp::format_duration(*least) + ", and " +
             vmp::format_duration(limit) +
             " leaves headroom for the jitter of real iterations (within --max-downtime " +
             vmp::format_duration(c.max_downtime_ms) +
             "); the pause itself takes what is pending over the link, with the bandwidth cap "
             "lifted";
    return a;
  }
  const std::string no_raise =
      least && *least <= input.downtime_limit_ms
          ? "raising the max downtime would not help (the model finds no limit that converges)"
          : "no max downtime up to --max-downtime " + vmp::format_duration(c.max_downtime_ms) +
                " makes it converge" +
                (least ? " (it needs " + vmp::format_duration(*least) + ")" : "");
  if (c.postcopy_allowed.value_or(false) && c.vfio_devices.empty()) {
    a.action = Action::Postcopy;
    a.command = virsh_command(c, a.action);
    a.why = no_raise +
            "; the migration allows post-copy, which always finishes (the guest runs "
            "on the destination and fetches its missing pages over the network)";
    return a;
  }
  a.action = Action::Abort;
  a.command = virsh_command(c, a.action);
  std::string postcopy_note;
  if (!c.vfio_devices.empty()) {
    postcopy_note = "post-copy is ruled out by the guest's VFIO devices";
  } else if (!c.postcopy_allowed) {
    postcopy_note = "whether the migration allows post-copy is unknown without QMP";
  } else {
    postcopy_note = "the migration was not started to allow post-copy (virsh migrate --postcopy)";
  }
  a.why = no_raise + ", and " + postcopy_note + ": it will not finish as it is";
  return a;
}

}  // namespace vmp::watch
