#include "watch/job_stats.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "virt/connection.hpp"
#include "virt/libvirt.hpp"

namespace vmp::watch {

std::optional<double> JobStats::number(std::string_view key) const {
  auto it = numbers.find(std::string(key));
  if (it == numbers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> JobStats::string(std::string_view key) const {
  auto it = strings.find(std::string(key));
  if (it == strings.end()) return std::nullopt;
  return it->second;
}

bool JobStats::migrating_out() const {
  auto op = number(VIR_DOMAIN_JOB_OPERATION);
  return !op || *op == static_cast<double>(VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT);
}

bool JobStats::migrating_in() const {
  auto op = number(VIR_DOMAIN_JOB_OPERATION);
  return op && *op == static_cast<double>(VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN);
}

JobStats job_stats_from_params(int type, const virTypedParameter* params, int n) {
  auto t = virt::typed_params(params, n);
  return JobStats{type, std::move(t.numbers), std::move(t.strings)};
}

JobStats LibvirtJobStats::read(bool completed) {
  int type = VIR_DOMAIN_JOB_NONE;
  virTypedParameterPtr params = nullptr;
  int n = 0;
  const unsigned int flags = completed ? VIR_DOMAIN_JOB_STATS_COMPLETED : 0;
  if (virDomainGetJobStats(domain_.get(), &type, &params, &n, flags) < 0) {
    throw_libvirt_failure(domain_.name(), "reading the job statistics");
  }
  JobStats s = job_stats_from_params(type, params, n);
  virTypedParamsFree(params, n);
  return s;
}

}  // namespace vmp::watch
