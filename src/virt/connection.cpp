#include "virt/connection.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/error.hpp"

namespace vmp::virt {

Domain::Domain(DomainHandle handle, std::string name)
    : handle_(std::move(handle)), name_(std::move(name)) {}

bool Domain::is_active() const { return virDomainIsActive(handle_.get()) == 1; }

int Domain::state() const {
  int state = VIR_DOMAIN_NOSTATE, reason = 0;
  if (virDomainGetState(handle_.get(), &state, &reason, 0) < 0) {
    throw RuntimeError("domain " + name_ + ": cannot read its state: " + last_libvirt_error());
  }
  return state;
}

std::string Domain::state_text() const { return state_text(state()); }

std::string Domain::state_text(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
      return "running";
    case VIR_DOMAIN_BLOCKED:
      return "idle";
    case VIR_DOMAIN_PAUSED:
      return "paused";
    case VIR_DOMAIN_SHUTDOWN:
      return "in shutdown";
    case VIR_DOMAIN_SHUTOFF:
      return "shut off";
    case VIR_DOMAIN_CRASHED:
      return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
      return "pmsuspended";
    default:
      return "no state";
  }
}

std::string Domain::xml(unsigned int flags) const {
  char* text = virDomainGetXMLDesc(handle_.get(), flags);
  if (!text) {
    throw RuntimeError("domain " + name_ + ": cannot read its XML: " + last_libvirt_error());
  }
  std::string out(text);
  std::free(text);
  return out;
}

std::string Domain::uuid() const {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  return virDomainGetUUIDString(handle_.get(), buf) == 0 ? buf : "";
}

std::string access_hint(const std::string& uri, bool read_only, const std::string& why) {
  if (geteuid() == 0) return "";
  const passwd* pw = getpwuid(geteuid());
  const std::string user = pw && pw->pw_name ? pw->pw_name : "uid " + std::to_string(geteuid());
  const bool system = uri.find("/system") != std::string::npos;
  if (uri.empty() && why.find("runtime directory") != std::string::npos) {
    return " (as " + user +
           ", not root, libvirt's default is qemu:///session, the user's own "
           "guests; the host's guests are at -c qemu:///system)";
  }
  if (!system) return "";
  std::string hint =
      " (as " + user +
      ", not root: qemu:///system needs membership of the group "
      "'libvirt', which Debian's polkit rule lets in, or a polkit rule granting " +
      std::string(read_only ? "org.libvirt.unix.monitor" : "org.libvirt.unix.manage") +
      (read_only ? "" : "; measuring needs that read-write access") + "; or run as root";
  if (why.find("system bus") != std::string::npos) {
    hint += "; libvirt could not ask polkit here: the D-Bus system bus is not running";
  } else if (why.find("polkit") != std::string::npos ||
             why.find("authentication") != std::string::npos) {
    hint += "; polkit refused " + user;
  }
  return hint + ")";
}

Connection Connection::open(const std::optional<std::string>& uri, bool read_only) {
  silence_libvirt_stderr();
  if (virInitialize() < 0) {
    throw RuntimeError("cannot initialize libvirt: " + last_libvirt_error(), "connection");
  }
  const char* name = uri && !uri->empty() ? uri->c_str() : nullptr;
  virConnectPtr c =
      virConnectOpenAuth(name, virConnectAuthPtrDefault, read_only ? VIR_CONNECT_RO : 0);
  if (!c) {
    const std::string why = last_libvirt_error();
    throw RuntimeError("failed to connect to the hypervisor" +
                           (name ? std::string(" at ") + name : std::string()) + ": " + why +
                           access_hint(name ? name : "", read_only, why),
                       "connection");
  }
  return Connection(ConnectHandle(c), read_only);
}

Connection Connection::open_qemu(const std::optional<std::string>& uri, bool read_only,
                                 const std::string& what) {
  Connection connection = open(uri, read_only);
  const std::string driver = connection.driver();
  if (driver != "QEMU") {
    throw RuntimeError("the connection " + connection.uri() + " is to the " + driver +
                           " driver, not QEMU: only QEMU " + what,
                       "driver");
  }
  return connection;
}

bool uri_is_local(const std::string& uri) {
  const auto colon = uri.find("://");
  if (colon == std::string::npos) return false;
  const std::string scheme = uri.substr(0, colon);
  const auto plus = scheme.find('+');
  const std::string transport = plus == std::string::npos ? "" : scheme.substr(plus + 1);
  if (!transport.empty() && transport != "unix") return false;
  const std::string rest = uri.substr(colon + 3);
  return rest.empty() || rest[0] == '/';
}

std::string Connection::uri() const {
  char* u = virConnectGetURI(handle_.get());
  if (!u) return "";
  std::string out(u);
  std::free(u);
  return out;
}

namespace {
std::string version_text(unsigned long v) {
  return std::to_string(v / 1000000) + "." + std::to_string(v / 1000 % 1000) + "." +
         std::to_string(v % 1000);
}
}  // namespace

std::string Connection::hypervisor_version() const {
  unsigned long v = 0;
  return virConnectGetVersion(handle_.get(), &v) == 0 ? version_text(v) : "";
}

std::string Connection::libvirt_version() const {
  unsigned long v = 0;
  return virConnectGetLibVersion(handle_.get(), &v) == 0 ? version_text(v) : "";
}

std::string Connection::driver() const {
  const char* type = virConnectGetType(handle_.get());
  return type ? type : "";
}

Domain Connection::lookup(const std::string& text) const {
  virDomainPtr d = nullptr;
  char* end = nullptr;
  long id = std::strtol(text.c_str(), &end, 10);
  if (!text.empty() && *end == '\0' && id >= 0 && id <= INT32_MAX) {
    d = virDomainLookupByID(handle_.get(), static_cast<int>(id));
  }
  if (!d && text.size() == VIR_UUID_STRING_BUFLEN - 1) {
    d = virDomainLookupByUUIDString(handle_.get(), text.c_str());
  }
  if (!d) d = virDomainLookupByName(handle_.get(), text.c_str());
  if (!d) {
    throw RuntimeError("failed to get domain '" + text + "': " + last_libvirt_error(),
                       "domain-not-found");
  }
  const char* name = virDomainGetName(d);
  return Domain(DomainHandle(d), name ? name : text);
}

std::vector<std::string> Connection::running_domain_names() const {
  virDomainPtr* domains = nullptr;
  int n = virConnectListAllDomains(handle_.get(), &domains, VIR_CONNECT_LIST_DOMAINS_RUNNING);
  if (n < 0) throw RuntimeError("failed to list the running domains: " + last_libvirt_error());
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const char* name = virDomainGetName(domains[i]);
    if (name) names.emplace_back(name);
    virDomainFree(domains[i]);
  }
  std::free(domains);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace vmp::virt
