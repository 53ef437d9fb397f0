#include "virt/memory_dump.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace vmp::virt {

std::string xp_command(std::uint64_t address, std::size_t length) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "xp /%zugx 0x%llx", length / 8,
                static_cast<unsigned long long>(address));
  return buf;
}

bool parse_xp(const std::string& text, std::size_t length, unsigned char* buffer) {
  const std::size_t words = length / 8;
  std::size_t word = 0;
  std::size_t at = 0;
  while (at < text.size() && word < words) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::size_t colon = text.find(':', at);
    if (colon == std::string::npos || colon >= end) return false;
    std::size_t p = colon + 1;
    bool any = false;
    while (p < end && word < words) {
      while (p < end && (text[p] == ' ' || text[p] == '\r')) ++p;
      if (p >= end) break;
      if (text.compare(p, 2, "0x") != 0) return false;  // "Cannot access memory", or not xp
      p += 2;
      std::uint64_t v = 0;
      std::size_t digits = 0;
      for (; p < end && std::isxdigit(static_cast<unsigned char>(text[p])); ++p, ++digits) {
        const char c = text[p];
        v = v << 4 | static_cast<std::uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      }
      if (digits == 0 || digits > 16) return false;
      for (int b = 0; b < 8; ++b) buffer[word * 8 + b] = static_cast<unsigned char>(v >> (8 * b));
      ++word;
      any = true;
    }
    if (!any) return false;
    at = end + 1;
  }
  return word == words && length % 8 == 0;
}

}  // namespace vmp::virt
