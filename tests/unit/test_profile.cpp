#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "probe/profile.hpp"

using nlohmann::json;
using vmp::RuntimeError;
using namespace vmp::probe;

namespace {

const std::string kExample =
    std::string(VMP_SOURCE_ROOT) + "/examples/profiles/1gib-256mib-random.json";

json example() {
  std::ifstream in(kExample);
  return json::parse(in);
}

// The error message parse_profile gives for the example changed by `mutate`.
std::string error_for(const std::function<void(json&)>& mutate) {
  json doc = example();
  mutate(doc);
  try {
    parse_profile(doc.dump(), "p.json");
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string error_for_text(const std::string& text) {
  try {
    parse_profile(text, "p.json");
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "(accepted)";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

}  // namespace

TEST(Profile, LoadsTheExample) {
  auto p = load_profile(kExample);
  EXPECT_EQ(p.ram_bytes, 1u << 30);
  EXPECT_EQ(p.page_size_bytes, 4096u);
  EXPECT_EQ(p.dirty_curve.size(), 4u);
  EXPECT_EQ(p.zero_pages.count, 175669u);
  EXPECT_EQ(p.zero_pages.method, "memory-peek");
  EXPECT_EQ(p.measurement.mode, "page-sampling");
}

TEST(Profile, SaveAndLoadRoundTrip) {
  auto p = load_profile(kExample);
  auto path = std::filesystem::temp_directory_path() / "vmp-roundtrip.json";
  save_profile(p, path.string());
  auto q = load_profile(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(profile_to_json(p), profile_to_json(q));
}

TEST(Profile, ZeroPageErrorAndLayoutAreOptionalAndKept) {
  auto p = load_profile(kExample);
  EXPECT_FALSE(p.zero_pages.standard_error_pages);
  EXPECT_TRUE(p.zero_pages.layout.empty());
  p.zero_pages.standard_error_pages = 812.5;
  p.zero_pages.layout = {0, 0.25, 1};
  auto q = parse_profile(profile_to_json(p).dump(), "q.json");
  EXPECT_EQ(q.zero_pages.standard_error_pages, 812.5);
  EXPECT_EQ(q.zero_pages.layout, (std::vector<double>{0, 0.25, 1}));
}

TEST(Profile, VcpuBusyFractionIsOptionalAndKept) {
  auto p = load_profile(kExample);
  EXPECT_FALSE(p.vcpu_busy_fraction);
  p.vcpu_busy_fraction = 0.3;
  auto q = parse_profile(profile_to_json(p).dump(), "q.json");
  EXPECT_EQ(q.vcpu_busy_fraction, 0.3);
}

TEST(Profile, MemoryPreallocatedIsOptionalAndKept) {
  auto p = load_profile(kExample);
  EXPECT_FALSE(p.memory_preallocated);
  EXPECT_FALSE(profile_to_json(p)["guest"].contains("memory_preallocated"));
  p.memory_preallocated = true;
  auto q = parse_profile(profile_to_json(p).dump(), "q.json");
  EXPECT_TRUE(q.memory_preallocated);
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["memory_preallocated"] = "yes"; }),
                  "guest.memory_preallocated: must be true or false");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["memory_preallocated"] = 1; }),
                  "guest.memory_preallocated: must be true or false");
}

TEST(Profile, ArchIsOptionalAndKept) {
  auto p = load_profile(kExample);
  EXPECT_EQ(p.arch, "");
  EXPECT_FALSE(profile_to_json(p)["guest"].contains("arch"));
  p.arch = "aarch64";
  auto q = parse_profile(profile_to_json(p).dump(), "q.json");
  EXPECT_EQ(q.arch, "aarch64");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["arch"] = 64; }),
                  "guest.arch: must be a string");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["arch"] = "ARM; rm -rf"; }),
                  "guest.arch: must be an architecture's name as libvirt gives it");
}

TEST(Profile, HostPageIsOptionalAndKept) {
  auto p = load_profile(kExample);
  EXPECT_EQ(p.host_page_bytes, 0u);
  EXPECT_FALSE(profile_to_json(p)["guest"].contains("host_page_bytes"));
  p.host_page_bytes = 2 << 20;
  auto q = parse_profile(profile_to_json(p).dump(), "q.json");
  EXPECT_EQ(q.host_page_bytes, 2u << 20);
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["host_page_bytes"] = 3 << 20; }),
                  "guest.host_page_bytes: must be a power of two of at least page_size_bytes");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["host_page_bytes"] = 2048; }),
                  "guest.host_page_bytes: must be a power of two of at least page_size_bytes");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["host_page_bytes"] = 1ull << 40; }),
                  "guest.host_page_bytes");
  EXPECT_CONTAINS(error_for([](json& d) {
                    d["guest"]["host_page_bytes"] = d["guest"]["ram_bytes"].get<std::uint64_t>() * 2;
                  }),
                  "guest.host_page_bytes: must not exceed ram_bytes");
}

// libvirt's steps as a host saw them (a domain that came there by migration): optional, kept,
// and a figure that cannot be a start refused with its field named.
TEST(Profile, LibvirtStepsSeenAreOptionalAndKept) {
  auto p = load_profile(kExample);
  EXPECT_FALSE(p.libvirt_steps_seen_ms);
  EXPECT_FALSE(profile_to_json(p)["guest"].contains("libvirt_steps_seen_ms"));
  p.libvirt_steps_seen_ms = 287.5;
  auto q = parse_profile(profile_to_json(p).dump(), "q.json");
  ASSERT_TRUE(q.libvirt_steps_seen_ms);
  EXPECT_DOUBLE_EQ(*q.libvirt_steps_seen_ms, 287.5);
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["libvirt_steps_seen_ms"] = 0; }),
                  "guest.libvirt_steps_seen_ms: must be above 0");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["libvirt_steps_seen_ms"] = -5; }),
                  "guest.libvirt_steps_seen_ms: must not be negative");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["libvirt_steps_seen_ms"] = 1e9; }),
                  "guest.libvirt_steps_seen_ms: is too large");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["libvirt_steps_seen_ms"] = "0.3s"; }),
                  "guest.libvirt_steps_seen_ms: must be a number");
}

TEST(Profile, EveryBadFieldIsNamed) {
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"].erase("ram_bytes"); }),
                  "p.json: guest.ram_bytes: missing");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["ram_bytes"] = -1; }),
                  "guest.ram_bytes: must not be negative");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["ram_bytes"] = "1G"; }),
                  "guest.ram_bytes: must be a number");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["ram_bytes"] = 1.5e30; }),
                  "guest.ram_bytes: is too large");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["page_size_bytes"] = 5000; }),
                  "guest.page_size_bytes: must be a power of two");
  EXPECT_CONTAINS(error_for([](json& d) { d["version"] = 2; }), "version: 2 is not supported");
  EXPECT_CONTAINS(error_for([](json& d) { d["format"] = "something-else"; }), "format:");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"][1]["period_ms"] = 500; }),
                  "dirty_curve[1].period_ms: must be greater than the previous point's");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"][2]["period_ms"] = 0; }),
                  "dirty_curve[2].period_ms: must be greater than zero");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"][0]["dirty_bytes"] = 2e9; }),
                  "dirty_curve[0].dirty_bytes: is too large");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"][0]["dirty_bytes"] = 1e9; }),
                  "dirty_curve[0].dirty_bytes: is more than the guest's non-zero RAM");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"][0]["dirty_sampled_pages"] = 99999; }),
                  "dirty_curve[0].dirty_sampled_pages: is too large");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"] = json::array(); }),
                  "dirty_curve: needs at least one point");
  EXPECT_CONTAINS(error_for([](json& d) { d["dirty_curve"] = 3; }), "dirty_curve: must be an array");
  EXPECT_CONTAINS(error_for([](json& d) { d["zero_pages"]["count"] = 1u << 20; }),
                  "zero_pages.count: is too large");
  EXPECT_CONTAINS(error_for([](json& d) { d["zero_pages"]["count"] = 1.5; }),
                  "zero_pages.count: must be a whole number");
  EXPECT_CONTAINS(error_for([](json& d) { d["zero_pages"]["method"] = "guess"; }),
                  "zero_pages.method: 'guess' is not one of");
  EXPECT_CONTAINS(error_for([](json& d) { d["zero_pages"]["layout"] = {0.5, 1.5}; }),
                  "zero_pages.layout[1]: must be a share from 0 to 1");
  EXPECT_CONTAINS(error_for([](json& d) { d["zero_pages"]["layout"] = "zeros"; }),
                  "zero_pages.layout: must be an array");
  EXPECT_CONTAINS(error_for([](json& d) { d["zero_pages"]["standard_error_pages"] = -3; }),
                  "zero_pages.standard_error_pages: must not be negative");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["vcpu_busy_fraction"] = 1.5; }),
                  "guest.vcpu_busy_fraction: is too large (at most 1)");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"]["vcpu_busy_fraction"] = "busy"; }),
                  "guest.vcpu_busy_fraction: must be a number");
  EXPECT_CONTAINS(error_for([](json& d) { d["measurement"]["mode"] = "fast"; }),
                  "measurement.mode:");
  EXPECT_CONTAINS(error_for([](json& d) { d.erase("taken_at"); }), "taken_at: missing");
  EXPECT_CONTAINS(error_for([](json& d) { d["guest"] = json::array(); }),
                  "guest: must be an object");
}

TEST(Profile, NotJson) {
  EXPECT_CONTAINS(error_for_text(""), "p.json: not valid JSON");
  EXPECT_CONTAINS(error_for_text("{\"version\": NaN}"), "not valid JSON");
  EXPECT_CONTAINS(error_for_text("{\"version\": 1e400}"), "not valid JSON: number overflow");
  EXPECT_CONTAINS(error_for_text("[1, 2]"), "the document: must be an object");
}

TEST(Profile, UnreadableFiles) {
  try {
    load_profile("/nonexistent/profile.json");
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_CONTAINS(e.what(), "cannot read profile /nonexistent/profile.json: No such file");
  }
  EXPECT_THROW(load_profile("/"), RuntimeError);
  // A device that never ends must end in an error, not a hang.
  EXPECT_THROW(load_profile("/dev/zero"), RuntimeError);
}

// A profile nests four levels deep; 16 MiB of nested arrays took a second and 600 MB whole.
TEST(Profile, DeepNestingIsRefusedBeforeItIsBuilt) {
  const std::string deep = "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_CONTAINS(error_for_text(deep), "nested more than 32 levels deep");
  // The key of the error, for --json.
  try {
    parse_profile(deep, "p.json");
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.key(), "profile");
  }
}

// -0 is zero for every key, counts as well as numbers (it was "negative" for some, not others).
TEST(Profile, MinusZeroIsZeroEverywhere) {
  std::string text = example().dump();
  auto replace = [&](const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    text.replace(pos, from.size(), to);
  };
  replace("\"dirty_sampled_pages\":75", "\"dirty_sampled_pages\":-0");
  replace("\"count\":175669", "\"count\":-0");
  EXPECT_EQ(error_for_text(text), "(accepted)");
  EXPECT_CONTAINS(error_for_text(std::string(text).replace(text.find("-0"), 2, "-1")),
                  "must not be negative");
}

// --save-profile to a full disk is an error with the key "output", not a silent success.
TEST(Profile, SavingToAFullDiskFails) {
  auto p = parse_profile(example().dump(), "p.json");
  try {
    save_profile(p, "/dev/full");
    FAIL() << "saved to /dev/full";
  } catch (const RuntimeError& e) {
    EXPECT_CONTAINS(e.what(), "cannot write profile /dev/full");
    EXPECT_EQ(e.key(), "output");
  }
}
