#include "model/precopy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vmp::model {

std::string to_string(PrecopyOutcome outcome) {
  switch (outcome) {
    case PrecopyOutcome::Converged:
      return "converged";
    case PrecopyOutcome::Deadline:
      return "deadline";
    case PrecopyOutcome::Stalled:
      return "stalled";
    case PrecopyOutcome::SwitchedOver:
      return "switched-over";
    case PrecopyOutcome::IterationLimit:
      return "iteration-limit";
  }
  return "deadline";
}

double ThreadCost::data_bytes_per_s(double page_size_bytes) const {
  return data_page_ns > 0 ? (kPageHeaderBytes + page_size_bytes) / data_page_ns * 1e9 : 0;
}

namespace {

// The dirty bitmap, in pages. The cursor walks RAM in address order. Ahead of it during the first
// pass lies the rest of RAM, zero and non-zero pages as the layout has them; pages dirtied
// meanwhile lie behind it (those ahead are in the bitmap already), so they go after the cursor
// wraps. Re-dirtied pages are always sent whole.
class Bitmap {
 public:
  // `zero_share`: per equal stretch of RAM, in cursor order; scaled so that the stretches hold
  // `zero_pages` in all.
  Bitmap(double total_pages, double zero_pages, std::vector<double> zero_share, double page_size,
         ThreadCost cost = {}, double window_ms = kRateLimitWindowMs)
      : total_(total_pages), page_size_(page_size), cost_(cost), window_ms_(window_ms) {
    if (zero_share.empty()) zero_share.push_back(1);
    for (double& z : zero_share) z = std::clamp(z, 0.0, 1.0);
    const double region = total_pages / static_cast<double>(zero_share.size());
    fit_to_count(zero_share, zero_pages / region);
    region_pages_ = region;
    cum_wire_.push_back(0);
    cum_work_ns_.push_back(0);
    for (double z : zero_share) {
      const double zero = z * region;
      cum_wire_.push_back(cum_wire_.back() + zero * kZeroPageWireBytes +
                          (region - zero) * full_page_wire());
      cum_work_ns_.push_back(cum_work_ns_.back() + zero * cost_.zero_page_ns +
                             (region - zero) * cost_.data_page_ns);
    }
  }

  // Scales the shares so that they hold `regions_of_zeros` regions' worth of zero pages, none
  // above 1. The layout gives the shape and the count the amount: the count comes from the
  // whole sample, and the prediction interval moves it by its standard error. Shares that reach
  // 1 stay there; what they cannot take goes to the others, in proportion to their room.
  static void fit_to_count(std::vector<double>& share, double regions_of_zeros) {
    auto held = [&](double s) {
      double sum = 0;
      for (double z : share) sum += std::min(1.0, z * s);
      return sum;
    };
    double hi = 1;
    while (held(hi) < regions_of_zeros && hi < 1e12) hi *= 2;
    if (held(hi) >= regions_of_zeros) {
      double lo = 0;
      for (int i = 0; i < 100; ++i) {
        double mid = (lo + hi) / 2;
        (held(mid) < regions_of_zeros ? lo : hi) = mid;
      }
      for (double& z : share) z = std::min(1.0, z * hi);
      return;
    }
    // More zeros than the non-zero stretches can hold (a layout that found none somewhere the
    // count says there are some): fill those, then the rest in proportion to the room left.
    double room = 0;
    for (double& z : share) {
      if (z > 0) z = 1;
      room += 1 - z;
    }
    const double rest = regions_of_zeros - held(1);
    for (double& z : share) z += room > 0 ? (1 - z) * std::min(1.0, rest / room) : 0;
  }

  double redirtied = 0;

  // A migration under way: the first pass has `pages_left` pages still to go, at the end of RAM.
  void skip_first_pass_to(double pages_left) {
    cursor_ = std::clamp(total_ - pages_left, 0.0, total_);
  }

  double first_pass() const { return total_ - cursor_; }
  double pages() const { return first_pass() + redirtied; }
  double full_page_wire() const { return kPageHeaderBytes + page_size_; }
  double first_pass_wire() const { return wire_at(total_) - wire_at(cursor_); }
  double wire_bytes() const { return first_pass_wire() + redirtied * full_page_wire(); }

  // Wire bytes to send the next `n` pages in cursor order.
  double wire_for_pages(double n) const {
    double fp = first_pass();
    if (n <= fp) return wire_at(cursor_ + n) - wire_at(cursor_);
    return first_pass_wire() + std::min(n - fp, redirtied) * full_page_wire();
  }
  // Sends up to `wire` bytes in cursor order at `bytes_per_ms`; the bytes actually sent and the
  // time they took (the wire at that rate, or the thread's work where that is longer).
  struct Sent {
    double wire = 0;
    double ms = 0;
  };
  Sent send(double wire, double bytes_per_ms) {
    const double from = cursor_;
    double fp_wire = first_pass_wire();
    if (wire < fp_wire) {
      cursor_ = position_of_wire(wire_at(cursor_) + wire);
      return {wire, first_pass_ms(from, cursor_, bytes_per_ms)};
    }
    double sent = fp_wire;
    cursor_ = total_;
    double pages = std::min(redirtied, (wire - sent) / full_page_wire());
    redirtied -= pages;
    if (redirtied < 1e-9) redirtied = 0;
    return {sent + pages * full_page_wire(),
            first_pass_ms(from, total_, bytes_per_ms) + data_pages_ms(pages, bytes_per_ms)};
  }
  // The time to send all that is left at `bytes_per_ms` (the stop-and-copy).
  double ms_for_all(double bytes_per_ms) const {
    return first_pass_ms(cursor_, total_, bytes_per_ms) + data_pages_ms(redirtied, bytes_per_ms);
  }

 private:
  // A cumulative figure of the first pass (wire bytes, the thread's work) from the start of RAM
  // to page position x: linear within each stretch of the layout.
  double cumulative_at(const std::vector<double>& cum, double x) const {
    if (x <= 0) return 0;
    if (x >= total_) return cum.back();
    auto k = std::min(static_cast<std::size_t>(x / region_pages_), cum.size() - 2);
    const double slope = (cum[k + 1] - cum[k]) / region_pages_;
    return cum[k] + (x - static_cast<double>(k) * region_pages_) * slope;
  }
  // The inverse: the page position at which the cumulative figure reaches v (total_ past it).
  double position_at(const std::vector<double>& cum, double v) const {
    auto it = std::upper_bound(cum.begin(), cum.end(), v);
    if (it == cum.end()) return total_;
    auto k = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, (it - cum.begin()) - 1));
    const double slope = (cum[k + 1] - cum[k]) / region_pages_;
    const double x =
        static_cast<double>(k) * region_pages_ + (slope > 0 ? (v - cum[k]) / slope : 0);
    return std::clamp(x, 0.0, total_);
  }
  double wire_at(double x) const { return cumulative_at(cum_wire_, x); }
  double work_ns_at(double x) const { return cumulative_at(cum_work_ns_, x); }
  double position_of_wire(double w) const {
    return std::clamp(position_at(cum_wire_, w), cursor_, total_);
  }

  // `n` non-zero pages: the wire at the rate or the thread's work, whichever is longer.
  double data_pages_ms(double n, double bytes_per_ms) const {
    return std::max(n * full_page_wire() / bytes_per_ms, n * cost_.data_page_ns / 1e6);
  }
  // First-pass pages from position `a` to `b`, rate-limit window by window, as QEMU's migration
  // thread goes: in a window it works through pages until their wire reaches the window's share
  // (then it sleeps to the window's end) or until the window's time is up (the thread is the
  // limit), whichever comes first. Zero pages cost the thread time but hardly any wire, so a
  // stretch of them is worked through in the time a window of data pages leaves idle: a 4 GiB
  // guest's 3.5 GiB of zeros (~0.3 s of work) added nothing to a 6 s migration at 128 MiB/s,
  // where charging each stretch its own time had predicted it 4-6% long. Within a stretch of the
  // layout, wire and work grow in proportion, so whole windows there are counted at once.
  double first_pass_ms(double a, double b, double bytes_per_ms) const {
    if (b <= a) return 0;
    if (!cost_.counted()) return (wire_at(b) - wire_at(a)) / bytes_per_ms;
    if (!(window_ms_ > 0) || !(bytes_per_ms > 0)) {
      return std::max((wire_at(b) - wire_at(a)) / bytes_per_ms,
                      (work_ns_at(b) - work_ns_at(a)) / 1e6);
    }
    const double share = bytes_per_ms * window_ms_;  // wire bytes a window may carry
    const double window_ns = window_ms_ * 1e6;
    const std::size_t last = cum_wire_.size() - 2;  // the last stretch
    double ms = 0, x = a;
    while (x < b) {
      const auto k = std::min(static_cast<std::size_t>(x / region_pages_), last);
      const double stretch_end =
          k == last ? b : std::min(b, static_cast<double>(k + 1) * region_pages_);
      const double wire_per_page = (cum_wire_[k + 1] - cum_wire_[k]) / region_pages_;
      const double work_per_page = (cum_work_ns_[k + 1] - cum_work_ns_[k]) / region_pages_;
      const double per_window =
          std::min(wire_per_page > 0 ? share / wire_per_page : total_,
                   work_per_page > 0 ? window_ns / work_per_page : total_);
      const double whole = std::floor((stretch_end - x) / per_window);
      if (whole >= 1) {
        ms += whole * window_ms_;
        x += whole * per_window;
        if (x >= b) break;
      }
      // One window from x, across the stretches it reaches.
      const double y = std::min({position_at(cum_wire_, wire_at(x) + share),
                                 position_at(cum_work_ns_, work_ns_at(x) + window_ns), b});
      if (y >= b || y <= x) {
        ms += std::max((wire_at(b) - wire_at(x)) / bytes_per_ms,
                       (work_ns_at(b) - work_ns_at(x)) / 1e6);
        break;
      }
      ms += window_ms_;
      x = y;
    }
    return ms;
  }

  double total_ = 0;
  double page_size_ = 4096;
  ThreadCost cost_;
  double window_ms_ = kRateLimitWindowMs;
  double cursor_ = 0;  // first-pass pages sent so far, in address order
  double region_pages_ = 1;
  std::vector<double> cum_wire_;
  std::vector<double> cum_work_ns_;
};

// QEMU's auto-converge state: the period counters migration_bitmap_sync keeps and the throttle.
class Throttle {
 public:
  explicit Throttle(const AutoConverge& params) : p_(params) {}
  double pct() const { return pct_; }
  // The share of its unthrottled pace the workload keeps: all of it while the throttle leaves
  // the vCPUs more time than the workload uses.
  double running_share() const {
    const double left = 1 - pct_ / 100;
    return p_.cpu_demand <= left ? 1 : left / p_.cpu_demand;
  }
  bool can_rise() const { return p_.enabled && pct_ < p_.max_pct; }

  // At a bitmap sync at time t: `new_dirty_bytes` joined the bitmap, `transferred` bytes have
  // been sent in all. Returns whether the throttle changed.
  bool at_sync(double t_ms, double new_dirty_bytes, double transferred) {
    period_dirty_bytes_ += new_dirty_bytes;
    if (t_ms <= period_start_ms_ + kThrottlePeriodMs) return false;
    const double sent = transferred - period_start_transferred_;
    const double trigger = sent * p_.trigger_threshold_pct / 100;
    const double dirty = period_dirty_bytes_;
    period_start_ms_ = t_ms;
    period_start_transferred_ = transferred;
    period_dirty_bytes_ = 0;
    if (!p_.enabled || dirty <= trigger || ++high_count_ < 2) return false;
    high_count_ = 0;
    const double before = pct_;
    if (pct_ == 0) {
      pct_ = p_.initial_pct;
    } else {
      double step = p_.increment_pct;
      if (p_.tailslow && dirty > 0) {
        // Only as much as brings the dirty rate down to the trigger, at most the increment.
        const double cpu_now = 100 - pct_;
        step = std::min(cpu_now - cpu_now * trigger / dirty, p_.increment_pct);
      }
      pct_ = std::min(pct_ + step, p_.max_pct);
    }
    return pct_ != before;
  }

 private:
  AutoConverge p_;
  double pct_ = 0;
  int high_count_ = 0;
  double period_start_ms_ = 0;
  double period_start_transferred_ = 0;
  double period_dirty_bytes_ = 0;
};

}  // namespace

PrecopyResult simulate_precopy(const PrecopyInput& in, const DirtyCurve& curve) {
  PrecopyResult r;
  const double ps = in.page_size_bytes;
  // QEMU measures the bandwidth it achieves and uses that for the threshold: the cap, or the link
  // when the link is slower.
  // On a shared link (rate_schedule) these follow the step in force; see rates_from below.
  double link = in.link_bytes_per_s > 0 ? in.link_bytes_per_s : in.bandwidth_bytes_per_s;
  double rate = std::min(in.bandwidth_bytes_per_s, link);
  double bw_per_ms = rate / 1000;
  double link_per_ms = link / 1000;
  const double total_pages = std::floor(in.ram_bytes / ps);
  double threshold = 0, threshold_pages = 0, window_wire_bytes = 0;
  // The flushes a window carries past its limit (QEMU 8.2+): the first whole number of batches
  // of kPagesPerFlush data pages above it.
  const double flush_bytes = kPagesPerFlush * (kPageHeaderBytes + ps);
  auto set_rates = [&] {
    link_per_ms = link / 1000;
    window_wire_bytes = rate / 1000 * in.window_ms;
    // Whether the rate limiter is what holds the stream back (its cap no more than the link or
    // the share of it): only then does a window end at its limit.
    const bool capped =
        in.bandwidth_bytes_per_s > 0 && rate >= in.bandwidth_bytes_per_s * (1 - 1e-9);
    if (capped && in.rate_limit_counts_flushed) {
      // No faster than the link, when it is known (unknown, it stands in as the bandwidth).
      const bool link_known = in.link_bytes_per_s > 0 || !in.rate_schedule.empty();
      window_wire_bytes = (std::floor(window_wire_bytes / flush_bytes) + 1) * flush_bytes;
      if (link_known) window_wire_bytes = std::min(window_wire_bytes, link_per_ms * in.window_ms);
    }
    if (in.thread_cost.data_page_ns > 0) {
      // What a window carries: no more than the thread sends data pages at.
      const double thread_per_ms = in.thread_cost.data_bytes_per_s(ps) / 1000;
      window_wire_bytes = std::min(window_wire_bytes, thread_per_ms * in.window_ms);
    }
    // The pace, and what QEMU measures as its bandwidth: a window's bytes over its time.
    bw_per_ms = window_wire_bytes / in.window_ms;
    const double switchover_per_ms = in.switchover_bandwidth_bytes_per_s > 0
                                         ? in.switchover_bandwidth_bytes_per_s / 1000
                                         : bw_per_ms;
    threshold = std::isinf(in.downtime_limit_ms) ? std::numeric_limits<double>::infinity()
                                                 : switchover_per_ms * in.downtime_limit_ms;
    threshold_pages = threshold / ps;
  };
  // The step in force at time t, and when the next one starts (infinity: none).
  const auto& schedule = in.rate_schedule;
  auto rates_from = [&](double t) {
    auto it = std::upper_bound(schedule.begin(), schedule.end(), t,
                               [](double v, const RateStep& s) { return v < s.from_ms; });
    const RateStep& step = it == schedule.begin() ? *it : *std::prev(it);
    rate = std::min(step.bandwidth_bytes_per_s, step.link_bytes_per_s);
    link = step.link_bytes_per_s;
    set_rates();
    return it == schedule.end() ? std::numeric_limits<double>::infinity() : it->from_ms;
  };
  if (schedule.empty()) {
    set_rates();
  } else {
    rates_from(0);
  }
  // Working set in pages: pages dirtied in a window that are already in the bitmap add nothing.
  const double working_set_pages = std::max(curve.limit_bytes() / ps, 1.0);
  r.threshold_bytes = threshold;

  Bitmap bitmap(total_pages, std::clamp(in.zero_pages, 0.0, total_pages), in.zero_page_layout, ps,
                in.thread_cost, in.window_ms);
  double last_sync = 0;
  if (in.resume) {
    // Mid-migration: what is pending now, and the pages dirtied since the last sync still to
    // come at the next one. Times in the result count from now.
    const double pending_pages =
        std::clamp(std::ceil(in.resume->pending_bytes / ps - 1e-6), 0.0, total_pages);
    if (in.resume->in_first_pass) {
      bitmap.skip_first_pass_to(pending_pages);
    } else {
      bitmap.skip_first_pass_to(0);
      bitmap.redirtied = pending_pages;
    }
    last_sync = -std::max(0.0, in.resume->since_sync_ms);
  }

  // Huge pages (host_page_bytes): the target pages a host page holds, and the working set's
  // host pages.
  const double per_host = in.host_page_bytes > ps ? std::floor(in.host_page_bytes / ps) : 1;
  const bool huge = per_host > 1;
  const double ws_host_pages = std::max(
      1.0, std::min(std::ceil(working_set_pages / per_host), std::ceil(total_pages / per_host)));
  // The host pages that `d` dirty target pages lie in, spread evenly over the working set's.
  auto dirty_host_pages = [&](double d) {
    return d <= 0 ? 0.0 : std::max(1.0, -ws_host_pages * std::expm1(-d / ws_host_pages));
  };
  // On huge pages, the target pages QEMU sends between two looks at its estimate: 64 host pages
  // holding dirty pages (in the first pass, every page of every host page).
  auto pages_per_check = [&] {
    if (bitmap.first_pass() > 0) return kHostPagesPerCheck * per_host;
    return kHostPagesPerCheck * bitmap.redirtied /
           std::max(1.0, dirty_host_pages(bitmap.redirtied));
  };

  double t = 0, transferred = 0;
  double iteration_sent = 0, iteration_pending = bitmap.pages() * ps;
  double previous_after_sync = -1;
  r.min_pending_bytes = iteration_pending;

  Throttle throttle(in.auto_converge);
  auto finish = [&](PrecopyOutcome outcome) {
    r.outcome = outcome;
    r.elapsed_ms = in.start_ms + t;
    r.transferred_bytes = transferred;
    r.final_throttle_pct = throttle.pct();
    return r;
  };

  // QEMU counts whole dirty pages; the proportional bookkeeping here may leave a fraction of one,
  // which is a dirty page all the same. Whether to send and whether to stop the guest are both
  // decided on this one count: deciding one on the fraction and the other on the whole page left
  // a bitmap between the two (say 4915.1 pages against a threshold of 4915.2) that was neither
  // sent nor within the threshold, and the loop spun without time passing.
  auto whole_pages = [&] { return std::ceil(bitmap.pages() - 1e-6); };

  // Bounded by construction: every pass of this loop is one bitmap sync and either returns or
  // sends something (the whole-page count above the threshold means the bitmap is not empty),
  // and there are at most kMaxIterations of them. A migration that needs more syncs than that
  // ends as IterationLimit, which the report calls a degenerate corner, not a verdict.
  for (int sync = 0;; ++sync) {
    if (sync >= kMaxIterations) return finish(PrecopyOutcome::IterationLimit);
    // Send until the estimate drops to the threshold, in whole windows (the check runs once a
    // window), or until the bitmap is empty (then the check runs at once).
    // On a shared link: the rate in force now, and when it next changes.
    const double next_step =
        schedule.empty() ? std::numeric_limits<double>::infinity() : rates_from(t);
    if (whole_pages() > threshold_pages) {
      if (in.start_ms + t >= in.deadline_ms) return finish(PrecopyOutcome::Deadline);
      const double over = std::max(0.0, bitmap.pages() - threshold_pages);
      double needed_wire = 0, budget = 0;
      // Windows left at the rate in force now: none past a change of rate.
      const double windows_left = std::isfinite(next_step)
                                      ? std::max(1.0, std::ceil((next_step - t) / in.window_ms))
                                      : std::numeric_limits<double>::infinity();
      if (huge) {
        // The estimate is looked at once per pages_per_check pages, or when the bitmap is empty.
        const double stride = pages_per_check();
        needed_wire = bitmap.wire_for_pages(
            std::min(bitmap.pages(), std::ceil(over / stride - 1e-9) * stride));
        budget = std::min(needed_wire, windows_left * window_wire_bytes);
      } else {
        needed_wire = bitmap.wire_for_pages(over);
        budget = std::min(std::max(1.0, std::ceil(needed_wire / window_wire_bytes)), windows_left) *
                 window_wire_bytes;
      }
      const auto [sent, ms] = bitmap.send(budget, bw_per_ms);
      t += ms;
      transferred += sent;
      iteration_sent += sent;
      if (sent + 1e-6 < needed_wire && sent + 1e-6 >= budget) {
        // The rate changed before enough was sent: no sync yet (the estimate is still above
        // the threshold), sending goes on at the new rate, its threshold checked first.
        --sync;
        continue;
      }
    }

    if (!schedule.empty()) rates_from(t);  // the threshold and the link at the sync's time
    // The sync: pages dirtied since the last one join the bitmap, less those already in it. A
    // throttled guest gets through less of its workload in the same wall-clock time.
    auto sync_bitmap = [&] {
      const double running_ms = (t - last_sync) * throttle.running_share();
      double dirtied_pages = t > last_sync ? curve.dirty_bytes(running_ms) / ps : 0;
      double unscanned = total_pages > 0 ? bitmap.first_pass() / total_pages : 0;
      double added =
          std::max(0.0, dirtied_pages *
                            (1 - unscanned - std::min(1.0, bitmap.redirtied / working_set_pages)));
      bitmap.redirtied += added;
      return added;
    };
    // An iteration ends at the sync: its trace, and the state the next one starts from.
    auto end_iteration = [&](double added) {
      if (t > last_sync || iteration_sent > 0) {
        ++r.iterations;
        if (r.trace.size() < kMaxTrace) {
          r.trace.push_back({r.iterations, last_sync, t - last_sync, iteration_pending,
                             iteration_sent, added * ps, throttle.pct()});
        } else {
          r.trace_truncated = true;
        }
      }
      last_sync = t;
      iteration_sent = 0;
      iteration_pending = whole_pages() * ps;
      r.min_pending_bytes = std::min(r.min_pending_bytes, iteration_pending);
      return iteration_pending;
    };
    // Switchover: the VM stops, the final sync finds nothing new (it follows at once), and the
    // rest goes at the link's speed: QEMU lifts the rate limit for this phase.
    auto switchover = [&](double pending) {
      double wire = bitmap.wire_bytes();
      r.switchover_pending_bytes = pending;
      double pause_per_ms = link_per_ms;
      if (in.unknown_link_at_thread_pace && in.link_bytes_per_s <= 0 && schedule.empty()) {
        // An uncounted thread's pace is 0: the link's is kept.
        pause_per_ms = std::max(link_per_ms, in.thread_cost.data_bytes_per_s(ps) / 1000);
      }
      const double qemu_pause_ms = bitmap.ms_for_all(pause_per_ms) + in.switchover_qemu_ms;
      r.downtime_ms = qemu_pause_ms + in.switchover_libvirt_ms;
      t += qemu_pause_ms;
      transferred += wire;
      r.qemu_total_time_ms = t;
      r.total_time_ms = in.start_ms + t;
      return finish(PrecopyOutcome::Converged);
    };
    const double added = sync_bitmap();
    const double pending = end_iteration(added);
    // The throttle starts or rises at the sync, after the pages are counted (QEMU does it inside
    // migration_bitmap_sync); it slows the guest from then on.
    const bool throttle_changed = throttle.at_sync(t, added * ps, transferred);
    if (throttle_changed && r.throttle_started_ms == 0 && throttle.pct() > 0) {
      r.throttle_started_ms = t;
    }
    if (throttle.pct() > 0) r.throttled_ms = t - r.throttle_started_ms;

    if (pending <= threshold) return switchover(pending);
    if (in.stop_after_iteration > 0 && r.iterations >= in.stop_after_iteration) {
      // The switch to post-copy is asked for at this sync (libvirt, on QEMU's MIGRATION_PASS
      // event), but QEMU's migration thread looks at the request only when it next looks at its
      // estimate, and migrate-start-postcopy does not wake it from the rate limiter's wait: the
      // window it is in runs out first, its share sent as pre-copy. Then postcopy_start stops
      // the guest and syncs the bitmap once more (ram_postcopy_send_discard_bitmap), adding
      // what the guest dirtied in that window.
      if (!huge) {
        const auto [sent, ms] = bitmap.send(window_wire_bytes, bw_per_ms);
        t += ms;
        transferred += sent;
        sync_bitmap();
        last_sync = t;
      } else {
        // On huge pages the next look comes pages_per_check pages later, or at the end of the
        // pass. If the estimate is within the threshold then, QEMU syncs, and when what it finds
        // is within it too, completes in pre-copy and never switches (bench/hugepages.py on
        // QEMU 10.0: 6 of 6 guests that could converge).
        const auto [sent, ms] = bitmap.send(
            bitmap.wire_for_pages(std::min(bitmap.pages(), pages_per_check())), bw_per_ms);
        t += ms;
        transferred += sent;
        iteration_sent += sent;
        const bool estimate_within = whole_pages() <= threshold_pages;
        const double found = end_iteration(sync_bitmap());
        if (estimate_within && found <= threshold) return switchover(found);
      }
      // Post-copy sends what is left: on huge pages each partly dirty host page whole (the
      // discard list names whole host pages; the rest of the first pass is whole ones already).
      double pages = bitmap.redirtied;
      if (huge) pages = std::max(pages, std::min(total_pages, dirty_host_pages(pages) * per_host));
      r.pending_pages_at_stop = bitmap.first_pass() + pages;
      r.pending_wire_bytes_at_stop = bitmap.first_pass_wire() + pages * bitmap.full_page_wire();
      return finish(PrecopyOutcome::SwitchedOver);
    }
    // Past the first pass the state after a sync is the whole state: if it repeats, so will
    // everything after it, unless auto-converge may still slow the guest down. The state is the
    // bitmap as kept here, fraction included: a whole-page count that repeats while the fraction
    // under it shrinks (one page left, 0.16 of it, then 0.025, ...) is still going somewhere.
    const bool first_pass_done = bitmap.first_pass() == 0;
    const double state_pages = bitmap.pages();
    if (first_pass_done && previous_after_sync >= 0 && !throttle_changed && !throttle.can_rise() &&
        std::abs(state_pages - previous_after_sync) <= std::max(1e-6, 1e-12 * state_pages)) {
      return finish(PrecopyOutcome::Stalled);
    }
    if (first_pass_done) previous_after_sync = state_pages;
  }
}

}  // namespace vmp::model
