#pragma once

// virsh command lines as the tool prints them for the operator to run: one home for their
// text, their quoting and the units virsh takes, so that the report, its JSON and --watch's
// advice cannot print different commands for the same change.

#include <string>

namespace vmp::virsh {

// A word as the shell reads it back: as it is when it holds only characters no POSIX shell
// treats specially, else single-quoted (libvirt allows spaces and more in domain names).
std::string shell_quoted(const std::string& word);

// The steps virsh's values come in, in the tool's units: the advisor advises whole steps.
inline constexpr double kDowntimeStepMs = 1;            // migrate-setmaxdowntime: whole ms
inline constexpr double kSpeedStepBytesPerS = 1048576;  // migrate-setspeed: whole MiB/s

// The units virsh takes, rounded up: never less than the tool advised.
long long downtime_ms(double ms);              // migrate-setmaxdowntime: whole ms
long long speed_mib_per_s(double bytes_per_s);  // migrate-setspeed: whole MiB/s

// "virsh" with "-c URI" when a connection URI was given. `domain` is the word as printed:
// shell_quoted(name), or a placeholder such as DOMAIN.
std::string command(const std::string& uri, const std::string& verb, const std::string& domain);
std::string setmaxdowntime(const std::string& uri, const std::string& domain, double ms);
std::string setspeed(const std::string& uri, const std::string& domain, double bytes_per_s);

}  // namespace vmp::virsh
