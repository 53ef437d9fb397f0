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
