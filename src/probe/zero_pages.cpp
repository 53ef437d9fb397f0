#include "probe/zero_pages.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>


namespace vmp::probe {

std::vector<PhysicalRange> guest_ram_ranges(std::uint64_t ram_bytes, const std::string& machine,
                                            const std::string& arch) {
  constexpr std::uint64_t GiB = std::uint64_t{1} << 30;
  if (arch == "aarch64") {
    if (machine.rfind("virt", 0) != 0) return {};
    return {{GiB, ram_bytes}};
  }
  if (arch != "x86_64" && arch != "i686") return {};
  constexpr std::uint64_t kLegacyHoleStart = 0xa0000, kLegacyHoleEnd = 0x100000;
  std::uint64_t below_4g = ram_bytes;
  if (machine.find("q35") != std::string::npos) {
    if (ram_bytes >= 0xb0000000ull) below_4g = 2 * GiB;
  } else if (ram_bytes >= 0xe0000000ull) {
    below_4g = 3 * GiB;
  }
  std::vector<PhysicalRange> ranges{{0, std::min(below_4g, kLegacyHoleStart)}};
  if (below_4g > kLegacyHoleEnd) ranges.push_back({kLegacyHoleEnd, below_4g - kLegacyHoleEnd});
  if (ram_bytes > below_4g) ranges.push_back({4 * GiB, ram_bytes - below_4g});
  return ranges;
}

namespace {

// libvirt's names for the guest's RAM (QEMU's default for the machine when libvirt gives none).
bool is_guest_ram_block(const std::string& name) {
  return name == "pc.ram" || name == "mach-virt.ram" || name == "ppc_spapr.ram" ||
         name == "s390.ram" || name.rfind("ram-node", 0) == 0 || name.rfind("memdimm", 0) == 0;
}

}  // namespace

std::optional<std::vector<PhysicalRange>> ram_ranges_from_flat_view(const std::string& mtree) {
  std::istringstream in(mtree);
  std::string line;
  bool in_memory_view = false, seen = false;
  std::vector<PhysicalRange> ranges;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // HMP ends lines with CR LF
    if (line.rfind("FlatView #", 0) == 0) {
      if (in_memory_view) break;  // the next view
      continue;
    }
    if (line.find(" AS \"memory\"") == 0) {
      in_memory_view = seen = true;
      continue;
    }
    if (!in_memory_view) continue;
    // "  0000000000100000-000000001fffffff (prio 0, ram): pc.ram @0000000000100000 KVM"
    unsigned long long first = 0, last = 0;
    char kind[16] = {};
    int prio = 0;
    if (std::sscanf(line.c_str(), " %llx-%llx (prio %d, %15[a-z])", &first, &last, &prio, kind) !=
        4) {
      continue;
    }
    const std::string k = kind;
    if ((k != "ram" && k != "rom") || last < first) continue;
    const auto colon = line.find("): ");
    if (colon == std::string::npos) continue;
    std::string name = line.substr(colon + 3);
    name = name.substr(0, name.find(' '));
    if (!is_guest_ram_block(name)) continue;
    if (!ranges.empty() && ranges.back().start + ranges.back().length == first) {
      ranges.back().length += last - first + 1;  // the same RAM, split by its mapping
    } else {
      ranges.push_back({first, last - first + 1});
    }
  }
  if (!seen) return std::nullopt;
  return ranges;
}

ZeroPageSampler::ZeroPageSampler(GuestMemory& memory, std::vector<PhysicalRange> ranges,
                                 std::uint64_t page_size, std::uint64_t seed,
                                 std::uint64_t unit_bytes)
    : memory_(memory),
      ranges_(std::move(ranges)),
      page_size_(page_size),
      unit_bytes_(std::max(page_size, unit_bytes / page_size * page_size)),
      buffer_(unit_bytes_) {
  for (const auto& r : ranges_) total_units_ += r.length / unit_bytes_;
  std::mt19937_64 rng(seed);
  offset_ = std::uniform_real_distribution<double>(0, 1)(rng);
}

namespace {

// The base-2 van der Corput sequence: 0, 1/2, 1/4, 3/4, 1/8, ... every prefix evenly spread.
double van_der_corput(std::uint64_t n) {
  double v = 0, scale = 0.5;
  for (; n; n >>= 1, scale /= 2) {
    if (n & 1) v += scale;
  }
  return v;
}

}  // namespace

bool ZeroPageSampler::sample_unit() {
  if (total_units_ == 0) return false;
  double u = van_der_corput(next_++) + offset_;
  u -= std::floor(u);
  auto index = std::min(total_units_ - 1,
                        static_cast<std::uint64_t>(u * static_cast<double>(total_units_)));
  const std::uint64_t ram_index = index;
  std::uint64_t address = 0;
  for (const auto& r : ranges_) {
    std::uint64_t n = r.length / unit_bytes_;
    if (index < n) {
      address = r.start + index * unit_bytes_;
      break;
    }
    index -= n;
  }
  if (!memory_.read(address, unit_bytes_, buffer_.data())) {
    ++failed_;
    return false;
  }
  std::uint64_t pages = 0, zero = 0;
  for (std::size_t off = 0; off + page_size_ <= unit_bytes_; off += page_size_) {
    ++pages;
    auto page = buffer_.begin() + static_cast<std::ptrdiff_t>(off);
    if (std::all_of(page, page + static_cast<std::ptrdiff_t>(page_size_),
                    [](unsigned char b) { return b == 0; })) {
      ++zero;
    }
  }
  sampled_ += pages;
  zero_ += zero;
  if (pages > 0) {
    reads_.push_back({ram_index, static_cast<double>(zero) / static_cast<double>(pages)});
  }
  return true;
}

double ZeroPageSampler::standard_error_pages(std::uint64_t ram_pages) const {
  const std::size_t m = reads_.size();
  if (m < 2) return 0;
  auto sorted = reads_;
  std::sort(sorted.begin(), sorted.end(),
            [](const UnitRead& a, const UnitRead& b) { return a.index < b.index; });
  double sum_sq = 0;
  for (std::size_t i = 1; i < m; ++i) {
    const double d = sorted[i].zero_share - sorted[i - 1].zero_share;
    sum_sq += d * d;
  }
  const double md = static_cast<double>(m);
  // Var(mean) = sum of squared successive differences / (2 m (m - 1)); the finite-population
  // correction is left out (it only narrows, and m is far below the units in RAM).
  return static_cast<double>(ram_pages) * std::sqrt(sum_sq / (2 * md * (md - 1)));
}

std::vector<double> ZeroPageSampler::layout(std::size_t regions) const {
  if (reads_.empty() || regions == 0 || total_units_ == 0) return {};
  std::vector<double> sum(regions, 0), count(regions, 0);
  for (const auto& r : reads_) {
    auto k = static_cast<std::size_t>(static_cast<double>(r.index) * static_cast<double>(regions) /
                                      static_cast<double>(total_units_));
    k = std::min(k, regions - 1);
    sum[k] += r.zero_share;
    count[k] += 1;
  }
  std::vector<double> share(regions, -1);
  for (std::size_t k = 0; k < regions; ++k) {
    if (count[k] > 0) share[k] = sum[k] / count[k];
  }
  for (std::size_t k = 0; k < regions; ++k) {
    if (share[k] >= 0) continue;
    // The nearest region with a reading; ties go to the lower address.
    for (std::size_t d = 1; d < regions; ++d) {
      if (k >= d && count[k - d] > 0) {
        share[k] = sum[k - d] / count[k - d];
        break;
      }
      if (k + d < regions && count[k + d] > 0) {
        share[k] = sum[k + d] / count[k + d];
        break;
      }
    }
  }
  return share;
}

std::uint64_t ZeroPageSampler::estimate(std::uint64_t ram_pages) const {
  if (sampled_ == 0) return 0;
  return static_cast<std::uint64_t>(static_cast<double>(ram_pages) * static_cast<double>(zero_) /
                                    static_cast<double>(sampled_));
}

std::uint64_t zero_pages_from_rss(std::uint64_t ram_bytes, std::uint64_t rss_bytes,
                                  std::uint64_t page_size) {
  // RSS also counts QEMU's own code and buffers, so this stays a lower bound on zero pages.
  if (rss_bytes >= ram_bytes) return 0;
  return (ram_bytes - rss_bytes) / page_size;
}

}  // namespace vmp::probe
