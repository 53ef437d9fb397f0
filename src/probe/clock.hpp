// Time comes in through this, so that tests of the measurement run instantly and exactly.
#pragma once

#include <time.h>

#include <chrono>
#include <thread>

namespace vmp::probe {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_ms() = 0;
  virtual void sleep_ms(double ms) = 0;
  // The host's wall clock and monotonic clock, in seconds: QEMU dates a dirty-rate measurement
  // by one of them (start-time: the wall clock on QEMU 10.0, the monotonic clock on 7.2).
  virtual double epoch_s() { return seconds_of(CLOCK_REALTIME); }
  virtual double monotonic_s() { return seconds_of(CLOCK_MONOTONIC); }

 private:
  static double seconds_of(clockid_t id) {
    timespec t{};
    clock_gettime(id, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
  }
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
