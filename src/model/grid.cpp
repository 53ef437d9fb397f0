#include "model/grid.hpp"

#include <algorithm>
#include <limits>

namespace vmp::model {

std::vector<double> standard_grid_bandwidths_bytes_per_s() {
  std::vector<double> gbits{0.1, 1, 2, 2.5, 5, 10, 25, 40};
  for (auto& g : gbits) g *= 1e9 / 8;
  return gbits;
}

std::vector<double> standard_grid_downtimes_ms() {
  return {125, 250, 500, 1000, 5000, std::numeric_limits<double>::infinity()};
}

namespace {

// Inserts `value` in the sorted list unless present; returns its index.
std::size_t insert_sorted(std::vector<double>& values, double value) {
  auto it = std::lower_bound(values.begin(), values.end(), value);
  if (it == values.end() || *it != value) it = values.insert(it, value);
  return static_cast<std::size_t>(it - values.begin());
}

}  // namespace

Grid build_grid(const PrecopyInput& base, const DirtyCurve& curve,
                std::optional<double> bandwidth_in_effect_bytes_per_s,
                std::optional<double> downtime_in_effect_ms) {
  Grid grid;
  grid.downtime_limits_ms = standard_grid_downtimes_ms();
  if (downtime_in_effect_ms) {
    grid.downtime_in_effect_column = insert_sorted(grid.downtime_limits_ms, *downtime_in_effect_ms);
  }
  auto bandwidths = standard_grid_bandwidths_bytes_per_s();
  std::optional<std::size_t> row_in_effect;
  if (bandwidth_in_effect_bytes_per_s) {
    row_in_effect = insert_sorted(bandwidths, *bandwidth_in_effect_bytes_per_s);
  }
  for (std::size_t i = 0; i < bandwidths.size(); ++i) {
    GridRow row{bandwidths[i], row_in_effect == i, {}};
    for (double downtime : grid.downtime_limits_ms) {
      PrecopyInput in = base;
      in.bandwidth_bytes_per_s = bandwidths[i];
      in.link_bytes_per_s = 0;  // each row is a link of that speed
      in.unknown_link_at_thread_pace = false;
      in.downtime_limit_ms = downtime;
      auto result = simulate_precopy(in, curve);
      result.trace.clear();  // a table cell needs the outcome, not the iterations
      row.cells.push_back(std::move(result));
    }
    grid.rows.push_back(std::move(row));
  }
  return grid;
}

}  // namespace vmp::model
