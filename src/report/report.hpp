// Everything one run found out about one guest, ready to be rendered for people or scripts.
#pragma once

#include <optional>
#include <string>

#include "model/dirty_curve.hpp"
#include "model/grid.hpp"
#include "model/precopy.hpp"
#include "probe/profile.hpp"

namespace vmp::report {

// Where a setting's value came from, shown next to it.
enum class Source { CommandLine, Default, None };
std::string to_string(Source source);

struct Setting {
  std::optional<double> value;  // absent: nothing known (no bandwidth configured or given)
  Source source = Source::None;
};

struct Settings {
  Setting bandwidth_bytes_per_s;
  Setting downtime_limit_ms;
  Setting deadline_ms;
};

struct Report {
  std::string subject;  // the profile's path, or the domain's name
  probe::DirtyProfile profile;
  model::CurveChoice curve_choice;
  model::DirtyCurve curve;
  Settings settings;
  std::optional<model::PrecopyResult> prediction;  // absent when no bandwidth is known
  std::optional<model::Grid> grid;
};

}  // namespace vmp::report
