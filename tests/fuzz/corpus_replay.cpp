// Replays the fuzzing corpus through the profile loader without libFuzzer, so every build checks
// that no input found so far crashes parse_profile() or makes it throw anything but
// vmp::RuntimeError. Seeds named valid-* must load; seeds named invalid-* must be rejected with
// vmp::RuntimeError. Other files (the minimized corpus, named by hash) may do either.
//
// Every file is then run through the whole offline prediction, as the tool runs it (tool_main
// with --profile FILE), under option sets that reached hangs before (tiny and huge bandwidths,
// a 1 us max downtime, --table, the advice's auto-converge and post-copy searches): each run must
// end with a documented exit status within kTimeLimitMs, or the replay fails and names it.
//
// Usage: profile-corpus DIR...

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <chrono>

#include "cli/cli.hpp"
#include "base/error.hpp"
#include "option_sets.hpp"
#include "probe/profile.hpp"

namespace fs = std::filesystem;

namespace {

enum class Expect { Either, Valid, Invalid };

Expect expectation(const fs::path& path) {
  std::string name = path.filename().string();
  if (name.rfind("valid-", 0) == 0) return Expect::Valid;
  if (name.rfind("invalid-", 0) == 0) return Expect::Invalid;
  return Expect::Either;
}

// Returns an empty string when the file behaves, or what went wrong.
std::string replay(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot read the file";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Expect expect = expectation(path);
  try {
    vmp::probe::parse_profile(text, path.string());
    if (expect == Expect::Invalid) return "accepted, but the name says it is invalid";
  } catch (const vmp::RuntimeError& e) {
    if (expect == Expect::Valid) return std::string("rejected: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("threw something other than vmp::RuntimeError: ") + e.what();
  } catch (...) {
    return "threw a non-std::exception";
  }
  return {};
}

// What one offline prediction may take on the slowest machine CI runs on (issue 14: within 1 s
// on this 2-core one, for any valid profile and options).
constexpr double kTimeLimitMs = 1000;

using vmp::fuzz::kOptionSets;

// Returns an empty string when every prediction from the file ends in time with a documented
// status; the slowest run's time goes to `slowest_ms`.
std::string predict_all(const fs::path& path, double& slowest_ms, std::string& slowest) {
  for (const auto& options : kOptionSets) {
    std::vector<std::string> args{"--profile", path.string()};
    args.insert(args.end(), options.begin(), options.end());
    std::ostringstream out, err;
    const auto start = std::chrono::steady_clock::now();
    int status = -1;
    try {
      status = vmp::cli::tool_main(args, out, err);
    } catch (const std::exception& e) {
      return std::string("tool_main threw: ") + e.what();
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::string joined;
    for (const auto& o : options) joined += " " + o;
    if (ms > slowest_ms) {
      slowest_ms = ms;
      slowest = path.filename().string() + joined;
    }
    if (ms > kTimeLimitMs) {
      return "the prediction with" + joined + " took " + std::to_string(ms) + " ms (limit " +
             std::to_string(kTimeLimitMs) + ")";
    }
    if (status < 0 || status > 5) {
      return "the prediction with" + joined + " exited " + std::to_string(status);
    }
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " DIR...\n";
    return 2;
  }
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(argv[i], ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file()) files.push_back(it->path());
    }
    if (ec) {
      std::cerr << "error: " << argv[i] << ": " << ec.message() << "\n";
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::cerr << "error: no corpus files found\n";
    return 2;
  }
  int failures = 0;
  double slowest_ms = 0;
  std::string slowest;
  for (const auto& f : files) {
    std::string problem = replay(f);
    if (problem.empty()) problem = predict_all(f, slowest_ms, slowest);
    if (!problem.empty()) {
      ++failures;
      std::cout << "FAIL " << f.string() << ": " << problem << "\n";
    }
  }
  std::cout << files.size() << " corpus files, " << kOptionSets.size()
            << " option sets each, " << failures << " failed; slowest prediction " << slowest_ms
            << " ms (" << slowest << ")\n";
  return failures == 0 ? 0 : 1;
}
