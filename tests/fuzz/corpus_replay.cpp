// Replays the fuzzing corpus through the profile loader without libFuzzer, so every build checks
// that no input found so far crashes parse_profile() or makes it throw anything but
// vmp::RuntimeError. Seeds named valid-* must load; seeds named invalid-* must be rejected with
// vmp::RuntimeError. Other files (the minimized corpus, named by hash) may do either.
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

#include "error.hpp"
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
  for (const auto& f : files) {
    std::string problem = replay(f);
    if (!problem.empty()) {
      ++failures;
      std::cout << "FAIL " << f.string() << ": " << problem << "\n";
    }
  }
  std::cout << files.size() << " corpus files, " << failures << " failed\n";
  return failures == 0 ? 0 : 1;
}
