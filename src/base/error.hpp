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

// SIGINT or SIGTERM stopped the run (exit status 128 + the signal's number, as a shell reports
// it); the message says what was left as it was.
class Interrupted : public RuntimeError {
 public:
  Interrupted(int signal, const std::string& what)
      : RuntimeError(what, "interrupted"), signal_(signal) {}
  int signal() const { return signal_; }
  int exit_status() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace vmp
