// SIGINT and SIGTERM for a run that must wind down in its own words: the first one is noted
// (stop_signal()) and the run ends at its next check, leaving QEMU as it was; a second one
// exits at once with 128 + its number, saying so in one line.
#pragma once

#include <atomic>
#include <csignal>

namespace vmp {

// The signal that asked the run to stop; 0 while none has.
std::atomic<int>& stop_signal();

// Installs the handlers for its lifetime; the previous ones come back afterwards (tool_main may
// run in a test process). Nests: an inner one changes nothing.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  bool installed_ = false;
  struct sigaction old_int_ {
  }, old_term_{};
};

// "SIGINT", "SIGTERM", else "signal N".
const char* signal_name(int sig);

}  // namespace vmp
