#pragma once

// The defaults every part of the tool assumes when nobody said otherwise: one home, so that the
// prediction, the advice and --watch cannot drift apart.

namespace vmp::model {

// QEMU's and libvirt's default max downtime (virsh migrate-setmaxdowntime): what a migration
// uses when nobody set one, and what QEMU's limit is taken to be when it cannot be read.
inline constexpr double kDefaultDowntimeLimitMs = 300;

// How long a migration may run before the tool calls it not converging (--deadline), as the
// 2023 RFC predictor.
inline constexpr double kDefaultDeadlineMs = 3600.0 * 1000;

// The largest pause the advice may raise the max downtime to (--max-downtime).
inline constexpr double kDefaultMaxDowntimeMs = 1000;

}  // namespace vmp::model
