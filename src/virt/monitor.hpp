// QEMU's monitor (QMP), behind one narrow interface: the libvirt passthrough in production, a
// scripted fake in tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace vmp::virt {

class Domain;

// QEMU answered a command with an error; carries QEMU's class and its own words.
class QmpError : public RuntimeError {
 public:
  QmpError(std::string command, std::string error_class, std::string description)
      : RuntimeError("QEMU refused " + command + ": " + description),
        command_(std::move(command)),
        error_class_(std::move(error_class)),
        description_(std::move(description)) {}
  const std::string& command() const { return command_; }
  const std::string& error_class() const { return error_class_; }
  const std::string& description() const { return description_; }

 private:
  std::string command_, error_class_, description_;
};

class Monitor {
 public:
  virtual ~Monitor() = default;
  // Runs one QMP command and returns its "return" value; throws QmpError when QEMU answers with
  // an error, RuntimeError when the command cannot be delivered.
  virtual nlohmann::json execute(std::string_view command,
                                 const nlohmann::json& arguments = nlohmann::json()) = 0;
};

// virDomainQemuMonitorCommand. Needs a read-write connection and marks the domain tainted
// ("custom-monitor"), which is why --no-qmp exists.
class LibvirtMonitor : public Monitor {
 public:
  explicit LibvirtMonitor(const Domain& domain) : domain_(domain) {}
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments) override;

 private:
  const Domain& domain_;
};

// Parses a QMP reply ({"return": ...} or {"error": {...}}), shared by real and fake monitors.
nlohmann::json qmp_return(std::string_view command, const std::string& reply);

}  // namespace vmp::virt
