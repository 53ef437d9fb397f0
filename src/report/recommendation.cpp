#include "report/recommendation.hpp"

#include <cmath>

namespace vmp::report {
namespace {

long long virsh_mib_per_s(double bytes_per_s) {
  return static_cast<long long>(std::ceil(bytes_per_s / 1048576 - 1e-9));
}

void from_precopy(Recommendation& r, const model::PrecopyResult& p) {
  r.total_time_ms = p.total_time_ms;
  r.downtime_ms = p.downtime_ms;
  r.final_throttle_pct = p.final_throttle_pct;
  r.throttled_ms = p.throttled_ms;
}

}  // namespace

std::string domain_word(const Report& report) {
  if (!report.facts) return "DOMAIN";
  // A command a user pastes into a shell: a name with anything but the plain characters is
  // single-quoted (libvirt allows spaces and more in domain names).
  const std::string& name = report.facts->name;
  if (!name.empty() &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+:@") ==
          std::string::npos) {
    return name;
  }
  std::string quoted = "'";
  for (char c : name) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
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
      r.commands.push_back("virsh migrate-setmaxdowntime " + dom + " " +
                           std::to_string(static_cast<long long>(r.downtime_limit_ms)));
      from_precopy(r, a.raise_downtime->result);
      return r;
    case model::Verdict::MoreBandwidth:
      r.bandwidth_bytes_per_s = a.more_bandwidth->bandwidth_bytes_per_s;
      r.commands.push_back("virsh migrate-setspeed " + dom + " " +
                           std::to_string(virsh_mib_per_s(r.bandwidth_bytes_per_s)));
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
    case model::Verdict::NoBandwidth: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace vmp::report
