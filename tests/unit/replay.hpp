// Fakes of QEMU's monitor and libvirt's dirty-rate API that answer only what a real stack
// answered: transcripts recorded by the tool itself ($VMP_RECORD_EXCHANGES, see
// virt/transcript.hpp and tests/unit/data/probe/record.sh), one folder per stack.
//
// A command that changes state (calc-dirty-rate, virDomainStartDirtyRateCalc) must be the next
// one the recording holds, with the same arguments, or the replay fails the test: a fake never
// gets to invent a behaviour. A query (query-*, virDomainListGetStats) is answered with the
// reply recorded for the same query since that last change of state, the latest one recorded at
// or before the same time after it (QEMU's "measuring" turns "measured" on its own), else the
// earliest; a query never recorded there fails the test too.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "fake_clock.hpp"
#include "virt/dirty_rate_calls.hpp"
#include "virt/monitor.hpp"
#include "virt/transcript.hpp"

namespace vmp::test {

// The code under test asked something the recording cannot answer.
class ReplayMismatch : public std::logic_error {
 public:
  explicit ReplayMismatch(const std::string& what) : std::logic_error(what) {}
};

class Replay {
 public:
  Replay(const std::filesystem::path& path, FakeClock& clock) : clock_(clock) {
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
      } else {
        entries_.push_back(entry);
      }
    }
  }

  const nlohmann::json& header() const { return header_; }
  const std::vector<nlohmann::json>& entries() const { return entries_; }
  // The tool's own notes ({"note": name, ...}), e.g. the period budget it had.
  nlohmann::json note(const std::string& name) const {
    for (const auto& n : notes_) {
      if (n["note"] == name) return n;
    }
    throw std::runtime_error("the transcript has no note " + name);
  }
  // Replays from the recording's time `recorded_ms` on (what came before was not the code under
  // test's, e.g. a replay that starts at the dirty-rate measurement).
  void begin_at(double recorded_ms) {
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
    const nlohmann::json* at_this_time = recorded_at(key, next_change, recorded_now);
    if (is_query(key)) {
      if (!at_this_time) {
        throw ReplayMismatch("the code asked " + key.dump() +
                             ", which the recording never answered at this point");
      }
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
    offset_ms_ = clock_.now - entries_[next_change]["t_ms"].get<double>();
    sync_clock();
    return entries_[next_change];
  }

 private:
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
  const nlohmann::json* recorded_at(const nlohmann::json& key, std::size_t end,
                                    double recorded_now) const {
    const nlohmann::json* chosen = nullptr;
    for (std::size_t i = cursor_; i < end; ++i) {
      if (!same(entries_[i], key)) continue;
      if (chosen && entries_[i]["t_ms"].get<double>() > recorded_now) break;
      chosen = &entries_[i];
    }
    return chosen;
  }
  static bool is_change(const nlohmann::json& e) { return !is_query(e) && !e.contains("error"); }
  static bool is_query(const nlohmann::json& e) {
    if (e.contains("execute")) return e["execute"].get<std::string>().rfind("query-", 0) == 0;
    return e.value("libvirt", "") == "virDomainListGetStats";
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

  FakeClock& clock_;
  nlohmann::json header_;
  std::vector<nlohmann::json> entries_, notes_;
  std::size_t cursor_ = 0;
  double offset_ms_ = 0;
  bool aligned_ = false;
};

class ReplayMonitor : public virt::Monitor {
 public:
  explicit ReplayMonitor(Replay& replay) : replay_(replay) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments) override {
    const auto& e = replay_.answer(virt::qmp_entry(command, arguments));
    if (e.contains("error")) {
      throw virt::QmpError(std::string(command), e["error"].value("class", ""),
                           e["error"].value("desc", ""));
    }
    return e["return"];
  }

 private:
  Replay& replay_;
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
