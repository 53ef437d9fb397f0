// Migrations recorded on real stacks as the watch sees them (tests/unit/data/watch/STACK,
// record-all.sh and record.py there): libvirt's job statistics and QEMU's query-migrate every
// 200 ms, libvirt's events, the domain's XML and QEMU's migration capabilities. MigrationReplay
// answers the watch from one on a fake clock; RecordedWatchConnection is the same as the
// virt::WatchConnection --watch opens, for tool_main.
#pragma once

#include <libvirt/libvirt.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_clock.hpp"
#include "virt/job_keys.hpp"
#include "virt/watch_target.hpp"

namespace vmp::test {

using nlohmann::json;
using virt::DomainEvents;
using virt::DomainGone;
using virt::EventSource;
using virt::JobStats;
using virt::JobStatsReader;
using virt::MigrationControl;

struct Recording {
  json header;
  std::vector<json> samples;  // {"t_ms", "job", "query_migrate"}
  std::vector<json> events;   // {"t_ms", "event", ...}
};

inline Recording load(const std::filesystem::path& stack, const std::string& name) {
  std::ifstream in(stack / name);
  Recording r;
  if (!in) throw std::runtime_error("cannot read " + (stack / name).string());
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    if (first) {
      r.header = j;
      first = false;
    } else if (j.contains("event")) {
      r.events.push_back(j);
    } else {
      r.samples.push_back(j);
    }
  }
  return r;
}

// The record a reading at `now` gets: the last one taken by then (within half an interval).
class MigrationReplay : public JobStatsReader, public virt::Monitor, public EventSource {
 public:
  MigrationReplay(const Recording& r, FakeClock& c) : r_(r), c_(c) {}

  JobStats read(bool completed) override {
    const json& rec = at();
    if (rec["job"].is_null()) throw DomainGone("domain " + name() + " no longer exists");
    if (completed) return JobStats{};  // transient: libvirt keeps no completed job
    return virt::job_stats_from_json(rec["job"]);
  }

  json execute(std::string_view command, const json&) override {
    if (command == "query-migrate-capabilities") {
      return r_.header.at("migrate_capabilities");  // QEMU's answer when the recording began
    }
    const json& rec = at();
    if (rec["query_migrate"].is_null()) {
      throw virt::QmpError(std::string(command), "GenericError", "domain is not running");
    }
    return rec["query_migrate"];
  }

  DomainEvents events() override {
    DomainEvents e;
    for (const auto& ev : r_.events) {
      if (ev["t_ms"].get<double>() > c_.now) break;
      if (ev["event"] == "lifecycle" && ev["type"] == VIR_DOMAIN_EVENT_STOPPED) {
        e.stopped_detail = ev["detail"].get<int>();
      }
      if (ev["event"] == "job-completed") {
        e.completed_job = virt::job_stats_from_json(ev["stats"]);
        e.completed_job->type = virt::job::kCompleted;
      }
    }
    return e;
  }

  std::string name() const { return r_.header["domain"].get<std::string>(); }

 private:
  const json& at() const {
    const json* best = &r_.samples.front();
    for (const auto& s : r_.samples) {
      if (s["t_ms"].get<double>() > c_.now + 100) break;
      best = &s;
    }
    return *best;
  }
  const Recording& r_;
  FakeClock& c_;
};

class RecordedControl : public MigrationControl {
 public:
  std::optional<double> max_downtime_ms() override { return limit; }
  void set_max_downtime(double ms) override { actions.push_back("downtime"), limit = ms; }
  void start_postcopy(bool) override { actions.push_back("postcopy"); }
  void abort(bool) override { actions.push_back("abort"); }
  double limit = 300;
  std::vector<std::string> actions;
};


// The first time the migration runs in the recording (libvirt's job or QEMU's status active):
// where a replay's clock starts.
inline double migration_start_ms(const Recording& r) {
  for (const auto& s : r.samples) {
    const bool job = !s["job"].is_null() && s["job"].value("type", 0) != 0;
    // (QEMU's status may still be the previous migration's "cancelled" or "completed".)
    const bool qemu = !s["query_migrate"].is_null() &&
                      s["query_migrate"].value("status", "") == std::string("active");
    if (job || qemu) return s["t_ms"].get<double>();
  }
  return 0;
}

// A recorded migration as --watch opens it (cli::LiveServices::watch_connect). Needs a recording
// with the domain's XML in its header.
class RecordedWatchConnection : public virt::WatchConnection {
 public:
  RecordedWatchConnection(const Recording& r, FakeClock& clock, bool qmp)
      : r_(r), name_(r.header["domain"].get<std::string>()), replay_(r, clock), qmp_(qmp) {
    control_.limit = r.header["downtime_ms"].get<double>();
  }
  const std::string& domain() const override { return name_; }
  std::string uri() override { return "qemu:///system"; }
  bool active() override { return true; }
  std::string state_text() override { return "running"; }
  std::string domain_xml() override { return r_.header.at("domain_xml").get<std::string>(); }
  JobStatsReader& job() override { return replay_; }
  virt::Monitor* monitor() override { return qmp_ ? &replay_ : nullptr; }
  MigrationControl& control() override { return control_; }
  EventSource& events() override { return replay_; }
  const RecordedControl& recorded_control() const { return control_; }

 private:
  const Recording& r_;
  std::string name_;
  MigrationReplay replay_;
  RecordedControl control_;
  bool qmp_;
};

}  // namespace vmp::test
