#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.hpp"

namespace {

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

}  // namespace

// A report nobody received is a failure: a closed or full stdout is status 1 with one line on
// stderr, never a silent 0 a wrapper would act on (man page, EXIT STATUS).
int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // A write to a closed socket (libvirtd gone mid-call) or pipe is an error the code reports in
  // its own words (EPIPE), not a silent death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  if (!fd_open(STDOUT_FILENO)) {
    // Refused before anything runs: a file or socket opened later would take descriptor 1 and
    // receive the report.
    if (fd_open(STDERR_FILENO)) {
      std::fputs("error: standard output is closed: the report would be "
                 "lost\n",
                 stderr);
    }
    return vmp::cli::kExitError;
  }
  errno = 0;
  int status = vmp::cli::tool_main(args, std::cout, std::cerr, isatty(STDERR_FILENO) == 1);
  const int write_errno = std::cout.good() ? 0 : errno;  // the failed write's, as it left it
  std::cout.flush();
  const bool stream_failed = !std::cout.good();
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int flush_errno = errno;
  errno = 0;
  const bool close_failed = close(STDOUT_FILENO) != 0;
  const int close_errno = errno;
  if (stream_failed || flush_failed || close_failed) {
    const int e = stream_failed && write_errno ? write_errno
                  : flush_failed                ? flush_errno
                  : close_failed                ? close_errno
                                                : 0;
    std::cerr << "error: could not write the report to standard output"
              << (e ? std::string(": ") + std::strerror(e) : std::string()) << "\n";
    return vmp::cli::kExitError;
  }
  return status;
}
