// A guest of two vCPUs writing at once (issue 12's held-out workloads): the test guest with
// VMP_GUEST_VCPUS=2, whose load runs a writer thread per vCPU, each at half the rate over the
// same working set. QEMU's page sampling sees the guest's RAM, not its vCPUs: the volume measured
// must follow the same law as one writer at the whole rate, and the report must name the vCPUs.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <set>
#include <sstream>

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

// The writer threads whose stats lines the console holds.
std::set<int> writer_threads(const Guest& g) {
  std::istringstream in(read_file(g.console_log()));
  static const std::regex stats(R"(^vmp-load: stats .* thread=(\d+))");
  std::set<int> threads;
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, stats)) threads.insert(std::stoi(m[1]));
  }
  return threads;
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
  EXPECT_EQ(writer_threads(*g), (std::set<int>{0, 1})) << read_file(g->console_log());
  EXPECT_EQ(run.report.at("domain").at("vcpus"), 2) << run.report.at("domain").dump();
  expect_dirty_volume_agrees_with_the_load(run, g->spec());
  EXPECT_EQ(run.report.at("prediction").at("converges"), true)
      << run.report.at("prediction").dump();
}

}  // namespace
}  // namespace vmp::it
