#include "watch/stall.hpp"

namespace vmp::watch {

bool StallDetector::add_peak(int iteration, double started_ms, double peak_bytes) {
  if (have_low_ && iteration <= low_iteration_) return false;
  if (!have_low_ || peak_bytes < (1 - rule_.min_progress) * low_bytes_) {
    // Progress: a new low. Whatever stall there was is over.
    have_low_ = true;
    low_iteration_ = iteration;
    low_ms_ = started_ms;
    low_bytes_ = peak_bytes;
    peaks_since_low_ = 0;
    stall_.reset();
    return false;
  }
  ++peaks_since_low_;
  if (stall_) {
    stall_->last_peak_bytes = peak_bytes;
    return false;
  }
  // Iterations are QEMU's sync counts: several syncs may fall between two samples, so the rule
  // counts iterations, but wants to have seen at least two peaks that did not fall.
  if (iteration - low_iteration_ >= rule_.iterations && peaks_since_low_ >= 2) {
    stall_ = Stall{low_iteration_, low_ms_, low_bytes_, iteration, started_ms, peak_bytes};
    return true;
  }
  return false;
}

}  // namespace vmp::watch
