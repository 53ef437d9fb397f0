#include "base/units.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "base/error.hpp"

namespace vmp {
namespace {

struct Unit {
  std::string_view name;
  double factor;
};

// Rates: the number of bytes per second one unit means. Bits are SI as links are rated
// (1 Gbit/s = 10^9 bit/s); bytes are SI for "KB", "MB"... and binary for "KiB", "MiB"...
// Lookup is case-sensitive for the prefix letter of SI bytes vs bits ("Mb" is not "MB").
constexpr Unit kRateUnits[] = {
    {"bit/s", 1.0 / 8},          {"bps", 1.0 / 8},
    {"kbit/s", 1e3 / 8},         {"Kbit/s", 1e3 / 8},
    {"Mbit/s", 1e6 / 8},         {"Gbit/s", 1e9 / 8},
    {"Tbit/s", 1e12 / 8},        {"Kibit/s", 1024.0 / 8},
    {"Mibit/s", 1048576.0 / 8},  {"Gibit/s", 1073741824.0 / 8},
    {"B/s", 1},                  {"KB/s", 1e3},
    {"kB/s", 1e3},               {"MB/s", 1e6},
    {"GB/s", 1e9},               {"TB/s", 1e12},
    {"KiB/s", 1024.0},           {"MiB/s", 1048576.0},
    {"GiB/s", 1073741824.0},     {"TiB/s", 1099511627776.0},
    {"Mbps", 1e6 / 8},           {"Gbps", 1e9 / 8},
    {"PB/s", 1e15},              {"Pbit/s", 1e15 / 8},
};

constexpr Unit kTimeUnits[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"min", 60000},
    {"h", 3600000},
    {"us", 0.001},
};

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Splits "12.5Gbit/s" into 12.5 and "Gbit/s". Accepts one optional space between them.
std::pair<double, std::string_view> split_number(std::string_view text, std::string_view option) {
  std::string owned(text);
  if (owned.empty()) throw UsageError(std::string(option) + ": empty value");
  const char* begin = owned.c_str();
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(begin, &end);
  if (end == begin) {
    throw UsageError(std::string(option) + ": " + quoted(text) + " does not start with a number");
  }
  // strtod accepts "nan", "inf" and hex floats; a user typing those means something is wrong.
  for (const char* p = begin; p != end; ++p) {
    if (!(std::isdigit(static_cast<unsigned char>(*p)) || *p == '.' || *p == '-' || *p == '+' ||
          *p == 'e' || *p == 'E')) {
      throw UsageError(std::string(option) + ": " + quoted(text) + " is not a plain number");
    }
  }
  if (errno == ERANGE || !std::isfinite(value)) {
    throw UsageError(std::string(option) + ": " + quoted(text) + " is out of range");
  }
  std::size_t consumed = static_cast<std::size_t>(end - begin);
  std::string_view unit = text.substr(consumed);
  if (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return {value, unit};
}

template <std::size_t N>
double lookup(const Unit (&units)[N], std::string_view unit, std::string_view text,
              std::string_view option, std::string_view expected) {
  for (const auto& u : units) {
    if (u.name == unit) return u.factor;
  }
  throw UsageError(std::string(option) + ": unknown unit in " + quoted(text) + " (expected " +
                   std::string(expected) + ")");
}

void check_positive(double value, double limit, std::string_view text, std::string_view option,
                    std::string_view limit_text) {
  if (value <= 0) {
    throw UsageError(std::string(option) + ": " + quoted(text) + " must be greater than zero");
  }
  if (!std::isfinite(value) || value > limit) {
    throw UsageError(std::string(option) + ": " + quoted(text) + " is beyond the largest value " +
                     std::string(limit_text));
  }
}

}  // namespace

double parse_rate_bytes_per_s(std::string_view text, std::string_view option) {
  auto [value, unit] = split_number(text, option);
  double factor = unit.empty()
                      ? 1048576.0  // bare number: MiB/s, as virsh migrate-setspeed
                      : lookup(kRateUnits, unit, text, option,
                               "a number with bit/s, Mbit/s, Gbit/s, B/s, MB/s, GB/s, MiB/s or "
                               "GiB/s; a bare number is MiB/s");
  double rate = value * factor;
  check_positive(rate, kMaxRateBytesPerS, text, option, "1 PB/s");
  return rate;
}

double parse_time_ms(std::string_view text, TimeUnit bare_unit, std::string_view option) {
  auto [value, unit] = split_number(text, option);
  double factor = unit.empty() ? (bare_unit == TimeUnit::Milliseconds ? 1.0 : 1000.0)
                               : lookup(kTimeUnits, unit, text, option,
                                        "a number with ms, s, m or h");
  double ms = value * factor;
  check_positive(ms, kMaxTimeMs, text, option, "30 days");
  return ms;
}

double parse_deadline_ms(std::string_view text) {
  const double ms = parse_time_ms(text, TimeUnit::Seconds, "--deadline");
  if (ms < 1000) throw UsageError("--deadline: " + quoted(text) + " is shorter than one second");
  return ms;
}

}  // namespace vmp
