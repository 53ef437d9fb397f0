#include "probe/profile.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace vmp::probe {
namespace {

using nlohmann::json;

// Reads fields of one JSON object and names each by its path in errors.
class Reader {
 public:
  Reader(const json& object, std::string path, std::string_view source)
      : object_(object), path_(std::move(path)), source_(source) {
    if (!object_.is_object()) fail(path_.empty() ? "the document" : path_, "must be an object");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw RuntimeError("profile " + std::string(source_) + ": " + field + ": " + what, "profile");
  }

  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  const json& get(std::string_view key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) fail(field(key), "missing");
    return *it;
  }
  bool has(std::string_view key) const {
    auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }

  std::string string(std::string_view key) const {
    const json& v = get(key);
    if (!v.is_string()) fail(field(key), "must be a string");
    return v.get<std::string>();
  }
  std::string optional_string(std::string_view key) const {
    return has(key) ? string(key) : std::string();
  }

  std::string one_of(std::string_view key, std::initializer_list<std::string_view> allowed) const {
    std::string v = string(key);
    std::string list;
    for (auto a : allowed) {
      if (a == v) return v;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    fail(field(key), "'" + v + "' is not one of " + list);
  }

  std::uint64_t count(std::string_view key, std::uint64_t max) const {
    const json& v = get(key);
    if (!v.is_number()) fail(field(key), "must be a number");
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (d < 0) fail(field(key), "must not be negative");
      if (d != std::floor(d)) fail(field(key), "must be a whole number");
      if (d > static_cast<double>(max)) fail(field(key), "is too large (at most " + std::to_string(max) + ")");
      return static_cast<std::uint64_t>(d);
    }
    // -0 is zero, as it is for number(): only a value below zero is negative.
    if (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0) {
      fail(field(key), "must not be negative");
    }
    auto u = v.get<std::uint64_t>();
    if (u > max) fail(field(key), "is too large (at most " + std::to_string(max) + ")");
    return u;
  }

  double number(std::string_view key, double max) const {
    const json& v = get(key);
    if (!v.is_number()) fail(field(key), "must be a number");
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(field(key), "must be finite");
    if (d < 0) fail(field(key), "must not be negative");
    if (d > max) fail(field(key), "is too large (at most " + std::to_string(static_cast<std::uint64_t>(max)) + ")");
    return d;
  }

  bool boolean(std::string_view key) const {
    const json& v = get(key);
    if (!v.is_boolean()) fail(field(key), "must be true or false");
    return v.get<bool>();
  }

  Reader object(std::string_view key) const { return Reader(get(key), field(key), source_); }

 private:
  const json& object_;
  std::string path_;
  std::string_view source_;
};

constexpr std::size_t kMaxProfileBytes = std::size_t{16} << 20;
// calc-dirty-rate measures at most 60 s a period; profiles made otherwise may reach an hour.
constexpr double kMaxPeriodMs = 3600.0 * 1000;

bool is_power_of_two(std::uint64_t v) { return v && !(v & (v - 1)); }

}  // namespace

DirtyProfile parse_profile(std::string_view text, std::string_view source) {
  json doc;
  try {
    // A profile nests four levels deep; a document nested far deeper is not one, and parsing
    // it whole could take a second and hundreds of MB (a 16 MiB file of nested arrays).
    doc = json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) {
        throw RuntimeError("profile " + std::string(source) + ": nested more than " +
                               std::to_string(kMaxJsonDepth) + " levels deep: not a dirty profile",
                           "profile");
      }
      return true;
    });
  } catch (const json::exception& e) {
    // nlohmann's messages start with "[json.exception.parse_error.101] "; keep what follows.
    std::string what = e.what();
    auto pos = what.find("] ");
    throw RuntimeError("profile " + std::string(source) + ": not valid JSON: " +
                       (pos == std::string::npos ? what : what.substr(pos + 2)), "profile");
  }
  Reader top(doc, "", source);
  if (top.string("format") != kProfileFormat) {
    top.fail("format", "'" + top.string("format") + "' is not " + std::string(kProfileFormat));
  }
  auto version = top.count("version", 1u << 20);
  if (version != static_cast<std::uint64_t>(kProfileVersion)) {
    top.fail("version", std::to_string(version) + " is not supported (this tool reads version " +
                            std::to_string(kProfileVersion) + ")");
  }

  DirtyProfile p;
  p.taken_at = top.string("taken_at");
  p.domain = top.optional_string("domain");
  p.qemu_version = top.optional_string("qemu_version");

  Reader m = top.object("measurement");
  p.measurement.mode = m.one_of("mode", {"page-sampling", "dirty-bitmap", "dirty-ring"});
  p.measurement.interface = m.one_of("interface", {"qmp", "libvirt", "synthetic"});
  p.measurement.sample_pages_per_gib = m.count("sample_pages_per_gib", 1u << 24);

  Reader g = top.object("guest");
  p.page_size_bytes = g.count("page_size_bytes", std::uint64_t{1} << 30);
  if (p.page_size_bytes < 4096 || !is_power_of_two(p.page_size_bytes)) {
    g.fail(g.field("page_size_bytes"), "must be a power of two of at least 4096");
  }
  p.ram_bytes = g.count("ram_bytes", kMaxRamBytes);
  if (p.ram_bytes < p.page_size_bytes) g.fail(g.field("ram_bytes"), "must hold at least one page");
  const double ram = static_cast<double>(p.ram_bytes);
  if (g.has("vcpu_busy_fraction")) p.vcpu_busy_fraction = g.number("vcpu_busy_fraction", 1);
  if (g.has("memory_preallocated")) p.memory_preallocated = g.boolean("memory_preallocated");
  if (g.has("host_page_bytes")) {
    p.host_page_bytes = g.count("host_page_bytes", std::uint64_t{16} << 30);
    if (p.host_page_bytes < p.page_size_bytes || !is_power_of_two(p.host_page_bytes)) {
      g.fail(g.field("host_page_bytes"), "must be a power of two of at least page_size_bytes");
    }
    if (p.host_page_bytes > p.ram_bytes) {
      g.fail(g.field("host_page_bytes"), "must not exceed ram_bytes (RAM is whole huge pages)");
    }
  }
  p.arch = g.optional_string("arch");
  if (p.arch.size() > 32 || p.arch.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") !=
                                std::string::npos) {
    g.fail(g.field("arch"), "must be an architecture's name as libvirt gives it (x86_64, aarch64)");
  }

  if (g.has("libvirt_steps_seen_ms")) {
    p.libvirt_steps_seen_ms = g.number("libvirt_steps_seen_ms", kMaxLibvirtStepsMs);
    if (*p.libvirt_steps_seen_ms <= 0) g.fail(g.field("libvirt_steps_seen_ms"), "must be above 0");
  }

  Reader z = top.object("zero_pages");
  p.zero_pages.method = z.one_of("method", {"memory-peek", "rss", "none"});
  p.zero_pages.count = z.count("count", p.ram_bytes / p.page_size_bytes);
  p.zero_pages.sampled_pages = z.count("sampled_pages", p.ram_bytes / p.page_size_bytes);
  if (p.zero_pages.method == "none" && p.zero_pages.count != 0) {
    z.fail(z.field("count"), "must be 0 when method is none");
  }
  if (z.has("standard_error_pages")) {
    p.zero_pages.standard_error_pages =
        z.number("standard_error_pages", static_cast<double>(p.ram_bytes / p.page_size_bytes));
  }
  if (z.has("layout")) {
    const json& layout = z.get("layout");
    const std::string field = z.field("layout");
    if (!layout.is_array()) z.fail(field, "must be an array");
    if (layout.size() > kMaxZeroLayoutRegions) {
      z.fail(field, "has more than " + std::to_string(kMaxZeroLayoutRegions) + " regions");
    }
    for (std::size_t i = 0; i < layout.size(); ++i) {
      const json& v = layout[i];
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
          v.get<double>() > 1) {
        z.fail(field + "[" + std::to_string(i) + "]", "must be a share from 0 to 1");
      }
      p.zero_pages.layout.push_back(v.get<double>());
    }
  }

  const json& curve = top.get("dirty_curve");
  if (!curve.is_array()) top.fail("dirty_curve", "must be an array");
  if (curve.empty()) top.fail("dirty_curve", "needs at least one point");
  if (curve.size() > 1000) top.fail("dirty_curve", "has more than 1000 points");
  for (std::size_t i = 0; i < curve.size(); ++i) {
    std::string path = "dirty_curve[" + std::to_string(i) + "]";
    Reader pt(curve[i], path, source);
    CurvePoint c;
    c.period_ms = pt.number("period_ms", kMaxPeriodMs);
    if (c.period_ms <= 0) pt.fail(pt.field("period_ms"), "must be greater than zero");
    c.dirty_bytes = pt.number("dirty_bytes", ram);
    c.sampled_pages = pt.count("sampled_pages", p.ram_bytes / p.page_size_bytes);
    c.dirty_sampled_pages = pt.count("dirty_sampled_pages", c.sampled_pages);
    if (!p.dirty_curve.empty() && c.period_ms <= p.dirty_curve.back().period_ms) {
      pt.fail(pt.field("period_ms"), "must be greater than the previous point's (" +
                                         std::to_string(p.dirty_curve.back().period_ms) + ")");
    }
    if (c.dirty_bytes > p.nonzero_ram_bytes()) {
      pt.fail(pt.field("dirty_bytes"),
              "is more than the guest's non-zero RAM (" +
                  std::to_string(static_cast<std::uint64_t>(p.nonzero_ram_bytes())) + " bytes)");
    }
    p.dirty_curve.push_back(c);
  }
  return p;
}

std::vector<model::SampledPoint> sampled_points(const DirtyProfile& profile) {
  std::vector<model::SampledPoint> points;
  // QEMU's readings (not a synthetic profile's figures) at the expected value of its floor.
  const bool floored = profile.measurement.interface != "synthetic";
  for (const auto& p : profile.dirty_curve) {
    model::SampledPoint s{p.period_ms, p.dirty_bytes, static_cast<double>(p.sampled_pages),
                          p.sampled_pages > 0 ? static_cast<double>(p.dirty_sampled_pages) : -1};
    points.push_back(floored ? model::at_floor_midpoint(s, static_cast<double>(profile.ram_bytes))
                             : s);
  }
  return points;
}

model::Reading read_curve(const DirtyProfile& profile) {
  return model::read_measurement(sampled_points(profile), static_cast<double>(profile.ram_bytes),
                                 profile.nonzero_ram_bytes());
}

DirtyProfile load_profile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw RuntimeError("cannot read profile " + path + ": is a directory", "profile");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot read profile " + path + ": " + std::strerror(errno), "profile");
  // Bounded, so that a device such as /dev/zero given by mistake ends in an error, not a hang.
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxProfileBytes) {
      throw RuntimeError("profile " + path + ": larger than " +
                         std::to_string(kMaxProfileBytes >> 20) + " MiB: not a dirty profile", "profile");
    }
  }
  if (in.bad()) throw RuntimeError("cannot read profile " + path + ": " + std::strerror(errno), "profile");
  return parse_profile(text, path);
}

nlohmann::json profile_to_json(const DirtyProfile& p) {
  json curve = json::array();
  for (const auto& c : p.dirty_curve) {
    curve.push_back({{"period_ms", c.period_ms},
                     {"dirty_bytes", c.dirty_bytes},
                     {"sampled_pages", c.sampled_pages},
                     {"dirty_sampled_pages", c.dirty_sampled_pages}});
  }
  json doc = {
      {"format", kProfileFormat},
      {"version", kProfileVersion},
      {"taken_at", p.taken_at},
      {"measurement",
       {{"mode", p.measurement.mode},
        {"interface", p.measurement.interface},
        {"sample_pages_per_gib", p.measurement.sample_pages_per_gib}}},
      {"guest", {{"ram_bytes", p.ram_bytes}, {"page_size_bytes", p.page_size_bytes}}},
      {"dirty_curve", curve},
      {"zero_pages",
       {{"count", p.zero_pages.count},
        {"method", p.zero_pages.method},
        {"sampled_pages", p.zero_pages.sampled_pages}}},
  };
  if (p.zero_pages.standard_error_pages) {
    doc["zero_pages"]["standard_error_pages"] = *p.zero_pages.standard_error_pages;
  }
  if (!p.zero_pages.layout.empty()) doc["zero_pages"]["layout"] = p.zero_pages.layout;
  if (p.vcpu_busy_fraction) doc["guest"]["vcpu_busy_fraction"] = *p.vcpu_busy_fraction;
  if (p.memory_preallocated) doc["guest"]["memory_preallocated"] = true;
  if (p.host_page_bytes > p.page_size_bytes) doc["guest"]["host_page_bytes"] = p.host_page_bytes;
  if (!p.arch.empty()) doc["guest"]["arch"] = p.arch;
  if (p.libvirt_steps_seen_ms) doc["guest"]["libvirt_steps_seen_ms"] = *p.libvirt_steps_seen_ms;
  if (!p.domain.empty()) doc["domain"] = p.domain;
  if (!p.qemu_version.empty()) doc["qemu_version"] = p.qemu_version;
  return doc;
}

void save_profile(const DirtyProfile& profile, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw RuntimeError("cannot write profile " + path + ": " + std::strerror(errno), "output");
  out << profile_to_json(profile).dump(2) << "\n";
  out.close();
  if (!out) throw RuntimeError("cannot write profile " + path + ": " + std::strerror(errno), "output");
}

}  // namespace vmp::probe
