#include "report/json_report.hpp"

#include <algorithm>
#include <cmath>

#include "base/virsh.hpp"
#include "report/human.hpp"
#include "report/recommendation.hpp"
#include "vmp_config.h"

namespace vmp::report {
namespace {

using nlohmann::json;

// JSON has no infinity: an unlimited downtime is null with a flag beside it.
json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json optional_number(const std::optional<double>& v) {
  return v ? finite_or_null(*v) : json(nullptr);
}

json precopy_json(const model::PrecopyResult& p, bool with_trace) {
  json j = {
      {"converges", p.converges()},
      {"outcome", model::to_string(p.outcome)},
      {"total_time_ms", p.converges() ? rounded_ms(p.total_time_ms) : json(nullptr)},
      {"qemu_total_time_ms", p.converges() ? rounded_ms(p.qemu_total_time_ms) : json(nullptr)},
      {"downtime_ms", p.converges() ? rounded_ms(p.downtime_ms) : json(nullptr)},
      {"iterations", p.iterations},
      {"transferred_bytes", std::llround(p.transferred_bytes)},
      {"switchover_threshold_bytes", finite_or_null(p.threshold_bytes)},
      {"min_pending_bytes", std::llround(p.min_pending_bytes)},
      {"simulated_time_ms", rounded_ms(p.elapsed_ms)},
  };
  if (with_trace) {
    json trace = json::array();
    for (const auto& it : p.trace) {
      trace.push_back({{"iteration", it.iteration},
                       {"start_ms", it.start_ms},
                       {"duration_ms", it.duration_ms},
                       {"pending_bytes", std::llround(it.pending_bytes)},
                       {"sent_bytes", std::llround(it.sent_bytes)},
                       {"dirtied_bytes", std::llround(it.dirtied_bytes)},
                       {"throttle_pct", it.throttle_pct}});
    }
    j["trace"] = trace;
    j["trace_truncated"] = p.trace_truncated;
  }
  return j;
}

json setting_json(const Setting& s, const char* key) {
  json j = {{key, optional_number(s.value)}, {"source", to_key(s.source)}};
  if (!s.note.empty()) j["note"] = s.note;
  return j;
}

// The action a script takes: null when there is none (do not migrate, no bandwidth known).
json recommended_json(const Report& r) {
  auto rec = recommend(r);
  if (!rec) return nullptr;
  return {{"verdict", model::to_string(rec->verdict)},
          {"downtime_limit_ms", rec->downtime_limit_ms},
          {"bandwidth_bytes_per_s", rec->bandwidth_bytes_per_s},
          {"bandwidth_mib_per_s", static_cast<double>(virsh::speed_mib_per_s(rec->bandwidth_bytes_per_s))},
          {"virsh_migrate_flags", rec->migrate_flags},
          {"commands", rec->commands},
          {"total_time_ms", rounded_ms(rec->total_time_ms)},
          {"downtime_ms", rounded_ms(rec->downtime_ms)},
          {"final_throttle_pct", rec->final_throttle_pct},
          {"throttled_ms", rounded_ms(rec->throttled_ms)},
          {"postcopy_phase_ms", rounded_ms(rec->postcopy_phase_ms)},
          {"postcopy_phase_is_lower_bound", rec->postcopy_phase_lower_bound}};
}

}  // namespace

json error_json(const std::string& subject, const std::string& message, int exit_status,
                const std::string& error_key) {
  return {{"report_version", kReportVersion},
          {"tool", {{"name", "virt-migrate-predict"}, {"version", VMP_VERSION}}},
          {"subject", subject},
          {"error", message},
          {"error_key", error_key},
          {"exit_status", exit_status}};
}

json to_json(const Report& r) {
  const auto& prof = r.profile;
  json curve_points = json::array();
  for (const auto& pt : prof.dirty_curve) {
    curve_points.push_back({{"period_ms", pt.period_ms},
                            {"dirty_bytes", pt.dirty_bytes},
                            {"model_dirty_bytes", r.curve.dirty_bytes(pt.period_ms)}});
  }
  json curve = {
      {"kind", model::to_string(r.curve.kind())},
      {"reason", r.curve_choice.reason},
      {"limit_bytes", r.curve.limit_bytes()},
      {"points", curve_points},
  };
  curve["reading"] = r.mean_reading ? "mean-rate" : "as-measured";
  curve["rate_change"] = nullptr;
  if (r.rate_change) {
    using Kind = model::RateChange::Kind;
    const auto& c = *r.rate_change;
    auto point = [](const model::SampledPoint& p) {
      return json{{"period_ms", p.period_ms}, {"dirty_bytes", p.dirty_bytes}};
    };
    curve["rate_change"] = {{"kind", c.kind == Kind::FellAtEnd ? "fell-at-end"
                                     : c.kind == Kind::Fell    ? "fell"
                                                               : "rose"},
                            {"shorter", point(c.shorter)},
                            {"longer", point(c.longer)}};
  }
  if (r.curve_choice.fit) {
    curve["saturating_fit"] = {
        {"working_set_bytes", r.curve_choice.fit->working_set_bytes},
        {"write_rate_bytes_per_s", r.curve_choice.fit->write_rate_bytes_per_s},
        {"max_relative_error", r.curve_choice.fit->max_relative_error},
    };
  }

  const auto& st = r.settings;
  bool unlimited_downtime = st.downtime_limit_ms.value && std::isinf(*st.downtime_limit_ms.value);
  json settings = {
      {"bandwidth", setting_json(st.bandwidth_bytes_per_s, "bytes_per_s")},
      {"link_speed", setting_json(st.link_bytes_per_s, "bytes_per_s")},
      {"downtime_limit", setting_json(st.downtime_limit_ms, "ms")},
      {"deadline", setting_json(st.deadline_ms, "ms")},
  };
  settings["downtime_limit"]["unlimited"] = unlimited_downtime;

  json doc = {
      {"report_version", kReportVersion},
      {"tool", {{"name", "virt-migrate-predict"}, {"version", VMP_VERSION}}},
      {"subject", r.subject},
      {"summary", summary_line(r)},
      {"profile_domain", r.profile.domain.empty() ? json(nullptr) : json(r.profile.domain)},
      {"guest",
       {{"ram_bytes", prof.ram_bytes},
        {"page_size_bytes", prof.page_size_bytes},
        {"host_page_bytes", std::max(prof.host_page_bytes, prof.page_size_bytes)},
        {"zero_pages", prof.zero_pages.count},
        {"zero_pages_method", prof.zero_pages.method},
        {"vcpu_busy_fraction", optional_number(prof.vcpu_busy_fraction)}}},
      {"measurement",
       {{"mode", prof.measurement.mode},
        {"interface", prof.measurement.interface},
        {"sample_pages_per_gib", prof.measurement.sample_pages_per_gib},
        {"taken_at", prof.taken_at},
        {"qemu_version", prof.qemu_version.empty() ? json(nullptr) : json(prof.qemu_version)}}},
      {"curve", curve},
      {"settings", settings},
      {"libvirt_steps",
       {{"ms", rounded_ms(r.libvirt_steps.ms())},
        {"fixed_ms", r.libvirt_steps.fixed_ms},
        {"preallocation_ms", rounded_ms(r.libvirt_steps.preallocation_ms)},
        {"low_ms", rounded_ms(r.libvirt_steps.low_ms())},
        {"high_ms", rounded_ms(r.libvirt_steps.high_ms())},
        {"after_ms", r.libvirt_steps.after_ms},
        {"after_low_ms", r.libvirt_steps.after_low_ms},
        {"after_high_ms", r.libvirt_steps.after_high_ms},
        {"switchover_qemu_ms", r.libvirt_steps.switchover_qemu_ms},
        {"switchover_libvirt_ms", r.libvirt_steps.switchover_libvirt_ms},
        {"switchover_low_ms", r.libvirt_steps.switchover_low_ms},
        {"switchover_high_ms", r.libvirt_steps.switchover_high_ms},
        {"measured_on", r.libvirt_steps.measured_on},
        {"seen_here", r.libvirt_steps.seen_here},
        // Seen when another domain migrated to this host (lent: it has no arrival of its own).
        {"seen_from_domain", r.libvirt_steps.seen_from.empty() ? json(nullptr)
                                                               : json(r.libvirt_steps.seen_from)},
        {"memory_preallocated", prof.memory_preallocated}}},
      {"migration_thread",
       {{"data_page_ns", r.migration_thread.cost.data_page_ns},
        {"zero_page_ns", r.migration_thread.cost.zero_page_ns},
        {"data_bytes_per_s", std::round(r.migration_thread.data_bytes_per_s())},
        {"least",
         {{"data_page_ns", r.migration_thread.least.data_page_ns},
          {"zero_page_ns", r.migration_thread.least.zero_page_ns}}},
        {"most",
         {{"data_page_ns", r.migration_thread.most.data_page_ns},
          {"zero_page_ns", r.migration_thread.most.zero_page_ns}}},
        {"measured_on", r.migration_thread.measured_on}}},
      {"prediction", r.prediction ? precopy_json(*r.prediction, true) : json(nullptr)},
  };
  if (r.prediction && r.interval) {
    auto& p = doc["prediction"];
    p["total_time_interval_ms"] = interval_json(*r.interval, &model::PrecopyResult::total_time_ms);
    p["downtime_interval_ms"] = interval_json(*r.interval, &model::PrecopyResult::downtime_ms);
    p["interval_confidence"] = std::erf(r.interval->z / std::sqrt(2.0));
    p["converges_interval"] = {{"low", r.interval->low.converges()},
                               {"high", r.interval->high.converges()}};
  }
  json advice = {
      {"verdict", model::to_string(r.advice.verdict)},
      {"within_sampling_error", r.advice.within_sampling_error},
      {"recommended", recommended_json(r)},
      {"allowed",
       {{"max_downtime_ms", r.limits.max_downtime_ms},
        {"max_bandwidth_bytes_per_s", optional_number(r.limits.max_bandwidth_bytes_per_s)},
        {"auto_converge", r.limits.allow_auto_converge},
        {"post_copy", r.limits.allow_postcopy}}},
      {"raise_downtime", nullptr},
      {"more_bandwidth", nullptr},
      {"auto_converge", nullptr},
      {"post_copy", nullptr},
      {"post_copy_refused",
       r.advice.post_copy_refused.empty() ? json(nullptr) : json(r.advice.post_copy_refused)},
      {"best", nullptr}};
  if (r.advice.raise_downtime) {
    const auto& d = *r.advice.raise_downtime;
    advice["raise_downtime"] = {{"downtime_limit_ms", d.downtime_limit_ms},
                                {"no_gain_beyond_ms", d.no_gain_beyond_ms},
                                {"prediction", precopy_json(d.result, false)}};
  }
  if (r.advice.more_bandwidth) {
    const auto& b = *r.advice.more_bandwidth;
    advice["more_bandwidth"] = {{"bandwidth_bytes_per_s", b.bandwidth_bytes_per_s},
                                {"prediction", precopy_json(b.result, false)}};
  }
  if (r.advice.auto_converge) {
    const auto& p = r.advice.auto_converge->result;
    json j = precopy_json(p, false);
    j["final_throttle_pct"] = p.final_throttle_pct;
    j["throttle_started_ms"] =
        p.final_throttle_pct > 0 ? json(p.throttle_started_ms) : json(nullptr);
    j["throttled_ms"] = p.throttled_ms;
    advice["auto_converge"] = {{"prediction", j}, {"allowed", r.limits.allow_auto_converge}};
  }
  if (r.advice.post_copy) {
    const auto& p = r.advice.post_copy->result;
    advice["post_copy"] = {
        {"allowed", r.limits.allow_postcopy},
        {"postcopy_started", p.postcopy_started},
        {"switchover_ms", rounded_ms(p.switchover_ms)},
        {"downtime_ms", rounded_ms(p.downtime_ms)},
        {"postcopy_phase_ms", rounded_ms(p.postcopy_phase_ms)},
        {"postcopy_phase_is_lower_bound", p.postcopy_phase_lower_bound},
        {"postcopy_bytes", std::llround(p.postcopy_bytes)},
        {"fault_stall_ms", std::round(p.fault_stall_ms * 1000) / 1000},
        {"total_time_ms", rounded_ms(p.total_time_ms)},
        {"transferred_bytes", std::llround(p.transferred_bytes)},
        {"risk",
         "a network failure during the post-copy phase loses the guest unless post-copy "
         "recovery succeeds"}};
  }
  if (r.advice.best) {
    const auto& b = *r.advice.best;
    advice["best"] = {{"downtime_limit_ms", b.downtime_limit_ms},
                      {"bandwidth_bytes_per_s", b.bandwidth_bytes_per_s},
                      {"auto_converge", b.auto_converge},
                      {"prediction", precopy_json(b.result, false)}};
  }
  doc["advice"] = advice;
  doc["warnings"] = r.warnings;
  if (r.facts) {
    const auto& f = *r.facts;
    json disks = json::array();
    for (const auto& d : f.disks) {
      disks.push_back({{"target", d.target}, {"source", d.source}, {"shared", d.shared}});
    }
    doc["domain"] = {{"name", f.name},
                     {"uuid", f.uuid},
                     {"accelerator", r.accelerator},
                     {"arch", f.arch},
                     {"machine", f.machine},
                     {"vcpus", f.vcpus},
                     {"memory_bytes", f.memory_bytes},
                     {"current_memory_bytes", f.current_memory_bytes},
                     {"hugepages", f.hugepages},
                     {"hugepage_size_bytes", f.hugepage_size_bytes},
                     {"memory_locked", f.memory_locked},
                     {"preallocated", f.preallocated},
                     {"vfio_devices", f.vfio_devices},
                     {"disks", disks}};
  }
  if (r.migration_config) {
    const auto& c = *r.migration_config;
    doc["migration_config"] = {
        {"libvirt_max_downtime_ms", optional_number(c.max_downtime_ms)},
        {"libvirt_max_speed_bytes_per_s", optional_number(c.max_speed_bytes_per_s)},
        {"libvirt_max_speed_unlimited", c.max_speed_unlimited},
        {"libvirt_postcopy_speed_bytes_per_s", optional_number(c.postcopy_speed_bytes_per_s)},
        {"qemu_parameters", c.qemu_parameters},
        {"qemu_capabilities", c.qemu_capabilities},
    };
  }
  if (r.grid) {
    json rows = json::array();
    for (const auto& row : r.grid->rows) {
      json cells = json::array();
      for (std::size_t c = 0; c < row.cells.size(); ++c) {
        json cell = precopy_json(row.cells[c], false);
        cell["downtime_limit_ms"] = finite_or_null(r.grid->downtime_limits_ms[c]);
        cells.push_back(cell);
      }
      rows.push_back({{"bandwidth_bytes_per_s", row.bandwidth_bytes_per_s},
                      {"in_effect", row.in_effect},
                      {"cells", cells}});
    }
    doc["grid"] = {{"rows", rows}};
  }
  return doc;
}

json rounded_ms(double ms) { return std::isfinite(ms) ? json(std::ceil(ms)) : json(nullptr); }

json interval_json(const model::PredictionInterval& in, double model::PrecopyResult::*field) {
  auto end = [&](const model::PrecopyResult& p) {
    return p.converges() ? rounded_ms(p.*field) : json(nullptr);
  };
  return {{"low", end(in.low)}, {"high", end(in.high)}};
}

}  // namespace vmp::report
