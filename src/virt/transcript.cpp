#include "virt/transcript.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>

namespace vmp::virt {
namespace {

constexpr std::size_t kLargeReplyBytes = 16384;

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

nlohmann::json qmp_entry(std::string_view command, const nlohmann::json& arguments) {
  nlohmann::json e = {{"execute", command}};
  if (!arguments.is_null()) e["arguments"] = arguments;
  return e;
}

Transcript::Transcript(const std::string& path, nlohmann::json header)
    : directory_(std::filesystem::path(path).parent_path().string()),
      out_(path, std::ios::trunc),
      opened_(std::chrono::steady_clock::now()) {
  if (!out_) throw RuntimeError("cannot write the transcript " + path);
  header["transcript"] = 1;
  // The host's clocks at t_ms 0: QEMU's start-time of a dirty-rate measurement is read against
  // them (wall-clock seconds on QEMU 10.0, the monotonic clock's on 7.2).
  timespec wall{}, mono{};
  clock_gettime(CLOCK_REALTIME, &wall);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  header["epoch_s_at_t0"] = static_cast<double>(wall.tv_sec) + wall.tv_nsec / 1e9;
  header["monotonic_s_at_t0"] = static_cast<double>(mono.tv_sec) + mono.tv_nsec / 1e9;
  out_ << header.dump() << "\n" << std::flush;
}

void Transcript::record(nlohmann::json entry) {
  std::lock_guard lock(mutex_);
  entry["t_ms"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - opened_).count();
  if (entry.contains("return")) {
    std::string reply = entry["return"].dump();
    if (reply.size() > kLargeReplyBytes) {
      std::string name = entry.value("execute", entry.value("libvirt", "reply")) + "-" +
                         fnv1a_hex(reply) + ".json";
      auto file = std::filesystem::path(directory_.empty() ? "." : directory_) / name;
      if (!std::filesystem::exists(file)) std::ofstream(file) << reply << "\n";
      entry.erase("return");
      entry["return_file"] = name;
    }
  }
  out_ << entry.dump() << "\n" << std::flush;
}

nlohmann::json RecordingMonitor::execute(std::string_view command,
                                         const nlohmann::json& arguments) {
  nlohmann::json entry = qmp_entry(command, arguments);
  try {
    nlohmann::json reply = inner_.execute(command, arguments);
    entry["return"] = reply;
    t_.record(entry);
    return reply;
  } catch (const QmpError& e) {
    entry["error"] = {{"class", e.error_class()}, {"desc", e.description()}};
    t_.record(entry);
    throw;
  }
}

void RecordingDirtyRateCalls::start(int seconds, unsigned int flags) {
  nlohmann::json entry = {{"libvirt", "virDomainStartDirtyRateCalc"},
                          {"arguments", {{"seconds", seconds}, {"flags", flags}}}};
  try {
    inner_.start(seconds, flags);
    entry["return"] = 0;
  } catch (const LibvirtCallError& e) {
    entry["error"] = e.message();
    t_.record(entry);
    throw;
  }
  t_.record(entry);
}

std::map<std::string, double> RecordingDirtyRateCalls::stats() {
  nlohmann::json entry = {{"libvirt", "virDomainListGetStats"},
                          {"arguments", {{"stats", "dirtyrate"}}}};
  try {
    auto fields = inner_.stats();
    entry["return"] = fields;
    t_.record(entry);
    return fields;
  } catch (const LibvirtCallError& e) {
    entry["error"] = e.message();
    t_.record(entry);
    throw;
  }
}

}  // namespace vmp::virt
