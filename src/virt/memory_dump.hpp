// Guest memory through QEMU's human monitor (HMP `xp`, sent as QMP's human-monitor-command).
// `xp /Ngx ADDRESS` prints N 8-byte words of guest-physical memory, two a line:
//   0000000000100000: 0x0000000000000000 0x00000000000000ff
// and "ADDRESS: Cannot access memory" where no memory answers (QEMU 7.2 and 10.0 alike;
// tests/unit/data/xp holds their answers). One page a command costs 3.5 ms here against 17 ms for
// a virDomainMemoryPeek of 64 KiB (libvirt has QEMU write a file, then reads it), so reading
// single pages spread over RAM is the cheaper sample (probe/zero_pages.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vmp::virt {

// The command line reading `length` bytes (a multiple of 8) at guest-physical `address`.
std::string xp_command(std::uint64_t address, std::size_t length);

// Fills `buffer` with the `length` bytes xp printed (each word stored least significant byte
// first, as a little-endian guest holds it); false when the text does not hold every word (memory
// QEMU could not read, or text that is not xp's).
bool parse_xp(const std::string& text, std::size_t length, unsigned char* buffer);

}  // namespace vmp::virt
