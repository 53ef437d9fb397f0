// One exception type per kind of failure the user can cause; caught once, in tool_main, and
// turned into a single "error: ..." line and an exit status. Each carries a machine key, stable
// across versions, that --json puts beside the message (man page, "ERRORS IN JSON").
#pragma once

#include <stdexcept>
#include <string>

namespace vmp {

// The command line is wrong: an unknown option, a value that cannot be parsed or is absurd.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what, std::string key = "usage")
      : std::runtime_error(what), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// Everything else that stops a run: an unreadable or invalid file, a libvirt or QEMU failure.
class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& what, std::string key = "failed")
      : std::runtime_error(what), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

}  // namespace vmp
