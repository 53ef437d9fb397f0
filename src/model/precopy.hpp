// Pre-copy live migration simulated the way QEMU's migration thread runs it
// (migration/migration.c migration_iteration_run, migration/ram.c), not as whole passes:
//   - sending is paced in rate-limit windows of 100 ms; at the end of each window the thread
//     estimates pending bytes as (dirty pages in the bitmap) x page size;
//   - when that estimate is at or below threshold = bandwidth x downtime limit, it syncs the dirty
//     bitmap, adding the pages dirtied since the previous sync (this ends an iteration);
//   - if pending after the sync is still at or below the threshold, the VM stops and the rest is
//     sent (the downtime); otherwise sending goes on.
// The first pass sends every page: zero pages as 8 + 1 bytes, others as 8 + page size.
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/defaults.hpp"
#include "model/dirty_curve.hpp"

namespace vmp::model {

inline constexpr double kPageHeaderBytes = 8;
inline constexpr double kZeroPageWireBytes = kPageHeaderBytes + 1;
// QEMU's BUFFER_DELAY: the rate limiter's window, and so how often pending bytes are checked.
inline constexpr double kRateLimitWindowMs = 100;
// QEMU's rate limiter from 8.2 on (migration/migration-stats.c, migration_rate_exceeded against
// migration_transferred_bytes()) counts a window's bytes as its file flushes them, where 7.2
// counted them as they were queued; the file flushes when it holds 64 iovecs (qemu-file.c,
// MAX_IOV_SIZE), two a page (its header in the file's buffer, its data in guest RAM): every 32
// pages. The check comes after each page, so a window ends at the first flush past its limit
// and carries the first whole number of 32-page batches above it, at a low cap a few percent
// more than the cap: measured on QEMU 10.0 (bench.py --cases cap-study and every stored run's
// pace), 101.6, 100.1, 104.4, 102.5, 101.3% of 16, 20, 24, 28, 32 MiB/s against 101.8, 100.2,
// 104.4, 102.9, 101.8% by this rule; QEMU 7.2 99.6-100.0%. What QEMU measures as its bandwidth,
// and so its switchover threshold, follows the same bytes.
inline constexpr double kPagesPerFlush = 32;
// A guest whose RAM QEMU keeps in pages larger than the target's (huge pages): ram_save_host_page
// sends all of a host page's dirty target pages at once, waiting for the rate limiter inside it,
// so ram_save_iterate returns to the migration thread, which alone looks at the pending estimate,
// only at the end of a pass or when its MAX_WAIT check (every 64 calls, each one host page that
// holds dirty pages) finds 50 ms gone. Measured on QEMU 10.0 and 7.2 with 2 MiB pages
// (bench/hugepages.py): one look a pass while the dirty pages lie in fewer than 64 huge pages,
// against one every 100 ms with 4 KiB pages.
inline constexpr double kHostPagesPerCheck = 64;

// QEMU's auto-converge (migration/ram.c, migration_trigger_throttle and mig_throttle_guest_down,
// the same from 5.x to 10.x): at a bitmap sync more than 1 s after the last period's end, if the
// bytes newly dirtied in the period exceed trigger_threshold_pct of the bytes sent in it, a
// counter rises; every second time it does, the vCPUs are throttled: first initial_pct, then
// increment_pct more (with tailslow: only as much as brings the dirty rate down to the
// threshold, at most increment_pct), up to max_pct. A vCPU throttled by p runs (1 - p) of the
// time, so a workload that needs all of it does in a wall-clock window t what it did in
// (1 - p) t (see cpu_demand for one that needs less).
struct AutoConverge {
  bool enabled = false;
  double trigger_threshold_pct = 50;  // throttle-trigger-threshold
  double initial_pct = 20;            // cpu-throttle-initial
  double increment_pct = 10;          // cpu-throttle-increment
  double max_pct = 99;                // max-cpu-throttle
  bool tailslow = false;              // cpu-throttle-tailslow
  // How much of a vCPU the workload uses when not throttled (0..1). A vCPU throttled by p runs
  // (1 - p) of the time; a workload that needs only u < 1 of it keeps its pace until (1 - p)
  // falls below u, then slows to (1 - p) / u of it. 1: it needs all the CPU it gets (the
  // throttle slows it from the first step), which is what QEMU's design assumes.
  double cpu_demand = 1;
};
inline constexpr double kThrottlePeriodMs = 1000;
// Where a running migration stands, as QEMU reports it: enough to simulate the rest of it.
struct PrecopyResume {
  // Dirty pages x page size now (QEMU's ram.remaining).
  double pending_bytes = 0;
  // Still in the first pass: the pending pages are the unsent rest of RAM, zero and non-zero
  // pages mixed as in all of RAM (ram_bytes, zero_pages). Otherwise they are re-dirtied pages.
  bool in_first_pass = false;
  // Since the last bitmap sync: the pages dirtied meanwhile join at the next one.
  double since_sync_ms = 0;
};

// A migration that shares its link (a drain, model/drain.hpp): from from_ms on (QEMU's time, from
// the start of its migration), it sends at bandwidth_bytes_per_s (its cap or its share of the
// link, whichever is less), and the stop-and-copy, which QEMU does not cap, at link_bytes_per_s
// (what the link leaves it uncapped).
struct RateStep {
  double from_ms = 0;
  double bandwidth_bytes_per_s = 0;
  double link_bytes_per_s = 0;
};

// The migration thread's own work per page, which bounds one stream whatever the cap and the
// link allow: checking a page for zeros (a zero page costs little more), and for any other page
// copying it into the socket, the kernel's share and the destination storing it. Where it is
// slower than the cap allows, a stretch of RAM takes the thread's time: zero pages at the cap's
// pace cost 9 bytes of wire and almost no time, but each still has to be read. 0: not counted.
// Measured figures: model/thread_cost.hpp.
struct ThreadCost {
  double data_page_ns = 0;
  double zero_page_ns = 0;
  bool counted() const { return data_page_ns > 0 || zero_page_ns > 0; }
  // The most the thread sends data pages at, as bytes on the wire; 0 when not counted.
  double data_bytes_per_s(double page_size_bytes) const;
};

struct PrecopyInput {
  double ram_bytes = 0;
  double page_size_bytes = 4096;
  // The page QEMU backs the guest's RAM with (the RAM block's page size): 2 MiB or 1 GiB for a
  // guest on huge pages. Larger than page_size_bytes, it changes two things. Pre-copy still
  // re-sends dirty target pages, but looks at its estimate only every kHostPagesPerCheck host
  // pages holding dirty pages, or at the end of a pass. And the switch to post-copy turns each
  // partly dirty host page into a whole one: the destination discards it and faults it in whole.
  // The dirty pages are taken as spread evenly over the curve's working set. 0: as page_size_bytes.
  double host_page_bytes = 0;
  double zero_pages = 0;
  // Where the zero pages lie: the zero share of equal stretches of RAM in the order the first
  // pass walks it (address order). QEMU's pending estimate counts an unsent zero page as a whole
  // page, but sending it costs 9 bytes, so the estimate falls to the threshold where the zero
  // stretches are: the pages the first pass still holds then, sent during the pause, depend on
  // what lies at the end of RAM. Scaled to zero_pages in total; empty: spread evenly.
  std::vector<double> zero_page_layout;
  double bandwidth_bytes_per_s = 0;
  // The network's own speed. Pre-copy cannot send faster than it, and the stop-and-copy at the
  // switchover runs at it: QEMU lifts the bandwidth cap once the guest is paused. 0: unknown,
  // taken as the bandwidth, which makes the downtime an upper bound (but see
  // unknown_link_at_thread_pace).
  double link_bytes_per_s = 0;
  // The link not known (link_bytes_per_s 0): true, the stop-and-copy goes at the migration
  // thread's pace (thread_cost), the link taken to be no slower than the thread: QEMU lifts the
  // cap once the guest is paused, and a cap is set below the link it leaves room on. false: at
  // the bandwidth, the pause's upper bound. Only the paused guest's last pages: pre-copy and
  // post-copy still take an unknown link as the bandwidth.
  bool unknown_link_at_thread_pace = false;
  // QEMU's avail-switchover-bandwidth (8.2+): when non-zero, the switchover threshold is it x
  // the downtime limit instead of the throughput QEMU measures. 0: not set (QEMU's default).
  double switchover_bandwidth_bytes_per_s = 0;
  // The rate limiter counts flushed bytes (QEMU 8.2+, kPagesPerFlush): a window whose cap binds
  // carries the first whole number of flushes above its limit. false: bytes counted as queued
  // (QEMU before 8.2), the window carries its limit.
  bool rate_limit_counts_flushed = false;
  // Infinity means no limit: the VM stops at once and everything is copied while paused.
  double downtime_limit_ms = kDefaultDowntimeLimitMs;
  double deadline_ms = kDefaultDeadlineMs;
  double window_ms = kRateLimitWindowMs;
  AutoConverge auto_converge;
  // Stop pre-copy after the bitmap sync that ends this iteration (0: never), for post-copy's
  // warm-up: the rate-limit window under way at that sync still runs, then a last sync (QEMU's
  // at the switch to post-copy); outcome SwitchedOver then, with what that sync left pending.
  int stop_after_iteration = 0;
  // Rates that change over time (a shared link): when given, they replace bandwidth_bytes_per_s
  // and link_bytes_per_s. QEMU paces each rate-limit window at the rate in force when it starts,
  // and its switchover threshold follows the throughput, so the threshold changes with the rate.
  // Sorted by from_ms, the first from 0, every rate above 0.
  std::vector<RateStep> rate_schedule;
  // A migration already under way (--watch): simulate from now instead of from the start.
  std::optional<PrecopyResume> resume;
  // libvirt's steps before QEMU's migration starts (model/libvirt_steps.hpp): the time from the
  // start of libvirt's migration job to QEMU's. Added to total_time_ms and elapsed_ms and counted
  // against the deadline; times inside the result (trace, throttle) count from QEMU's start.
  double start_ms = 0;
  // The pause beyond the RAM sent while the guest is stopped (model/libvirt_steps.hpp): QEMU's
  // part is in its downtime and total-time; libvirt's (resuming the guest on the destination)
  // only in the downtime, which is then the pause libvirt reports. 0: the RAM alone.
  double switchover_qemu_ms = 0;
  double switchover_libvirt_ms = 0;
  // The migration thread's cost per page: sending takes the longer of the wire at the rate and
  // the thread's work, stretch by stretch of RAM (the zero-page layout's); QEMU's measured
  // bandwidth, and so its switchover threshold, is no more than the thread sends data pages at.
  ThreadCost thread_cost;
};

struct IterationTrace {
  int iteration = 0;  // 1 is the first pass over all of RAM
  double start_ms = 0;
  double duration_ms = 0;
  double pending_bytes = 0;  // dirty pages x page size when the iteration started
  double sent_bytes = 0;     // on the wire during the iteration
  double dirtied_bytes = 0;  // newly dirty pages x page size found by the sync that ends it
  double throttle_pct = 0;   // the vCPU throttle in force during the iteration
};

// IterationLimit: kMaxIterations bitmap syncs without an end; no real migration on record comes
// near it (QEMU's own loop has no such limit), so it marks a degenerate corner of the inputs.
enum class PrecopyOutcome { Converged, Deadline, Stalled, SwitchedOver, IterationLimit };
std::string to_string(PrecopyOutcome outcome);

struct PrecopyResult {
  PrecopyOutcome outcome = PrecopyOutcome::Deadline;
  bool converges() const { return outcome == PrecopyOutcome::Converged; }
  // To the end of the downtime, from the start of libvirt's job (start_ms included): what
  // `virsh domjobinfo --completed` reports as its time elapsed. Meaningful when it converges.
  double total_time_ms = 0;
  // The same end from the start of QEMU's migration: QEMU's own total-time (query-migrate).
  double qemu_total_time_ms = 0;
  double downtime_ms = 0;        // meaningful when it converges
  int iterations = 0;            // pre-copy iterations before the switchover
  double transferred_bytes = 0;  // on the wire, including the downtime; up to the end
  double threshold_bytes = 0;    // bandwidth x downtime limit
  double switchover_pending_bytes = 0;
  // The least dirty memory any sync left: how close a non-converging migration came.
  double min_pending_bytes = 0;
  double elapsed_ms = 0;  // simulated time when it ended (deadline, stall, switch), start_ms included
  // Auto-converge: the throttle the guest ends up under, when it started and how long the
  // guest ran slowed (to the end of the pre-copy phase: QEMU lifts it when the VM stops).
  double final_throttle_pct = 0;
  double throttle_started_ms = 0;
  double throttled_ms = 0;
  // With stop_after_iteration: what the bitmap held when pre-copy stopped, in pages and in bytes
  // on the wire (the rest of the first pass, if any, holds zero pages at 9 bytes); on huge pages
  // every partly dirty host page counted whole, as post-copy sends it.
  double pending_pages_at_stop = 0;
  double pending_wire_bytes_at_stop = 0;
  std::vector<IterationTrace> trace;  // the first kMaxTrace iterations
  bool trace_truncated = false;
};

inline constexpr std::size_t kMaxTrace = 1000;
inline constexpr int kMaxIterations = 100000;

PrecopyResult simulate_precopy(const PrecopyInput& input, const DirtyCurve& curve);

}  // namespace vmp::model
