#include "base/stop_signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace vmp {
namespace {

std::atomic<int> g_stop{0};
std::atomic<int> g_depth{0};

void on_stop_signal(int sig) {
  int expected = 0;
  if (g_stop.compare_exchange_strong(expected, sig)) return;
  // The second: the user does not want to wait for the run to wind down. Only
  // async-signal-safe calls from here.
  static const char kLine[] = "error: interrupted again: exiting at once\n";
  ssize_t ignored = write(STDERR_FILENO, kLine, sizeof kLine - 1);
  (void)ignored;
  _exit(128 + sig);
}

}  // namespace

std::atomic<int>& stop_signal() { return g_stop; }

StopSignals::StopSignals() {
  if (g_depth.fetch_add(1) > 0) return;
  installed_ = true;
  g_stop.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  g_depth.fetch_sub(1);
  if (!installed_) return;
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace vmp
