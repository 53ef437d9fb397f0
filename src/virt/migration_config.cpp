#include "virt/migration_config.hpp"

#include "virt/connection.hpp"
#include "virt/monitor.hpp"

namespace vmp::virt {

std::optional<double> libvirt_speed_bytes_per_s(unsigned long mib_per_s) {
  if (mib_per_s == 0 || mib_per_s >= kLibvirtUnlimitedSpeedMiBs) return std::nullopt;
  return static_cast<double>(mib_per_s) * 1048576.0;
}

MigrationConfig read_libvirt_migration_settings(const Domain& domain) {
  MigrationConfig c;
  unsigned long long downtime = 0;
  if (virDomainMigrateGetMaxDowntime(domain.get(), &downtime, 0) < 0) {
    throw RuntimeError("domain " + domain.name() + ": cannot read the max downtime: " +
                       last_libvirt_error());
  }
  c.max_downtime_ms = static_cast<double>(downtime);

  unsigned long speed = 0;
  if (virDomainMigrateGetMaxSpeed(domain.get(), &speed, 0) < 0) {
    throw RuntimeError("domain " + domain.name() + ": cannot read the max migration speed: " +
                       last_libvirt_error());
  }
  c.max_speed_bytes_per_s = libvirt_speed_bytes_per_s(speed);
  c.max_speed_unlimited = !c.max_speed_bytes_per_s;
  unsigned long postcopy = 0;
  if (virDomainMigrateGetMaxSpeed(domain.get(), &postcopy,
                                  VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY) == 0) {
    c.postcopy_speed_bytes_per_s = libvirt_speed_bytes_per_s(postcopy);
  }
  return c;
}

void add_qemu_migration_settings(MigrationConfig& c, Monitor& monitor) {
  c.qemu_parameters = monitor.execute("query-migrate-parameters");
  for (const auto& cap : monitor.execute("query-migrate-capabilities")) {
    c.qemu_capabilities[cap.value("capability", "")] = cap.value("state", false);
  }
}

}  // namespace vmp::virt
