// libFuzzer target for the dirty profile loader. parse_profile() must either return a profile or
// throw vmp::RuntimeError: any other exception escapes and aborts, and crashes, leaks and
// undefined behaviour are caught by the sanitizers. A profile it accepts must also survive the
// round trip through profile_to_json(), the writer of --save-profile: what the tool writes, it
// must read back unchanged. Then the whole offline prediction runs on it (tool_main with
// --profile, under one of option_sets.hpp's sets, chosen by the input's hash) and must end with
// a documented exit status; run with -timeout=N, libFuzzer fails on an input that takes longer.
//
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined
// See tests/fuzz/README.md.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <sstream>
#include <unistd.h>

#include "cli/cli.hpp"
#include "base/error.hpp"
#include "option_sets.hpp"
#include "probe/profile.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "profile_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vmp::probe::DirtyProfile profile;
  try {
    profile = vmp::probe::parse_profile(text, "fuzz-input");
  } catch (const vmp::RuntimeError&) {
    return 0;  // rejected with a message: the expected way to fail
  }

  const std::string written = vmp::probe::profile_to_json(profile).dump(2);
  try {
    auto reread = vmp::probe::parse_profile(written, "round-trip");
    if (vmp::probe::profile_to_json(reread) != vmp::probe::profile_to_json(profile)) {
      fail("round trip changed the profile", written);
    }
  } catch (const vmp::RuntimeError& e) {
    fail("the written profile is rejected", std::string(e.what()) + "\n" + written);
  }

  static const std::string path = "/tmp/vmp-profile-fuzzer-" + std::to_string(getpid()) + ".json";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  const auto& options =
      vmp::fuzz::kOptionSets[std::hash<std::string_view>{}(text) % vmp::fuzz::kOptionSets.size()];
  std::vector<std::string> args{"--profile", path};
  args.insert(args.end(), options.begin(), options.end());
  std::ostringstream out, err;
  const int status = vmp::cli::tool_main(args, out, err);
  if (status < 0 || status > 5) fail("the prediction's exit status", std::to_string(status));
  return 0;
}
