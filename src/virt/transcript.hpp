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
nlohmann::json qmp_entry(std::string_view command, const nlohmann::json& arguments);

}  // namespace vmp::virt
