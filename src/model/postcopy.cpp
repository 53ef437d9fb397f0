#include "model/postcopy.hpp"

#include <algorithm>

namespace vmp::model {

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
  // QEMU lifts the pre-copy cap at the switch; libvirt's post-copy cap applies after it.
  const double postcopy_bw =
      in.postcopy_bandwidth_bytes_per_s > 0 ? std::min(in.postcopy_bandwidth_bytes_per_s, link)
                                            : link;
  const double pages = r.warmup.pending_pages_at_stop;
  r.switchover_ms = r.warmup.elapsed_ms;
  r.downtime_ms = pages * kDiscardBytesPerDirtyPage / link * 1000;
  r.postcopy_bytes = r.warmup.pending_wire_bytes_at_stop;
  r.postcopy_phase_ms = r.postcopy_bytes / postcopy_bw * 1000;
  r.total_time_ms = r.switchover_ms + r.downtime_ms + r.postcopy_phase_ms;
  r.transferred_bytes = r.warmup.transferred_bytes + r.postcopy_bytes;
  return r;
}

}  // namespace vmp::model
