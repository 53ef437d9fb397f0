#pragma once

// How libvirt failed, for code that handles it without libvirt's headers.

#include <string>
#include <utility>

#include "base/error.hpp"

namespace vmp::virt {

// The domain no longer exists on the connection (libvirt: "Domain not found").
class DomainGone : public RuntimeError {
 public:
  explicit DomainGone(const std::string& what, std::string key = "failed")
      : RuntimeError(what, std::move(key)) {}
};

// The connection to libvirt is gone (the daemon went away, the network dropped, keepalive).
class ConnectionLost : public RuntimeError {
 public:
  explicit ConnectionLost(const std::string& what) : RuntimeError(what, "connection") {}
};

}  // namespace vmp::virt
