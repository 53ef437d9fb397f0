// Support for the integration tests: running the real binary as a subprocess (bounded in time),
// the test guests of tests/guest (one at a time, always destroyed), and what the tests read from
// libvirt/QEMU themselves (QMP, migration settings, the domain's log) to check the tool.
#pragma once

#include <libvirt/libvirt.h>

#include <signal.h>

#include <chrono>
#include <functional>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vmp::it {

// ------------------------------------------------------------------ prerequisites

// Root and the environment the suite needs. Returns an empty string when the tests can run,
// else why not. The caller skips on it, or fails when CI is set (CI can never pass by skipping).
std::string missing_prerequisite();
bool in_ci();

// The binary under test ($VMP_BINARY) and the source root ($VMP_SOURCE_ROOT).
std::string tool_path();
std::string source_root();
std::string guest_dir();  // $VMP_GUEST_DIR or /var/lib/libvirt/vmp-guest, as start-guest.sh

// ------------------------------------------------------------------ subprocesses

struct RunOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  // Sends SIGINT this long after the start (an interrupted run, as Ctrl-C would): or
  // `interrupt_signal`, or runs `at_interrupt` instead (a fault injected mid-run: the guest
  // paused, the daemon killed).
  std::optional<std::chrono::milliseconds> interrupt_after;
  int interrupt_signal = SIGINT;
  std::function<void()> at_interrupt;
  std::vector<std::string> extra_env;  // NAME=VALUE
};

inline RunOptions within(std::chrono::milliseconds timeout) {
  RunOptions o;
  o.timeout = timeout;
  return o;
}

struct RunResult {
  std::vector<std::string> argv;
  int exit_status = -1;  // -1 when killed by a signal
  int term_signal = 0;
  bool timed_out = false;  // killed (SIGKILL) at the timeout
  std::string out, err;
  double seconds = 0;

  std::string describe() const;  // command, how it ended, stderr: for failure messages
  nlohmann::json json() const;   // stdout parsed; throws with describe() when it is not JSON
};

// fork/exec with stdout and stderr on separate pipes, stdin /dev/null, signal dispositions and
// mask reset (a test runner may ignore SIGINT; the child must not inherit that).
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});
// The tool with these arguments.
RunResult run_tool(const std::vector<std::string>& args, const RunOptions& options = {});

// ------------------------------------------------------------------ libvirt

// qemu:///system, opened once (again after the daemon restarted), errors silenced on stderr
// (they are returned instead).
virConnectPtr libvirt();
// Drops that connection (the daemon was restarted): the next libvirt() opens a new one.
void reconnect_libvirt();
std::string libvirt_error();

// A domain looked up by name; freed on destruction.
class DomainRef {
 public:
  explicit DomainRef(const std::string& name);
  ~DomainRef();
  DomainRef(const DomainRef&) = delete;
  DomainRef& operator=(const DomainRef&) = delete;
  virDomainPtr get() const { return dom_; }

 private:
  virDomainPtr dom_ = nullptr;
};

// One QMP command through virDomainQemuMonitorCommand: the "return" value; throws on an error.
nlohmann::json qmp(const std::string& domain, const std::string& command,
                   const nlohmann::json& arguments = nullptr);

// ------------------------------------------------------------------ guests

struct GuestSpec {
  std::string name;
  int mem_mib;
  int wss_mib;
  int rate;  // random 4 KiB page writes per second
  std::string pattern = "random";
  int seed = 1;
  std::string extra_cmdline;  // VMP_GUEST_EXTRA_CMDLINE
  std::string memory_backing;  // VMP_GUEST_MEMORY_BACKING: XML after <currentMemory>
  std::string arch = "x86_64";  // VMP_GUEST_ARCH: x86_64 (pc) or aarch64 (virt)
  int vcpus = 1;  // VMP_GUEST_VCPUS: vCPUs, each with a writer thread sharing `rate`
};

class Guest {
 public:
  const GuestSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  std::uint64_t ram_bytes() const { return std::uint64_t(spec_.mem_mib) << 20; }
  const std::string& console_log() const { return console_log_; }
  // libvirt's log of the domain, /var/log/libvirt/qemu/NAME.log, from this boot on.
  std::string libvirt_log_since_boot() const;
  int domain_id() const;
  long qemu_pid() const;  // /run/libvirt/qemu/NAME.pid, -1 when absent
  int state() const;      // virDomainState
  // Nothing went through QMP since boot (libvirt's custom-monitor taint not yet triggered).
  bool untouched_by_qmp() const { return !qmp_used_; }
  void mark_qmp_used() { qmp_used_ = true; }
  std::uint64_t boot() const { return boot_; }

 private:
  friend class Guests;
  GuestSpec spec_;
  std::string console_log_;
  std::uintmax_t log_offset_ = 0;
  bool qmp_used_ = false;
  std::uint64_t boot_ = 0;
};

// At most one test guest runs at a time (2 cores, TCG): asking for a guest destroys any other one
// this process started. Every guest is destroyed at the end of the test program, also when it
// fails or is killed by SIGTERM/SIGINT/SIGHUP (meson's timeout).
class Guests {
 public:
  // The running guest for `spec`, started if needed. With `fresh`, one that nothing has yet
  // touched through QMP (restarted if needed).
  static Guest& get(const GuestSpec& spec, bool fresh = false);
  static void stop_all();
};

// The guests of the suite.
GuestSpec load_guest_spec();  // 512 MiB, WSS 64 MiB, 2000 random writes/s
GuestSpec idle_guest_spec();  // 512 MiB, WSS 64 MiB, no writes

// Of the guest's load program (vmp.stats lines): writes and missed writes so far, summed over
// its writer threads, and how many writers printed.
struct LoadStats {
  double t = 0;
  std::uint64_t writes = 0, missed = 0;
  std::size_t writers = 0;
};
std::optional<LoadStats> last_load_stats(const Guest& guest);

// Registers a domain name to undefine if the test program is killed (a persistent domain a
// test defines).
void register_for_cleanup(const std::string& persistent_domain);
void unregister_for_cleanup(const std::string& persistent_domain);
// A domain that migrated to the daemon at `uri`: destroyed there if the program is killed.
void register_remote_for_cleanup(const std::string& uri, const std::string& domain);
void unregister_remote_for_cleanup();

// The load guest measured once per boot with the options of case 1 (the tool's default
// measurement time, which is what users get): --json --bandwidth 64MiB/s --save-profile FILE.
// Cases 1-4 compare against this one run instead of measuring for 10 s each.
struct LoadRun {
  RunResult result;
  nlohmann::json report;
  nlohmann::json profile;  // what --save-profile wrote
  std::string profile_path;
  std::optional<LoadStats> before, after;  // the load program's counters around the run
};
const LoadRun& measured_load_guest(Guest& guest);

// The dirty volume QEMU measured in each period of `run` (a --json report of a guest of `spec`)
// agrees with the load: random writes at r pages/s over W pages touch W (1 - e^(-r t / W))
// distinct pages in t, however many writers share r. Prints the figures; EXPECTs each point.
void expect_dirty_volume_agrees_with_the_load(const LoadRun& run, const GuestSpec& spec);

// ------------------------------------------------------------------ files

// A temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& parent = "/tmp");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

}  // namespace vmp::it

// In a test body or fixture SetUp: skip without the prerequisites, or fail when CI is set.
#define VMP_REQUIRE_PREREQUISITES()                                                       \
  do {                                                                                    \
    const std::string vmp_missing_ = ::vmp::it::missing_prerequisite();                   \
    if (!vmp_missing_.empty()) {                                                          \
      if (::vmp::it::in_ci()) {                                                           \
        GTEST_FAIL() << "CI is set, so the integration suite may not skip: "              \
                     << vmp_missing_;                                                     \
      }                                                                                   \
      GTEST_SKIP() << vmp_missing_ << " (set CI=true to make this a failure)";            \
    }                                                                                     \
  } while (0)
