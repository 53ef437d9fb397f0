// What can end a live measurement early, checked while it waits for QEMU: a stop signal, the
// connection lost, the guest paused, stopped or gone. A measurement of a guest whose run state
// changed is not the guest's: it is refused, never turned into a verdict.
#pragma once

namespace vmp::probe {

// How often a measurement checks at least: a fault is noticed within this, not at the end of a
// period (up to 60 s).
inline constexpr double kGuardIntervalMs = 250;

class MeasurementGuard {
 public:
  virtual ~MeasurementGuard() = default;
  // Throws when the measurement must stop: Interrupted (a stop signal), ConnectionLost, or
  // RuntimeError with key "domain-not-running" (paused, resumed, stopped, gone).
  virtual void check() = 0;
  // The same, reading the domain's state now rather than at its usual pace: after a call to
  // QEMU failed, whether the domain went away or the connection did says why, in the tool's
  // words, better than the call's own error.
  virtual void recheck() { check(); }
  // After a stop: whether QEMU can still be asked (the connection is up and the domain runs a
  // QEMU process, paused or not).
  virtual bool qemu_reachable() = 0;
};

}  // namespace vmp::probe
