#include "base/virsh.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>

namespace vmp::virsh {

std::string shell_quoted(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_.:/+=@%-,").find(c) != std::string_view::npos;
  });
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

long long downtime_ms(double ms) {
  return static_cast<long long>(std::ceil(ms / kDowntimeStepMs - 1e-9));
}

long long speed_mib_per_s(double bytes_per_s) {
  return static_cast<long long>(std::ceil(bytes_per_s / kSpeedStepBytesPerS - 1e-9));
}

std::string command(const std::string& uri, const std::string& verb, const std::string& domain) {
  std::string v = "virsh";
  if (!uri.empty()) v += " -c " + shell_quoted(uri);
  return v + " " + verb + " " + domain;
}

std::string setmaxdowntime(const std::string& uri, const std::string& domain, double ms) {
  return command(uri, "migrate-setmaxdowntime", domain) + " " + std::to_string(downtime_ms(ms));
}

std::string setspeed(const std::string& uri, const std::string& domain, double bytes_per_s) {
  return command(uri, "migrate-setspeed", domain) + " " +
         std::to_string(speed_mib_per_s(bytes_per_s));
}

}  // namespace vmp::virsh
