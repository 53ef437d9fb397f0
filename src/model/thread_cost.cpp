#include "model/thread_cost.hpp"

#include "model/libvirt_steps.hpp"

namespace vmp::model {

MigrationThread migration_thread(const std::string& qemu_version) {
  const int major = qemu_major_version(qemu_version);
  if (major > 0 && major < 8) {
    return {.cost = {.data_page_ns = 1860, .zero_page_ns = 450},
            .least = {.data_page_ns = 1710, .zero_page_ns = 420},
            .most = {.data_page_ns = 2080, .zero_page_ns = 450},
            .measured_on = "QEMU 7.2 / libvirt 9.0"};
  }
  return {.cost = {.data_page_ns = 2970, .zero_page_ns = 350},
          .least = {.data_page_ns = 1840, .zero_page_ns = 320},
          .most = {.data_page_ns = 8460, .zero_page_ns = 430},
          .measured_on = "QEMU 10.0 / libvirt 11.3"};
}

}  // namespace vmp::model
