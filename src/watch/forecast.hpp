// What the watch predicts from where a migration stands: when it completes (the pre-copy model
// resumed from now), how long the pause would be, and what to do when it stalls. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/advisor.hpp"
#include "model/defaults.hpp"
#include "model/dirty_curve.hpp"
#include "model/precopy.hpp"
#include "probe/profile.hpp"
#include "virt/domain_facts.hpp"

namespace vmp::watch {

// The size in which memory is dirtied, and so re-sent: a guest page, or on hosts that track
// writes to huge-page-backed memory per huge page (POWER with the hash MMU) the huge page.
struct DirtyGranularity {
  double bytes = 4096;
  std::string reason;
};
DirtyGranularity dirty_granularity(const virt::DomainFacts& facts, double page_size_bytes);

// A profile's curve counts distinct 4 KiB pages whose content changed (page sampling). With a
// coarser granularity g, random writes that touch d bytes of a working set W in 4 KiB pages touch
// W (1 - (1 - d/W)^(g/4096)) bytes in granules of g. Returns the curve as that.
model::DirtyCurve at_granularity(const model::DirtyCurve& curve, double page_size_bytes,
                                 double granularity_bytes);

// The dirty curve from a saved profile, as the offline prediction builds it.
model::DirtyCurve curve_from_profile(const probe::DirtyProfile& profile, model::CurvePolicy policy);

// The dirty curve from the migration's own iterations (what each dirtied over its length):
// iterations of about the same length are averaged, the latest `keep` kept.
std::optional<model::DirtyCurve> curve_from_iterations(std::vector<model::DirtyPoint> points,
                                                       double ceiling_bytes, std::size_t keep = 12);

struct Forecast {
  model::PrecopyResult rest;  // the simulation from now
  double at_elapsed_ms = 0;   // the migration's clock when it was made
  // No link speed known: the pause is sent at the measured throughput, an upper bound (QEMU
  // lifts the bandwidth cap once the guest is paused).
  bool downtime_upper_bound = true;
  bool converges() const { return rest.converges(); }
  double total_time_ms() const { return at_elapsed_ms + rest.total_time_ms; }
};

// `input` holds the guest (RAM, page size, zero pages), the throughput measured, the link speed
// when known, the max downtime now and the deadline; `resume`, where the migration stands.
Forecast forecast(model::PrecopyInput input, const model::PrecopyResume& resume,
                  const model::DirtyCurve& curve, double elapsed_ms);

// The pause if the guest stopped now: what is pending, plus what was dirtied since QEMU's last
// sync (QEMU finds it only at the next), sent at `rate_bytes_per_s` (the link's speed when known:
// QEMU lifts the bandwidth cap while the guest is paused; else the measured throughput).
double expected_downtime_ms(double pending_bytes, double dirtied_since_sync_bytes,
                            double rate_bytes_per_s);

enum class Action { RaiseDowntime, Postcopy, Abort };
std::string to_string(Action action);

struct StallAdvice {
  Action action = Action::Abort;
  std::optional<double> downtime_limit_ms;    // RaiseDowntime: the new max downtime
  std::optional<double> least_converging_ms;  // RaiseDowntime: the least the model needs
  std::string command;                        // the exact command that does it
  std::string why;
};

struct AdviceContext {
  std::string domain;
  std::string uri;                       // for virsh -c
  bool libvirt_job = true;               // libvirt runs the migration (else a QMP client does)
  std::optional<bool> postcopy_allowed;  // QEMU's postcopy-ram capability; absent: unknown
  std::vector<std::string> vfio_devices;
  double max_downtime_ms = model::kDefaultMaxDowntimeMs;  // --max-downtime
  // The highest peak of the stalled iterations, and the bandwidth QEMU measures (what its
  // threshold, bandwidth x max downtime, is made of).
  std::optional<double> stalled_peak_bytes;
  std::optional<double> qemu_bandwidth_bytes_per_s;
};

// Headroom over the least max downtime that converges in the model: real iterations jitter.
inline constexpr double kDowntimeHeadroom = 1.2;

// Raise the max downtime when a limit within --max-downtime makes it converge; else switch to
// post-copy when the migration was started to allow it and no VFIO device forbids it; else abort.
// The limit: QEMU switches over at a sync that leaves at most bandwidth x max downtime, and a
// stalled migration's syncs leave about its peaks; so at least the highest stalled peak over the
// bandwidth, or what the model needs if that is more. A dirty curve drawn from the stalled
// iterations alone (all of one length) cannot tell how much shorter ones would dirty, so the
// model alone would be too hopeful.
StallAdvice advise_on_stall(const model::PrecopyInput& input, const model::PrecopyResume& resume,
                            const model::DirtyCurve& curve, const AdviceContext& context);

// The shell-quoted virsh command for an action.
std::string virsh_command(const AdviceContext& context, Action action,
                          std::optional<double> downtime_limit_ms = std::nullopt);

}  // namespace vmp::watch
