// Time for the unit tests: it moves only when the code under test sleeps.
#pragma once

#include <algorithm>

#include "probe/clock.hpp"

namespace vmp::test {

class FakeClock : public probe::Clock {
 public:
  double now_ms() override { return now; }
  void sleep_ms(double ms) override { now += std::max(ms, 1.0); }
  double now = 0;
};

}  // namespace vmp::test
