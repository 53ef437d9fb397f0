// The measurement against a fake QEMU: a scripted monitor whose calc-dirty-rate state machine
// runs on a fake clock, so the QEMU >= 8.2 millisecond path is tested on a 7.2 machine.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "cli/cli.hpp"
#include "error.hpp"
#include "probe/dirty_rate.hpp"
#include "probe/live.hpp"
#include "probe/zero_pages.hpp"
#include "virt/domain_facts.hpp"
#include "virt/migration_config.hpp"
#include "virt/monitor.hpp"

using nlohmann::json;
using namespace vmp;
using namespace vmp::probe;

namespace {

class FakeClock : public Clock {
 public:
  double now_ms() override { return now; }
  void sleep_ms(double ms) override { now += std::max(ms, 1.0); }
  double now = 0;
};

// QEMU's calc-dirty-rate as a state machine. `milliseconds`: QEMU >= 8.2.
class FakeQemu : public virt::Monitor {
 public:
  FakeQemu(FakeClock& clock, bool milliseconds) : clock_(clock), milliseconds_(milliseconds) {}

  json execute(std::string_view command, const json& args) override {
    calls.push_back({std::string(command), args});
    settle();
    if (command == "calc-dirty-rate") {
      if (status_ == "measuring") {
        throw virt::QmpError("calc-dirty-rate", "GenericError",
                             "the dirty rate is already being measured.");
      }
      if (args.contains("calc-time-unit") && !milliseconds_) {
        throw virt::QmpError("calc-dirty-rate", "GenericError",
                             "Parameter 'calc-time-unit' is unexpected");
      }
      bool ms = args.value("calc-time-unit", "second") == "millisecond";
      double period_ms = args.at("calc-time").get<double>() * (ms ? 1 : 1000);
      begin(period_ms, args.value("sample-pages", 512ull), ms);
      return json::object();
    }
    if (command == "query-dirty-rate") {
      json r = {{"status", status_}, {"sample-pages", sample_pages_}, {"mode", "page-sampling"}};
      if (status_ != "unstarted") {
        r["calc-time"] = ms_unit_ ? period_ms_ : period_ms_ / 1000;
        if (milliseconds_) r["calc-time-unit"] = ms_unit_ ? "millisecond" : "second";
      }
      if (status_ == "measured") r["dirty-rate"] = rate_for(period_ms_);
      return r;
    }
    throw virt::QmpError(std::string(command), "CommandNotFound", "not in the fake");
  }

  // Another client's measurement, running from now for period_ms.
  void foreign(double period_ms) { begin(period_ms, 512, false); }

  // The guest: 1 GiB RAM, a 256 MiB working set written at 20 MiB/s; QEMU floors MiB/s.
  static double rate_for(double period_ms) {
    double w = 256, r = 20, t = period_ms / 1000;
    return std::floor(w * (1 - std::exp(-r * t / w)) / t);
  }

  std::vector<std::pair<std::string, json>> calls;

 private:
  void begin(double period_ms, std::uint64_t sample_pages, bool ms_unit) {
    status_ = "measuring";
    period_ms_ = period_ms;
    sample_pages_ = sample_pages;
    ms_unit_ = ms_unit;
    // Hashing the sampled pages takes a little after the period.
    done_at_ = clock_.now + period_ms + 30;
  }
  void settle() {
    if (status_ == "measuring" && clock_.now >= done_at_) status_ = "measured";
  }

  FakeClock& clock_;
  bool milliseconds_;
  std::string status_ = "unstarted";
  double period_ms_ = 0, done_at_ = 0;
  std::uint64_t sample_pages_ = 0;
  bool ms_unit_ = false;
};

constexpr std::uint64_t kGiB = 1ull << 30;

}  // namespace

TEST(Plan, WholeSecondsOnOldQemu) {
  EXPECT_EQ(plan_periods_ms(10000, false), (std::vector<double>{1000, 2000, 6000}));
  EXPECT_EQ(plan_periods_ms(1000, false), (std::vector<double>{1000}));
  for (double budget = 1000; budget <= 120000; budget += 700) {
    auto plan = plan_periods_ms(budget, false);
    double sum = 0;
    for (double p : plan) {
      EXPECT_EQ(std::fmod(p, 1000), 0) << budget;
      EXPECT_GE(p, 1000);
      EXPECT_LE(p, 60000);
      sum += p;
    }
    if (plan.size() > 1) {
      EXPECT_LE(sum, budget * 0.9) << budget;
    }
  }
}

TEST(Plan, SubSecondPeriodsWhenQemuHasMilliseconds) {
  EXPECT_EQ(plan_periods_ms(10000, true),
            (std::vector<double>{125, 250, 500, 1000, 2000, 5125}));
}

TEST(Schema, DetectsCalcTimeUnit) {
  json qemu_82 = json::array({
      {{"name", "calc-dirty-rate"}, {"meta-type", "command"}, {"arg-type", "117"}},
      {{"name", "117"},
       {"meta-type", "object"},
       {"members", json::array({{{"name", "calc-time"}}, {{"name", "calc-time-unit"}}})}},
  });
  json qemu_72 = qemu_82;
  qemu_72[1]["members"] = json::array({{{"name", "calc-time"}}, {{"name", "sample-pages"}}});
  EXPECT_TRUE(schema_has_calc_time_unit(qemu_82));
  EXPECT_FALSE(schema_has_calc_time_unit(qemu_72));
  EXPECT_FALSE(schema_has_calc_time_unit(json::array()));
  EXPECT_TRUE(schema_has_command(qemu_72, "calc-dirty-rate"));
  // QEMU before 5.2 has no calc-dirty-rate at all.
  EXPECT_FALSE(schema_has_command(json::array({qemu_82[1]}), "calc-dirty-rate"));
}

TEST(Measure, MillisecondPeriodsOnQemu82) {
  FakeClock clock;
  FakeQemu qemu(clock, true);
  QmpDirtyRateMeter meter(qemu, true);
  EXPECT_TRUE(meter.never_measured());
  auto periods = plan_periods_ms(10000, true);
  auto points = measure_curve(meter, clock, periods, 4096, "page-sampling", kGiB, 10000, {});
  ASSERT_EQ(points.size(), periods.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].period_ms, periods[i]);
    EXPECT_DOUBLE_EQ(points[i].dirty_bytes,
                     FakeQemu::rate_for(periods[i]) * 1048576.0 * periods[i] / 1000);
    EXPECT_EQ(points[i].sampled_pages, 4096u);
  }
  bool saw_ms = false;
  for (const auto& [cmd, args] : qemu.calls) {
    if (cmd != "calc-dirty-rate") continue;
    EXPECT_EQ(args.at("calc-time-unit"), "millisecond");
    EXPECT_EQ(args.at("sample-pages"), 4096);
    EXPECT_FALSE(args.contains("mode"));  // page-sampling is QEMU's default: never named
    if (args.at("calc-time") == 125) saw_ms = true;
  }
  EXPECT_TRUE(saw_ms);
  EXPECT_FALSE(meter.never_measured());
}

TEST(Measure, WholeSecondsWithoutCalcTimeUnitOnQemu72) {
  FakeClock clock;
  FakeQemu qemu(clock, false);
  QmpDirtyRateMeter meter(qemu, false);
  auto points = measure_curve(meter, clock, {1000, 2000}, 512, "page-sampling", kGiB, 5000, {});
  ASSERT_EQ(points.size(), 2u);
  for (const auto& [cmd, args] : qemu.calls) {
    if (cmd == "calc-dirty-rate") {
      EXPECT_FALSE(args.contains("calc-time-unit"));
    }
  }
  EXPECT_EQ(qemu.calls[0].second.at("calc-time"), 1);
}

TEST(Measure, WaitsForAnotherClientsMeasurementAndNeverTakesItsFigures) {
  FakeClock clock;
  FakeQemu qemu(clock, false);
  qemu.foreign(3000);  // someone else measures for 3 s with other settings
  QmpDirtyRateMeter meter(qemu, false);
  auto points = measure_curve(meter, clock, {1000}, 4096, "page-sampling", kGiB, 10000, {});
  ASSERT_EQ(points.size(), 1u);
  EXPECT_DOUBLE_EQ(points[0].dirty_bytes, FakeQemu::rate_for(1000) * 1048576.0);
  EXPECT_GE(clock.now, 3000 + 1000);
}

TEST(Measure, GivesUpWhenAnotherClientKeepsQemuBusy) {
  FakeClock clock;
  FakeQemu qemu(clock, false);
  qemu.foreign(60000);
  QmpDirtyRateMeter meter(qemu, false);
  try {
    measure_curve(meter, clock, {1000}, 4096, "page-sampling", kGiB, 5000, {});
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("already being measured"), std::string::npos);
  }
  EXPECT_LE(clock.now, 5000 + 6000);  // the budget plus grace, not a hang
}

TEST(Measure, RefusesFiguresThatAreNotOurs) {
  FakeClock clock;
  FakeQemu qemu(clock, false);
  // A monitor that reports someone else's finished measurement whatever we asked for.
  struct Swapped : virt::Monitor {
    json execute(std::string_view command, const json&) override {
      if (command == "query-dirty-rate") {
        return {{"status", "measured"}, {"calc-time", 7}, {"sample-pages", 512}, {"dirty-rate", 99}};
      }
      return json::object();
    }
  } swapped;
  QmpDirtyRateMeter meter(swapped, false);
  EXPECT_THROW(measure_curve(meter, clock, {1000}, 4096, "page-sampling", kGiB, 5000, {}),
               RuntimeError);
}

namespace {

// Guest memory whose first `nonzero_fraction` of every range holds data, with a hole that fails.
class FakeMemory : public GuestMemory {
 public:
  FakeMemory(std::uint64_t ram, double nonzero_fraction, std::uint64_t hole_start = 0,
             std::uint64_t hole_length = 0)
      : ram_(ram), nonzero_(nonzero_fraction), hole_start_(hole_start), hole_length_(hole_length) {}
  bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
    ++reads;
    if (address >= hole_start_ && address < hole_start_ + hole_length_) return false;
    for (std::size_t i = 0; i < length; i += 4096) {
      bool data = static_cast<double>(address + i) < nonzero_ * static_cast<double>(ram_);
      std::fill(buffer + i, buffer + i + 4096, data ? 0x5a : 0);
    }
    return true;
  }
  int reads = 0;

 private:
  std::uint64_t ram_;
  double nonzero_;
  std::uint64_t hole_start_, hole_length_;
};

}  // namespace

TEST(ZeroPages, SamplingEstimatesTheZeroShare) {
  FakeMemory memory(kGiB, 0.3);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc-i440fx-7.2"), 4096, 1);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 8192, 1e9);
  EXPECT_EQ(sampler.sampled(), 8192u);
  EXPECT_EQ(memory.reads, 8192 / 16);  // 64 KiB, 16 pages, per read
  // Evenly spread clusters see a layout of long runs almost exactly: 512 random clusters would
  // have a standard error of 2% here, the spread ones are off by at most one cluster's share
  // per run boundary.
  double share = static_cast<double>(sampler.estimate(kGiB / 4096)) / (kGiB / 4096);
  EXPECT_NEAR(share, 0.7, 2.0 / 512);
}

TEST(ZeroPages, AnyPrefixOfTheSampleIsSpreadOverRam) {
  FakeMemory memory(kGiB, 0.3);
  FakeClock clock;
  for (std::uint64_t seed : {1, 2, 3, 4, 5}) {
    ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc"), 4096, seed);
    for (std::uint64_t clusters : {10u, 37u, 100u}) {
      while (sampler.sampled() < clusters * 16) sampler.sample_cluster();
      double share = static_cast<double>(sampler.zero()) / static_cast<double>(sampler.sampled());
      EXPECT_NEAR(share, 0.7, 2.0 / static_cast<double>(clusters)) << seed << " " << clusters;
    }
  }
}

TEST(ZeroPages, StandardErrorReflectsTheLayoutNotIndependentDraws) {
  // One run boundary (data below 30%, zeros above): the spread sample is off by at most about
  // one cluster's share, and the successive-difference error says so: one jump among m clusters
  // gives sqrt(1 / (2 m (m - 1))) of RAM, far below the binomial sqrt(p (1 - p) / m).
  FakeMemory memory(kGiB, 0.3);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc"), 4096, 1);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 8192, 1e9);
  const double pages = kGiB / 4096, m = 512;
  EXPECT_NEAR(sampler.standard_error_pages(kGiB / 4096), pages * std::sqrt(1 / (2 * m * (m - 1))),
              1);
  const double binomial = pages * std::sqrt(0.3 * 0.7 / m);
  EXPECT_LT(sampler.standard_error_pages(kGiB / 4096), binomial / 10);
  // The true error is within a few of those standard errors.
  const double error = static_cast<double>(sampler.estimate(kGiB / 4096)) - 0.7 * pages;
  EXPECT_LE(std::abs(error), 4 * sampler.standard_error_pages(kGiB / 4096) + 16);

  ZeroPageSampler empty(memory, guest_ram_ranges(kGiB, "pc"), 4096, 1);
  EXPECT_EQ(empty.standard_error_pages(kGiB / 4096), 0);
  EXPECT_TRUE(empty.layout(32).empty());
}

TEST(ZeroPages, LayoutFollowsAddressOrder) {
  FakeMemory memory(kGiB, 0.25);
  ZeroPageSampler sampler(memory, guest_ram_ranges(kGiB, "pc"), 4096, 7);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 8192, 1e9);
  auto layout = sampler.layout(8);
  ASSERT_EQ(layout.size(), 8u);
  EXPECT_EQ(layout[0], 0);  // the first quarter holds data
  EXPECT_EQ(layout[1], 0);
  for (std::size_t k = 2; k < 8; ++k) EXPECT_EQ(layout[k], 1) << k;

  // Fewer clusters than regions: the empty regions borrow their nearest neighbour's share.
  ZeroPageSampler few(memory, guest_ram_ranges(kGiB, "pc"), 4096, 7);
  few.sample_cluster();
  auto sparse = few.layout(64);
  ASSERT_EQ(sparse.size(), 64u);
  for (double share : sparse) EXPECT_EQ(share, sparse[0]);
}

TEST(ZeroPages, SkipsHolesAndGivesUpOnUnreadableMemory) {
  FakeMemory holey(kGiB, 0.5, 0, kGiB / 4);
  ZeroPageSampler sampler(holey, guest_ram_ranges(kGiB, "pc"), 4096, 2);
  FakeClock clock;
  sample_zero_pages(sampler, clock, 4096, 1e9);
  EXPECT_EQ(sampler.sampled(), 4096u);
  EXPECT_GT(sampler.failed(), 0u);

  FakeMemory unreadable(kGiB, 0.5, 0, kGiB);
  ZeroPageSampler none(unreadable, guest_ram_ranges(kGiB, "pc"), 4096, 3);
  sample_zero_pages(none, clock, 4096, 1e9);
  EXPECT_EQ(none.sampled(), 0u);
  EXPECT_LE(unreadable.reads, 60);
}

TEST(ZeroPages, PcAndQ35MemoryMaps) {
  auto pc = guest_ram_ranges(4 * kGiB, "pc-i440fx-7.2");
  ASSERT_EQ(pc.size(), 2u);
  EXPECT_EQ(pc[0].length, 3 * kGiB);
  EXPECT_EQ(pc[1].start, 4 * kGiB);
  EXPECT_EQ(pc[1].length, kGiB);
  auto q35 = guest_ram_ranges(4 * kGiB, "pc-q35-7.2");
  EXPECT_EQ(q35[0].length, 2 * kGiB);
  EXPECT_EQ(q35[1].length, 2 * kGiB);
  auto small = guest_ram_ranges(kGiB / 2, "pc");
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].length, kGiB / 2);
  EXPECT_EQ(zero_pages_from_rss(kGiB, kGiB / 4, 4096), (kGiB * 3 / 4) / 4096);
  EXPECT_EQ(zero_pages_from_rss(kGiB, 2 * kGiB, 4096), 0u);
}

TEST(SamplePages, AsManyAsQemuAllowsExceptOnHugeGuests) {
  EXPECT_EQ(default_sample_pages_per_gib(kGiB), 16384u);
  EXPECT_EQ(default_sample_pages_per_gib(16 * kGiB), 16384u);
  EXPECT_EQ(default_sample_pages_per_gib(64 * kGiB), 4096u);
  EXPECT_EQ(default_sample_pages_per_gib(4096 * kGiB), 512u);
}

TEST(DomainXml, FactsThatMatterToMigration) {
  auto f = virt::parse_domain_xml(R"(<domain type='kvm'>
    <features><kvm><dirty-ring state='on' size='4096'/></kvm></features>
    <name>vm1</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>
    <memory unit='GiB'>8</memory><currentMemory unit='KiB'>4194304</currentMemory>
    <vcpu placement='static' current='2'>4</vcpu>
    <memoryBacking><hugepages><page size='2' unit='M'/></hugepages><locked/>
      <allocation mode='immediate'/></memoryBacking>
    <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/var/lib/libvirt/images/vm1.qcow2'/>
        <target dev='vda'/></disk>
      <disk type='network' device='disk'><source protocol='rbd' name='pool/vm1-data'/>
        <target dev='vdb'/></disk>
      <disk type='block' device='disk'><source dev='/dev/sdc'/><target dev='vdc'/><shareable/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
      <hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/>
        <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source></hostdev>
    </devices></domain>)");
  EXPECT_EQ(f.name, "vm1");
  EXPECT_EQ(f.virt_type, "kvm");
  EXPECT_TRUE(f.kvm_dirty_ring);
  EXPECT_EQ(f.memory_bytes, 8 * kGiB);
  EXPECT_EQ(f.current_memory_bytes, 4 * kGiB);
  EXPECT_EQ(f.vcpus, 2u);
  EXPECT_TRUE(f.hugepages);
  EXPECT_EQ(f.hugepage_size_bytes, 2u << 20);
  EXPECT_TRUE(f.memory_locked);
  EXPECT_TRUE(f.preallocated);
  EXPECT_EQ(f.machine, "pc-q35-7.2");
  ASSERT_EQ(f.vfio_devices.size(), 1u);
  EXPECT_EQ(f.vfio_devices[0], "0x0000:0x3b:0x00.0x1");
  ASSERT_EQ(f.disks.size(), 3u);
  EXPECT_FALSE(f.disks[0].shared);
  EXPECT_TRUE(f.disks[1].shared);
  EXPECT_EQ(f.disks[1].source, "rbd:pool/vm1-data");
  EXPECT_TRUE(f.disks[2].shared);
  EXPECT_THROW(virt::parse_domain_xml("<domain><name>x</name></domain>"), RuntimeError);
  EXPECT_THROW(virt::parse_domain_xml("not xml"), RuntimeError);
}

TEST(MigrationSettings, LibvirtUnlimitedIsNoBandwidth) {
  EXPECT_FALSE(virt::libvirt_speed_bytes_per_s(8796093022207UL));
  EXPECT_FALSE(virt::libvirt_speed_bytes_per_s(0));
  EXPECT_DOUBLE_EQ(*virt::libvirt_speed_bytes_per_s(128), 128.0 * 1048576);
}

TEST(MigrationSettings, CommandLineWinsThenTheDomain) {
  virt::MigrationConfig config;
  config.max_downtime_ms = 500;
  config.max_speed_bytes_per_s = 64.0 * 1048576;
  config.qemu_parameters = {{"max-bandwidth", 134217728}};  // QEMU's own: not what libvirt uses

  report::Settings from_domain;
  from_domain.downtime_limit_ms = {300, report::Source::Default, {}};
  cli::apply_domain_settings(from_domain, config);
  EXPECT_DOUBLE_EQ(*from_domain.bandwidth_bytes_per_s.value, 64.0 * 1048576);
  EXPECT_EQ(from_domain.bandwidth_bytes_per_s.source, report::Source::Domain);
  EXPECT_DOUBLE_EQ(*from_domain.downtime_limit_ms.value, 500);

  report::Settings given;
  given.bandwidth_bytes_per_s = {1e9, report::Source::CommandLine, {}};
  given.downtime_limit_ms = {200, report::Source::CommandLine, {}};
  cli::apply_domain_settings(given, config);
  EXPECT_DOUBLE_EQ(*given.bandwidth_bytes_per_s.value, 1e9);
  EXPECT_DOUBLE_EQ(*given.downtime_limit_ms.value, 200);

  virt::MigrationConfig unlimited;
  unlimited.max_speed_unlimited = true;
  report::Settings none;
  none.downtime_limit_ms = {300, report::Source::Default, {}};
  cli::apply_domain_settings(none, unlimited);
  EXPECT_FALSE(none.bandwidth_bytes_per_s.value);
  EXPECT_NE(none.bandwidth_bytes_per_s.note.find("no cap"), std::string::npos);
}
