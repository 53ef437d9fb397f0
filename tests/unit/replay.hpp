// Fakes of QEMU's monitor and libvirt's dirty-rate API that answer only what a real stack
// answered: transcripts recorded by the tool itself ($VMP_RECORD_EXCHANGES, see
// virt/transcript.hpp and tests/unit/data/probe/record.sh), one folder per stack.
//
// A command that changes state (calc-dirty-rate, virDomainStartDirtyRateCalc) must be the next
// one the recording holds, with the same arguments, or the replay fails the test: a fake never
// gets to invent a behaviour. A query (query-*, HMP's info, virDomainListGetStats) is answered
// with the reply recorded for the same query since that last change of state, the latest one
// recorded at or before the same time after it (QEMU's "measuring" turns "measured" on its own),
// else the earliest; a query never recorded there fails the test too. Readings that the dirty-rate
// commands do not change (QEMU's settings and memory map, the domain's side) may come from
// before that change too, and QEMU's from anywhere in the measurement (see answer()).
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "fake_clock.hpp"
#include "virt/dirty_rate_calls.hpp"
#include "virt/live_target.hpp"
#include "virt/monitor.hpp"
#include "virt/transcript.hpp"

namespace vmp::test {

// The code under test asked something the recording cannot answer.
class ReplayMismatch : public std::logic_error {
 public:
  explicit ReplayMismatch(const std::string& what) : std::logic_error(what) {}
};

// The domain's side of a measurement (virt::RecordingLiveTarget): replayed only by a
// ReplayLiveTarget; a replay of QMP and the dirty-rate calls alone leaves them out.
inline bool is_target_call(const nlohmann::json& e) {
  static const std::vector<std::string> kCalls = {
      "virDomainGetUUIDString", "virDomainGetXMLDesc",  "virDomainGetState",
      "lifecycle-event",        "connection-closed",    "virDomainGetJobInfo",
      "virDomainGetVcpus",      "virDomainMemoryStats", "virDomainMemoryPeek",
      "xp",                     "migration-settings",   "virDomainGetJobStats"};
  const std::string call = e.value("libvirt", "");
  return std::find(kCalls.begin(), kCalls.end(), call) != kCalls.end();
}

class Replay {
 public:
  // With `target_calls`, the domain's side is replayed too, and each answer takes the time it
  // took on the stack: the clock moves on to the time the answer was recorded (a whole
  // measurement's budgets, the zero-page sample's among them, end where they ended then).
  Replay(const std::filesystem::path& path, FakeClock& clock, bool target_calls = false)
      : clock_(clock), takes_recorded_time_(target_calls), directory_(path.parent_path()) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::string line;
    std::getline(in, line);
    header_ = nlohmann::json::parse(line);
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto entry = nlohmann::json::parse(line);
      if (entry.contains("return_file")) {
        std::ifstream reply(path.parent_path() / entry["return_file"].get<std::string>());
        entry["return"] = nlohmann::json::parse(reply);
      }
      if (entry.contains("note")) {
        notes_.push_back(entry);
      } else if (!target_calls && is_target_call(entry)) {
        continue;
      } else {
        entries_.push_back(entry);
      }
    }
  }

  const nlohmann::json& header() const { return header_; }
  const std::vector<nlohmann::json>& entries() const { return entries_; }
  // The tool's own notes ({"note": name, ...}), e.g. the period budget it had.
  bool has_note(const std::string& name) const {
    return std::any_of(notes_.begin(), notes_.end(),
                       [&](const nlohmann::json& n) { return n["note"] == name; });
  }
  nlohmann::json note(const std::string& name) const {
    for (const auto& n : notes_) {
      if (n["note"] == name) return n;
    }
    throw std::runtime_error("the transcript has no note " + name);
  }
  // Whether the recording holds a call of the domain's side named `name` ("xp", ...).
  bool has_call(const std::string& name) const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const nlohmann::json& e) { return e.value("libvirt", "") == name; });
  }
  // Replays from the recording's time `recorded_ms` on (what came before was not the code under
  // test's, e.g. a replay that starts at the dirty-rate measurement).
  void begin_at(double recorded_ms) {
    while (cursor_ < entries_.size() && entries_[cursor_]["t_ms"].get<double>() < recorded_ms) {
      ++cursor_;
    }
    offset_ms_ = clock_.now - recorded_ms;
    aligned_ = true;
    sync_clock();
  }
  // The recording's time that the clock's now stands for.
  double recorded_now() const { return clock_.now - offset_ms_; }
  // Whether every change of state recorded was asked for again.
  bool all_changes_replayed() const {
    for (std::size_t i = cursor_; i < entries_.size(); ++i) {
      if (is_change(entries_[i])) return false;
    }
    return true;
  }

  // The recorded exchange answering `key` ({"execute"|"libvirt": ..., "arguments": ...}) now.
  const nlohmann::json& answer(const nlohmann::json& key) {
    if (!aligned_) {
      offset_ms_ = clock_.now - (entries_.empty() ? 0 : entries_.front()["t_ms"].get<double>());
      aligned_ = true;
      sync_clock();
    }
    std::size_t next_change = cursor_;
    while (next_change < entries_.size() && !is_change(entries_[next_change])) ++next_change;
    const double recorded_now = clock_.now - offset_ms_;
    // The domain's side (its state, its vCPU times) does not change with QEMU's dirty-rate
    // commands: any reading recorded before the next change answers it. Nor do QEMU's
    // migration settings or its memory map, which nothing the tool sends changes: any reading
    // recorded in the measurement answers them (the tool may ask them before or after it starts
    // a period).
    const bool unchanged_by_dirty_rate = is_query(key) && !is_dirty_rate_query(key);
    const std::size_t since = unchanged_by_dirty_rate ? 0 : cursor_;
    const std::size_t until =
        unchanged_by_dirty_rate && !is_target_call(key) ? entries_.size() : next_change;
    const nlohmann::json* at_this_time = recorded_at(key, since, until, recorded_now);
    if (is_query(key) && !at_this_time && key.value("execute", "") == "query-qmp-schema") {
      // Domains measured in one run share one read of QEMU's schema (probe::QmpSchemaCache):
      // the transcript of a domain whose thread found it read already lacks it, and in a replay
      // the threads may reach it in another order. Its answer is then the schema recorded on
      // the same stack, in the same folder (there must be exactly one).
      if (const auto* shared = stack_schema()) return *shared;
    }
    if (is_query(key) && !at_this_time && !is_target_call(key)) {
      // QEMU's answers do not change with libvirt's reads of the domain (its memory, its vCPU
      // times): a query the code asks before a read the recording made first is answered by the
      // recording's first answer after the reads, at the time asked (the reads take theirs).
      std::size_t next_qemu_change = next_change;
      auto reads_or_queries = [&](const nlohmann::json& e) {
        return !is_change(e) || is_target_call(e);
      };
      while (next_qemu_change < entries_.size() && reads_or_queries(entries_[next_qemu_change])) {
        ++next_qemu_change;
      }
      if (const auto* later = recorded_at(key, next_change, next_qemu_change, recorded_now)) {
        return *later;
      }
    }
    if (is_query(key)) {
      if (!at_this_time) {
        throw ReplayMismatch("the code asked " + key.dump() +
                             ", which the recording never answered at this point");
      }
      take_recorded_time(*at_this_time);
      return *at_this_time;
    }
    const bool change_matches = next_change < entries_.size() && same(entries_[next_change], key);
    // A command QEMU refused changed nothing: asked again before the recording's next change,
    // it is refused again.
    if (at_this_time &&
        (!change_matches || recorded_now < entries_[next_change]["t_ms"].get<double>())) {
      return *at_this_time;
    }
    if (!change_matches) {
      throw ReplayMismatch("the code sent " + key.dump() +
                           " where the recording's next change is " +
                           (next_change == entries_.size() ? std::string("none")
                                                           : strip(entries_[next_change]).dump()));
    }
    cursor_ = next_change + 1;
    take_recorded_time(entries_[next_change]);
    offset_ms_ = clock_.now - entries_[next_change]["t_ms"].get<double>();
    sync_clock();
    return entries_[next_change];
  }

  // An event's record (a lifecycle event, a closed connection), recorded only when there was
  // one: the latest recorded at or before now since the last change, else none.
  const nlohmann::json* event_if_recorded(const nlohmann::json& key) const {
    std::size_t next_change = cursor_;
    while (next_change < entries_.size() && !is_change(entries_[next_change])) ++next_change;
    const nlohmann::json* chosen = nullptr;
    for (std::size_t i = 0; i < next_change; ++i) {
      if (same(entries_[i], key) && entries_[i]["t_ms"].get<double>() <= recorded_now()) {
        chosen = &entries_[i];
      }
    }
    return chosen;
  }

 private:
  void take_recorded_time(const nlohmann::json& answer) {
    if (!takes_recorded_time_) return;
    const double ahead_ms = answer["t_ms"].get<double>() - recorded_now();
    if (ahead_ms > 0) clock_.now += ahead_ms;
  }

  // The host's clocks as the recording's were at the same recorded time (QEMU's start-time of a
  // measurement is read against them).
  void sync_clock() {
    if (header_.contains("epoch_s_at_t0")) {
      clock_.epoch_at_zero = header_["epoch_s_at_t0"].get<double>() - offset_ms_ / 1000;
      clock_.monotonic_at_zero = header_["monotonic_s_at_t0"].get<double>() - offset_ms_ / 1000;
    }
  }
  // Of the exchanges like `key` before `end` since the last change, the latest recorded at or
  // before `recorded_now`, else the earliest; null when there is none.
  const nlohmann::json* recorded_at(const nlohmann::json& key, std::size_t begin, std::size_t end,
                                    double recorded_now) const {
    const nlohmann::json* chosen = nullptr;
    for (std::size_t i = begin; i < end; ++i) {
      if (!same(entries_[i], key)) continue;
      if (chosen && entries_[i]["t_ms"].get<double>() > recorded_now) break;
      chosen = &entries_[i];
    }
    return chosen;
  }
  static bool is_change(const nlohmann::json& e) { return !is_query(e) && !e.contains("error"); }
  static bool is_query(const nlohmann::json& e) {
    if (e.contains("execute")) {
      const auto command = e["execute"].get<std::string>();
      if (command == "human-monitor-command") {
        // HMP's info commands only show (the tool asks `info mtree -f`).
        return e.value("arguments", nlohmann::json::object())
                   .value("command-line", "")
                   .rfind("info ", 0) == 0;
      }
      return command.rfind("query-", 0) == 0;
    }
    // A guest memory read is replayed in order, as a change: the time it took is what ends the
    // zero-page sample. So are the vCPU times: the two readings around the dirty curve, each
    // once.
    if (is_target_call(e)) {
      const std::string call = e.value("libvirt", "");
      return call != "virDomainMemoryPeek" && call != "virDomainGetVcpus";
    }
    return e.value("libvirt", "") == "virDomainListGetStats";
  }
  // The readings a dirty-rate command changes: QEMU's and libvirt's account of the measurement.
  static bool is_dirty_rate_query(const nlohmann::json& e) {
    return e.value("execute", "") == "query-dirty-rate" ||
           e.value("libvirt", "") == "virDomainListGetStats";
  }
  static nlohmann::json strip(const nlohmann::json& e) {
    nlohmann::json k;
    for (const char* f : {"execute", "libvirt", "arguments"}) {
      if (e.contains(f)) k[f] = e[f];
    }
    return k;
  }
  static bool same(const nlohmann::json& entry, const nlohmann::json& key) {
    return strip(entry) == strip(key);
  }

  // The one query-qmp-schema reply stored in this recording's folder, as an exchange.
  const nlohmann::json* stack_schema() {
    if (stack_schema_.is_null()) {
      std::vector<std::filesystem::path> files;
      for (const auto& f : std::filesystem::directory_iterator(directory_)) {
        if (f.path().filename().string().rfind("query-qmp-schema-", 0) == 0) {
          files.push_back(f.path());
        }
      }
      if (files.size() != 1) return nullptr;
      std::ifstream reply(files.front());
      stack_schema_ = {{"execute", "query-qmp-schema"}, {"return", nlohmann::json::parse(reply)}};
    }
    return &stack_schema_;
  }
  FakeClock& clock_;
  bool takes_recorded_time_ = false;
  nlohmann::json header_;
  std::vector<nlohmann::json> entries_, notes_;
  std::size_t cursor_ = 0;
  double offset_ms_ = 0;
  bool aligned_ = false;
  std::filesystem::path directory_;
  nlohmann::json stack_schema_;
};

class ReplayMonitor : public virt::Monitor {
 public:
  explicit ReplayMonitor(Replay& replay) : replay_(replay) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments) override {
    ++sent_[std::string(command)];
    const auto& e = replay_.answer(virt::qmp_entry(command, arguments));
    if (e.contains("error")) {
      throw virt::QmpError(std::string(command), e["error"].value("class", ""),
                           e["error"].value("desc", ""));
    }
    return e["return"];
  }
  // How many times the code under test sent `command`.
  std::size_t sent(const std::string& command) const {
    auto it = sent_.find(command);
    return it == sent_.end() ? 0 : it->second;
  }

 private:
  Replay& replay_;
  std::map<std::string, std::size_t> sent_;
};

class ReplayDirtyRateCalls : public virt::DirtyRateCalls {
 public:
  explicit ReplayDirtyRateCalls(Replay& replay) : replay_(replay) {}
  void start(int seconds, unsigned int flags) override {
    const auto& e = replay_.answer({{"libvirt", "virDomainStartDirtyRateCalc"},
                                    {"arguments", {{"seconds", seconds}, {"flags", flags}}}});
    if (e.contains("error")) {
      throw virt::LibvirtCallError("virDomainStartDirtyRateCalc", e["error"].get<std::string>());
    }
  }
  std::map<std::string, double> stats() override {
    const auto& e = replay_.answer(
        {{"libvirt", "virDomainListGetStats"}, {"arguments", {{"stats", "dirtyrate"}}}});
    if (e.contains("error")) {
      throw virt::LibvirtCallError("virDomainListGetStats", e["error"].get<std::string>());
    }
    return e["return"].get<std::map<std::string, double>>();
  }

 private:
  Replay& replay_;
};

// A running domain as a recording of virt::RecordingLiveTarget saw it (a Replay made with
// target_calls): measure_domain runs against it as against libvirt.
class ReplayLiveTarget : public virt::LiveTarget {
 public:
  explicit ReplayLiveTarget(Replay& replay)
      : replay_(replay),
        name_(replay.header().value("domain", "")),
        monitor_(replay),
        dirty_rate_calls_(replay) {}
  const std::string& name() const override { return name_; }
  std::string uuid() override { return call("virDomainGetUUIDString").get<std::string>(); }
  bool read_only() const override { return false; }  // recordings are read-write
  std::string hypervisor_version() override {
    return replay_.header().value("hypervisor_version", "");
  }
  std::string libvirt_version() override { return replay_.header().value("libvirt_version", ""); }
  std::string domain_xml() override { return call("virDomainGetXMLDesc").get<std::string>(); }
  virt::StateReading read_state() override {
    const auto& j = call("virDomainGetState");
    virt::StateReading s;
    s.running = j.value("running", true);
    s.ends_qemu = j.value("ends_qemu", false);
    s.what = j.value("what", "");
    if (j.contains("error")) s.error = j["error"].get<std::string>();
    if (j.contains("connection_lost")) s.connection_lost = j["connection_lost"].get<std::string>();
    return s;
  }
  std::optional<virt::LifecycleChange> lifecycle_change() override {
    const auto* e = replay_.event_if_recorded({{"libvirt", "lifecycle-event"}});
    if (!e) return std::nullopt;
    return virt::LifecycleChange{(*e)["return"].value("what", ""),
                                 (*e)["return"].value("ends_qemu", false)};
  }
  std::optional<std::string> connection_closed() override {
    const auto* e = replay_.event_if_recorded({{"libvirt", "connection-closed"}});
    if (!e) return std::nullopt;
    return (*e)["return"].get<std::string>();
  }
  bool has_job() override { return call("virDomainGetJobInfo").get<bool>(); }
  // libvirt's record of the last job that ended. A recording made before the tool asked for it
  // holds none; each of those domains was started by tests/guest/start-guest.sh and never
  // migrated in, which libvirt answers with no job (type none), as the recordings that asked
  // show (probe-*/measure-domain-fresh and -migrated-in, record.sh "incoming").
  virt::JobStats completed_job() override {
    if (!replay_.has_call("virDomainGetJobStats")) return virt::JobStats{};
    const auto& e =
        replay_.answer({{"libvirt", "virDomainGetJobStats"}, {"arguments", {{"completed", true}}}});
    if (e.contains("error")) throw RuntimeError(e["error"].get<std::string>());
    return virt::job_stats_from_json(e["return"]);
  }
  std::optional<std::vector<std::uint64_t>> vcpu_times_ns() override {
    const auto& j = call("virDomainGetVcpus");
    if (j.is_null()) return std::nullopt;
    return j.get<std::vector<std::uint64_t>>();
  }
  std::uint64_t rss_bytes() override { return call("virDomainMemoryStats").get<std::uint64_t>(); }
  bool read_memory(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
    return memory_read("virDomainMemoryPeek", address, length, buffer);
  }
  bool read_memory_via_monitor(std::uint64_t address, std::size_t length,
                               unsigned char* buffer) override {
    return memory_read("xp", address, length, buffer);
  }
  virt::Monitor& monitor() override { return monitor_; }
  virt::DirtyRateCalls& dirty_rate_calls() override { return dirty_rate_calls_; }
  virt::MigrationConfig libvirt_migration_settings() override {
    const auto& j = call("migration-settings");
    virt::MigrationConfig c;
    c.max_speed_unlimited = j.value("max_speed_unlimited", false);
    if (j.contains("max_downtime_ms")) c.max_downtime_ms = j["max_downtime_ms"].get<double>();
    if (j.contains("max_speed_bytes_per_s")) {
      c.max_speed_bytes_per_s = j["max_speed_bytes_per_s"].get<double>();
    }
    if (j.contains("postcopy_speed_bytes_per_s")) {
      c.postcopy_speed_bytes_per_s = j["postcopy_speed_bytes_per_s"].get<double>();
    }
    return c;
  }
  // How many guest memory reads the code under test asked for.
  std::size_t memory_reads() const { return memory_reads_; }
  // How many times it sent a QMP command.
  std::size_t qmp_sent(const std::string& command) const { return monitor_.sent(command); }

 private:
  const nlohmann::json& call(const char* name) {
    return replay_.answer({{"libvirt", name}})["return"];
  }
  bool memory_read(const char* how, std::uint64_t address, std::size_t length,
                   unsigned char* buffer) {
    ++memory_reads_;
    const auto& e =
        replay_.answer({{"libvirt", how}, {"arguments", {{"address", address}, {"length", length}}}});
    const auto& r = e["return"];
    if (!r.value("ok", false)) return false;
    // Each page as recorded: zero, or holding data (a byte that is not zero).
    const std::string zero = r.value("zero_pages", "");
    for (std::size_t page = 0; page * virt::kRecordedPageBytes < length; ++page) {
      const std::size_t at = page * virt::kRecordedPageBytes;
      const std::size_t n = std::min(virt::kRecordedPageBytes, length - at);
      std::fill(buffer + at, buffer + at + n, 0);
      if (page >= zero.size()) throw ReplayMismatch("a memory read recorded without its pages");
      if (zero[page] == '0') buffer[at + n / 2] = 0x5a;
    }
    return true;
  }

  Replay& replay_;
  std::string name_;
  std::size_t memory_reads_ = 0;
  ReplayMonitor monitor_;
  ReplayDirtyRateCalls dirty_rate_calls_;
};

// A libvirt connection whose domains are recordings of whole measurements (name -> transcript):
// the tool's --domain and --all-running run end to end against it (cli::LiveServices). A domain
// that was never recorded is the test's mistake, not a behaviour of libvirt's to imitate.
// Several domains measured at once (--all-running, --drain), each replayed on a time of its own:
// each answer moves a replay's clock to the time it was recorded, and one clock shared by two
// replays would end one domain's budgets at the other's times. A thread sees the clock of the
// domain it opened last (the tool measures each domain in one thread).
class PerDomainClocks : public probe::Clock {
 public:
  FakeClock& bind_new() {
    std::lock_guard lock(mutex_);
    clocks_.emplace_back();
    current() = &clocks_.back();
    return clocks_.back();
  }
  double now_ms() override { return clock().now_ms(); }
  void sleep_ms(double ms) override { clock().sleep_ms(ms); }
  double epoch_s() override { return clock().epoch_s(); }
  double monotonic_s() override { return clock().monotonic_s(); }

 private:
  static FakeClock*& current() {
    thread_local FakeClock* bound = nullptr;
    return bound;
  }
  FakeClock& clock() { return current() ? *current() : unbound_; }
  std::mutex mutex_;
  std::deque<FakeClock> clocks_;
  FakeClock unbound_;
};

class ReplayLiveConnection : public virt::LiveConnection {
 public:
  ReplayLiveConnection(std::map<std::string, std::filesystem::path> recordings, FakeClock& clock)
      : recordings_(std::move(recordings)), clock_(&clock) {}
  ReplayLiveConnection(std::map<std::string, std::filesystem::path> recordings,
                       PerDomainClocks& clocks)
      : recordings_(std::move(recordings)), clocks_(&clocks) {}
  std::vector<std::string> running_domains() override {
    std::vector<std::string> names;
    for (const auto& [name, path] : recordings_) names.push_back(name);
    return names;
  }
  std::unique_ptr<virt::LiveTarget> open(const std::string& name) override {
    auto it = recordings_.find(name);
    if (it == recordings_.end()) throw ReplayMismatch("no recording of domain " + name);
    return std::make_unique<Target>(it->second, clocks_ ? clocks_->bind_new() : *clock_);
  }

 private:
  // The replay and the target answering from it, together.
  struct Recorded {
    Recorded(const std::filesystem::path& path, FakeClock& clock)
        : replay(path, clock, /*target_calls=*/true) {}
    Replay replay;
  };
  struct Target : private Recorded, public ReplayLiveTarget {
    Target(const std::filesystem::path& path, FakeClock& clock)
        : Recorded(path, clock), ReplayLiveTarget(replay) {}
  };

  std::map<std::string, std::filesystem::path> recordings_;
  FakeClock* clock_ = nullptr;
  PerDomainClocks* clocks_ = nullptr;
};

// The stacks recorded in tests/unit/data/WHAT/qemu-Q-libvirt-L/ ("probe", "watch").
inline std::vector<std::filesystem::path> recorded_stacks(const std::string& what) {
  std::vector<std::filesystem::path> stacks;
  const auto data = std::filesystem::path(VMP_SOURCE_ROOT) / "tests" / "unit" / "data" / what;
  for (const auto& d : std::filesystem::directory_iterator(data)) {
    if (d.is_directory()) stacks.push_back(d.path());
  }
  std::sort(stacks.begin(), stacks.end());
  return stacks;
}

}  // namespace vmp::test
