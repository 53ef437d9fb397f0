#pragma once

// libvirt's job statistics (and why a domain stopped) as plain names and numbers, for code that reads them without
// libvirt's headers (the watch, its tests). Each is libvirt's own: virt/libvirt.cpp checks them
// against <libvirt/libvirt.h> at compile time.

namespace vmp::virt::job {

// virDomainJobType
inline constexpr int kNone = 0;
inline constexpr int kBounded = 1;
inline constexpr int kUnbounded = 2;
inline constexpr int kCompleted = 3;
inline constexpr int kFailed = 4;
inline constexpr int kCancelled = 5;

// virDomainJobOperation
inline constexpr int kOperationMigrationIn = 4;
inline constexpr int kOperationMigrationOut = 5;

// The typed parameters' names (VIR_DOMAIN_JOB_*)
inline constexpr const char* kOperation = "operation";
inline constexpr const char* kTimeElapsed = "time_elapsed";
inline constexpr const char* kDataRemaining = "data_remaining";
inline constexpr const char* kMemoryTotal = "memory_total";
inline constexpr const char* kMemoryProcessed = "memory_processed";
inline constexpr const char* kMemoryRemaining = "memory_remaining";
inline constexpr const char* kMemoryDirtyRate = "memory_dirty_rate";
inline constexpr const char* kMemoryIteration = "memory_iteration";
inline constexpr const char* kMemoryPageSize = "memory_page_size";
inline constexpr const char* kMemoryBps = "memory_bps";
inline constexpr const char* kAutoConvergeThrottle = "auto_converge_throttle";
inline constexpr const char* kDowntime = "downtime";
inline constexpr const char* kSetupTime = "setup_time";
inline constexpr const char* kErrmsg = "errmsg";

}  // namespace vmp::virt::job

namespace vmp::virt::stopped {

// virDomainEventStoppedDetailType: why a domain stopped (its lifecycle event's detail).
inline constexpr int kShutdown = 0;
inline constexpr int kDestroyed = 1;
inline constexpr int kCrashed = 2;
inline constexpr int kMigrated = 3;
inline constexpr int kSaved = 4;
inline constexpr int kFailed = 5;

}  // namespace vmp::virt::stopped
