// Time for the unit tests: it moves only when the code under test sleeps.
#pragma once

#include <algorithm>

#include "probe/clock.hpp"

namespace vmp::test {

class FakeClock : public probe::Clock {
 public:
  double now_ms() override { return now; }
  void sleep_ms(double ms) override { now += std::max(ms, 1.0); }
  double epoch_s() override { return epoch_at_zero + now / 1000; }
  double monotonic_s() override { return monotonic_at_zero + now / 1000; }
  double now = 0;
  // What the host's clocks read when `now` was 0 (a replay sets them from its recording).
  double epoch_at_zero = 1.8e9, monotonic_at_zero = 50000;
};

}  // namespace vmp::test
