#include "base/format.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace vmp {
namespace {

std::string printf_string(const char* fmt, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, a);
  return buf;
}

// Three significant figures, as "418", "12.0", "1.07".
std::string three_figures(double v) {
  if (v >= 100) return printf_string("%.0f", v);
  if (v >= 10) return printf_string("%.1f", v);
  return printf_string("%.2f", v);
}

std::string minutes_seconds(double ms) {
  double total_s = std::round(ms / 1000);
  if (total_s < 3600) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(total_s) / 60,
                  static_cast<int>(total_s) % 60);
    return buf;
  }
  // In doubles: a duration of years (a tiny bandwidth's first pass) overflows an int.
  double total_min = std::round(ms / 60000);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0fh%02.0fm", std::floor(total_min / 60),
                std::fmod(total_min, 60));
  return buf;
}

}  // namespace

std::string format_bytes(double bytes) {
  static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 * 0.9995 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0) return printf_string("%.0f bytes", bytes);
  return three_figures(bytes) + " " + units[u];
}

std::string format_link_rate(double bytes_per_s) {
  double bits = bytes_per_s * 8;
  auto trim = [](double v) {
    std::string s = three_figures(v);
    if (s.find('.') != std::string::npos) {
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
    return s;
  };
  if (bits >= 1e9) return trim(bits / 1e9) + " Gbit/s";
  if (bits >= 1e6) return trim(bits / 1e6) + " Mbit/s";
  return trim(bits / 1e3) + " kbit/s";
}

std::string format_page_size(double bytes) {
  if (bytes >= 1073741824 && std::fmod(bytes, 1073741824) == 0)
    return printf_string("%.0f GiB", bytes / 1073741824);
  if (bytes >= 1048576 && std::fmod(bytes, 1048576) == 0)
    return printf_string("%.0f MiB", bytes / 1048576);
  if (bytes >= 1024 && std::fmod(bytes, 1024) == 0) return printf_string("%.0f KiB", bytes / 1024);
  return format_bytes(bytes);
}

std::string format_rate(double bytes_per_s) {
  return format_bytes(bytes_per_s) + "/s (" + format_link_rate(bytes_per_s) + ")";
}

std::string format_duration(double ms) {
  if (ms < 1000) return printf_string("%.0f ms", ms);
  if (ms < 10000) return printf_string("%.1f s", ms / 1000);
  if (ms < 59500) return printf_string("%.0f s", ms / 1000);
  return minutes_seconds(ms);
}

std::string format_duration_compact(double ms) {
  if (ms < 1000) return printf_string("%.0fms", ms);
  if (ms < 10000) return printf_string("%.1fs", ms / 1000);
  if (ms < 59500) return printf_string("%.0fs", ms / 1000);
  return minutes_seconds(ms);
}

std::string format_period(double ms) {
  const double whole = std::round(ms);
  if (whole < 1000) return printf_string("%.0f ms", whole);
  const auto at = [&](double step) { return std::fmod(whole, step) == 0; };
  const char* f = whole >= 10000 && at(1000) ? "%.0f s"
                  : at(100)                   ? "%.1f s"
                  : at(10)                    ? "%.2f s"
                                              : "%.3f s";
  return printf_string(f, whole / 1000);
}

std::string format_percent(double fraction) { return printf_string("%.1f%%", fraction * 100); }

namespace {

// The length of the well-formed UTF-8 sequence starting at text[i] (a byte >= 0x80), or 0.
std::size_t utf8_sequence_length(const std::string& text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  std::size_t n = c >= 0xc2 && c <= 0xdf   ? 2
                  : c >= 0xe0 && c <= 0xef ? 3
                  : c >= 0xf0 && c <= 0xf4 ? 4
                                           : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  }
  // No overlong forms, surrogates or code points beyond U+10FFFF.
  if (c == 0xe0 && b(i + 1) < 0xa0) return 0;
  if (c == 0xed && b(i + 1) > 0x9f) return 0;
  if (c == 0xf0 && b(i + 1) < 0x90) return 0;
  if (c == 0xf4 && b(i + 1) > 0x8f) return 0;
  return n;
}

std::string escaped(const std::string& text, const char* line_break) {
  std::string out;
  out.reserve(text.size());
  static const char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      while (i + 1 < text.size() && (text[i + 1] == '\n' || text[i + 1] == '\r' ||
                                     text[i + 1] == ' ' || text[i + 1] == '\t')) {
        ++i;
      }
      if (!out.empty() && i + 1 < text.size()) out += line_break;
    } else if (c == '\t') {
      out += ' ';
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (std::size_t n = utf8_sequence_length(text, i); n > 0) {
      out.append(text, i, n);
      i += n - 1;
    } else {
      // Not UTF-8: shown as its byte, as control characters are.
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string printable(const std::string& text) { return escaped(text, " "); }

std::string one_line(const std::string& text) { return escaped(text, "; "); }

}  // namespace vmp
