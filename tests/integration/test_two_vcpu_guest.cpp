// A guest of two vCPUs writing at once (issue 12's held-out workloads): the test guest with
// VMP_GUEST_VCPUS=2, whose load runs a writer thread per vCPU, each at half the rate over the
// same working set. QEMU's page sampling sees the guest's RAM, not its vCPUs: the volume measured
// must follow the same law as one writer at the whole rate, and the report must name the vCPUs.
#include <gtest/gtest.h>

#include "support.hpp"

namespace vmp::it {
namespace {

GuestSpec two_vcpu_guest_spec() {
  return {.name = "vmp-it-two",
          .mem_mib = 512,
          .wss_mib = 64,
          .rate = 2000,
          .pattern = "random",
          .seed = 3,
          .extra_cmdline = "vmp.stats=1",
          .memory_backing = "",
          .arch = "x86_64",
          .vcpus = 2};
}

TEST(TwoVcpuGuest, BothWriteAndTheVolumeFollowsTheWholeRate) {
  VMP_REQUIRE_PREREQUISITES();
  Guest* g = nullptr;
  try {
    g = &Guests::get(two_vcpu_guest_spec());
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const LoadRun& run = measured_load_guest(*g);
  // Both writers ran (each prints its own line every second).
  ASSERT_TRUE(run.after) << read_file(g->console_log());
  EXPECT_EQ(run.after->writers, 2u) << read_file(g->console_log());
  EXPECT_EQ(run.report.at("domain").at("vcpus"), 2) << run.report.at("domain").dump();
  expect_dirty_volume_agrees_with_the_load(run, g->spec());
  EXPECT_EQ(run.report.at("prediction").at("converges"), true)
      << run.report.at("prediction").dump();
}

}  // namespace
}  // namespace vmp::it
