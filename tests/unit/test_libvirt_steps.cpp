#include <gtest/gtest.h>

#include "model/libvirt_steps.hpp"
#include "model/thread_cost.hpp"

using namespace vmp::model;

namespace {
constexpr double kGiB = 1024.0 * 1024 * 1024;
}

TEST(LibvirtSteps, EachStackHasItsMeasuredFigures) {
  const auto old_stack = libvirt_steps("7.2.0", 1 * kGiB, false);
  EXPECT_EQ(old_stack.measured_on, "QEMU 7.2 / libvirt 9.0");
  EXPECT_DOUBLE_EQ(old_stack.ms(), 620);
  const auto new_stack = libvirt_steps("10.0.2", 1 * kGiB, false);
  EXPECT_EQ(new_stack.measured_on, "QEMU 10.0 / libvirt 11.3");
  EXPECT_DOUBLE_EQ(new_stack.ms(), 570);
  // Unknown (a synthetic profile) and versions between: the current stack's.
  EXPECT_EQ(libvirt_steps("", 1 * kGiB, false).measured_on, new_stack.measured_on);
  EXPECT_EQ(libvirt_steps("9.2.0", 1 * kGiB, false).measured_on, new_stack.measured_on);
  for (const auto& s : {old_stack, new_stack}) {
    EXPECT_LT(s.low_ms(), s.ms());
    EXPECT_GT(s.high_ms(), s.ms());
  }
  // The pause beyond the RAM, fitted on each stack's tuning migrations.
  EXPECT_DOUBLE_EQ(old_stack.switchover_qemu_ms, 8);
  EXPECT_DOUBLE_EQ(old_stack.switchover_libvirt_ms, 12);
  EXPECT_DOUBLE_EQ(new_stack.switchover_qemu_ms, 10);
  EXPECT_DOUBLE_EQ(new_stack.switchover_libvirt_ms, 13);
  // Its spread on the same runs: down to nothing (the RAM part's own spread is as large), up to
  // the most measured.
  for (const auto& s : {old_stack, new_stack}) {
    EXPECT_DOUBLE_EQ(s.switchover_low_ms, 0);
    EXPECT_GT(s.switchover_high_ms, s.switchover_qemu_ms + s.switchover_libvirt_ms);
  }
}

// Versions as QEMU gives them; an empty one (a synthetic profile) is the newer stack.
TEST(QemuVersion, AtLeastComparesMajorThenMinor) {
  EXPECT_TRUE(qemu_at_least("8.2.0", 8, 2));
  EXPECT_TRUE(qemu_at_least("8.2", 8, 2));
  EXPECT_TRUE(qemu_at_least("10.0.2", 8, 2));
  EXPECT_TRUE(qemu_at_least("9.0.0", 8, 2));
  EXPECT_FALSE(qemu_at_least("8.1.5", 8, 2));
  EXPECT_FALSE(qemu_at_least("8", 8, 2));
  EXPECT_FALSE(qemu_at_least("7.2.22", 8, 2));
  EXPECT_TRUE(qemu_at_least("", 8, 2));
}

// An aarch64 guest (virt machine) starts at the destination sooner, on either stack: its own
// figures, measured with bench/libvirt_steps.py --arch aarch64; any other architecture, or none
// said (an older profile), takes x86_64's.
TEST(LibvirtSteps, Aarch64HasItsOwnMeasuredFigures) {
  for (const std::string version : {"7.2.22", "10.0.2"}) {
    SCOPED_TRACE(version);
    const auto x86 = libvirt_steps(version, 1 * kGiB, false, "x86_64");
    const auto arm = libvirt_steps(version, 1 * kGiB, false, "aarch64");
    EXPECT_EQ(libvirt_steps(version, 1 * kGiB, false).ms(), x86.ms());
    EXPECT_EQ(libvirt_steps(version, 1 * kGiB, false, "s390x").ms(), x86.ms());
    EXPECT_LT(arm.ms(), x86.ms());
    EXPECT_LT(arm.low_ms(), arm.ms());
    EXPECT_GT(arm.high_ms(), arm.ms());
    EXPECT_EQ(arm.measured_on, x86.measured_on + ", aarch64");
    // What comes after the job, and the pause, are the stack's.
    EXPECT_EQ(arm.after_ms, x86.after_ms);
    EXPECT_EQ(arm.switchover_libvirt_ms, x86.switchover_libvirt_ms);
    // Preallocation adds the same.
    EXPECT_DOUBLE_EQ(libvirt_steps(version, 4 * kGiB, true, "aarch64").ms() - arm.ms(),
                     4 * kPreallocationMsPerGiB);
  }
  EXPECT_DOUBLE_EQ(libvirt_steps("10.0.2", 1 * kGiB, false, "aarch64").ms(), 340);
}

// Steps this host saw (libvirt's record of the domain's migration to it) replace the figure
// measured on another machine, with one host's run-to-run spread; a preallocating destination's
// time is in them already; what follows the job and the pause stay the stack's.
TEST(LibvirtSteps, WhatThisHostSawReplacesTheFigureMeasuredElsewhere) {
  for (const std::string version : {"7.2.22", "10.0.2"}) {
    SCOPED_TRACE(version);
    const auto measured = libvirt_steps(version, 4 * kGiB, true);
    const auto seen = libvirt_steps(version, 4 * kGiB, true, "x86_64", 280.0);
    EXPECT_FALSE(measured.seen_here);
    EXPECT_TRUE(seen.seen_here);
    EXPECT_EQ(seen.measured_on, "this host");
    EXPECT_DOUBLE_EQ(seen.ms(), 280);
    EXPECT_DOUBLE_EQ(seen.preallocation_ms, 0);
    EXPECT_DOUBLE_EQ(seen.low_ms(), 280 * kSeenLow);
    EXPECT_DOUBLE_EQ(seen.high_ms(), 280 * kSeenHigh);
    EXPECT_EQ(seen.after_ms, measured.after_ms);
    EXPECT_EQ(seen.switchover_libvirt_ms, measured.switchover_libvirt_ms);
    EXPECT_EQ(libvirt_steps(version, 4 * kGiB, true, "aarch64", 280.0).ms(), 280);
  }
  EXPECT_LT(kSeenLow, 1);
  EXPECT_GT(kSeenHigh, 1);
}

// Another domain's arrival on the same host stands for a domain that has none: its figure, named
// as that domain's, and this domain's own preallocation on top (the lender had none).
TEST(LibvirtSteps, AnotherDomainsArrivalIsLentWithThisDomainsPreallocation) {
  const auto lent = libvirt_steps("10.0.2", 4 * kGiB, true, "x86_64", 280.0, "web1");
  EXPECT_TRUE(lent.seen_here);
  EXPECT_EQ(lent.seen_from, "web1");
  EXPECT_EQ(lent.measured_on, "this host");
  EXPECT_DOUBLE_EQ(lent.fixed_ms, 280);
  EXPECT_DOUBLE_EQ(lent.preallocation_ms, 4 * kPreallocationMsPerGiB);
  EXPECT_DOUBLE_EQ(lent.ms(), 280 + 4 * kPreallocationMsPerGiB);
  EXPECT_DOUBLE_EQ(lent.low_ms(), 280 * kSeenLow + 4 * kPreallocationMsPerGiB);
  EXPECT_DOUBLE_EQ(libvirt_steps("10.0.2", 4 * kGiB, false, "x86_64", 280.0, "web1").ms(), 280);
  EXPECT_TRUE(libvirt_steps("10.0.2", 4 * kGiB, true, "x86_64", 280.0).seen_from.empty());
}

TEST(LibvirtSteps, TheHostsFigureLentIsTheMedianOfItsArrivalsOfTheSameArchitecture) {
  const std::vector<SeenSteps> seen = {{"a", "x86_64", 300, false},
                                       {"b", "x86_64", 250, false},
                                       {"c", "", 900, true},  // preallocated: its own only
                                       {"d", "x86_64", 400, false},
                                       {"e", "aarch64", 130, false},
                                       {"f", "x86_64", 260, false}};
  // x86 (and a profile that does not say): 250, 260, 300, 400: the lower middle, one domain's.
  const auto x86 = lend_seen_steps(seen, "x86_64");
  ASSERT_TRUE(x86);
  EXPECT_EQ(x86->domain, "f");
  EXPECT_DOUBLE_EQ(x86->ms, 260);
  EXPECT_EQ(lend_seen_steps(seen, "")->domain, "f");
  EXPECT_EQ(lend_seen_steps(seen, "aarch64")->domain, "e");
  EXPECT_FALSE(lend_seen_steps({{"c", "", 900, true}}, "x86_64"));
  EXPECT_FALSE(lend_seen_steps({}, "x86_64"));
  EXPECT_FALSE(lend_seen_steps({{"e", "aarch64", 130, false}}, "x86_64"));
}

TEST(LibvirtSteps, OnlyPreallocatedMemoryGrowsWithTheGuest) {
  EXPECT_DOUBLE_EQ(libvirt_steps("10.0.2", 64 * kGiB, false).ms(),
                   libvirt_steps("10.0.2", 1 * kGiB, false).ms());
  const auto small = libvirt_steps("10.0.2", 1 * kGiB, true);
  const auto large = libvirt_steps("10.0.2", 64 * kGiB, true);
  EXPECT_DOUBLE_EQ(small.preallocation_ms, kPreallocationMsPerGiB);
  EXPECT_DOUBLE_EQ(large.preallocation_ms, 64 * kPreallocationMsPerGiB);
  EXPECT_DOUBLE_EQ(large.ms(), large.fixed_ms + large.preallocation_ms);
  EXPECT_DOUBLE_EQ(large.high_ms() - large.low_ms(), large.fixed_high_ms - large.fixed_low_ms);
}

TEST(MigrationThread, EachStackHasItsMeasuredFiguresAndTheirSpread) {
  const auto old_stack = migration_thread("7.2.22");
  const auto new_stack = migration_thread("10.0.2");
  EXPECT_EQ(old_stack.measured_on, "QEMU 7.2 / libvirt 9.0");
  EXPECT_EQ(new_stack.measured_on, "QEMU 10.0 / libvirt 11.3");
  EXPECT_EQ(migration_thread("").measured_on, new_stack.measured_on);
  for (const auto& t : {old_stack, new_stack}) {
    // A zero page is read, not sent: far cheaper than a data page.
    EXPECT_LT(t.cost.zero_page_ns * 4, t.cost.data_page_ns);
    EXPECT_LE(t.least.data_page_ns, t.cost.data_page_ns);
    EXPECT_GE(t.most.data_page_ns, t.cost.data_page_ns);
    EXPECT_LE(t.least.zero_page_ns, t.cost.zero_page_ns);
    EXPECT_GE(t.most.zero_page_ns, t.cost.zero_page_ns);
    // On this host, somewhere between a 10 and a 25 Gbit/s link: not "no limit".
    EXPECT_GT(t.data_bytes_per_s(), 10e9 / 8 / 2);
    EXPECT_LT(t.data_bytes_per_s(), 25e9 / 8);
  }
}
