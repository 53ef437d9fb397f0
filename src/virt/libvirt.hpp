// RAII for libvirt handles, and libvirt's own error text for our messages.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <map>
#include <memory>
#include <string>

#include "base/error.hpp"
#include "virt/errors.hpp"

namespace vmp::virt {

struct ConnectCloser {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFreer {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using ConnectHandle = std::unique_ptr<virConnect, ConnectCloser>;
using DomainHandle = std::unique_ptr<virDomain, DomainFreer>;

// libvirt prints every error to stderr unless told otherwise; we report errors ourselves, once.
void silence_libvirt_stderr();

// The message of libvirt's last error in this thread, e.g. "Domain not found: no domain with
// matching name 'vm9'"; "unknown libvirt error" when there is none.
std::string last_libvirt_error();
int last_libvirt_error_code();

// libvirt's typed parameters by name: numbers (every integer type, doubles, booleans as 0/1) and
// strings. One conversion for job statistics, the job-completed event and dirty-rate stats.
struct TypedParams {
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> strings;
};
TypedParams typed_params(const virTypedParameter* params, int n);

// Whether libvirt's last error says the connection itself failed (a daemon gone, a broken
// socket), not the call.
bool last_error_is_connection_failure();

// Turns libvirt's last error, after a failed call on `domain_name`, into the exception that says
// what happened: DomainGone, ConnectionLost, or RuntimeError with `doing` and libvirt's words.
[[noreturn]] void throw_libvirt_failure(const std::string& domain_name, const std::string& doing);

}  // namespace vmp::virt
