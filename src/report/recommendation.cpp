#include "report/recommendation.hpp"

#include <cmath>

#include "base/format.hpp"
#include "base/virsh.hpp"

namespace vmp::report {
namespace {

void from_precopy(Recommendation& r, const model::PrecopyResult& p) {
  r.total_time_ms = p.total_time_ms;
  r.downtime_ms = p.downtime_ms;
  r.final_throttle_pct = p.final_throttle_pct;
  r.throttled_ms = p.throttled_ms;
}

}  // namespace

std::string domain_word(const Report& report) {
  return report.facts ? virsh::shell_quoted(report.facts->name) : "DOMAIN";
}

std::optional<Recommendation> recommend(const Report& report) {
  const auto& a = report.advice;
  if (!report.prediction) return std::nullopt;
  Recommendation r;
  r.verdict = a.verdict;
  r.downtime_limit_ms = *report.settings.downtime_limit_ms.value;
  r.bandwidth_bytes_per_s = *report.settings.bandwidth_bytes_per_s.value;
  const std::string dom = domain_word(report);
  switch (a.verdict) {
    case model::Verdict::Migrate:
      from_precopy(r, *report.prediction);
      return r;
    case model::Verdict::RaiseDowntime:
      r.downtime_limit_ms = a.raise_downtime->downtime_limit_ms;
      r.commands.push_back(virsh::setmaxdowntime("", dom, r.downtime_limit_ms));
      from_precopy(r, a.raise_downtime->result);
      return r;
    case model::Verdict::MoreBandwidth:
      r.bandwidth_bytes_per_s = a.more_bandwidth->bandwidth_bytes_per_s;
      r.commands.push_back(virsh::setspeed("", dom, r.bandwidth_bytes_per_s));
      from_precopy(r, a.more_bandwidth->result);
      return r;
    case model::Verdict::AutoConverge:
      r.migrate_flags = {"--auto-converge"};
      from_precopy(r, a.auto_converge->result);
      return r;
    case model::Verdict::PostCopy: {
      const auto& p = a.post_copy->result;
      r.migrate_flags = {"--postcopy", "--postcopy-after-precopy"};
      r.total_time_ms = p.total_time_ms;
      r.downtime_ms = p.downtime_ms;
      r.postcopy_phase_ms = p.postcopy_phase_ms;
      r.postcopy_phase_lower_bound = p.postcopy_phase_lower_bound;
      r.switchover_ms = p.switchover_ms;
      return r;
    }
    case model::Verdict::DoNotMigrate:
    case model::Verdict::NoBandwidth:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace vmp::report
