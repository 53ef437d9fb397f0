// Quantities as people read them: GiB, Gbit/s, 1m39s.
#pragma once

#include <string>

namespace vmp {

std::string format_bytes(double bytes);            // "1.00 GiB", "418 MiB", "12.0 KiB"
std::string format_page_size(double bytes);        // "4 KiB", "2 MiB"
std::string format_rate(double bytes_per_s);       // "128 MiB/s (1.07 Gbit/s)"
std::string format_link_rate(double bytes_per_s);  // "2.5 Gbit/s", "100 Mbit/s"
std::string format_duration(double ms);            // "850 ms", "6.9 s", "1m39s", "1h02m"
std::string format_duration_compact(double ms);    // the table's: "850ms", "6.9s", "1m39s"
// A dirty-rate period, as planned (quarter seconds where QEMU takes milliseconds) or as QEMU
// measured it: exact to the millisecond, where format_duration would show 1250 ms as "1.2 s":
// "125 ms", "1.0 s", "1.25 s", "5.751 s".
std::string format_period(double ms);
std::string format_percent(double fraction);       // "70.1%"

// Text from outside (a profile, domain XML, QEMU, libvirt) as a terminal may show it: control
// characters, DEL and bytes that are not UTF-8 as \xNN, so that an ESC cannot drive the
// terminal, the text is valid UTF-8 (and so valid in JSON), and a NUL or a newline
// cannot forge a line; a line break (libvirt's multi-line messages) folds into one space.
std::string printable(const std::string& text);
// The same, for one "error: ..." line: line breaks and the spaces around them fold into "; ".
std::string one_line(const std::string& text);

}  // namespace vmp
