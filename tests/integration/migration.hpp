// Real migrations of the test guest for the --watch tests: QMP-driven, to a destination QEMU
// started here with the source's own command line and -incoming; libvirt-driven, to the session
// daemon of user vmpdest (bench/setup-destination.sh), whose host UUID differs from the
// system daemon's. Whatever is started is stopped: the destination QEMU dies with this process
// (PR_SET_PDEATHSIG), a domain migrated to vmpdest is destroyed there, also on a fatal signal.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <thread>

#include "support.hpp"

namespace vmp::it {

// QEMU started by hand, waiting for the incoming migration of `source` on 127.0.0.1.
class DestinationQemu {
 public:
  explicit DestinationQemu(const Guest& source);
  ~DestinationQemu();
  DestinationQemu(const DestinationQemu&) = delete;
  DestinationQemu& operator=(const DestinationQemu&) = delete;
  std::string uri() const { return "tcp:127.0.0.1:" + std::to_string(port_); }
  void kill();              // SIGKILL: the migration loses its destination
  std::string log() const;  // what it printed, for failure messages

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  TempDir dir_;
};

// QMP-driven: migrate-set-parameters (max-bandwidth, downtime-limit), then migrate.
void start_qmp_migration(const std::string& domain, const DestinationQemu& dest, int speed_mib_s,
                         int downtime_ms);
// After a QMP migration the source is paused (postmigrate): resume it, so that the same guest
// serves the next test. Throws when it does not run again.
void resume_source(const std::string& domain);
// QEMU's migration status through QMP ("active", "completed", ...).
std::string qmp_migration_status(const std::string& domain);

// The destination daemon's URI (started if needed; stopped at the end if this process started
// it).
std::string destination_uri();

// libvirt-driven: `virsh migrate --live` to destination_uri() in the background, with the
// domain's max speed and max downtime set first, as an operator would.
class LibvirtMigration {
 public:
  LibvirtMigration(const std::string& domain, int speed_mib_s, int downtime_ms);
  ~LibvirtMigration();  // waits for virsh, destroys the domain at the destination
  LibvirtMigration(const LibvirtMigration&) = delete;
  LibvirtMigration& operator=(const LibvirtMigration&) = delete;
  // virsh's result (waits for it).
  const RunResult& wait();

 private:
  std::string domain_, dest_uri_, xml_path_;
  std::thread thread_;
  RunResult result_;
  bool waited_ = false;
};

// Until the domain has a migration that --watch can see (libvirt's job or QEMU's status).
bool wait_for_migration(const std::string& domain, bool libvirt_job,
                        std::chrono::milliseconds timeout);

// The tool, in a thread of its own, while the test acts on the migration.
class BackgroundTool {
 public:
  BackgroundTool(std::vector<std::string> args, RunOptions options);
  ~BackgroundTool();
  const RunResult& wait();

 private:
  std::thread thread_;
  RunResult result_;
  bool waited_ = false;
};

// The migration the accuracy cases compare with: libvirt-driven at `speed_mib_s` and
// `downtime_ms` (LibvirtMigration), followed by --watch --json on `uri` from its start. Returns
// the watch's summary event: libvirt's own figures for the job (total_time_ms is its time
// elapsed, what the operator waits for). Throws, with the commands' output, when the migration
// does not start within 30 s, virsh or the watch fails, or no summary comes.
nlohmann::json migrate_and_watch(const std::string& domain, const std::string& uri,
                                 int speed_mib_s, int downtime_ms);

// The JSON lines --watch --json wrote: one object each.
std::vector<nlohmann::json> json_lines(const std::string& out);
// The first line with "event" == name, or null.
nlohmann::json first_event(const std::vector<nlohmann::json>& lines, const std::string& name);

}  // namespace vmp::it
