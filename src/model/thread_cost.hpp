// The migration thread's own cost per page (model::ThreadCost), measured on this project's
// benchmark host with bench/bench.py's fast cases (--cases fast): guests of 1-4 GiB, mostly
// zero or mostly data, migrated over loopback with no cap that binds, so that what limits the
// single stream is the thread (and the destination storing what it receives), not the link.
// Fitted on the tuning fast cases (QEMU's total-time less its setup and switchover, against the
// non-zero and zero pages QEMU reported sending); see the README's "Fast links" for the figures
// and the held-out ones. Pure: no I/O.
//
// The figures are this host's (2 cores of a virtual machine, the guest under TCG beside the
// migration): a host with faster cores and memory sends more per second, in proportion to its
// memory copy speed for data pages and its memory read speed for zero pages; a link slower
// than the thread still decides (--link-speed). Several streams (virsh migrate --parallel,
// multifd) divide the work between threads: not modelled.
#pragma once

#include <string>

#include "model/precopy.hpp"

namespace vmp::model {

struct MigrationThread {
  ThreadCost cost;  // the fit
  // The spread over the migrations it was fitted on: the fastest and the slowest data pages and
  // zero pages seen; the prediction interval's favourable and unfavourable ends.
  ThreadCost least;
  ThreadCost most;
  std::string measured_on;  // the stack and host the figures were measured on
  // The most the thread sends 4 KiB data pages at, as bytes on the wire.
  double data_bytes_per_s() const { return cost.data_bytes_per_s(4096); }
};

// qemu_version as for libvirt_steps: before 8.0 the QEMU 7.2 figures, else QEMU 10.0's.
MigrationThread migration_thread(const std::string& qemu_version);

}  // namespace vmp::model
