#include "probe/claim.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace vmp::probe {
namespace {

std::string read_all(int fd) {
  std::string text;
  char buf[512];
  if (lseek(fd, 0, SEEK_SET) < 0) return text;
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  return text;
}

void write_all(int fd, const std::string& text) {
  if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) < 0) return;
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

nlohmann::json parsed(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

bool safe_file_name(const std::string& uuid) {
  if (uuid.empty() || uuid.size() > 64) return false;
  for (char c : uuid) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

}  // namespace

std::string default_claim_directory() {
  std::string base;
  if (geteuid() == 0) {
    base = "/run";
  } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/') {
    base = xdg;
  }
  struct stat st {};
  if (base.empty() || stat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return "";
  return base + "/virt-migrate-predict";
}

MeasurementClaim::MeasurementClaim(const std::string& dir, const std::string& uuid,
                                   const std::string& domain) {
  if (dir.empty() || !safe_file_name(uuid)) return;
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return;
  const std::string path = dir + "/" + uuid + ".lock";
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) return;
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    const auto other = parsed(read_all(fd_));
    close(fd_);
    fd_ = -1;
    if (why != EWOULDBLOCK) return;
    const long pid = other.value("pid", 0L);
    throw RuntimeError("domain " + domain + ": another run of virt-migrate-predict" +
                           (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                           " is measuring it now, and QEMU measures one dirty rate at a time; "
                           "its result is the one to use, or try again when it has finished",
                       "busy");
  }
  const auto before = parsed(read_all(fd_));
  if (before.contains("left_running_until")) {
    previous_ = LeftRunning{before.value("pid", 0L), before.value("left_running_until", 0.0)};
  }
  write_all(fd_,
            nlohmann::json{{"pid", static_cast<long>(getpid())}, {"domain", domain}}.dump() + "\n");
}

MeasurementClaim::~MeasurementClaim() {
  if (fd_ < 0) return;
  close(fd_);  // releases the lock; the file keeps what the next run needs to know
}

std::optional<LeftRunning> MeasurementClaim::left_by_previous_run(double now_epoch_s) const {
  if (!previous_ || previous_->until_epoch_s < now_epoch_s) return std::nullopt;
  return previous_;
}

void MeasurementClaim::leave_running(double until_epoch_s) {
  if (fd_ < 0) return;
  write_all(fd_, nlohmann::json{{"pid", static_cast<long>(getpid())},
                                {"left_running_until", until_epoch_s}}
                         .dump() +
                     "\n");
}

}  // namespace vmp::probe
