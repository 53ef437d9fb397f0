// What to change when pre-copy does not converge as configured: searches over the same simulation
// for the smallest max downtime and the smallest bandwidth that converge before the deadline,
// within what the operator allows. Pure.
#pragma once

#include <optional>
#include <string>

#include "model/dirty_curve.hpp"
#include "model/precopy.hpp"

namespace vmp::model {

struct AdviceLimits {
  double max_downtime_ms = 1000;                       // the largest pause the service tolerates
  std::optional<double> max_bandwidth_bytes_per_s;     // the most the network can give; none: any
};

inline constexpr double kMaxAdvisedBandwidthBytesPerS = 400e9 / 8;  // 400 Gbit/s

struct DowntimeAdvice {
  double downtime_limit_ms;   // the smallest limit that converges
  PrecopyResult result;       // with it
  // Beyond this limit a larger one shortens the migration by less than 5%.
  double no_gain_beyond_ms;
};

struct BandwidthAdvice {
  double bandwidth_bytes_per_s;  // the smallest that converges with the limit in effect
  PrecopyResult result;
};

enum class Verdict { Migrate, RaiseDowntime, MoreBandwidth, DoNotMigrate, NoBandwidth };
std::string to_string(Verdict verdict);

struct Advice {
  Verdict verdict = Verdict::DoNotMigrate;
  std::optional<DowntimeAdvice> raise_downtime;    // within the limits, when it helps
  std::optional<BandwidthAdvice> more_bandwidth;   // within the limits, when it helps
};

// `in` holds the settings in effect (bandwidth 0 when unknown). `converges_as_configured` is
// the prediction with them, when there is one.
Advice advise(const PrecopyInput& in, const DirtyCurve& curve, const AdviceLimits& limits,
              std::optional<bool> converges_as_configured);

}  // namespace vmp::model
