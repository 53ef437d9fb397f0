// What to change when pre-copy does not converge as configured: searches over the same simulation
// for the smallest max downtime and the smallest bandwidth that converge before the deadline,
// within what the operator allows. Pure.
#pragma once

#include <optional>
#include <string>

#include "model/defaults.hpp"
#include "model/dirty_curve.hpp"
#include "model/postcopy.hpp"
#include "model/precopy.hpp"

namespace vmp::model {

struct AdviceLimits {
  double max_downtime_ms = kDefaultMaxDowntimeMs;  // the largest pause the service tolerates
  std::optional<double> max_bandwidth_bytes_per_s;  // the most the network can give; none: any
  // Off by default, as in OpenStack and KubeVirt: auto-converge slows the guest, post-copy can
  // lose it if the network fails. Computed either way; advised only when allowed.
  bool allow_auto_converge = false;
  bool allow_postcopy = false;
};

// What the guest itself rules out or sets for post-copy.
struct PostcopyConstraints {
  std::size_t vfio_devices = 0;      // post-copy cannot move assigned devices
  double bandwidth_bytes_per_s = 0;  // libvirt's post-copy cap; 0: none
};

inline constexpr double kMaxAdvisedBandwidthBytesPerS = 400e9 / 8;  // 400 Gbit/s

struct DowntimeAdvice {
  double downtime_limit_ms;  // the smallest limit that converges
  PrecopyResult result;      // with it
  // Beyond this limit a larger one shortens the migration by less than 5%.
  double no_gain_beyond_ms;
};

struct BandwidthAdvice {
  double bandwidth_bytes_per_s;  // the smallest that converges with the limit in effect
  PrecopyResult result;
};

struct AutoConvergeAdvice {
  PrecopyResult result;  // with auto-converge on, the bandwidth and max downtime in effect
};

struct PostcopyAdvice {
  PostcopyResult result;  // warm-up with the settings in effect, then post-copy
};

// The closest a non-converging migration came with everything allowed at its limit.
struct BestEffort {
  double downtime_limit_ms;
  double bandwidth_bytes_per_s;
  bool auto_converge;
  PrecopyResult result;
};

// In the order they are preferred: the settings as they are; a longer pause, which needs nothing
// provisioned; more bandwidth; then, only where the operator allows them, auto-converge (slows
// the guest for a while) or post-copy (ends in bounded time, the guest slowed by remote page
// faults, and lost if the network fails meanwhile): when both are allowed, the one done sooner.
enum class Verdict {
  Migrate,
  RaiseDowntime,
  MoreBandwidth,
  AutoConverge,
  PostCopy,
  DoNotMigrate,
  NoBandwidth
};
std::string to_string(Verdict verdict);

struct Advice {
  Verdict verdict = Verdict::DoNotMigrate;
  std::optional<DowntimeAdvice> raise_downtime;     // within the limits, when it helps
  std::optional<BandwidthAdvice> more_bandwidth;    // within the limits, when it helps
  std::optional<AutoConvergeAdvice> auto_converge;  // when it converges, allowed or not
  std::optional<PostcopyAdvice> post_copy;          // when possible, allowed or not
  std::string post_copy_refused;                    // why post-copy is ruled out, if it is
  std::optional<BestEffort> best;                   // with do-not-migrate
  // As configured it converges by the measurement but not at the unfavourable end of the
  // measurement's sampling error (its 95% interval): the advice was searched there, because a
  // wrong "migrate" is the worst answer the tool can give.
  bool within_sampling_error = false;
};

// `in` holds the settings in effect (bandwidth 0 when unknown) and the guest's auto-converge
// parameters (its `enabled` is ignored). `converges_as_configured` is the prediction with them,
// when there is one.
Advice advise(const PrecopyInput& in, const DirtyCurve& curve, const AdviceLimits& limits,
              std::optional<bool> converges_as_configured,
              const PostcopyConstraints& postcopy = {});

}  // namespace vmp::model
