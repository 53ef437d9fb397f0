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

}  // namespace vmp::virt
