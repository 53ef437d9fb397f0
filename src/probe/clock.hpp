// Time comes in through this, so that tests of the measurement run instantly and exactly.
#pragma once

#include <chrono>
#include <thread>

namespace vmp::probe {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_ms() = 0;
  virtual void sleep_ms(double ms) = 0;
};

class SystemClock : public Clock {
 public:
  double now_ms() override {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void sleep_ms(double ms) override {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
  }
};

}  // namespace vmp::probe
