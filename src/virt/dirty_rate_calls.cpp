#include "virt/dirty_rate_calls.hpp"

#include "virt/connection.hpp"
#include "virt/libvirt.hpp"

namespace vmp::virt {

static_assert(dirty_rate::kModeDirtyBitmap == VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP &&
              dirty_rate::kModeDirtyRing == VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING);
static_assert(dirty_rate::kUnstarted == VIR_DOMAIN_DIRTYRATE_UNSTARTED &&
              dirty_rate::kMeasuring == VIR_DOMAIN_DIRTYRATE_MEASURING &&
              dirty_rate::kMeasured == VIR_DOMAIN_DIRTYRATE_MEASURED);

void LibvirtDirtyRateCalls::start(int seconds, unsigned int flags) {
  if (virDomainStartDirtyRateCalc(domain_.get(), seconds, flags) < 0) {
    if (last_error_is_connection_failure()) {
      throw ConnectionLost(
          "lost the connection to libvirt while starting a dirty-rate "
          "measurement of domain " +
          domain_.name() + ": " + last_libvirt_error());
    }
    throw LibvirtCallError("virDomainStartDirtyRateCalc", last_libvirt_error());
  }
}

std::map<std::string, double> LibvirtDirtyRateCalls::stats() {
  virDomainPtr doms[] = {domain_.get(), nullptr};
  virDomainStatsRecordPtr* records = nullptr;
  int n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &records, 0);
  if (n < 0 && last_error_is_connection_failure()) {
    throw ConnectionLost("lost the connection to libvirt while reading the dirty rate of domain " +
                         domain_.name() + ": " + last_libvirt_error());
  }
  if (n < 0) throw LibvirtCallError("virDomainListGetStats", last_libvirt_error());
  std::map<std::string, double> fields;
  if (n > 0) fields = typed_params(records[0]->params, records[0]->nparams).numbers;
  virDomainStatsRecordListFree(records);
  return fields;
}

}  // namespace vmp::virt
