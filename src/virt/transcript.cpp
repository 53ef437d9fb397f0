#include "virt/transcript.hpp"

#include <algorithm>
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

void RecordingLiveTarget::record(const char* call, nlohmann::json reply,
                                 nlohmann::json arguments) {
  nlohmann::json entry = {{"libvirt", call}};
  if (!arguments.is_null()) entry["arguments"] = std::move(arguments);
  entry["return"] = std::move(reply);
  t_.record(std::move(entry));
}

std::string RecordingLiveTarget::uuid() {
  auto u = inner_.uuid();
  record("virDomainGetUUIDString", u);
  return u;
}

std::string RecordingLiveTarget::domain_xml() {
  auto xml = inner_.domain_xml();
  record("virDomainGetXMLDesc", xml);
  return xml;
}

StateReading RecordingLiveTarget::read_state() {
  auto s = inner_.read_state();
  nlohmann::json j = {{"running", s.running}, {"ends_qemu", s.ends_qemu}, {"what", s.what}};
  if (s.error) j["error"] = *s.error;
  if (s.connection_lost) j["connection_lost"] = *s.connection_lost;
  record("virDomainGetState", j);
  return s;
}

std::optional<LifecycleChange> RecordingLiveTarget::lifecycle_change() {
  auto c = inner_.lifecycle_change();
  if (c) record("lifecycle-event", {{"what", c->what}, {"ends_qemu", c->ends_qemu}});
  return c;
}

std::optional<std::string> RecordingLiveTarget::connection_closed() {
  auto c = inner_.connection_closed();
  if (c) record("connection-closed", *c);
  return c;
}

bool RecordingLiveTarget::has_job() {
  const bool job = inner_.has_job();
  record("virDomainGetJobInfo", job);
  return job;
}

JobStats RecordingLiveTarget::completed_job() {
  try {
    auto job = inner_.completed_job();
    record("virDomainGetJobStats", job_stats_to_json(job), {{"completed", true}});
    return job;
  } catch (const RuntimeError& e) {
    t_.record({{"libvirt", "virDomainGetJobStats"},
               {"arguments", {{"completed", true}}},
               {"error", e.what()}});
    throw;
  }
}

std::optional<std::vector<std::uint64_t>> RecordingLiveTarget::vcpu_times_ns() {
  auto times = inner_.vcpu_times_ns();
  record("virDomainGetVcpus", times ? nlohmann::json(*times) : nlohmann::json(nullptr));
  return times;
}

std::uint64_t RecordingLiveTarget::rss_bytes() {
  const auto rss = inner_.rss_bytes();
  record("virDomainMemoryStats", rss);
  return rss;
}

bool RecordingLiveTarget::read_memory(std::uint64_t address, std::size_t length,
                                      unsigned char* buffer) {
  const bool ok = inner_.read_memory(address, length, buffer);
  record_memory_read("virDomainMemoryPeek", ok, address, length, buffer);
  return ok;
}

bool RecordingLiveTarget::read_memory_via_monitor(std::uint64_t address, std::size_t length,
                                                  unsigned char* buffer) {
  const bool ok = inner_.read_memory_via_monitor(address, length, buffer);
  record_memory_read("xp", ok, address, length, buffer);
  return ok;
}

void RecordingLiveTarget::record_memory_read(const char* call, bool ok, std::uint64_t address,
                                             std::size_t length, const unsigned char* buffer) {
  std::string zero;
  if (ok) {
    for (std::size_t at = 0; at < length; at += kRecordedPageBytes) {
      const std::size_t n = std::min(kRecordedPageBytes, length - at);
      zero += std::all_of(buffer + at, buffer + at + n, [](unsigned char b) { return b == 0; })
                  ? '1'
                  : '0';
    }
  }
  record(call, {{"ok", ok}, {"zero_pages", zero}}, {{"address", address}, {"length", length}});
}

MigrationConfig RecordingLiveTarget::libvirt_migration_settings() {
  auto c = inner_.libvirt_migration_settings();
  nlohmann::json j = {{"max_speed_unlimited", c.max_speed_unlimited}};
  if (c.max_downtime_ms) j["max_downtime_ms"] = *c.max_downtime_ms;
  if (c.max_speed_bytes_per_s) j["max_speed_bytes_per_s"] = *c.max_speed_bytes_per_s;
  if (c.postcopy_speed_bytes_per_s) j["postcopy_speed_bytes_per_s"] = *c.postcopy_speed_bytes_per_s;
  record("migration-settings", j);
  return c;
}

}  // namespace vmp::virt
