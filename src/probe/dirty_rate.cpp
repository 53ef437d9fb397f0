#include "probe/dirty_rate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "error.hpp"
#include "virt/connection.hpp"
#include "virt/monitor.hpp"

namespace vmp::probe {
namespace {

bool is_already_measuring(const std::string& message) {
  return message.find("already being measured") != std::string::npos;
}

}  // namespace

bool schema_has_command(const nlohmann::json& schema, std::string_view command) {
  if (!schema.is_array()) return false;
  for (const auto& entry : schema) {
    if (entry.value("name", "") == command && entry.value("meta-type", "") == "command") {
      return true;
    }
  }
  return false;
}

bool schema_has_calc_time_unit(const nlohmann::json& schema) {
  if (!schema.is_array()) return false;
  std::string arg_type;
  for (const auto& entry : schema) {
    if (entry.value("name", "") == "calc-dirty-rate" && entry.value("meta-type", "") == "command") {
      arg_type = entry.value("arg-type", "");
    }
  }
  if (arg_type.empty()) return false;
  for (const auto& entry : schema) {
    if (entry.value("name", "") != arg_type || !entry.contains("members")) continue;
    for (const auto& member : entry["members"]) {
      if (member.value("name", "") == "calc-time-unit") return true;
    }
  }
  return false;
}

bool QmpDirtyRateMeter::never_measured() {
  return monitor_.execute("query-dirty-rate").value("status", "") == "unstarted";
}

bool QmpDirtyRateMeter::start(const DirtyRateRequest& request) {
  nlohmann::json args = {{"sample-pages", request.sample_pages_per_gib}};
  if (milliseconds_) {
    args["calc-time"] = static_cast<long long>(std::llround(request.period_ms));
    args["calc-time-unit"] = "millisecond";
  } else {
    args["calc-time"] = static_cast<long long>(std::llround(request.period_ms / 1000));
  }
  // QEMU's default mode is page-sampling; naming it would fail on QEMUs without the argument.
  if (request.mode != "page-sampling") args["mode"] = request.mode;
  try {
    monitor_.execute("calc-dirty-rate", args);
  } catch (const virt::QmpError& e) {
    if (is_already_measuring(e.description())) return false;
    throw;
  }
  request_ = request;
  return true;
}

std::optional<double> QmpDirtyRateMeter::poll() {
  auto r = monitor_.execute("query-dirty-rate");
  if (r.value("status", "") != "measured") return std::nullopt;
  double calc_time = r.value("calc-time", 0.0);
  std::string unit = r.value("calc-time-unit", "second");
  double period_ms = unit == "millisecond" ? calc_time : calc_time * 1000;
  // calc-dirty-rate sets "measuring" before it returns, so "measured" now is ours, unless another
  // client started its own as soon as ours ended: then the figures are not ours.
  bool ours = std::abs(period_ms - request_.period_ms) < 0.5 &&
              r.value("sample-pages", 0ull) == request_.sample_pages_per_gib;
  if (!ours) {
    throw RuntimeError("another client's dirty-rate measurement replaced ours (period " +
                       std::to_string(period_ms) + " ms, sample-pages " +
                       std::to_string(r.value("sample-pages", 0ull)) + ")");
  }
  if (!r.contains("dirty-rate")) throw RuntimeError("QEMU's query-dirty-rate has no dirty-rate");
  return r["dirty-rate"].get<double>();
}

bool LibvirtDirtyRateMeter::start(const DirtyRateRequest& request) {
  int seconds = static_cast<int>(std::llround(request.period_ms / 1000));
  unsigned int flags = 0;
  if (request.mode == "dirty-bitmap") flags = VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP;
  if (request.mode == "dirty-ring") flags = VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING;
  if (virDomainStartDirtyRateCalc(domain_.get(), seconds, flags) < 0) {
    std::string why = virt::last_libvirt_error();
    if (is_already_measuring(why)) return false;
    throw RuntimeError("domain " + domain_.name() + ": virDomainStartDirtyRateCalc failed: " +
                       why);
  }
  request_ = request;
  return true;
}

int LibvirtDirtyRateMeter::calc_status(long long* period_s, long long* mib_per_s) {
  virDomainPtr doms[] = {domain_.get(), nullptr};
  virDomainStatsRecordPtr* records = nullptr;
  int n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &records, 0);
  if (n < 0) {
    throw RuntimeError("domain " + domain_.name() + ": cannot read dirty-rate stats: " +
                       virt::last_libvirt_error());
  }
  int status = -1;
  *period_s = 0;
  *mib_per_s = -1;
  if (n > 0) {
    for (int i = 0; i < records[0]->nparams; ++i) {
      const virTypedParameter& p = records[0]->params[i];
      std::string field = p.field;
      long long v = -1;
      switch (p.type) {
        case VIR_TYPED_PARAM_INT: v = p.value.i; break;
        case VIR_TYPED_PARAM_UINT: v = p.value.ui; break;
        case VIR_TYPED_PARAM_LLONG: v = p.value.l; break;
        case VIR_TYPED_PARAM_ULLONG: v = static_cast<long long>(p.value.ul); break;
        default: break;
      }
      if (field == "dirtyrate.calc_status") status = static_cast<int>(v);
      if (field == "dirtyrate.calc_period") *period_s = v;
      if (field == "dirtyrate.megabytes_per_second") *mib_per_s = v;
    }
  }
  virDomainStatsRecordListFree(records);
  return status;
}

bool LibvirtDirtyRateMeter::never_measured() {
  long long period = 0, rate = 0;
  return calc_status(&period, &rate) == VIR_DOMAIN_DIRTYRATE_UNSTARTED;
}

std::optional<double> LibvirtDirtyRateMeter::poll() {
  long long period = 0, mib_per_s = -1;
  if (calc_status(&period, &mib_per_s) != VIR_DOMAIN_DIRTYRATE_MEASURED) return std::nullopt;
  if (period * 1000 != std::llround(request_.period_ms) || mib_per_s < 0) {
    throw RuntimeError("another client's dirty-rate measurement replaced ours (period " +
                       std::to_string(period) + " s)");
  }
  return static_cast<double>(mib_per_s);
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
  double extra = usable - used;
  if (!milliseconds) extra = std::floor(extra / 1000) * 1000;
  periods.back() = std::min(longest, periods.back() + extra);
  return periods;
}

}  // namespace vmp::probe
