// The option sets the whole offline prediction is driven with, by the corpus replay (each file
// under every set) and by the fuzzer (each input under one, chosen by its hash): they reached
// hangs before (tiny and huge bandwidths, a 1 us max downtime, --table, the advice's
// auto-converge and post-copy searches, 30-day limits).
#pragma once

#include <string>
#include <vector>

namespace vmp::fuzz {

inline const std::vector<std::vector<std::string>> kOptionSets = {
    {"--bandwidth", "1Gbit/s"},
    {"--table"},
    {"--bandwidth", "2Gbit/s", "--table"},
    {"--bandwidth", "1kbit/s"},
    {"--bandwidth", "1Gbit/s", "--downtime", "1us", "--allow-auto-converge"},
    {"--bandwidth", "10Gbit/s", "--downtime", "10us", "--allow-postcopy", "--json"},
    {"--bandwidth", "64MiB/s", "--max-downtime", "30d", "--max-bandwidth", "1PB/s",
     "--deadline", "30d"},
};

}  // namespace vmp::fuzz
