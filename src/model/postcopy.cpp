#include "model/postcopy.hpp"

#include <algorithm>
#include <cmath>

namespace vmp::model {

double postcopy_phase_ms(double wire_bytes, double first_threshold_bytes, double link_bytes_per_s,
                         double cap_bytes_per_s, const PrecopyInput& precopy) {
  // QEMU lifts the pre-copy cap at the switch; libvirt's post-copy cap, if any, applies after it.
  const double rate =
      cap_bytes_per_s > 0 ? std::min(cap_bytes_per_s, link_bytes_per_s) : link_bytes_per_s;
  if (rate >= link_bytes_per_s) return wire_bytes / link_bytes_per_s * 1000;
  // Capped: QEMU 7.2's migration thread sends a window's share at a time, and before each window
  // compares what is left with its threshold (the bandwidth it measured over the last window x
  // the max downtime; before the first, pre-copy's). Once what is left is within it, it
  // completes: ram_save_complete sends the rest regardless of the rate limit, at the link's
  // speed. After a window at the cap, the threshold is the cap x max downtime.
  const double window_bytes = rate * precopy.window_ms / 1000;
  const double later_threshold = rate * precopy.downtime_limit_ms / 1000;
  double left = wire_bytes, ms = 0;
  if (left > first_threshold_bytes && left > window_bytes) {
    left -= window_bytes;
    ms += precopy.window_ms;
    // Then a window at a time while more than both the threshold and a window are left: in
    // closed form, so that a tiny cap on a large rest costs no more than a large one.
    const double floor_bytes = std::max(later_threshold, window_bytes);
    if (left > floor_bytes) {
      const double windows = std::ceil((left - floor_bytes) / window_bytes);
      left = std::max(0.0, left - windows * window_bytes);
      ms += windows * precopy.window_ms;
    }
  }
  return ms + left / link_bytes_per_s * 1000;
}

PostcopyResult simulate_postcopy(const PostcopyInput& in, const DirtyCurve& curve) {
  PostcopyResult r;
  PrecopyInput warmup = in.precopy;
  warmup.stop_after_iteration = in.warmup_iterations;
  r.warmup = simulate_precopy(warmup, curve);
  if (r.warmup.outcome != PrecopyOutcome::SwitchedOver) {
    // Converged in the warm-up (or never finished the first pass before the deadline).
    r.total_time_ms = r.warmup.converges() ? r.warmup.total_time_ms : r.warmup.elapsed_ms;
    r.downtime_ms = r.warmup.downtime_ms;
    r.transferred_bytes = r.warmup.transferred_bytes;
    return r;
  }
  r.postcopy_started = true;
  const double link = in.precopy.link_bytes_per_s > 0 ? in.precopy.link_bytes_per_s
                                                      : in.precopy.bandwidth_bytes_per_s;
  const double pages = r.warmup.pending_pages_at_stop;
  r.switchover_ms = r.warmup.elapsed_ms;
  r.downtime_ms = pages * kDiscardBytesPerDirtyPage / link * 1000;
  r.postcopy_bytes = r.warmup.pending_wire_bytes_at_stop;
  r.postcopy_phase_ms = postcopy_phase_ms(r.postcopy_bytes, r.warmup.threshold_bytes, link,
                                          in.postcopy_bandwidth_bytes_per_s, in.precopy);
  const double stream = in.postcopy_bandwidth_bytes_per_s > 0
                            ? std::min(in.postcopy_bandwidth_bytes_per_s, link)
                            : link;
  const double host_page = std::max(in.precopy.host_page_bytes, in.precopy.page_size_bytes);
  r.fault_stall_ms = stream > 0 ? (kPageHeaderBytes + host_page) / stream * 1000 : 0;
  // Without a link speed the phase runs at the pre-copy cap, below most links: no bound then.
  r.postcopy_phase_lower_bound =
      in.precopy.link_bytes_per_s > 0 &&
      !(in.postcopy_bandwidth_bytes_per_s > 0 && in.postcopy_bandwidth_bytes_per_s < link);
  r.total_time_ms = r.switchover_ms + r.downtime_ms + r.postcopy_phase_ms;
  r.transferred_bytes = r.warmup.transferred_bytes + r.postcopy_bytes;
  return r;
}

}  // namespace vmp::model
