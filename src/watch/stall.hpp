// A stall: what is pending at the start of each iteration (the peak of the remaining sawtooth)
// no longer falls. Judged only at those comparable points: comparing samples taken anywhere in
// the sawtooth sees remaining "grow" at every sync and raises false alarms (the reason OpenStack
// dropped its progress timeout). Pure.
#pragma once

#include <optional>

namespace vmp::watch {

struct StallRule {
  // The peak must fall by at least this fraction of the lowest one so far ...
  double min_progress = 0.10;
  // ... within this many iterations; otherwise the migration is stalled.
  int iterations = 3;
};

struct Stall {
  int since_iteration = 0;     // the last iteration whose peak was a new low
  double since_ms = 0;         // its start, on the migration's clock
  double low_peak_bytes = 0;   // that peak
  int detected_iteration = 0;  // the iteration at which the rule fired
  double detected_ms = 0;
  double last_peak_bytes = 0;  // the latest peak
};

class StallDetector {
 public:
  explicit StallDetector(StallRule rule = {}) : rule_(rule) {}

  // One peak per iteration after the first pass, in increasing iteration order. Returns true
  // when this peak starts a stall (the rule fires); a peak that falls enough ends one.
  bool add_peak(int iteration, double started_ms, double peak_bytes);
  const std::optional<Stall>& stall() const { return stall_; }
  const StallRule& rule() const { return rule_; }

 private:
  StallRule rule_;
  bool have_low_ = false;
  int low_iteration_ = 0;
  double low_ms_ = 0, low_bytes_ = 0;
  int peaks_since_low_ = 0;
  std::optional<Stall> stall_;
};

}  // namespace vmp::watch
