// Recording what QEMU and libvirt really answered, so that the unit tests' fakes answer from real
// exchanges (tests/unit/replay.hpp) and never from memory of how QEMU behaves.
//
// A transcript is JSON lines: a header ({"transcript": 1, ...}), then one line per exchange, in
// the order they happened, each with "t_ms" (since the transcript was opened):
//   {"execute": "query-dirty-rate", "arguments": {...}, "return": {...}}     QMP
//   {"execute": "calc-dirty-rate", "arguments": {...}, "error": {"class", "desc"}}
//   {"libvirt": "virDomainStartDirtyRateCalc", "arguments": {...}, "return": 0 | "error": "..."}
//   {"note": "...", ...}                               what the tool decided (its period budget)
// A reply larger than 16 KiB (QEMU's schema) goes to a file beside the transcript, named by its
// content, and the line says {"return_file": NAME}: a stack's schema is stored once.
#pragma once

#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "virt/dirty_rate_calls.hpp"
#include "virt/live_target.hpp"
#include "virt/monitor.hpp"

namespace vmp::virt {

class Transcript {
 public:
  // Creates (truncates) `path` and writes the header. Throws RuntimeError when it cannot.
  Transcript(const std::string& path, nlohmann::json header);
  // Adds t_ms and writes one line; a "return" over 16 KiB goes to a file of its own.
  void record(nlohmann::json entry);

 private:
  std::string directory_;
  std::ofstream out_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point opened_;
};

// Passes every command to `inner` and records it with QEMU's answer or error.
class RecordingMonitor : public Monitor {
 public:
  RecordingMonitor(Monitor& inner, Transcript& transcript) : inner_(inner), t_(transcript) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments) override;

 private:
  Monitor& inner_;
  Transcript& t_;
};

class RecordingDirtyRateCalls : public DirtyRateCalls {
 public:
  RecordingDirtyRateCalls(DirtyRateCalls& inner, Transcript& transcript)
      : inner_(inner), t_(transcript) {}
  void start(int seconds, unsigned int flags) override;
  std::map<std::string, double> stats() override;

 private:
  DirtyRateCalls& inner_;
  Transcript& t_;
};

// The key of a QMP exchange in a transcript: arguments are left out when there are none, as the
// monitor sends them.
// The domain's side of a measurement, recorded: each call's answer, under the libvirt call it
// makes ({"libvirt": "virDomainGetState", "return": ...}); guest memory as each page's being
// zero ("1") or not ("0"); lifecycle events and a closed connection only when there was one.
// Its monitor() and dirty_rate_calls() record QMP and libvirt's dirty-rate calls.
class RecordingLiveTarget : public LiveTarget {
 public:
  RecordingLiveTarget(LiveTarget& inner, Transcript& transcript)
      : inner_(inner),
        t_(transcript),
        monitor_(inner.monitor(), transcript),
        dirty_rate_calls_(inner.dirty_rate_calls(), transcript) {}
  const std::string& name() const override { return inner_.name(); }
  std::string uuid() override;
  bool read_only() const override { return inner_.read_only(); }
  std::string hypervisor_version() override { return inner_.hypervisor_version(); }
  std::string libvirt_version() override { return inner_.libvirt_version(); }
  std::string domain_xml() override;
  StateReading read_state() override;
  std::optional<LifecycleChange> lifecycle_change() override;
  std::optional<std::string> connection_closed() override;
  bool has_job() override;
  JobStats completed_job() override;
  std::optional<std::vector<std::uint64_t>> vcpu_times_ns() override;
  std::uint64_t rss_bytes() override;
  bool read_memory(std::uint64_t address, std::size_t length, unsigned char* buffer) override;
  // Recorded as {"libvirt": "xp", ...}: the pages' flags as a read, not xp's text.
  bool read_memory_via_monitor(std::uint64_t address, std::size_t length,
                               unsigned char* buffer) override;
  Monitor& monitor() override { return monitor_; }
  DirtyRateCalls& dirty_rate_calls() override { return dirty_rate_calls_; }
  MigrationConfig libvirt_migration_settings() override;

 private:
  void record_memory_read(const char* call, bool ok, std::uint64_t address, std::size_t length,
                          const unsigned char* buffer);
  void record(const char* call, nlohmann::json reply, nlohmann::json arguments = nullptr);
  LiveTarget& inner_;
  Transcript& t_;
  RecordingMonitor monitor_;
  RecordingDirtyRateCalls dirty_rate_calls_;
};

// The page size of the zero/non-zero flags a recorded memory read keeps.
inline constexpr std::size_t kRecordedPageBytes = 4096;

nlohmann::json qmp_entry(std::string_view command, const nlohmann::json& arguments);

}  // namespace vmp::virt
