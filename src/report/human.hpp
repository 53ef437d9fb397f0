#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "report/report.hpp"

namespace vmp::report {

// One summary line first, then the measurement, the settings and where they came from, the
// iterations, and the grid when the report has one.
void write_human(std::ostream& out, const Report& report);
std::string summary_line(const Report& report);
// What to change, with the virsh command that does it; empty when nothing needs changing.
std::vector<std::string> advice_lines(const Report& report);
// The "Interval:" line: the total time at both ends of the sampling error, and the pause as a
// range (the favourable end may pause longer) that holds `point`'s (the prediction's) too when
// it converges. `mean_reading`: it also spans the readings of a load whose rate changed;
// `thread_decides`: the migration thread's measured spread (it is slower than the cap and link);
// `link_unknown`: the link not given, its unfavourable end as slow as the bandwidth.
std::string interval_line(const model::PredictionInterval& interval,
                          const model::PrecopyResult& point, bool mean_reading = false,
                          bool thread_decides = false, bool link_unknown = false);

}  // namespace vmp::report
