// A host's evacuation: several pre-copy migrations over one link, some at once, planned and
// simulated together. Pure: no I/O, no clock.
//
// How the link is shared (what QEMU and the kernel do on one path): each migration sends at most
// its own cap (QEMU's rate limiter), and the link is split evenly between those sending, a
// migration capped below its even share leaving the rest to the others (max-min fairness, what
// competing TCP streams on one path settle to). A migration starts sending only after libvirt's
// steps before QEMU's (model/libvirt_steps.hpp: the destination's start), and frees its slot
// only when virsh migrate returns (libvirt's steps after QEMU completes); the link is freed when
// QEMU completes. The stop-and-copy is not capped: it gets what the others leave.
//
// One start at a time: a migration is launched only once every one launched before it is
// sending. libvirt's steps use no link but the host's CPU (the destination QEMU's start), and
// several of them at once queue on a host short of cores (bench/drain_starts.py: four together
// took 2.5-5.8 s each here, one alone about 1.1 s), delaying every sender; one at a time the
// link is in use from the first start, and a later start costs its migration only the steps of
// those before it, while they send.
//
// The order, a rule a person can check: domains that converge only with the link to themselves
// go first, alone (if one of them fails, it fails before the rest of the window is spent, and
// nothing else slows it down); then the rest, longest alone-time first, `concurrent` at once
// (Graham's longest-processing-time rule: the short ones fill in at the end, so no long
// migration starts last). Domains that do not converge even alone are left out.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/dirty_curve.hpp"
#include "model/precopy.hpp"

namespace vmp::model {

struct DrainDomain {
  std::string name;
  // Its migration as it would run alone: cap, downtime limit, deadline, libvirt's steps before
  // (start_ms). bandwidth_bytes_per_s: its cap, 0 for none; link_bytes_per_s and rate_schedule
  // are the plan's to set.
  PrecopyInput input;
  DirtyCurve curve = DirtyCurve::piecewise_linear({}, 0);
  double after_ms = 0;  // libvirt's steps after QEMU completes, before virsh migrate returns
};

struct DrainMigration {
  std::size_t domain = 0;  // index into the domains given
  double launch_ms = 0;    // libvirt's job starts (virsh migrate is run)
  double end_ms = 0;       // QEMU completes (or, not converging, where the simulation ended)
  double free_ms = 0;      // virsh migrate returns: the slot is free again
  bool alone = false;      // runs with the link to itself
  PrecopyResult result;    // its migration in the plan (times from launch_ms)
  PrecopyResult alone_result;  // the same migration with the link to itself
  double mean_bandwidth_bytes_per_s = 0;  // bytes sent over QEMU's time
};

struct DrainPlan {
  double link_bytes_per_s = 0;
  int concurrent = 1;
  std::vector<DrainMigration> migrations;  // in launch order
  std::vector<std::size_t> left_out;       // do not converge even alone: not in the plan
  double total_ms = 0;                     // the last virsh migrate returns
  bool all_converge = true;                // every migration in the plan converges in it
};

// The max-min fair share of `link` for each of `caps` (0: no cap) sending together.
std::vector<double> share_link(const std::vector<double>& caps, double link_bytes_per_s);

// The plan for these domains: the order above, at most `concurrent` at once.
DrainPlan plan_drain(const std::vector<DrainDomain>& domains, double link_bytes_per_s,
                     int concurrent);

// A given order and the domains that run alone, simulated: what plan_drain checks its plan with.
DrainPlan simulate_drain(const std::vector<DrainDomain>& domains,
                         const std::vector<std::size_t>& order, const std::vector<bool>& alone,
                         double link_bytes_per_s, int concurrent);

}  // namespace vmp::model
