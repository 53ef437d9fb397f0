#include "support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace vmp::it {
namespace fs = std::filesystem;

namespace {

constexpr const char* kUri = "qemu:///system";

// What a fatal signal must still clean up, in static storage the handler can read.
char g_virsh[256];
char g_running_guest[128];
char g_persistent_domain[128];
// A domain migrated to another daemon (--watch tests): destroyed there too.
char g_remote_uri[256];
char g_remote_domain[128];
volatile sig_atomic_t g_child_pid = 0;

void copy_name(char* dst, std::size_t size, const std::string& src) {
  std::size_t n = std::min(size - 1, src.size());
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

// Only async-signal-safe calls: kill, fork, execv, waitpid, sigaction, raise.
void virsh_in_handler(const char* verb, const char* name, const char* uri = kUri) {
  if (!name[0] || !g_virsh[0]) return;
  pid_t pid = fork();
  if (pid == 0) {
    const char* argv[] = {g_virsh, "-q", "-c", uri, verb, name, nullptr};
    execv(g_virsh, const_cast<char* const*>(argv));
    _exit(127);
  }
  if (pid > 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void on_fatal_signal(int sig) {
  if (g_child_pid > 0) kill(g_child_pid, SIGKILL);
  virsh_in_handler("destroy", g_running_guest);
  virsh_in_handler("undefine", g_persistent_domain);
  virsh_in_handler("destroy", g_remote_domain, g_remote_uri);
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigaction(sig, &sa, nullptr);
  raise(sig);
}

void install_cleanup_handlers() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (const char* dir : {"/usr/bin/virsh", "/bin/virsh", "/usr/local/bin/virsh"}) {
    if (access(dir, X_OK) == 0) {
      copy_name(g_virsh, sizeof g_virsh, dir);
      break;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGABRT, SIGSEGV}) sigaction(sig, &sa, nullptr);
}

bool executable_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

void silent_libvirt_errors(void*, virErrorPtr) {}

std::unique_ptr<Guest>& current_guest() {
  static std::unique_ptr<Guest> guest;
  return guest;
}

std::string libvirt_log_path(const std::string& name) {
  return "/var/log/libvirt/qemu/" + name + ".log";
}

// The guest scripts as the suite uses them: transient domains under qemu:///system, whatever
// the caller's environment says.
const std::vector<std::string> kGuestScriptEnv = {"LIBVIRT_URI=qemu:///system",
                                                  "VMP_GUEST_PERSISTENT="};

void stop_guest(const std::string& name) {
  RunOptions o = within(std::chrono::seconds(60));
  o.extra_env = kGuestScriptEnv;
  run({source_root() + "/tests/guest/stop-guest.sh", name}, o);
}

}  // namespace

// ------------------------------------------------------------------ prerequisites

bool in_ci() {
  const char* ci = std::getenv("CI");
  if (!ci || !*ci) return false;
  std::string v = ci;
  return v != "0" && v != "false" && v != "no";
}

std::string tool_path() {
  const char* p = std::getenv("VMP_BINARY");
  return p ? p : "";
}

std::string source_root() {
  const char* p = std::getenv("VMP_SOURCE_ROOT");
  return p ? p : "";
}

std::string guest_dir() {
  const char* p = std::getenv("VMP_GUEST_DIR");
  return p && *p ? p : "/var/lib/libvirt/vmp-guest";
}

std::string missing_prerequisite() {
  if (tool_path().empty() || access(tool_path().c_str(), X_OK) != 0) {
    return "VMP_BINARY does not name the virt-migrate-predict binary (run through meson test)";
  }
  if (source_root().empty() ||
      access((source_root() + "/tests/guest/start-guest.sh").c_str(), X_OK) != 0) {
    return "VMP_SOURCE_ROOT does not hold tests/guest/start-guest.sh (run through meson test)";
  }
  if (geteuid() != 0) {
    return "the integration tests need root: they start TCG guests under qemu:///system, read "
           "libvirt's logs and dump guest memory";
  }
  for (const char* tool : {"virsh", "qemu-system-x86_64", "libvirtd", "virtlogd"}) {
    if (!executable_in_path(tool)) {
      return std::string(tool) + " is not installed (.ci/install-deps installs it)";
    }
  }
  return "";
}

// ------------------------------------------------------------------ subprocesses

std::string RunResult::describe() const {
  std::ostringstream s;
  s << "command:";
  for (const auto& a : argv) s << " " << a;
  s << "\n  ";
  if (timed_out) {
    s << "TIMED OUT (killed) after " << seconds << " s";
  } else if (term_signal) {
    s << "killed by signal " << term_signal << " (" << strsignal(term_signal) << ") after "
      << seconds << " s";
  } else {
    s << "exit status " << exit_status << " after " << seconds << " s";
  }
  s << "\n  stderr: " << (err.empty() ? "(empty)" : err);
  if (out.size() < 400) s << "\n  stdout: " << (out.empty() ? "(empty)" : out);
  return s.str();
}

nlohmann::json RunResult::json() const {
  try {
    return nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("stdout is not JSON (") + e.what() + ")\n" + describe());
  }
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  RunResult r;
  r.argv = argv;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");

  std::vector<std::string> env_storage;
  // extra_env replaces what the environment has under the same names (getenv finds the first).
  auto overridden = [&](const std::string& entry) {
    for (const auto& e : options.extra_env) {
      if (entry.compare(0, e.find('=') + 1, e, 0, e.find('=') + 1) == 0) return true;
    }
    return false;
  };
  for (char** e = environ; *e; ++e) {
    if (!overridden(*e)) env_storage.emplace_back(*e);
  }
  for (const auto& e : options.extra_env) env_storage.push_back(e);
  std::vector<char*> envp, args;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage = argv;
  for (auto& a : argv_storage) args.push_back(a.data());
  args.push_back(nullptr);

  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Default dispositions and an empty mask: a runner that ignores SIGINT must not make the
    // tool ignore our interrupt.
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execve(args[0], args.data(), envp.data());
    const char msg[] = "exec failed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  g_child_pid = pid;
  close(out_pipe[1]);
  close(err_pipe[1]);

  auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  bool interrupted = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    auto now = elapsed();
    if (options.interrupt_after && !interrupted && now >= *options.interrupt_after) {
      if (options.at_interrupt) {
        options.at_interrupt();
      } else {
        kill(pid, options.interrupt_signal);
      }
      interrupted = true;
    }
    if (now >= options.timeout) {
      kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    auto next = options.timeout - now;
    if (options.interrupt_after && !interrupted)
      next = std::min(next, *options.interrupt_after - now);
    int wait_ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next).count()) + 1;
    int n = poll(fds, 2, std::min(wait_ms, 1000));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child_pid = 0;
  r.seconds = std::chrono::duration<double>(elapsed()).count();
  if (WIFEXITED(status)) {
    r.exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.term_signal = WTERMSIG(status);
  }
  return r;
}

RunResult run_tool(const std::vector<std::string>& args, const RunOptions& options) {
  // A run without --no-qmp on the current guest goes through QMP (and taints it).
  auto& guest = current_guest();
  if (guest) {
    bool names_it = false, no_qmp = false;
    for (const auto& a : args) {
      names_it = names_it || a == guest->name();
      no_qmp = no_qmp || a == "--no-qmp";
    }
    if (names_it && !no_qmp) guest->mark_qmp_used();
  }
  std::vector<std::string> argv{tool_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, options);
}

// ------------------------------------------------------------------ libvirt

namespace {
virConnectPtr g_conn = nullptr;
// A test that kills libvirtd must see the failed call, not die of SIGPIPE on the dead socket.
const bool g_sigpipe_ignored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();
}  // namespace

void reconnect_libvirt() {
  if (g_conn) virConnectClose(g_conn);
  g_conn = nullptr;
}

virConnectPtr libvirt() {
  virConnectPtr& conn = g_conn;
  if (conn && virConnectIsAlive(conn) != 1) reconnect_libvirt();
  if (!conn) {
    virSetErrorFunc(nullptr, silent_libvirt_errors);
    conn = virConnectOpen(kUri);
    if (!conn) throw std::runtime_error("cannot connect to qemu:///system: " + libvirt_error());
  }
  return conn;
}

std::string libvirt_error() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

DomainRef::DomainRef(const std::string& name) {
  dom_ = virDomainLookupByName(libvirt(), name.c_str());
  if (!dom_) throw std::runtime_error("no domain " + name + ": " + libvirt_error());
}

DomainRef::~DomainRef() {
  if (dom_) virDomainFree(dom_);
}

nlohmann::json qmp(const std::string& domain, const std::string& command,
                   const nlohmann::json& arguments) {
  auto& guest = current_guest();
  if (guest && guest->name() == domain) guest->mark_qmp_used();
  DomainRef dom(domain);
  nlohmann::json request = {{"execute", command}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  char* reply = nullptr;
  if (virDomainQemuMonitorCommand(dom.get(), request.dump().c_str(), &reply, 0) < 0) {
    throw std::runtime_error("QMP " + command + " on " + domain + " failed: " + libvirt_error());
  }
  std::string text = reply ? reply : "";
  std::free(reply);
  auto j = nlohmann::json::parse(text);
  if (j.contains("error")) throw std::runtime_error("QMP " + command + ": " + text);
  return j.at("return");
}

// ------------------------------------------------------------------ guests

std::string Guest::libvirt_log_since_boot() const {
  std::string text = read_file(libvirt_log_path(name()));
  if (text.size() < log_offset_) return text;  // rotated or truncated: all of it is this boot's
  return text.substr(log_offset_);
}

int Guest::domain_id() const {
  DomainRef dom(name());
  return static_cast<int>(virDomainGetID(dom.get()));
}

long Guest::qemu_pid() const {
  std::ifstream in("/run/libvirt/qemu/" + name() + ".pid");
  long pid = -1;
  if (!(in >> pid)) return -1;
  return pid;
}

int Guest::state() const {
  DomainRef dom(name());
  int state = VIR_DOMAIN_NOSTATE, reason = 0;
  if (virDomainGetState(dom.get(), &state, &reason, 0) < 0) return VIR_DOMAIN_NOSTATE;
  return state;
}

Guest& Guests::get(const GuestSpec& spec, bool fresh) {
  auto& cur = current_guest();
  if (cur && cur->name() == spec.name && !(fresh && cur->qmp_used_)) {
    bool running = false;
    try {
      running = cur->state() == VIR_DOMAIN_RUNNING;
    } catch (const std::exception&) {
    }
    if (running) return *cur;
  }
  static std::uint64_t boots = 0;
  install_cleanup_handlers();
  if (cur) stop_guest(cur->name());
  cur.reset();
  g_running_guest[0] = '\0';
  stop_guest(spec.name);  // a leftover of an earlier, killed run

  auto guest = std::make_unique<Guest>();
  guest->spec_ = spec;
  std::error_code ec;
  auto size = fs::file_size(libvirt_log_path(spec.name), ec);
  guest->log_offset_ = ec ? 0 : size;

  copy_name(g_running_guest, sizeof g_running_guest, spec.name);
  // 300 s: on a fresh machine build.sh first downloads the kernel and busybox.
  RunOptions o = within(std::chrono::seconds(300));
  o.extra_env = kGuestScriptEnv;
  o.extra_env.push_back("VMP_GUEST_EXTRA_CMDLINE=" + spec.extra_cmdline);
  o.extra_env.push_back("VMP_GUEST_MEMORY_BACKING=" + spec.memory_backing);
  o.extra_env.push_back("VMP_GUEST_ARCH=" + spec.arch);
  o.extra_env.push_back("VMP_GUEST_VCPUS=" + std::to_string(spec.vcpus));
  auto r = run({source_root() + "/tests/guest/start-guest.sh", spec.name,
                std::to_string(spec.mem_mib), std::to_string(spec.wss_mib),
                std::to_string(spec.rate), spec.pattern, std::to_string(spec.seed)},
               o);
  if (r.exit_status != 0) {
    stop_guest(spec.name);
    g_running_guest[0] = '\0';
    throw std::runtime_error("cannot start the test guest " + spec.name + "\n" + r.describe());
  }
  // start-guest.sh restarts libvirtd when it first mounts hugetlbfs (a huge-page guest on a host
  // without the mount): this process's connection is then dead, which libvirt reports only at
  // the next write ("Broken pipe"). A new one costs little.
  if (r.err.find("restarting libvirtd") != std::string::npos) reconnect_libvirt();
  std::string log = r.out;
  while (!log.empty() && (log.back() == '\n' || log.back() == '\r')) log.pop_back();
  guest->console_log_ = log.substr(log.rfind('\n') == std::string::npos ? 0 : log.rfind('\n') + 1);
  guest->boot_ = ++boots;
  std::string ready =
      r.err.substr(r.err.find("ready after") == std::string::npos ? 0 : r.err.find("ready after"));
  std::printf("[guest] started %s (%s, %d MiB, WSS %d MiB, %d %s writes/s) in %.1f s: %s",
              spec.name.c_str(), spec.arch.c_str(), spec.mem_mib, spec.wss_mib, spec.rate, spec.pattern.c_str(),
              r.seconds, ready.c_str());
  std::fflush(stdout);
  cur = std::move(guest);
  return *cur;
}

void Guests::stop_all() {
  auto& cur = current_guest();
  if (cur) {
    stop_guest(cur->name());
    std::printf("[guest] destroyed %s\n", cur->name().c_str());
    cur.reset();
  }
  g_running_guest[0] = '\0';
}

GuestSpec load_guest_spec() {
  // vmp.stats=1: the load program reports its writes and missed writes every second, so a test
  // can tell a starved vCPU from a measurement error.
  return {.name = "vmp-it-load",
          .mem_mib = 512,
          .wss_mib = 64,
          .rate = 2000,
          .pattern = "random",
          .seed = 1,
          .extra_cmdline = "vmp.stats=1",
          .memory_backing = ""};
}

GuestSpec idle_guest_spec() {
  return {.name = "vmp-it-idle",
          .mem_mib = 512,
          .wss_mib = 64,
          .rate = 0,
          .pattern = "random",
          .seed = 2,
          .extra_cmdline = "",
          .memory_backing = ""};
}

std::optional<LoadStats> last_load_stats(const Guest& guest) {
  std::istringstream in(read_file(guest.console_log()));
  // Several writer threads (a guest of several vCPUs) each print their own lines, ending
  // " thread=I": the last of each, summed, at the earliest of their times.
  std::map<unsigned, LoadStats> last;
  std::string line;
  while (std::getline(in, line)) {
    LoadStats s;
    unsigned thread = 0;
    const int n = std::sscanf(line.c_str(),
                              "vmp-load: stats t=%lf writes=%" SCNu64 " missed=%" SCNu64
                              " rate_last=%*f/s thread=%u",
                              &s.t, &s.writes, &s.missed, &thread);
    if (n >= 3) last[n == 4 ? thread : 0] = s;
  }
  if (last.empty()) return std::nullopt;
  LoadStats sum{last.begin()->second.t, 0, 0, last.size()};
  for (const auto& [thread, s] : last) {
    sum.t = std::min(sum.t, s.t);
    sum.writes += s.writes;
    sum.missed += s.missed;
  }
  return sum;
}

const LoadRun& measured_load_guest(Guest& guest) {
  static TempDir dir;
  static std::optional<LoadRun> cached;
  static std::uint64_t cached_boot = 0;
  if (cached && cached_boot == guest.boot()) return *cached;
  LoadRun run;
  run.profile_path = dir.path() + "/" + guest.name() + ".profile.json";
  // No stats line yet (the guest has just become ready): the counters start at zero.
  run.before = last_load_stats(guest).value_or(LoadStats{});
  run.result = run_tool({"--domain", guest.name(), "-c", kUri, "--json", "--bandwidth", "64MiB/s",
                         "--save-profile", run.profile_path},
                        within(std::chrono::seconds(90)));
  // The load program reports every second: wait for the line that covers the end of the run.
  usleep(1200 * 1000);
  run.after = last_load_stats(guest);
  if (run.result.exit_status != 0) {
    throw std::runtime_error("the measurement of " + guest.name() + " failed\n" +
                             run.result.describe());
  }
  run.report = run.result.json();
  run.profile = nlohmann::json::parse(read_file(run.profile_path));
  std::printf("[run] %s: %.1f s, exit %d\n", guest.name().c_str(), run.result.seconds,
              run.result.exit_status);
  cached = std::move(run);
  cached_boot = guest.boot();
  return *cached;
}

void expect_dirty_volume_agrees_with_the_load(const LoadRun& run, const GuestSpec& spec) {
  constexpr double kMiB = 1048576.0, kPage = 4096.0;
  const nlohmann::json& rep = run.report;
  const double ram = rep.at("guest").at("ram_bytes").get<double>();
  const double per_gib = rep.at("measurement").at("sample_pages_per_gib").get<double>();
  // QEMU's page sampling hashes sample_pages_per_gib pages per GiB of the RAM block (with
  // replacement) at both ends of the period: n pages, of which a binomial share p is seen dirty.
  const double n = per_gib * ram / (1024.0 * kMiB);
  const double W = spec.wss_mib * kMiB / kPage;
  const double r = spec.rate;
  // The load program's own counters around the run: a starved vCPU (another guest on the host)
  // drops writes, and the expectation below no longer holds; say so beside any failure.
  std::string note;
  if (run.before && run.after) {
    double dt = run.after->t - run.before->t;
    std::uint64_t missed = run.after->missed - run.before->missed;
    std::printf("[figure] load program during the run: %.0f writes/s achieved (set %g, %d "
                "writer(s)), %llu writes missed\n",
                dt > 0 ? double(run.after->writes - run.before->writes) / dt : 0.0, r, spec.vcpus,
                static_cast<unsigned long long>(missed));
    if (missed > 0) {
      note = "; NOTE: the guest's load program missed " + std::to_string(missed) +
             " writes during the run (its vCPU was starved: is another guest running?)";
    }
  }
  std::printf("[figure] sampled pages n = %g (%g per GiB x %g GiB)\n", n, per_gib,
              ram / (1024.0 * kMiB));
  const nlohmann::json& points = rep.at("curve").at("points");
  ASSERT_FALSE(points.empty());
  for (const auto& pt : points) {
    const double t = pt.at("period_ms").get<double>() / 1000;
    const double measured_bytes = pt.at("dirty_bytes").get<double>();
    const double expected = W * (1 - std::exp(-r * t / W)) * kPage;
    const double p = expected / ram;
    // Tolerance: 4 binomial standard errors of the sampled dirty fraction, sqrt(p(1-p)/n) x RAM
    // (a false failure about once in 16 000 points), and below the expectation also QEMU's
    // floor: query-dirty-rate is an integer MiB/s, truncated, so up to 1 MiB/s x t is lost (it
    // never adds, so it does not widen the upper bound).
    const double sigma = ram * std::sqrt(p * (1 - p) / n);
    const double floor_loss = 1 * kMiB * t;
    const double lo = expected - 4 * sigma - floor_loss, hi = expected + 4 * sigma;
    std::printf("[figure] dirty volume over %5.1f s: measured %7.2f MiB, expected %7.2f MiB, "
                "allowed [%7.2f, %7.2f] MiB (4 sigma = %.2f MiB, floor %.2f MiB)\n",
                t, measured_bytes / kMiB, expected / kMiB, lo / kMiB, hi / kMiB,
                4 * sigma / kMiB, floor_loss / kMiB);
    EXPECT_GE(measured_bytes, lo) << "period " << t << " s" << note;
    EXPECT_LE(measured_bytes, hi) << "period " << t << " s" << note;
  }
  std::fflush(stdout);
}

void register_for_cleanup(const std::string& persistent_domain) {
  install_cleanup_handlers();
  copy_name(g_persistent_domain, sizeof g_persistent_domain, persistent_domain);
}

void unregister_for_cleanup(const std::string&) { g_persistent_domain[0] = '\0'; }

void register_remote_for_cleanup(const std::string& uri, const std::string& domain) {
  install_cleanup_handlers();
  copy_name(g_remote_uri, sizeof g_remote_uri, uri);
  copy_name(g_remote_domain, sizeof g_remote_domain, domain);
}

void unregister_remote_for_cleanup() { g_remote_domain[0] = '\0'; }

// ------------------------------------------------------------------ files

TempDir::TempDir(const std::string& parent) {
  std::string templ = parent + "/vmp-it.XXXXXX";
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp in " + parent + " failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace vmp::it

namespace {

// Every guest is destroyed when the test program ends, whatever happened in the tests.
class GuestCleanup : public ::testing::Environment {
 public:
  void TearDown() override { vmp::it::Guests::stop_all(); }
};

[[maybe_unused]] ::testing::Environment* const g_cleanup =
    ::testing::AddGlobalTestEnvironment(new GuestCleanup);

}  // namespace
