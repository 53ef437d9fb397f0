#include <gtest/gtest.h>

#include <cmath>

#include "model/grid.hpp"

using namespace vmp::model;

TEST(Grid, TheRfcTable) {
  auto bw = standard_grid_bandwidths_bytes_per_s();
  ASSERT_EQ(bw.size(), 8u);
  EXPECT_DOUBLE_EQ(bw.front(), 100e6 / 8);
  EXPECT_DOUBLE_EQ(bw[3], 2.5e9 / 8);
  EXPECT_DOUBLE_EQ(bw.back(), 40e9 / 8);
  auto dt = standard_grid_downtimes_ms();
  ASSERT_EQ(dt.size(), 6u);
  EXPECT_DOUBLE_EQ(dt.front(), 125);
  EXPECT_TRUE(std::isinf(dt.back()));
}

TEST(Grid, AddsAndMarksTheSettingsInEffect) {
  PrecopyInput base;
  base.ram_bytes = 1 << 30;
  auto curve = DirtyCurve::saturating(64 << 20, 100 << 20, 1 << 30);
  auto grid = build_grid(base, curve, 128.0 * 1048576, 300.0);
  ASSERT_EQ(grid.rows.size(), 9u);
  ASSERT_EQ(grid.downtime_limits_ms.size(), 7u);
  ASSERT_TRUE(grid.downtime_in_effect_column);
  EXPECT_DOUBLE_EQ(grid.downtime_limits_ms[*grid.downtime_in_effect_column], 300);
  int marked = 0;
  for (const auto& row : grid.rows) {
    ASSERT_EQ(row.cells.size(), 7u);
    if (row.in_effect) {
      ++marked;
      EXPECT_DOUBLE_EQ(row.bandwidth_bytes_per_s, 128.0 * 1048576);
    }
  }
  EXPECT_EQ(marked, 1);
  // Slow links cannot keep up with 100 MiB/s of writes; unlimited downtime always converges.
  EXPECT_FALSE(grid.rows.front().cells.front().converges());
  for (const auto& row : grid.rows) EXPECT_TRUE(row.cells.back().converges());
}

TEST(Grid, ASettingAlreadyInTheTableIsNotRepeated) {
  PrecopyInput base;
  base.ram_bytes = 1 << 30;
  auto curve = DirtyCurve::saturating(64 << 20, 1 << 20, 1 << 30);
  auto grid = build_grid(base, curve, 10e9 / 8, 500.0);
  EXPECT_EQ(grid.rows.size(), 8u);
  EXPECT_EQ(grid.downtime_limits_ms.size(), 6u);
}
