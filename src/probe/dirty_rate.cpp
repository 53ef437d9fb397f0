#include "probe/dirty_rate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "base/error.hpp"
#include "base/format.hpp"
#include "virt/dirty_rate_calls.hpp"
#include "virt/monitor.hpp"

namespace vmp::probe {
namespace {

bool is_already_measuring(const std::string& message) {
  return message.find("already being measured") != std::string::npos;
}

// Hashing the sampled pages at the start of a period counts in the period QEMU reports (seen on
// QEMU 10.0: 1045 ms for 1000 asked, 16384 pages of a 1 GiB guest); the most the tool samples,
// 262144 pages, would take about 0.7 s at that speed.
constexpr double kHashingAllowanceMs = 1000;

std::string period_text(double reported, double unit_ms) {
  const long long ms = std::llround(reported * unit_ms);
  if (ms < 1000 || ms % 1000 != 0) return std::to_string(ms) + " ms";
  return std::to_string(ms / 1000) + " s";
}

}  // namespace

std::optional<double> measurement_ends_in_ms(double start_s, double period_ms, double epoch_s,
                                             double monotonic_s) {
  constexpr double kDayS = 86400;
  for (double now_s : {epoch_s, monotonic_s}) {
    // A measurement lasts at most 60 s; a day either way tells the clocks apart (the monotonic
    // clock counts from boot, the wall clock from 1970).
    if (start_s > now_s - kDayS && start_s < now_s + kDayS) {
      return std::max(0.0, (start_s - now_s) * 1000 + period_ms);
    }
  }
  return std::nullopt;
}

bool period_matches(double asked_ms, double reported, double unit_ms) {
  // Whole seconds are floored: a 1 s period measured over 1.04 s reads 1.
  const double asked = unit_ms == 1 ? asked_ms : std::floor(asked_ms / unit_ms);
  const double allowance = std::floor(kHashingAllowanceMs / unit_ms);
  return reported >= asked && reported <= asked + allowance;
}

bool schema_has_command(const nlohmann::json& schema, std::string_view command) {
  if (!schema.is_array()) return false;
  for (const auto& entry : schema) {
    if (entry.value("name", "") == command && entry.value("meta-type", "") == "command") {
      return true;
    }
  }
  return false;
}

bool schema_command_has_argument(const nlohmann::json& schema, std::string_view command,
                                 std::string_view argument) {
  if (!schema.is_array()) return false;
  std::string arg_type;
  for (const auto& entry : schema) {
    if (entry.value("name", "") == command && entry.value("meta-type", "") == "command") {
      arg_type = entry.value("arg-type", "");
    }
  }
  if (arg_type.empty()) return false;
  for (const auto& entry : schema) {
    if (entry.value("name", "") != arg_type || !entry.contains("members")) continue;
    for (const auto& member : entry["members"]) {
      if (member.value("name", "") == argument) return true;
    }
  }
  return false;
}

bool schema_has_millisecond_dirty_rate(const nlohmann::json& schema) {
  return schema_command_has_argument(schema, "calc-dirty-rate", "calc-time-unit") &&
         schema_command_has_argument(schema, "query-dirty-rate", "calc-time-unit");
}

nlohmann::json QmpDirtyRateMeter::query() {
  return milliseconds_ ? monitor_.execute("query-dirty-rate", {{"calc-time-unit", "millisecond"}})
                       : monitor_.execute("query-dirty-rate");
}

bool QmpDirtyRateMeter::start(const DirtyRateRequest& request) {
  nlohmann::json args = nlohmann::json::object();
  const double unit_ms = milliseconds_ ? 1 : 1000;
  const long long calc_time = std::max(1LL, std::llround(request.period_ms / unit_ms));
  args["calc-time"] = calc_time;
  if (milliseconds_) args["calc-time-unit"] = "millisecond";
  // QEMU's default mode is page-sampling; naming it would fail on QEMUs without the argument.
  // sample-pages belongs to page-sampling only: QEMU refuses it with the other modes.
  if (request.mode == "page-sampling") {
    args["sample-pages"] = request.sample_pages_per_gib;
  } else {
    args["mode"] = request.mode;
  }
  try {
    monitor_.execute("calc-dirty-rate", args);
  } catch (const virt::QmpError& e) {
    if (is_already_measuring(e.description())) return false;
    throw;
  }
  request_ = request;
  request_.period_ms = static_cast<double>(calc_time) * unit_ms;  // what QEMU was asked
  return true;
}

std::optional<DirtyRateResult> QmpDirtyRateMeter::poll() {
  auto r = query();
  if (r.value("status", "") != "measured") return std::nullopt;
  const std::string unit = r.value("calc-time-unit", "second");
  if (milliseconds_ && unit != "millisecond") {
    throw RuntimeError("QEMU answered query-dirty-rate in " + unit +
                       "s where milliseconds were asked for");
  }
  const double unit_ms = unit == "millisecond" ? 1 : 1000;
  const double reported = r.value("calc-time", 0.0);
  const bool page_sampling = request_.mode == "page-sampling";
  // calc-dirty-rate sets "measuring" before it returns, so "measured" now is ours, unless another
  // client started its own as soon as ours ended: then the figures are not ours.
  const bool ours =
      period_matches(request_.period_ms, reported, unit_ms) &&
      r.value("mode", request_.mode) == request_.mode &&
      (!page_sampling || r.value("sample-pages", 0ull) == request_.sample_pages_per_gib);
  if (!r.contains("dirty-rate")) throw RuntimeError("QEMU's query-dirty-rate has no dirty-rate");
  DirtyRateResult result{r["dirty-rate"].get<double>(),
                         unit_ms == 1 ? reported : request_.period_ms, std::nullopt};
  if (!ours) {
    result.not_ours = r.value("mode", std::string("page-sampling")) + " over " +
                      period_text(reported, unit_ms) + ", sample-pages " +
                      std::to_string(r.value("sample-pages", 0ull)) + "; ours: " + request_.mode +
                      " over " + period_text(request_.period_ms, 1);
  }
  return result;
}

MeterStatus QmpDirtyRateMeter::status(double epoch_s, double monotonic_s) {
  auto r = query();
  const auto status = r.value("status", "");
  if (status != "measuring") return {status == "unstarted", std::nullopt};
  const double unit_ms = r.value("calc-time-unit", "second") == "millisecond" ? 1 : 1000;
  const double reported = r.value("calc-time", 0.0);
  RunningMeasurement m;
  m.what =
      r.value("mode", std::string("page-sampling")) + " over " + period_text(reported, unit_ms);
  if (r.contains("sample-pages") && r.value("mode", "page-sampling") == "page-sampling") {
    m.what += ", sample-pages " + std::to_string(r.value("sample-pages", 0ull));
  }
  if (r.contains("start-time") && r["start-time"].is_number()) {
    m.ends_in_ms = measurement_ends_in_ms(r["start-time"].get<double>(), reported * unit_ms,
                                          epoch_s, monotonic_s);
  }
  return {false, m};
}

bool LibvirtDirtyRateMeter::start(const DirtyRateRequest& request) {
  const int seconds = static_cast<int>(std::max(1LL, std::llround(request.period_ms / 1000)));
  unsigned int flags = 0;
  if (request.mode == "dirty-bitmap") flags = virt::dirty_rate::kModeDirtyBitmap;
  if (request.mode == "dirty-ring") flags = virt::dirty_rate::kModeDirtyRing;
  try {
    calls_.start(seconds, flags);
  } catch (const virt::LibvirtCallError& e) {
    if (is_already_measuring(e.message())) return false;
    throw;
  }
  request_ = request;
  request_.period_ms = seconds * 1000.0;
  return true;
}

namespace {

double field(const std::map<std::string, double>& stats, const std::string& name, double absent) {
  auto it = stats.find(name);
  return it == stats.end() ? absent : it->second;
}

}  // namespace

std::optional<DirtyRateResult> LibvirtDirtyRateMeter::poll() {
  auto stats = calls_.stats();
  if (field(stats, "dirtyrate.calc_status", -1) !=
      virt::dirty_rate::kMeasured) {
    return std::nullopt;
  }
  const double period_s = field(stats, "dirtyrate.calc_period", 0);
  const double mib_per_s = field(stats, "dirtyrate.megabytes_per_second", -1);
  if (mib_per_s < 0) throw RuntimeError("libvirt's dirty-rate stats have no megabytes_per_second");
  DirtyRateResult result{mib_per_s, request_.period_ms, std::nullopt};
  if (!period_matches(request_.period_ms, period_s, 1000)) {
    result.not_ours = "over " + period_text(period_s, 1000) + "; ours: over " +
                      period_text(request_.period_ms, 1);
  }
  return result;
}

MeterStatus LibvirtDirtyRateMeter::status(double epoch_s, double monotonic_s) {
  auto stats = calls_.stats();
  const double status = field(stats, "dirtyrate.calc_status", -1);
  if (status != virt::dirty_rate::kMeasuring) {
    return {status == virt::dirty_rate::kUnstarted, std::nullopt};
  }
  const double period_s = field(stats, "dirtyrate.calc_period", 0);
  RunningMeasurement m;
  m.what = "over " + period_text(period_s, 1000);
  const double start_s = field(stats, "dirtyrate.calc_start_time", -1);
  if (start_s > 0) {
    m.ends_in_ms = measurement_ends_in_ms(start_s, period_s * 1000, epoch_s, monotonic_s);
  }
  return {false, m};
}

std::vector<double> plan_periods_ms(double budget_ms, bool milliseconds) {
  // A tenth of the budget stays for QEMU's hashing, polling and the reads between periods.
  const double usable = budget_ms * 0.9;
  const double first = milliseconds ? 125 : 1000;
  const double longest = 60000;  // calc-dirty-rate's upper bound
  std::vector<double> periods;
  double used = 0, next = first;
  while (used + next <= usable && next <= longest) {
    periods.push_back(next);
    used += next;
    next *= 2;
  }
  if (periods.empty()) return {first};
  // What is left lengthens the longest period: reach matters most for the first pass.
  // In whole quarter seconds where QEMU takes milliseconds: a plan that does not move with a
  // few milliseconds of polling (a wait for another client's measurement comes off the budget).
  double extra = usable - used;
  const double step = milliseconds ? 250 : 1000;
  // A millisecond short of a step counts as the step: a whole budget less the microseconds the
  // tool took to compute it (nothing read before: no RAM map) plans as the whole budget does.
  extra = std::floor((extra + 1) / step) * step;
  periods.back() = std::min(longest, periods.back() + extra);
  return periods;
}

std::string periods_text(const std::vector<double>& periods_ms) {
  if (periods_ms.empty()) return "no period";
  const double longest = *std::max_element(periods_ms.begin(), periods_ms.end());
  if (periods_ms.size() == 1) return "one period of " + vmp::format_period(longest);
  return std::to_string(periods_ms.size()) + " periods up to " + vmp::format_period(longest);
}

std::vector<double> fit_periods_ms(std::vector<double> periods_ms, double left_ms,
                                   double overhead_ms, bool milliseconds) {
  const double step = milliseconds ? 250 : 1000;
  const double shortest = milliseconds ? 125 : 1000;
  while (!periods_ms.empty()) {
    const std::size_t n = periods_ms.size();
    double others = static_cast<double>(n) * overhead_ms;
    for (std::size_t i = 0; i + 1 < n; ++i) others += periods_ms[i];
    const double room = left_ms - others;
    if (periods_ms.back() <= room) return periods_ms;
    double shortened = std::floor(room / step) * step;
    if (shortened < shortest && room >= shortest) shortened = shortest;
    const double before = n > 1 ? periods_ms[n - 2] : 0;
    if (shortened > before && shortened >= shortest) {
      periods_ms.back() = shortened;
      return periods_ms;
    }
    periods_ms.erase(periods_ms.end() - (n > 1 ? 2 : 1));
  }
  return periods_ms;
}

}  // namespace vmp::probe
