#include "virt/libvirt.hpp"

namespace vmp::virt {
namespace {
void ignore_error(void*, virErrorPtr) {}
}  // namespace

void silence_libvirt_stderr() { virSetErrorFunc(nullptr, ignore_error); }

std::string last_libvirt_error() {
  const char* message = virGetLastErrorMessage();
  return message && *message ? message : "unknown libvirt error";
}

int last_libvirt_error_code() {
  virErrorPtr e = virGetLastError();
  return e ? e->code : VIR_ERR_OK;
}

TypedParams typed_params(const virTypedParameter* params, int n) {
  TypedParams t;
  for (int i = 0; i < n; ++i) {
    const virTypedParameter& p = params[i];
    switch (p.type) {
      case VIR_TYPED_PARAM_INT:
        t.numbers[p.field] = p.value.i;
        break;
      case VIR_TYPED_PARAM_UINT:
        t.numbers[p.field] = p.value.ui;
        break;
      case VIR_TYPED_PARAM_LLONG:
        t.numbers[p.field] = static_cast<double>(p.value.l);
        break;
      case VIR_TYPED_PARAM_ULLONG:
        t.numbers[p.field] = static_cast<double>(p.value.ul);
        break;
      case VIR_TYPED_PARAM_DOUBLE:
        t.numbers[p.field] = p.value.d;
        break;
      case VIR_TYPED_PARAM_BOOLEAN:
        t.numbers[p.field] = p.value.b ? 1 : 0;
        break;
      case VIR_TYPED_PARAM_STRING:
        if (p.value.s) t.strings[p.field] = p.value.s;
        break;
      default:
        break;
    }
  }
  return t;
}

}  // namespace vmp::virt

namespace vmp::virt {

bool last_error_is_connection_failure() {
  const int code = last_libvirt_error_code();
  return code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_RPC || code == VIR_ERR_NO_CONNECT ||
         code == VIR_ERR_INVALID_CONN;
}

void throw_libvirt_failure(const std::string& domain_name, const std::string& doing) {
  const int code = last_libvirt_error_code();
  const std::string why = last_libvirt_error();
  const std::string who = "domain " + domain_name;
  if (code == VIR_ERR_NO_DOMAIN) throw DomainGone(who + " no longer exists (" + why + ")");
  if (last_error_is_connection_failure()) {
    throw ConnectionLost("lost the connection to libvirt while " + doing + " of " + who + ": " +
                         why);
  }
  throw RuntimeError(who + ": " + doing + " failed: " + why);
}

}  // namespace vmp::virt
