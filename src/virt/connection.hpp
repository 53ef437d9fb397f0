// A libvirt connection and the domain a user names, found as virsh finds it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "virt/libvirt.hpp"

namespace vmp::virt {

class Domain {
 public:
  Domain(DomainHandle handle, std::string name);
  virDomainPtr get() const { return handle_.get(); }
  const std::string& name() const { return name_; }

  bool is_active() const;
  // "running", "paused", "shut off", ... as virsh domstate prints them.
  std::string state_text() const;
  int state() const;  // virDomainState
  // A state already read, in the same words: reading it again may find the domain gone.
  static std::string state_text(int state);
  std::string xml(unsigned int flags = 0) const;
  std::string uuid() const;  // "" when libvirt cannot say

 private:
  DomainHandle handle_;
  std::string name_;
};

// For a connection refused to a user who is not root: what access is missing and how to get it
// (" (as alice, not root: ...)"); "" when that is not the likely cause.
std::string access_hint(const std::string& uri, bool read_only, const std::string& why);

// Whether a connection URI reaches this host's own daemon (no host, and no transport or unix):
// "qemu:///system", "qemu+unix:///system?socket=..."; not "qemu+ssh://host/system".
bool uri_is_local(const std::string& uri);

class Connection {
 public:
  // uri: -c/--connect; when empty, libvirt's own rules (LIBVIRT_DEFAULT_URI, then its default).
  // Authenticates with libvirt's default callback, as virsh does.
  static Connection open(const std::optional<std::string>& uri, bool read_only);
  // The same, refusing a connection to any driver but QEMU's: "... not QEMU: only QEMU " + what.
  static Connection open_qemu(const std::optional<std::string>& uri, bool read_only,
                              const std::string& what);

  virConnectPtr get() const { return handle_.get(); }
  std::string uri() const;
  std::string driver() const;  // "QEMU", "Test", ...
  // "10.0.2" (virConnectGetVersion), "11.3.0" (virConnectGetLibVersion); "" when not known.
  std::string hypervisor_version() const;
  std::string libvirt_version() const;
  bool read_only() const { return read_only_; }

  // By id when the text is a number, by UUID when it parses as one, else by name: virsh's order.
  Domain lookup(const std::string& name_uuid_or_id) const;
  // The names of the domains that are running now (not paused), as `virsh list --state-running`.
  std::vector<std::string> running_domain_names() const;

 private:
  Connection(ConnectHandle handle, bool read_only)
      : handle_(std::move(handle)), read_only_(read_only) {}
  ConnectHandle handle_;
  bool read_only_;
};

}  // namespace vmp::virt
