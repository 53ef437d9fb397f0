// D(t): how many distinct bytes of guest RAM a workload dirties within a window of t ms. This is
// what a pre-copy iteration of length t leaves to re-send, and what QEMU's page-sampling
// calc-dirty-rate measures (rate x period). Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vmp::model {

struct DirtyPoint {
  double period_ms;
  double dirty_bytes;
};

enum class CurveKind {
  // The 2023 RFC predictor's rule: linear between points, the first two points' line (clipped at
  // zero) before the first, the last two points' slope after the last.
  PiecewiseLinear,
  // Uniform random writes at r bytes/s over a working set W: W (1 - exp(-r t / W)), fitted to the
  // points. Saturates at W instead of growing with the end slope.
  Saturating,
  // The measured points joined linearly, and the fitted saturating shape outside them: before the
  // first point scaled to meet it, after the last point continuing its slope and approaching the
  // fitted working set. Equal to Saturating for random writes; flat after a measured plateau.
  Hybrid,
};

enum class CurvePolicy { Auto, PiecewiseLinear, Saturating, Hybrid };

std::string_view to_string(CurveKind kind);
std::string_view to_string(CurvePolicy policy);
std::optional<CurvePolicy> curve_policy_from_string(std::string_view text);
// --curve, for a prediction and for --watch alike: UsageError for a name that is none of them.
CurvePolicy parse_curve_policy(std::string_view text);

struct SaturatingFit {
  double working_set_bytes;
  double write_rate_bytes_per_s;
  // Largest |fit - point| / point over the points: how well the shape explains the measurement.
  double max_relative_error;
};

// Least-squares (relative) fit of W (1 - exp(-r t / W)) to the points, W bounded by
// ceiling_bytes. Needs at least two points with dirtied bytes; nullopt otherwise.
std::optional<SaturatingFit> fit_saturating(const std::vector<DirtyPoint>& points,
                                            double ceiling_bytes);

class DirtyCurve {
 public:
  // Points need not be sorted; they are sorted and made monotone (a later, longer period never
  // dirties fewer distinct bytes than a shorter one; a measured dip is sampling noise).
  static DirtyCurve piecewise_linear(std::vector<DirtyPoint> points, double ceiling_bytes);
  static DirtyCurve saturating(double working_set_bytes, double write_rate_bytes_per_s,
                               double ceiling_bytes);
  static DirtyCurve hybrid(std::vector<DirtyPoint> points, const SaturatingFit& fit,
                           double ceiling_bytes);

  // Distinct bytes dirtied in a window of period_ms. 0 at 0, monotone, never above the ceiling.
  double dirty_bytes(double period_ms) const;
  // The value the curve tends to for long windows: the working set it implies.
  double limit_bytes() const;

  CurveKind kind() const { return kind_; }
  double ceiling_bytes() const { return ceiling_bytes_; }
  const std::vector<DirtyPoint>& points() const { return points_; }
  double working_set_bytes() const { return working_set_bytes_; }
  double write_rate_bytes_per_s() const { return write_rate_bytes_per_s_; }

 private:
  DirtyCurve() = default;
  double interpolate(double period_ms) const;  // between the first and the last point
  double piecewise_at(double period_ms) const;
  double hybrid_at(double period_ms) const;
  double last_slope_bytes_per_ms() const;

  CurveKind kind_ = CurveKind::PiecewiseLinear;
  double ceiling_bytes_ = 0;
  std::vector<DirtyPoint> points_;
  double working_set_bytes_ = 0;
  double write_rate_bytes_per_s_ = 0;
};

// The choice between the two shapes, separate from building the curve so tests can pin it.
struct CurveChoice {
  CurveKind kind;
  std::string reason;
  std::optional<SaturatingFit> fit;
};

CurveChoice choose_curve(const std::vector<DirtyPoint>& points, double ceiling_bytes,
                         CurvePolicy policy);
DirtyCurve build_curve(const std::vector<DirtyPoint>& points, double ceiling_bytes,
                       const CurveChoice& choice);

}  // namespace vmp::model
