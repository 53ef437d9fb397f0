// How much of the guest's RAM is zero pages: they cost 9 bytes instead of 4104 in the first pass,
// which on a mostly idle guest decides the migration time. Estimated by reading random guest
// physical pages (virDomainMemoryPeek); as a fallback, the QEMU process's RSS bounds the touched
// pages from above and so the zero pages from below.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vmp::probe {

struct PhysicalRange {
  std::uint64_t start;
  std::uint64_t length;
};

// Where guest RAM sits in guest physical memory on x86 PC machines, for when QEMU cannot be
// asked (--no-qmp): RAM up to the 32-bit PCI hole (pc/i440fx: 3.5 GiB unless RAM reaches it,
// then 3 GiB; q35: 2 GiB beyond 2.75 GiB), the rest from 4 GiB up, leaving out 640 KiB - 1 MiB
// (the VGA window, whose reads drive the VGA device, and the ROMs). On aarch64 `virt` machines
// RAM is one block from 1 GiB up (QEMU's hw/arm/virt.c: flash, the GIC, the UART and PCI's windows
// below it; checked against QEMU 7.2's and 10.0's own maps, tests/unit/data/mtree). Empty for
// any other architecture or machine: its map is not guessed.
std::vector<PhysicalRange> guest_ram_ranges(std::uint64_t ram_bytes, const std::string& machine,
                                            const std::string& arch);

// Guest RAM as QEMU maps it: the "ram" (and read-only "rom") ranges of the guest's RAM blocks
// (pc.ram, mach-virt.ram, ram-nodeN, memdimmN: what libvirt names them) in the flat view of the
// "memory" address space, from HMP's `info mtree -f`. Devices' memory (VGA windows, video RAM,
// ROMs, flash) is never among them. nullopt when the text has no such view.
std::optional<std::vector<PhysicalRange>> ram_ranges_from_flat_view(const std::string& mtree);

class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  // Reads `length` bytes of guest physical memory; false where the address cannot be read.
  virtual bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) = 0;
};


// Reads units of guest memory (single pages, or clusters of 16 pages) spread over RAM, visited in
// a low-discrepancy order (van der Corput, shifted by a seeded offset): any number of them, as
// many as the time allows, covers RAM evenly, which on memory laid out in long zero and non-zero
// runs estimates far better than the same number of random reads. Through QEMU's monitor a page
// costs 3.5 ms and is the unit; through libvirt (virDomainMemoryPeek: milliseconds however little
// it reads, since libvirt goes through QEMU's pmemsave and a file; 17 ms for 64 KiB, 16 ms for
// 4 KiB) a cluster of 16 pages is. Pages spread beat clusters for the same time: on a real 512 MiB
// test guest's memory (64 MiB written, 73% zero), 430 pages (1.5 s) estimated its zero pages
// within 669 pages (root mean square over 200 offsets), 88 clusters (the same 1.5 s) within 2662
// (ZeroPages.OnARealGuestsMemoryPagesSpreadBeatClustersInTheSameTime).
class ZeroPageSampler {
 public:
  static constexpr std::uint64_t kClusterBytes = 65536;  // virDomainMemoryPeek's limit

  // `unit_bytes`: what one read brings (a multiple of the page size).
  ZeroPageSampler(GuestMemory& memory, std::vector<PhysicalRange> ranges, std::uint64_t page_size,
                  std::uint64_t seed, std::uint64_t unit_bytes = kClusterBytes);
  // Reads one more unit; returns false when it could not be read (a hole).
  bool sample_unit();
  std::uint64_t sampled() const { return sampled_; }
  std::uint64_t zero() const { return zero_; }
  std::uint64_t failed() const { return failed_; }
  std::uint64_t reads() const { return reads_.size(); }  // those that were read
  std::uint64_t unit_pages() const { return unit_bytes_ / page_size_; }
  // Whether there is RAM to read at all (no map of it: nothing).
  bool has_ram() const { return total_units_ > 0; }
  // Zero pages in all of RAM, scaled from the sample.
  std::uint64_t estimate(std::uint64_t ram_pages) const;
  // The estimate's standard error in pages. The units are a systematic (evenly spread) sample
  // of RAM, whose zero shares run in long alike stretches: the variance is estimated from the
  // differences between units that are neighbours in address order (Wolter's successive-
  // difference estimator), not as if they were drawn independently, which would
  // overstate it many times on such memory. 0 with fewer than two units read.
  double standard_error_pages(std::uint64_t ram_pages) const;
  // The zero share of each of `regions` equal stretches of RAM in address order, the order in
  // which the first pass of a migration walks it. A stretch no unit fell into takes the share
  // of the nearest one that has some. Empty when nothing was read.
  std::vector<double> layout(std::size_t regions) const;

 private:
  GuestMemory& memory_;
  std::vector<PhysicalRange> ranges_;
  std::uint64_t page_size_;
  std::uint64_t unit_bytes_;
  std::uint64_t total_units_ = 0;
  double offset_ = 0;  // in [0, 1): where the low-discrepancy sequence starts
  std::uint64_t next_ = 0;
  std::vector<unsigned char> buffer_;
  std::uint64_t sampled_ = 0, zero_ = 0, failed_ = 0;
  struct UnitRead {
    std::uint64_t index;  // in RAM order over all ranges
    double zero_share;
  };
  std::vector<UnitRead> reads_;
};

// Pages the QEMU process has never touched are zero in the guest: RAM - RSS bounds the zero
// pages from below (and is useless with preallocated or huge-page-backed memory).
std::uint64_t zero_pages_from_rss(std::uint64_t ram_bytes, std::uint64_t rss_bytes,
                                  std::uint64_t page_size);

}  // namespace vmp::probe
