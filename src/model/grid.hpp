// The bandwidth x downtime table the 2023 RFC predictor printed, plus the settings in effect.
#pragma once

#include <optional>
#include <vector>

#include "model/dirty_curve.hpp"
#include "model/precopy.hpp"

namespace vmp::model {

struct GridRow {
  double bandwidth_bytes_per_s;
  bool in_effect;  // the row of the configured bandwidth
  std::vector<PrecopyResult> cells;  // one per column, in column order
};

struct Grid {
  std::vector<double> downtime_limits_ms;  // infinity = unlimited
  std::optional<std::size_t> downtime_in_effect_column;
  std::vector<GridRow> rows;
};

// 100 Mbit/s; 1, 2, 2.5, 5, 10, 25, 40 Gbit/s (SI, as links are rated).
std::vector<double> standard_grid_bandwidths_bytes_per_s();
// 125, 250, 500, 1000, 5000 ms and unlimited.
std::vector<double> standard_grid_downtimes_ms();

// `base` carries RAM, zero pages and the deadline; its bandwidth and downtime are replaced per
// cell. The configured bandwidth and downtime, when given, join the table in order and are
// marked as in effect.
Grid build_grid(const PrecopyInput& base, const DirtyCurve& curve,
                std::optional<double> bandwidth_in_effect_bytes_per_s,
                std::optional<double> downtime_in_effect_ms);

}  // namespace vmp::model
