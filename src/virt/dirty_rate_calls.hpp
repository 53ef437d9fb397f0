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
