#include "model/drain.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace vmp::model {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

// One migration of the plan as the simulation goes: launched, sending from send_start, ended.
struct Run {
  std::size_t domain = 0;
  double launch = 0;
  double send_start = 0;
  double end = kNever;   // QEMU completes: known once committed
  double free = kNever;  // virsh migrate returns
  bool alone = false;
  bool done = false;
  PrecopyResult result;
};

PrecopyResult alone_result(const DrainDomain& d, double link) {
  PrecopyInput in = d.input;
  in.bandwidth_bytes_per_s = in.bandwidth_bytes_per_s > 0 ? in.bandwidth_bytes_per_s : link;
  in.link_bytes_per_s = link;
  in.rate_schedule.clear();
  return simulate_precopy(in, d.curve);
}

double cap_of(const DrainDomain& d) { return d.input.bandwidth_bytes_per_s; }

// What run `a` gets over time, given every run's sending interval as known now (runs not yet
// ended are taken to send for ever): a step wherever a migration starts sending or ends.
std::vector<RateStep> schedule_for(const Run& a, const std::vector<Run>& runs,
                                   const std::vector<DrainDomain>& domains, double link) {
  std::vector<double> points{a.send_start};
  for (const auto& r : runs) {
    if (r.send_start > a.send_start) points.push_back(r.send_start);
    if (std::isfinite(r.end) && r.end > a.send_start) points.push_back(r.end);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  std::vector<RateStep> steps;
  for (double at : points) {
    std::vector<double> caps;
    std::size_t self = 0;
    for (const auto& r : runs) {
      if (r.send_start <= at && at < r.end) {
        if (&r == &a) self = caps.size();
        caps.push_back(cap_of(domains[r.domain]));
      }
    }
    const double rate = share_link(caps, link)[self];
    caps[self] = 0;  // the stop-and-copy is not capped
    const double uncapped = share_link(caps, link)[self];
    if (!steps.empty() && steps.back().bandwidth_bytes_per_s == rate &&
        steps.back().link_bytes_per_s == uncapped) {
      continue;
    }
    steps.push_back({at - a.send_start, rate, uncapped});
  }
  return steps;
}

}  // namespace

std::vector<double> share_link(const std::vector<double>& caps, double link) {
  std::vector<std::size_t> by_cap(caps.size());
  std::iota(by_cap.begin(), by_cap.end(), 0);
  auto cap = [&](std::size_t i) { return caps[i] > 0 ? caps[i] : kNever; };
  std::stable_sort(by_cap.begin(), by_cap.end(),
                   [&](std::size_t x, std::size_t y) { return cap(x) < cap(y); });
  std::vector<double> share(caps.size(), 0);
  double left = link;
  std::size_t still = caps.size();
  for (std::size_t i : by_cap) {
    share[i] = std::min(cap(i), left / static_cast<double>(still));
    left -= share[i];
    --still;
  }
  return share;
}

DrainPlan simulate_drain(const std::vector<DrainDomain>& domains,
                         const std::vector<std::size_t>& order, const std::vector<bool>& alone,
                         double link, int concurrent) {
  const std::size_t slots = static_cast<std::size_t>(std::max(1, concurrent));
  std::vector<Run> runs;
  std::size_t next = 0;
  double now = 0;

  // Launch what may start now: a free slot, no migration running alone, none still in libvirt's
  // steps before sending (one start at a time), and one that must run alone only once every
  // other has returned.
  auto launch_ready = [&] {
    while (next < order.size()) {
      std::size_t busy = 0;
      bool alone_busy = false, starting = false;
      for (const auto& r : runs) {
        if (r.done && r.free <= now) continue;
        ++busy;
        alone_busy = alone_busy || r.alone;
        starting = starting || r.send_start > now;
      }
      const std::size_t d = order[next];
      if (alone_busy || starting || busy >= slots || (alone[d] && busy > 0)) return;
      Run r;
      r.domain = d;
      r.launch = now;
      r.send_start = now + domains[d].input.start_ms;
      r.alone = alone[d];
      runs.push_back(r);
      ++next;
    }
  };

  launch_ready();
  for (;;) {
    // The earliest of: a running migration's end (simulated with what is known now, exact up to
    // the next event), or, while more wait to launch, a slot freed or a start's steps ended.
    double first_end = kNever;
    std::size_t ending = runs.size();
    for (std::size_t i = 0; i < runs.size(); ++i) {
      Run& r = runs[i];
      if (r.done) continue;
      const DrainDomain& d = domains[r.domain];
      PrecopyInput in = d.input;
      in.rate_schedule = schedule_for(r, runs, domains, link);
      r.result = simulate_precopy(in, d.curve);
      const double end = r.launch + r.result.elapsed_ms;
      if (end < first_end) {
        first_end = end;
        ending = i;
      }
    }
    double next_launch = kNever;
    if (next < order.size()) {
      for (const auto& r : runs) {
        if (r.done && r.free > now) next_launch = std::min(next_launch, r.free);
        if (r.send_start > now) next_launch = std::min(next_launch, r.send_start);
      }
    }
    if (ending == runs.size() && !std::isfinite(next_launch)) break;
    if (next_launch <= first_end) {
      now = next_launch;
    } else {
      Run& r = runs[ending];
      r.done = true;
      r.end = first_end;
      r.free = first_end + (r.result.converges() ? domains[r.domain].after_ms : 0);
      now = first_end;
    }
    launch_ready();
  }

  DrainPlan plan;
  plan.link_bytes_per_s = link;
  plan.concurrent = concurrent;
  for (const auto& r : runs) {
    DrainMigration m;
    m.domain = r.domain;
    m.launch_ms = r.launch;
    m.end_ms = r.end;
    m.free_ms = r.free;
    m.alone = r.alone;
    m.result = r.result;
    m.alone_result = alone_result(domains[r.domain], link);
    const double qemu_ms = r.result.elapsed_ms - domains[r.domain].input.start_ms;
    m.mean_bandwidth_bytes_per_s = qemu_ms > 0 ? r.result.transferred_bytes / qemu_ms * 1000 : 0;
    plan.total_ms = std::max(plan.total_ms, r.free);
    plan.all_converge = plan.all_converge && r.result.converges();
    plan.migrations.push_back(std::move(m));
  }
  return plan;
}

DrainPlan plan_drain(const std::vector<DrainDomain>& domains, double link, int concurrent) {
  std::vector<PrecopyResult> alone_results;
  for (const auto& d : domains) alone_results.push_back(alone_result(d, link));
  std::vector<std::size_t> left_out, in_plan;
  for (std::size_t i = 0; i < domains.size(); ++i) {
    (alone_results[i].converges() ? in_plan : left_out).push_back(i);
  }
  // Longest alone first; equal times by name, so a plan does not depend on the listing's order.
  std::stable_sort(in_plan.begin(), in_plan.end(), [&](std::size_t x, std::size_t y) {
    const double tx = alone_results[x].total_time_ms, ty = alone_results[y].total_time_ms;
    return tx != ty ? tx > ty : domains[x].name < domains[y].name;
  });
  std::vector<bool> alone(domains.size(), concurrent <= 1);
  DrainPlan plan;
  // Each round moves at least one more migration to run alone, so it ends.
  for (std::size_t round = 0; round <= in_plan.size(); ++round) {
    std::vector<std::size_t> order;
    for (std::size_t i : in_plan) {
      if (alone[i]) order.push_back(i);
    }
    for (std::size_t i : in_plan) {
      if (!alone[i]) order.push_back(i);
    }
    plan = simulate_drain(domains, order, alone, link, concurrent);
    bool moved = false;
    for (const auto& m : plan.migrations) {
      if (!m.result.converges() && !alone[m.domain]) {
        alone[m.domain] = true;
        moved = true;
      }
    }
    if (!moved) break;
  }
  plan.left_out = left_out;
  return plan;
}

}  // namespace vmp::model
