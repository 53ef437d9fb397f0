#include "model/thread_cost.hpp"

#include "model/libvirt_steps.hpp"

namespace vmp::model {

namespace {

// The spread is the host's more than QEMU's: the same case on the same stack took from 1.8 to
// 8.5 us a data page on QEMU 10.0 (391 to 1721 ms for 1 GiB of data), where 7.2's tuning runs
// happened to agree (1.7 to 2.1 us) and its held-out ones did not (a 4 GiB guest 1.5 to 6.5 us).
// The destination storing what it receives into memory it first touches is the likely cause
// (bench/README.md, "Both stacks, and this machine's memory"). Both stacks take the least and the
// most of the tuning runs of both.
constexpr ThreadCost kLeast = {.data_page_ns = 1710, .zero_page_ns = 320};
constexpr ThreadCost kMost = {.data_page_ns = 8460, .zero_page_ns = 450};

}  // namespace

MigrationThread migration_thread(const std::string& qemu_version) {
  const int major = qemu_major_version(qemu_version);
  if (major > 0 && major < 8) {
    return {.cost = {.data_page_ns = 1860, .zero_page_ns = 450},
            .least = kLeast,
            .most = kMost,
            .measured_on = "QEMU 7.2 / libvirt 9.0"};
  }
  return {.cost = {.data_page_ns = 2970, .zero_page_ns = 350},
          .least = kLeast,
          .most = kMost,
          .measured_on = "QEMU 10.0 / libvirt 11.3"};
}

}  // namespace vmp::model
