// Parsing of the quantities a user types: rates ("10Gbit/s", "1.25GB/s", "800MiB/s") and times
// ("300ms", "2s", "5m"). Bare numbers follow virsh: MiB/s for rates (migrate-setspeed), and a
// caller-chosen unit for times (ms for the downtime, as migrate-setmaxdowntime).
#pragma once

#include <string>
#include <string_view>

namespace vmp {

enum class TimeUnit { Milliseconds, Seconds };

// Bytes per second. Throws UsageError naming `option` for anything unparseable, zero, negative,
// not finite, or beyond kMaxRateBytesPerS.
double parse_rate_bytes_per_s(std::string_view text, std::string_view option);

// Milliseconds. `bare_unit` is the unit of a number given without one. Throws UsageError naming
// `option` for anything unparseable, zero, negative, not finite, or beyond kMaxTimeMs.
double parse_time_ms(std::string_view text, TimeUnit bare_unit, std::string_view option);

// --deadline, for a prediction and for --watch alike: a time, bare seconds, at least one second.
double parse_deadline_ms(std::string_view text);

// 1 Tbit/s... 1 PB/s: far beyond any link, small enough that bytes in a deadline fit a double
// exactly enough.
inline constexpr double kMaxRateBytesPerS = 1e15;
// 30 days.
inline constexpr double kMaxTimeMs = 30.0 * 24 * 3600 * 1000;

}  // namespace vmp
