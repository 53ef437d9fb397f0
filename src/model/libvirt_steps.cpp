#include "model/libvirt_steps.hpp"

#include <algorithm>
#include <cstdlib>

namespace vmp::model {

int qemu_major_version(const std::string& version) {
  if (version.empty()) return 0;
  return std::atoi(version.c_str());
}

bool qemu_at_least(const std::string& version, int major, int minor) {
  const int have = qemu_major_version(version);
  if (have == 0 || have != major) return have == 0 || have > major;
  const auto dot = version.find('.');
  return dot != std::string::npos && std::atoi(version.c_str() + dot + 1) >= minor;
}

LibvirtSteps libvirt_steps(const std::string& qemu_version, double ram_bytes, bool preallocated,
                           const std::string& arch, std::optional<double> seen_ms,
                           const std::string& seen_from) {
  LibvirtSteps s;
  const int major = qemu_major_version(qemu_version);
  const bool aarch64 = arch == "aarch64";
  // Between two hosts' medians, spanning both (model/libvirt_steps.hpp).
  if (major > 0 && major < 8) {
    s.fixed_ms = aarch64 ? 330 : 620;
    s.fixed_low_ms = aarch64 ? 130 : 220;
    s.fixed_high_ms = aarch64 ? 580 : 1390;
    s.after_ms = 1750;
    s.switchover_qemu_ms = 8;
    s.switchover_libvirt_ms = 12;
    s.switchover_high_ms = 33;
    s.measured_on = "QEMU 7.2 / libvirt 9.0";
  } else {
    s.fixed_ms = aarch64 ? 340 : 570;
    s.fixed_low_ms = aarch64 ? 120 : 200;
    s.fixed_high_ms = aarch64 ? 670 : 1340;
    s.after_ms = 1550;
    s.switchover_qemu_ms = 10;
    s.switchover_libvirt_ms = 13;
    s.switchover_high_ms = 26;
    s.measured_on = "QEMU 10.0 / libvirt 11.3";
  }
  if (aarch64) s.measured_on += ", aarch64";
  s.switchover_low_ms = 0;  // model/libvirt_steps.hpp: the RAM part's own spread is as large
  s.after_low_ms = 1300;
  s.after_high_ms = 2330;
  if (seen_ms && *seen_ms > 0) {
    s.fixed_ms = *seen_ms;
    s.fixed_low_ms = *seen_ms * kSeenLow;
    s.fixed_high_ms = *seen_ms * kSeenHigh;
    s.measured_on = "this host";
    s.seen_here = true;
    s.seen_from = seen_from;
    // The domain's own arrival holds its preallocation, if any; another's (not preallocated)
    // does not.
    if (seen_from.empty()) return s;
  }
  if (preallocated) s.preallocation_ms = kPreallocationMsPerGiB * ram_bytes / (1024.0 * 1024 * 1024);
  return s;
}

std::optional<SeenSteps> lend_seen_steps(const std::vector<SeenSteps>& seen, const std::string& arch) {
  const bool aarch64 = arch == "aarch64";
  std::vector<SeenSteps> lenders;
  for (const auto& s : seen) {
    if (s.ms > 0 && !s.preallocated && (s.arch == "aarch64") == aarch64) lenders.push_back(s);
  }
  if (lenders.empty()) return std::nullopt;
  std::sort(lenders.begin(), lenders.end(), [](const SeenSteps& a, const SeenSteps& b) {
    return a.ms != b.ms ? a.ms < b.ms : a.domain < b.domain;
  });
  return lenders[(lenders.size() - 1) / 2];
}

}  // namespace vmp::model
