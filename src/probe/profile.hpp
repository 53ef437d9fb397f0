// The dirty profile: what one measurement of a guest produces and the model consumes. A versioned
// JSON document (schema in man/virt-migrate-predict.rst, "PROFILE FORMAT"), written by
// --save-profile and read by --profile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/interval.hpp"

namespace vmp::probe {

inline constexpr std::string_view kProfileFormat = "virt-migrate-predict/dirty-profile";
inline constexpr int kProfileVersion = 1;
// Deeper than any profile nests (four levels): a document beyond it is refused unparsed.
inline constexpr int kMaxJsonDepth = 32;
// 64 TiB: beyond the largest guest QEMU/KVM runs today, small enough to stay exact as a double.
inline constexpr std::uint64_t kMaxRamBytes = std::uint64_t{1} << 46;

struct CurvePoint {
  double period_ms = 0;
  double dirty_bytes = 0;              // distinct bytes dirtied in the period, scaled to all RAM
  std::uint64_t sampled_pages = 0;     // pages hashed at the start and the end of the period
  std::uint64_t dirty_sampled_pages = 0;  // of those, the ones whose content changed
};

struct ZeroPageEstimate {
  std::uint64_t count = 0;
  std::string method = "none";         // "memory-peek" | "rss" | "none"
  std::uint64_t sampled_pages = 0;     // pages read for the estimate (memory-peek)
  // The estimate's standard error in pages (memory-peek; see ZeroPageSampler). Absent in
  // profiles made before it was recorded, and for the other methods.
  std::optional<double> standard_error_pages;
  // The zero share of equal stretches of RAM in address order (memory-peek): where the zero
  // pages lie decides what the first pass has left when QEMU's estimate reaches the threshold.
  // Empty: taken as spread evenly.
  std::vector<double> layout;
};
inline constexpr std::size_t kMaxZeroLayoutRegions = 4096;

struct Measurement {
  std::string mode = "page-sampling";  // "page-sampling" | "dirty-bitmap" | "dirty-ring"
  std::string interface = "qmp";       // "qmp" | "libvirt" | "synthetic"
  std::uint64_t sample_pages_per_gib = 0;
};

// libvirt's steps as a host saw them (DirtyProfile::libvirt_steps_seen_ms) are at most this: ten
// minutes is no start any more.
inline constexpr double kMaxLibvirtStepsMs = 600.0 * 1000;

struct DirtyProfile {
  std::string taken_at;                // RFC 3339, UTC
  std::string domain;                  // name, may be empty for synthetic profiles
  std::string qemu_version;
  Measurement measurement;
  std::uint64_t ram_bytes = 0;
  std::uint64_t page_size_bytes = 4096;
  // The page QEMU backs the guest's RAM with when it is larger (huge pages: 2 MiB, 1 GiB):
  // model::PrecopyInput::host_page_bytes. 0 (absent in a profile): page_size_bytes.
  std::uint64_t host_page_bytes = 0;
  std::vector<CurvePoint> dirty_curve;
  ZeroPageEstimate zero_pages;
  // The share of the time the busiest vCPU ran while the dirty curve was measured (its thread's
  // CPU time over wall time). It tells how hard QEMU must throttle before the workload has less
  // CPU than it uses (auto-converge). Absent: unknown.
  std::optional<double> vcpu_busy_fraction;
  // The destination QEMU allocates all of the guest's RAM before it answers (libvirt's
  // <allocation mode='immediate'/>, or huge pages): libvirt's job takes longer before QEMU's
  // migration starts (model/libvirt_steps.hpp). Absent in a profile: false.
  bool memory_preallocated = false;
  // The guest's architecture as libvirt names it ("x86_64", "aarch64"): libvirt's steps differ
  // with the machine the destination QEMU starts. Empty in a profile that does not say: x86_64.
  std::string arch;
  // libvirt's steps before QEMU's migration as this host saw them, when the domain came here by
  // migration and libvirt still keeps that job: its time elapsed less QEMU's part
  // (probe::incoming_libvirt_steps_ms). They vary with the host several-fold (the destination
  // QEMU's start), so one seen here beats the figure measured elsewhere (model/libvirt_steps.hpp).
  // Absent: none seen.
  std::optional<double> libvirt_steps_seen_ms;

  // RAM that holds data: what the guest can dirty and what a pass sends as whole pages.
  double nonzero_ram_bytes() const {
    return static_cast<double>(ram_bytes) -
           static_cast<double>(zero_pages.count) * static_cast<double>(page_size_bytes);
  }
};

// The dirty curve's points with their page samples (k unknown, -1, where none was taken), QEMU's
// readings taken at the expected value of its flooring (model::at_floor_midpoint).
std::vector<model::SampledPoint> sampled_points(const DirtyProfile& profile);
// The points a prediction reads from the profile (model::read_measurement): the one reading
// for a prediction and for --watch.
model::Reading read_curve(const DirtyProfile& profile);

// Validates every field; throws RuntimeError "profile SOURCE: FIELD: what is wrong".
DirtyProfile parse_profile(std::string_view text, std::string_view source);
DirtyProfile load_profile(const std::string& path);
nlohmann::json profile_to_json(const DirtyProfile& profile);
void save_profile(const DirtyProfile& profile, const std::string& path);

}  // namespace vmp::probe
