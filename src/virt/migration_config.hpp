// The migration settings a domain has now: libvirt's (what a libvirt-driven migration applies)
// and QEMU's own parameters and capabilities. Read only; nothing here sets anything.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace vmp::virt {

class Domain;
class Monitor;

// libvirt's "no limit" for virDomainMigrateGetMaxSpeed: LLONG_MAX / 1 MiB, in MiB/s.
inline constexpr unsigned long kLibvirtUnlimitedSpeedMiBs = 8796093022207UL;

struct MigrationConfig {
  // virDomainMigrateGetMaxDowntime, ms.
  std::optional<double> max_downtime_ms;
  // virDomainMigrateGetMaxSpeed in MiB/s; absent when libvirt puts no cap on the migration.
  std::optional<double> max_speed_bytes_per_s;
  bool max_speed_unlimited = false;
  // Post-copy phase cap (VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY); absent: no cap.
  std::optional<double> postcopy_speed_bytes_per_s;
  // query-migrate-parameters / query-migrate-capabilities, as QEMU reports them.
  nlohmann::json qemu_parameters = nlohmann::json::object();
  std::map<std::string, bool> qemu_capabilities;
};

// Converts libvirt's MiB/s (with its "unlimited" sentinel) into bytes/s or nothing.
std::optional<double> libvirt_speed_bytes_per_s(unsigned long mib_per_s);

// monitor may be null (--no-qmp): then QEMU's parameters and capabilities stay empty.
// libvirt's settings of the domain (migrate-getmaxdowntime, migrate-getspeed, its post-copy
// speed), and QEMU's parameters and capabilities (QMP) added to them.
MigrationConfig read_libvirt_migration_settings(const Domain& domain);
void add_qemu_migration_settings(MigrationConfig& config, Monitor& monitor);

}  // namespace vmp::virt
