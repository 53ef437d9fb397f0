#include "virt/monitor.hpp"

#include <libvirt/libvirt-qemu.h>

#include <cstdlib>

#include "virt/connection.hpp"
#include "virt/libvirt.hpp"

namespace vmp::virt {

nlohmann::json qmp_return(std::string_view command, const std::string& reply) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(reply);
  } catch (const nlohmann::json::exception&) {
    throw RuntimeError("QEMU's reply to " + std::string(command) + " is not JSON: " + reply);
  }
  if (j.contains("error")) {
    const auto& e = j["error"];
    throw QmpError(std::string(command), e.value("class", "GenericError"),
                   e.value("desc", e.dump()));
  }
  if (!j.contains("return")) {
    throw RuntimeError("QEMU's reply to " + std::string(command) + " has no result: " + reply);
  }
  return j["return"];
}

nlohmann::json LibvirtMonitor::execute(std::string_view command, const nlohmann::json& arguments) {
  nlohmann::json request = {{"execute", command}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  char* reply = nullptr;
  if (virDomainQemuMonitorCommand(domain_.get(), request.dump().c_str(), &reply, 0) < 0) {
    std::string why = last_libvirt_error();
    if (last_error_is_connection_failure()) {
      throw ConnectionLost("lost the connection to libvirt while asking QEMU " +
                           std::string(command) + " for domain " + domain_.name() + ": " + why);
    }
    // libvirt reports QEMU's own error as a libvirt error on some versions.
    throw QmpError(std::string(command), "libvirt", why);
  }
  std::string text(reply ? reply : "");
  std::free(reply);
  return qmp_return(command, text);
}

}  // namespace vmp::virt
