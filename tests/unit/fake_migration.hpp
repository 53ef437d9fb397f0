// A migration as QEMU's pre-copy loop runs it, reduced to what query-migrate and libvirt's job
// statistics report, on a fake clock: remaining falls at the bandwidth; when it drops to
// bandwidth x max downtime, QEMU syncs the dirty bitmap, adding what the guest dirtied during the
// iteration, and completes if that is still within the threshold. For the watch's unit tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fake_clock.hpp"
#include "virt/monitor.hpp"
#include "virt/job_stats.hpp"
#include "watch/watch.hpp"

namespace vmp::test {

struct FakeMigration {
  // The guest and the link.
  double ram_bytes = 512.0 * 1048576;
  double first_pass_bytes = 150.0 * 1048576;  // what the first pass sends (zero pages ~free)
  double bandwidth_bytes_per_s = 64.0 * 1048576;
  double downtime_limit_ms = 300;
  // Bytes newly dirty at the sync that ends an iteration of this length.
  std::function<double(double)> dirtied = [](double) { return 0.0; };
  // Pages dirtied again while still dirty add nothing: the bitmap never holds more than this.
  double working_set_bytes = 1e18;
  double page_size = 4096;
  double started_at_ms = 0;            // on the fake clock
  std::optional<double> cancel_at_ms;  // another client's migrate_cancel, on the migration's clock

  // State, advanced by update(now).
  std::string status = "active";
  double t = 0;  // the migration's clock
  double remaining = 0, transferred = 0, last_sync = 0, next_window = 0;
  int syncs = 1;
  bool first_pass = true;
  double downtime_ms = 0;
  double dirty_rate_bytes_per_s = 0;
  double expected_downtime_ms = 300;  // QEMU starts with the limit, until it measures a rate
  std::vector<double> true_peaks;     // pending right after each sync, from the second iteration

  double threshold() const { return bandwidth_bytes_per_s * downtime_limit_ms / 1000; }

  void start() { remaining = ram_bytes; }

  // Advances the migration to the fake clock's `now`. As QEMU's migration thread: at the start of
  // each 100 ms rate-limit window it sends the window's worth, then checks what is left; below
  // the threshold, it syncs the dirty bitmap.
  void update(double now) {
    const double target = now - started_at_ms;
    while (status == "active" && next_window <= target) {
      t = next_window;
      next_window += 100;
      if (cancel_at_ms && t >= *cancel_at_ms) {
        status = "cancelled";
        break;
      }
      const double window = bandwidth_bytes_per_s / 10;
      // The first pass clears zero pages for free: its wire bytes stand for all of RAM.
      const double cleared = first_pass ? window * ram_bytes / first_pass_bytes : window;
      const double sent = std::min(remaining, cleared);
      remaining -= sent;
      transferred += first_pass ? sent * first_pass_bytes / ram_bytes : sent;
      if (remaining < threshold()) sync();
      if (dirty_rate_bytes_per_s > 0 && status == "active") {
        expected_downtime_ms = std::floor(true_peaks.back() / bandwidth_bytes_per_s * 1000);
      }
    }
    if (status == "active") t = std::max(t, target);
  }

  void sync() {
    const double added = dirtied(t - last_sync) * std::max(0.0, 1 - remaining / working_set_bytes);
    dirty_rate_bytes_per_s = added / ((t - last_sync) / 1000);
    remaining += added;
    true_peaks.push_back(remaining);
    last_sync = t;
    ++syncs;
    first_pass = false;
    if (remaining < threshold()) {
      downtime_ms = remaining / bandwidth_bytes_per_s * 1000;
      transferred += remaining;
      t += downtime_ms;
      remaining = 0;
      ++syncs;
      status = "completed";
    }
  }

  // Before the migration starts (libvirt prepares the destination first).
  bool started(double now) const { return now >= started_at_ms; }

  nlohmann::json query_migrate() const {
    nlohmann::json ram = {{"remaining", std::llround(remaining)},
                          {"transferred", std::llround(transferred)},
                          {"total", std::llround(ram_bytes)},
                          {"dirty-sync-count", syncs},
                          {"page-size", page_size},
                          {"dirty-pages-rate", std::llround(dirty_rate_bytes_per_s / page_size)},
                          {"mbps", bandwidth_bytes_per_s * 8 / 1e6}};
    nlohmann::json j = {{"status", status}, {"total-time", std::llround(t)}, {"ram", ram}};
    if (status == "active") j["expected-downtime"] = expected_downtime_ms;
    if (status == "completed") j["downtime"] = std::llround(downtime_ms);
    return j;
  }

  watch::JobStats job_stats() const {
    watch::JobStats s;
    if (status != "active") return s;  // libvirt's job is over
    s.type = 2;
    s.numbers = {{"operation", 5},
                 {"time_elapsed", t + started_at_ms},  // libvirt's clock starts before QEMU's
                 {"data_remaining", remaining},
                 {"memory_remaining", remaining},
                 {"memory_processed", transferred},
                 {"memory_total", ram_bytes},
                 {"memory_iteration", syncs},
                 {"memory_page_size", page_size},
                 {"memory_dirty_rate", std::round(dirty_rate_bytes_per_s / page_size)},
                 {"memory_bps", bandwidth_bytes_per_s},
                 {"downtime", expected_downtime_ms}};
    return s;
  }
};

// QMP on a fake migration.
class FakeQmp : public virt::Monitor {
 public:
  FakeQmp(FakeMigration& m, FakeClock& c) : m_(m), c_(c) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json&) override {
    m_.update(c_.now);
    if (command == "query-migrate") {
      // QEMU answers {} while no migration has started.
      return m_.started(c_.now) ? m_.query_migrate() : nlohmann::json::object();
    }
    if (command == "query-migrate-capabilities") {
      return nlohmann::json::array({{{"capability", "postcopy-ram"}, {"state", postcopy}}});
    }
    if (command == "migrate_cancel") {
      m_.status = "cancelled";
      return nlohmann::json::object();
    }
    throw virt::QmpError(std::string(command), "CommandNotFound", "not in the fake");
  }
  bool postcopy = false;

 private:
  FakeMigration& m_;
  FakeClock& c_;
};

class FakeJobStats : public watch::JobStatsReader {
 public:
  FakeJobStats(FakeMigration& m, FakeClock& c) : m_(m), c_(c) {}
  watch::JobStats read(bool completed) override {
    m_.update(c_.now);
    if (!completed && !m_.started(c_.now)) {
      // libvirt's job, while it starts the destination: zeros.
      watch::JobStats s;
      s.type = 2;
      s.numbers = {{"operation", 5},        {"time_elapsed", c_.now}, {"memory_total", 0},
                   {"memory_remaining", 0}, {"memory_iteration", 0},  {"memory_page_size", 0}};
      return s;
    }
    if (!completed) return m_.job_stats();
    watch::JobStats s;
    if (m_.status == "completed") {
      s.type = 3;
      s.numbers = {{"operation", 5},
                   {"time_elapsed", m_.t + m_.started_at_ms},
                   {"downtime", m_.downtime_ms},
                   {"memory_iteration", m_.syncs}};
    }
    return s;
  }

 private:
  FakeMigration& m_;
  FakeClock& c_;
};

class FakeControl : public watch::MigrationControl {
 public:
  explicit FakeControl(FakeMigration& m) : m_(m) {}
  std::optional<double> max_downtime_ms() override { return m_.downtime_limit_ms; }
  void set_max_downtime(double ms) override {
    actions.push_back("downtime " + std::to_string(static_cast<long long>(ms)));
    m_.downtime_limit_ms = ms;
  }
  void start_postcopy(bool) override { actions.push_back("postcopy"); }
  void abort(bool) override {
    actions.push_back("abort");
    m_.status = "cancelled";
  }
  std::vector<std::string> actions;

 private:
  FakeMigration& m_;
};

// Records what the watch reports.
class RecordingOutput : public watch::WatchOutput {
 public:
  void attached(const watch::AttachView& v) override { attach = v; }
  void sample(const watch::SampleView& v) override { samples.push_back(v); }
  void iteration(const watch::IterationView& v) override { iterations.push_back(v); }
  void stall(const watch::Stall& s, const watch::StallAdvice& a) override {
    stalls.push_back(s);
    advice.push_back(a);
  }
  void applied(const watch::AppliedAction& a) override { applied_actions.push_back(a); }
  void finished(const watch::WatchSummary& s) override { summary = s; }

  std::optional<watch::AttachView> attach;
  std::vector<watch::SampleView> samples;
  std::vector<watch::IterationView> iterations;
  std::vector<watch::Stall> stalls;
  std::vector<watch::StallAdvice> advice;
  std::vector<watch::AppliedAction> applied_actions;
  std::optional<watch::WatchSummary> summary;
};

}  // namespace vmp::test
