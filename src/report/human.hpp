#pragma once

#include <ostream>

#include "report/report.hpp"

namespace vmp::report {

// One summary line first, then the measurement, the settings and where they came from, the
// iterations, and the grid when the report has one.
void write_human(std::ostream& out, const Report& report);
std::string summary_line(const Report& report);

}  // namespace vmp::report
