// Post-copy live migration, as libvirt runs it with --postcopy --postcopy-after-precopy: pre-copy
// until the first bitmap sync after setup (libvirt waits for QEMU's second MIGRATION_PASS; the
// sync comes when the first pass's estimate falls to bandwidth x max downtime, so a little of
// the first pass may be left). The switch comes one rate-limit window (100 ms) after that sync:
// QEMU's migration thread sees migrate-start-postcopy only when its next iteration starts, so
// the window under way runs out first, in pre-copy. Then the guest stops, QEMU syncs the bitmap,
// sends the discard list of the pages still dirty and the device state, and the guest resumes on
// the destination. From then on the pages it still lacks arrive in the background at the
// post-copy bandwidth (a cap holds only until the rest fits cap x max downtime), and each page
// the guest touches before it arrives is a remote page fault: the guest runs slowed until the
// last page is there. A network failure in that phase
// loses the guest (its memory is split between the hosts) unless post-copy recovery is used.
// Pure: no I/O, no clock.
#pragma once

#include "model/dirty_curve.hpp"
#include "model/precopy.hpp"

namespace vmp::model {

// The discard list names each dirty page's range; QEMU packs runs of pages, and a scattered
// dirty set costs about one 16-byte range (start, length) a page: an upper bound.
inline constexpr double kDiscardBytesPerDirtyPage = 16;

struct PostcopyInput {
  PrecopyInput precopy;                  // the warm-up: bandwidth, downtime limit, deadline
  double postcopy_bandwidth_bytes_per_s = 0;  // 0: no cap, the link's (else the pre-copy) speed
  int warmup_iterations = 1;             // --postcopy-after-precopy: after the first pass
};

struct PostcopyResult {
  // The warm-up. When it converges on its own, post-copy never starts and this is the whole
  // migration (postcopy_started false).
  PrecopyResult warmup;
  bool postcopy_started = false;
  double switchover_ms = 0;          // when the guest stops on the source
  double downtime_ms = 0;            // the bitmap's discard list over the link; device state aside
  double postcopy_phase_ms = 0;      // the guest runs on the destination with remote page faults
  // Uncapped, the phase is the pages at the link's speed, which QEMU 7.2's post-copy stream does
  // not reach on a fast link: the destination places each page on its own (a UFFDIO_COPY per
  // page), and on loopback measured 609-953 MiB/s against 1.7-3.6 GiB/s raw TCP
  // (bench/results/2026-11-23-vm-2cores-postcopy.jsonl). The phase is then a lower bound (when
  // the link's speed is known; without it, the phase runs at the pre-copy cap).
  bool postcopy_phase_lower_bound = false;
  double postcopy_bytes = 0;         // pages sent after the switch, on the wire
  // How long one remote page fault keeps a vCPU waiting at least: a whole host page over the
  // post-copy stream (its cap, else the link). A few microseconds for 4 KiB; a 1 GiB huge page
  // takes about a second at 1 GiB/s, a pause of that vCPU beyond any usual max downtime.
  double fault_stall_ms = 0;
  double total_time_ms = 0;
  double transferred_bytes = 0;
};

PostcopyResult simulate_postcopy(const PostcopyInput& input, const DirtyCurve& curve);

// How long the post-copy phase takes to send `wire_bytes` after the switch. Uncapped, at the
// link's speed. Capped (libvirt's --postcopy-bandwidth), in rate-limit windows at the cap only
// until what is left falls within cap x max downtime (the pre-copy threshold before the first
// window): QEMU then completes and sends the rest at the link's speed.
double postcopy_phase_ms(double wire_bytes, double first_threshold_bytes, double link_bytes_per_s,
                         double cap_bytes_per_s, const PrecopyInput& precopy);

}  // namespace vmp::model
