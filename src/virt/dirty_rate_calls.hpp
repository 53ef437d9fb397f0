// libvirt's own dirty-rate API (virDomainStartDirtyRateCalc, and the dirtyrate.* fields of
// virDomainListGetStats), behind one narrow interface: libvirt in production, a recorded
// transcript in tests. No custom-monitor taint, but whole seconds and QEMU's default sampling.
#pragma once

#include <map>
#include <string>

#include "base/error.hpp"

namespace vmp::virt {

class Domain;

// libvirt refused a call; carries libvirt's own words.
class LibvirtCallError : public RuntimeError {
 public:
  LibvirtCallError(const std::string& call, std::string message)
      : RuntimeError(call + " failed: " + message), message_(std::move(message)) {}
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// libvirt's dirty-rate flags and states, for code without libvirt's headers; checked against
// <libvirt/libvirt.h> in dirty_rate_calls.cpp.
namespace dirty_rate {
inline constexpr unsigned int kModeDirtyBitmap = 1 << 0;  // VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP
inline constexpr unsigned int kModeDirtyRing = 1 << 1;    // VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING
inline constexpr int kUnstarted = 0;                      // VIR_DOMAIN_DIRTYRATE_UNSTARTED
inline constexpr int kMeasuring = 1;                      // VIR_DOMAIN_DIRTYRATE_MEASURING
inline constexpr int kMeasured = 2;                       // VIR_DOMAIN_DIRTYRATE_MEASURED
}  // namespace dirty_rate

class DirtyRateCalls {
 public:
  virtual ~DirtyRateCalls() = default;
  // virDomainStartDirtyRateCalc(seconds, flags); throws LibvirtCallError.
  virtual void start(int seconds, unsigned int flags) = 0;
  // The dirtyrate.* fields of the domain's stats record ("dirtyrate.calc_status", ...), empty
  // when libvirt gives none; throws LibvirtCallError.
  virtual std::map<std::string, double> stats() = 0;
};

class LibvirtDirtyRateCalls : public DirtyRateCalls {
 public:
  explicit LibvirtDirtyRateCalls(const Domain& domain) : domain_(domain) {}
  void start(int seconds, unsigned int flags) override;
  std::map<std::string, double> stats() override;

 private:
  const Domain& domain_;
};

}  // namespace vmp::virt
