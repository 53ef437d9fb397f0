// What the watch shows of each sample: the throughput, the pause if the guest stopped now, and
// the predicted end. Pure: built from the sample and what the watch knows when it comes (the
// tracker's figures, the dirty curve, the latest forecast, the limit QEMU uses), with no I/O,
// no libvirt and no clock, so that the figures a user reads are tested without a migration. The
// Watcher only gathers the inputs.
#pragma once

#include <optional>

#include "model/dirty_curve.hpp"
#include "watch/forecast.hpp"
#include "watch/sample.hpp"
#include "watch/watch.hpp"

namespace vmp::watch {

// The throughput the watch shows and models with: ours over kThroughputWindowMs
// (`measured_bytes_per_s`, the tracker's) once it is above 0, else QEMU's last 100 ms window,
// which swings with it; absent before either is known.
std::optional<double> throughput_bytes_per_s(std::optional<double> measured_bytes_per_s,
                                             const Sample& s);

// What the pause would be sent at: the link's speed when --link-speed gives it (QEMU lifts the
// bandwidth cap while the guest is paused), else the throughput; 0 when neither is known.
double downtime_rate_bytes_per_s(std::optional<double> link_bytes_per_s,
                                 std::optional<double> throughput_bytes_per_s);

// Whether a sample's pause is estimated: the migration runs, says what is left, and there is a
// rate to send it at. Only then is a dirty curve asked for: choosing one also names it (the
// curve's origin the next iteration's line shows), so the Watcher asks exactly then.
bool estimates_downtime(const Sample& s, double rate_bytes_per_s);

// What a sample's view needs besides the sample. Pointers, not copies: one view per interval.
struct SampleViewInputs {
  // The tracker's throughput over kThroughputWindowMs, and the migration's clock at the last
  // dirty bitmap sync it saw.
  std::optional<double> measured_throughput_bytes_per_s;
  std::optional<double> last_sync_ms;
  // The curve to tell what the guest dirtied since that sync; none: nothing is counted.
  const model::DirtyCurve* dirty_curve = nullptr;
  const Forecast* forecast = nullptr;  // the latest one made; none: no predicted end
  std::optional<double> downtime_limit_ms;
  std::optional<double> link_bytes_per_s;  // --link-speed
  bool stalled = false;
};

// The view handed to WatchOutput::sample. The expected downtime is what is pending if the guest
// paused now: all that is left, plus what was dirtied since QEMU's last sync (found only at the
// next one: from iteration 2 the curve over the time since that sync; in the first pass the
// curve over the time since the start, for the share of RAM behind the cursor), at most RAM,
// over the rate. The predicted total: in post-copy, what is left at the throughput; else the
// latest forecast's, when it converges.
SampleView sample_view(const Sample& s, const SampleViewInputs& in);

}  // namespace vmp::watch
