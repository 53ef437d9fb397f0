// What one run of the tool read of a guest's memory, from its exchanges with QEMU and libvirt as
// recorded ($VMP_RECORD_EXCHANGES, and the replay's transcripts under tests/unit/data): the RAM
// map QEMU answered (`info mtree -f`) and every guest memory read (`xp` through the monitor,
// virDomainMemoryPeek through libvirt). For the tests, unit and integration, that check no read
// ever left the RAM QEMU reports. Header-only: both test binaries include it.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "probe/zero_pages.hpp"

namespace vmp::test {

struct GuestReads {
  std::optional<std::vector<probe::PhysicalRange>> ram;  // QEMU's map, when the run asked for it
  std::vector<probe::PhysicalRange> xp;                  // a page at a time through the monitor
  std::vector<probe::PhysicalRange> peek;                // through libvirt (virDomainMemoryPeek)

  std::vector<probe::PhysicalRange> all() const {
    std::vector<probe::PhysicalRange> v = xp;
    v.insert(v.end(), peek.begin(), peek.end());
    return v;
  }
};

inline GuestReads guest_reads(const std::vector<nlohmann::json>& entries) {
  GuestReads g;
  for (const auto& e : entries) {
    if (e.value("execute", "") == "human-monitor-command" && e.contains("arguments") &&
        e["arguments"].value("command-line", "") == "info mtree -f" && e.contains("return") &&
        e["return"].is_string()) {
      g.ram = probe::ram_ranges_from_flat_view(e["return"].get<std::string>());
    }
    const std::string call = e.value("libvirt", "");
    if (call == "xp" || call == "virDomainMemoryPeek") {
      (call == "xp" ? g.xp : g.peek)
          .push_back({e["arguments"]["address"].get<std::uint64_t>(),
                      e["arguments"]["length"].get<std::uint64_t>()});
    }
  }
  return g;
}

// A transcript file: one JSON exchange a line.
inline GuestReads guest_reads_of_file(const std::string& path) {
  std::vector<nlohmann::json> entries;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) entries.push_back(nlohmann::json::parse(line));
  }
  return guest_reads(entries);
}

inline bool inside(const probe::PhysicalRange& read, const std::vector<probe::PhysicalRange>& ram) {
  for (const auto& r : ram) {
    if (read.start >= r.start && read.start + read.length <= r.start + r.length) return true;
  }
  return false;
}

}  // namespace vmp::test
