#include "migration.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vmp::it {
namespace {

using namespace std::chrono_literals;

// The source QEMU's command line, as libvirt started it.
std::vector<std::string> qemu_command_line(long pid) {
  std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  std::string arg;
  for (char c : raw) {
    if (c == '\0') {
      argv.push_back(arg);
      arg.clear();
    } else {
      arg += c;
    }
  }
  return argv;
}

// A free TCP port on 127.0.0.1 (the kernel's choice, released just before QEMU binds it).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Whether something listens on the port, read from /proc/net/tcp: connecting to find out would
// be taken by QEMU's -incoming for the migration stream (and fail it).
bool port_listening(int port) {
  std::istringstream in(read_file("/proc/net/tcp"));
  std::string line;
  char want[16];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state;
    f >> slot >> local >> remote >> state;
    if (local.size() > 5 && local.substr(local.size() - 5) == want && state == "0A") return true;
  }
  return false;
}

const std::string kDestUser = "vmpdest";
const std::string kDestHome = "/home/" + kDestUser;

struct DestinationDaemon {
  std::string uri;
  bool started_here = false;
  ~DestinationDaemon() {
    // Leave the machine as found: a daemon this process started goes with it.
    if (!started_here) return;
    std::ifstream in(kDestHome + "/run/libvirt/libvirtd.pid");
    long pid = 0;
    if (in >> pid && pid > 1) ::kill(static_cast<pid_t>(pid), SIGTERM);
  }
};

DestinationDaemon& destination_daemon() {
  static DestinationDaemon d;
  return d;
}

}  // namespace

// ------------------------------------------------------------------ destination QEMU

DestinationQemu::DestinationQemu(const Guest& source) : dir_(guest_dir()) {
  const long src_pid = source.qemu_pid();
  if (src_pid <= 0) throw std::runtime_error("no QEMU process for " + source.name());
  auto src = qemu_command_line(src_pid);
  // The same machine, memory and devices; what ties the command line to libvirt (its monitor
  // and log file descriptors, its secret) is replaced or dropped.
  std::vector<std::string> argv;
  for (std::size_t i = 0; i < src.size(); ++i) {
    const std::string& a = src[i];
    const std::string next = i + 1 < src.size() ? src[i + 1] : "";
    if (a == "-add-fd" || (a == "-object" && next.find("\"secret\"") != std::string::npos)) {
      ++i;
    } else if (a == "-chardev" && next.rfind("socket,id=charmonitor", 0) == 0) {
      argv.insert(argv.end(), {a, "socket,id=charmonitor,path=" + dir_.path() +
                                      "/qmp.sock,server=on,wait=off"});
      ++i;
    } else if (a == "-chardev" && next.find("charserial0") != std::string::npos) {
      argv.insert(argv.end(), {a, "null,id=charserial0"});
      ++i;
    } else if (a == "-name") {
      argv.insert(argv.end(), {a, "guest=" + source.name() + "-incoming"});
      ++i;
    } else {
      argv.push_back(a);
    }
  }
  port_ = free_port();
  argv.insert(argv.end(), {"-incoming", uri()});

  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string log = dir_.path() + "/qemu.log";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Dies with the test program, whatever ends it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  for (int i = 0; i < 100 && !port_listening(port_); ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the destination QEMU exited: " + read_file(log));
    }
    usleep(100 * 1000);
  }
  if (!port_listening(port_)) throw std::runtime_error("the destination QEMU does not listen");
}

DestinationQemu::~DestinationQemu() { kill(); }

std::string DestinationQemu::log() const {
  return "destination QEMU's output: " + read_file(dir_.path() + "/qemu.log");
}

void DestinationQemu::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void start_qmp_migration(const std::string& domain, const DestinationQemu& dest, int speed_mib_s,
                         int downtime_ms) {
  qmp(domain, "migrate-set-parameters",
      {{"max-bandwidth", static_cast<long long>(speed_mib_s) << 20},
       {"downtime-limit", downtime_ms}});
  qmp(domain, "migrate", {{"uri", dest.uri()}});
}

std::string qmp_migration_status(const std::string& domain) {
  return qmp(domain, "query-migrate").value("status", "none");
}

void resume_source(const std::string& domain) {
  qmp(domain, "cont");
  for (int i = 0; i < 50; ++i) {
    if (qmp(domain, "query-status").value("status", "") == "running") return;
    usleep(100 * 1000);
  }
  throw std::runtime_error("the source QEMU of " + domain + " does not run again after cont");
}

// ------------------------------------------------------------------ libvirt destination

std::string destination_uri() {
  DestinationDaemon& d = destination_daemon();
  const std::string uri = "qemu+unix:///session?socket=" + kDestHome + "/run/libvirt/libvirt-sock";
  const bool first = d.uri.empty();
  bool running =
      first && run({"/usr/bin/virsh", "-c", uri, "version"}, within(10s)).exit_status == 0;
  // Every time: a huge-page guest started since the last call may have mounted hugetlbfs, which
  // the daemon must be told of (the script restarts it then).
  RunResult r = run({source_root() + "/bench/setup-destination.sh"}, within(60s));
  if (r.exit_status != 0) throw std::runtime_error("no destination daemon\n" + r.describe());
  d.uri = r.out.substr(0, r.out.find('\n'));
  if (first) d.started_here = !running;
  return d.uri;
}

LibvirtMigration::LibvirtMigration(const std::string& domain, int speed_mib_s, int downtime_ms)
    : domain_(domain), dest_uri_(destination_uri()) {
  DomainRef dom(domain);
  if (virDomainMigrateSetMaxSpeed(dom.get(), static_cast<unsigned long>(speed_mib_s), 0) < 0 ||
      virDomainMigrateSetMaxDowntime(dom.get(), static_cast<unsigned long long>(downtime_ms), 0) <
          0) {
    throw std::runtime_error("cannot set the migration settings of " + domain + ": " +
                             libvirt_error());
  }
  // The destination runs as vmpdest: the console log moves to a path it can write.
  char* xml = virDomainGetXMLDesc(dom.get(), VIR_DOMAIN_XML_MIGRATABLE);
  if (!xml) throw std::runtime_error("no XML for " + domain + ": " + libvirt_error());
  std::string text = xml;
  std::free(xml);
  const std::string from = guest_dir() + "/logs/" + domain + ".console.log";
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from)) {
    text.replace(at, from.size(), kDestHome + "/bench/" + domain + ".console.log");
  }
  xml_path_ = "/tmp/vmp-it-migrate-" + domain + ".xml";
  {
    std::ofstream out(xml_path_);
    out << text;
  }
  chmod(xml_path_.c_str(), 0644);
  register_remote_for_cleanup(dest_uri_, domain);
  thread_ = std::thread([this] {
    result_ = run({"/usr/bin/virsh", "-c", "qemu:///system", "migrate", "--live", domain_,
                   dest_uri_, "--migrateuri", "tcp://127.0.0.1", "--xml", xml_path_},
                  within(180s));
  });
}

const RunResult& LibvirtMigration::wait() {
  if (!waited_) {
    thread_.join();
    waited_ = true;
  }
  return result_;
}

LibvirtMigration::~LibvirtMigration() {
  wait();
  run({"/usr/bin/virsh", "-q", "-c", dest_uri_, "destroy", domain_}, within(30s));
  unregister_remote_for_cleanup();
  std::remove(xml_path_.c_str());
  // The console log the guest wrote on the destination side.
  std::remove((kDestHome + "/bench/" + domain_ + ".console.log").c_str());
}

bool wait_for_migration(const std::string& domain, bool libvirt_job,
                        std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (libvirt_job) {
      DomainRef dom(domain);
      virDomainJobInfo info{};
      if (virDomainGetJobInfo(dom.get(), &info) == 0 && info.type != VIR_DOMAIN_JOB_NONE) {
        return true;
      }
    } else if (qmp_migration_status(domain) == "active") {
      return true;
    }
    usleep(50 * 1000);
  }
  return false;
}

// ------------------------------------------------------------------ the tool in the background

BackgroundTool::BackgroundTool(std::vector<std::string> args, RunOptions options)
    : thread_([this, args = std::move(args), options] { result_ = run_tool(args, options); }) {}

const RunResult& BackgroundTool::wait() {
  if (!waited_) {
    thread_.join();
    waited_ = true;
  }
  return result_;
}

BackgroundTool::~BackgroundTool() { wait(); }

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

nlohmann::json first_event(const std::vector<nlohmann::json>& lines, const std::string& name) {
  for (const auto& l : lines) {
    if (l.value("event", "") == name) return l;
  }
  return nullptr;
}

nlohmann::json migrate_and_watch(const std::string& domain, const std::string& uri,
                                 int speed_mib_s, int downtime_ms) {
  LibvirtMigration migration(domain, speed_mib_s, downtime_ms);
  if (!wait_for_migration(domain, true, 30s)) {
    throw std::runtime_error("no migration of " + domain + " to watch\n" +
                             migration.wait().describe());
  }
  BackgroundTool watch({"--watch", "-d", domain, "-c", uri, "--json"}, within(120s));
  const RunResult& w = watch.wait();
  const RunResult& m = migration.wait();
  if (m.exit_status != 0) throw std::runtime_error("virsh migrate failed\n" + m.describe());
  if (w.exit_status != 0) throw std::runtime_error("--watch failed\n" + w.describe());
  nlohmann::json summary = first_event(json_lines(w.out), "summary");
  if (!summary.is_object()) throw std::runtime_error("--watch wrote no summary\n" + w.out);
  return summary;
}

}  // namespace vmp::it
