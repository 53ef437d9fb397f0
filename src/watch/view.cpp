#include "watch/view.hpp"

#include <algorithm>

#include "watch/tracker.hpp"

namespace vmp::watch {

std::optional<double> throughput_bytes_per_s(std::optional<double> measured_bytes_per_s,
                                             const Sample& s) {
  if (measured_bytes_per_s && *measured_bytes_per_s > 0) return measured_bytes_per_s;
  if (s.qemu_bandwidth_bytes_per_s && *s.qemu_bandwidth_bytes_per_s > 0) {
    return s.qemu_bandwidth_bytes_per_s;
  }
  return std::nullopt;
}

double downtime_rate_bytes_per_s(std::optional<double> link_bytes_per_s,
                                 std::optional<double> throughput_bytes_per_s) {
  return link_bytes_per_s.value_or(throughput_bytes_per_s.value_or(0));
}

bool estimates_downtime(const Sample& s, double rate_bytes_per_s) {
  return s.remaining_bytes && rate_bytes_per_s > 0 && running(s.phase);
}

SampleView sample_view(const Sample& s, const SampleViewInputs& in) {
  SampleView v;
  v.sample = s;
  v.throughput_bytes_per_s = throughput_bytes_per_s(in.measured_throughput_bytes_per_s, s);
  v.downtime_limit_ms = in.downtime_limit_ms;
  v.stalled = in.stalled;
  const double rate = downtime_rate_bytes_per_s(in.link_bytes_per_s, v.throughput_bytes_per_s);
  v.downtime_at_link_speed = in.link_bytes_per_s.has_value();
  if (estimates_downtime(s, rate)) {
    double dirtied = 0;
    const model::DirtyCurve* c = in.dirty_curve;
    const double now = migration_time_ms(s);
    if (c && s.phase != Phase::PostcopyActive) {
      if (s.iteration.value_or(0) >= 2) {
        if (in.last_sync_ms) dirtied = c->dirty_bytes(now - *in.last_sync_ms);
      } else if (s.ram_total_bytes && s.ram_remaining_bytes && *s.ram_total_bytes > 0) {
        // The first pass: pages dirtied behind the cursor since the start.
        dirtied = c->dirty_bytes(now) * (1 - *s.ram_remaining_bytes / *s.ram_total_bytes);
      }
    }
    if (s.ram_total_bytes) dirtied = std::min(dirtied, *s.ram_total_bytes);
    v.dirtied_since_sync_bytes = dirtied;
    v.pending_if_paused_bytes = *s.remaining_bytes + dirtied;
    v.downtime_rate_bytes_per_s = rate;
    v.expected_downtime_ms = expected_downtime_ms(*s.remaining_bytes, dirtied, rate);
  }
  if (s.phase == Phase::PostcopyActive && s.remaining_bytes && v.throughput_bytes_per_s &&
      *v.throughput_bytes_per_s > 0) {
    v.predicted_total_time_ms =
        migration_time_ms(s) + *s.remaining_bytes / *v.throughput_bytes_per_s * 1000;
    v.predicted_converges = true;
  } else if (in.forecast) {
    v.predicted_converges = in.forecast->converges();
    if (in.forecast->converges()) v.predicted_total_time_ms = in.forecast->total_time_ms();
  }
  return v;
}

}  // namespace vmp::watch
