#include "model/dirty_curve.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "base/error.hpp"

namespace vmp::model {
namespace {

double saturating_value(double working_set_bytes, double rate_bytes_per_ms, double period_ms) {
  if (working_set_bytes <= 0 || rate_bytes_per_ms <= 0) return 0;
  // -expm1 keeps precision when r t << W, where the curve is the straight line r t.
  return working_set_bytes * -std::expm1(-rate_bytes_per_ms * period_ms / working_set_bytes);
}

std::vector<DirtyPoint> normalized(std::vector<DirtyPoint> points, double ceiling_bytes) {
  std::sort(points.begin(), points.end(),
            [](const DirtyPoint& a, const DirtyPoint& b) { return a.period_ms < b.period_ms; });
  double running_max = 0;
  std::vector<DirtyPoint> out;
  for (const auto& p : points) {
    if (!std::isfinite(p.period_ms) || !std::isfinite(p.dirty_bytes)) continue;
    running_max = std::max(running_max, std::min(p.dirty_bytes, ceiling_bytes));
    // Two measurements of one period are one point: the larger.
    if (!out.empty() && out.back().period_ms == p.period_ms) {
      out.back().dirty_bytes = running_max;
    } else {
      out.push_back({p.period_ms, running_max});
    }
  }
  return out;
}

// Sum of squared relative errors of the saturating shape at the points. Points with nothing
// dirtied are weighted as if one 4 KiB page had been, so they still pull the fit towards zero.
double fit_cost(const std::vector<DirtyPoint>& points, double w, double r_per_ms) {
  double cost = 0;
  for (const auto& p : points) {
    double scale = std::max(p.dirty_bytes, 4096.0);
    double e = (saturating_value(w, r_per_ms, p.period_ms) - p.dirty_bytes) / scale;
    cost += e * e;
  }
  return cost;
}

// Golden-section search of a unimodal function on [lo, hi] in log space.
template <typename F>
double golden_log(F f, double lo, double hi, int steps) {
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(lo), b = std::log(hi);
  double c = b - g * (b - a), d = a + g * (b - a);
  double fc = f(std::exp(c)), fd = f(std::exp(d));
  for (int i = 0; i < steps; ++i) {
    if (fc < fd) {
      b = d; d = c; fd = fc;
      c = b - g * (b - a); fc = f(std::exp(c));
    } else {
      a = c; c = d; fc = fd;
      d = a + g * (b - a); fd = f(std::exp(d));
    }
  }
  return std::exp((a + b) / 2);
}

}  // namespace

std::string_view to_string(CurveKind kind) {
  switch (kind) {
    case CurveKind::PiecewiseLinear: return "piecewise-linear";
    case CurveKind::Saturating: return "saturating";
    case CurveKind::Hybrid: return "hybrid";
  }
  return "hybrid";
}

std::string_view to_string(CurvePolicy policy) {
  switch (policy) {
    case CurvePolicy::Auto: return "auto";
    case CurvePolicy::PiecewiseLinear: return "piecewise-linear";
    case CurvePolicy::Saturating: return "saturating";
    case CurvePolicy::Hybrid: return "hybrid";
  }
  return "auto";
}

std::optional<CurvePolicy> curve_policy_from_string(std::string_view text) {
  for (auto p : {CurvePolicy::Auto, CurvePolicy::PiecewiseLinear, CurvePolicy::Saturating,
                 CurvePolicy::Hybrid}) {
    if (to_string(p) == text) return p;
  }
  return std::nullopt;
}

CurvePolicy parse_curve_policy(std::string_view text) {
  if (auto policy = curve_policy_from_string(text)) return *policy;
  throw UsageError("--curve: '" + std::string(text) +
                   "' is not one of auto, hybrid, saturating, piecewise-linear");
}

std::optional<SaturatingFit> fit_saturating(const std::vector<DirtyPoint>& raw_points,
                                            double ceiling_bytes) {
  auto points = normalized(raw_points, ceiling_bytes);
  int informative = 0;
  double max_dirty = 0, max_rate_per_ms = 0;
  for (const auto& p : points) {
    if (p.period_ms > 0 && p.dirty_bytes > 0) {
      ++informative;
      max_rate_per_ms = std::max(max_rate_per_ms, p.dirty_bytes / p.period_ms);
    }
    max_dirty = std::max(max_dirty, p.dirty_bytes);
  }
  if (informative < 2 || ceiling_bytes <= 0) return std::nullopt;

  // W lies between the largest measured volume and the ceiling; r is at least the steepest
  // chord from the origin (the curve is concave, so r t >= D(t)) and is searched well above it.
  double w_lo = std::max(max_dirty, 1.0);
  double w_hi = std::max(ceiling_bytes, w_lo * (1 + 1e-9));
  double r_lo = max_rate_per_ms * 0.5, r_hi = max_rate_per_ms * 1e4;

  auto best_r_for = [&](double w) {
    return golden_log([&](double r) { return fit_cost(points, w, r); }, r_lo, r_hi, 80);
  };
  // The cost is not unimodal in W everywhere (it flattens as the curve becomes a line), so scan
  // W on a log grid first and refine around the best cell.
  const int grid = 48;
  double best_w = w_hi, best_cost = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= grid; ++i) {
    double w = w_lo * std::pow(w_hi / w_lo, static_cast<double>(i) / grid);
    double cost = fit_cost(points, w, best_r_for(w));
    if (cost < best_cost) { best_cost = cost; best_w = w; }
  }
  double step = std::pow(w_hi / w_lo, 1.0 / grid);
  double w = golden_log([&](double wc) { return fit_cost(points, wc, best_r_for(wc)); },
                        std::max(w_lo, best_w / step), std::min(w_hi, best_w * step), 60);
  if (fit_cost(points, w, best_r_for(w)) > best_cost) w = best_w;
  double r = best_r_for(w);

  double max_err = 0;
  for (const auto& p : points) {
    if (p.dirty_bytes <= 0) continue;
    max_err = std::max(max_err, std::abs(saturating_value(w, r, p.period_ms) - p.dirty_bytes) /
                                    p.dirty_bytes);
  }
  return SaturatingFit{w, r * 1000.0, max_err};
}

DirtyCurve DirtyCurve::piecewise_linear(std::vector<DirtyPoint> points, double ceiling_bytes) {
  DirtyCurve c;
  c.kind_ = CurveKind::PiecewiseLinear;
  c.ceiling_bytes_ = std::max(0.0, ceiling_bytes);
  c.points_ = normalized(std::move(points), c.ceiling_bytes_);
  c.points_.erase(std::remove_if(c.points_.begin(), c.points_.end(),
                                 [](const DirtyPoint& p) { return !(p.period_ms > 0); }),
                  c.points_.end());
  c.working_set_bytes_ = c.limit_bytes();
  if (!c.points_.empty()) {
    c.write_rate_bytes_per_s_ = c.points_.front().dirty_bytes / c.points_.front().period_ms * 1000;
  }
  return c;
}

DirtyCurve DirtyCurve::saturating(double working_set_bytes, double write_rate_bytes_per_s,
                                  double ceiling_bytes) {
  DirtyCurve c;
  c.kind_ = CurveKind::Saturating;
  c.ceiling_bytes_ = std::max(0.0, ceiling_bytes);
  c.working_set_bytes_ = std::clamp(working_set_bytes, 0.0, c.ceiling_bytes_);
  c.write_rate_bytes_per_s_ = std::max(0.0, write_rate_bytes_per_s);
  return c;
}

DirtyCurve DirtyCurve::hybrid(std::vector<DirtyPoint> points, const SaturatingFit& fit,
                              double ceiling_bytes) {
  DirtyCurve c = piecewise_linear(std::move(points), ceiling_bytes);
  c.kind_ = CurveKind::Hybrid;
  c.working_set_bytes_ = std::clamp(fit.working_set_bytes, 0.0, c.ceiling_bytes_);
  c.write_rate_bytes_per_s_ = std::max(0.0, fit.write_rate_bytes_per_s);
  return c;
}

double DirtyCurve::interpolate(double t) const {
  const auto& p = points_;
  auto it = std::upper_bound(p.begin(), p.end(), t,
                             [](double v, const DirtyPoint& q) { return v < q.period_ms; });
  if (it == p.begin()) return p.front().dirty_bytes;
  if (it == p.end()) return p.back().dirty_bytes;
  const DirtyPoint& a = *(it - 1);
  const DirtyPoint& b = *it;
  return a.dirty_bytes + (b.dirty_bytes - a.dirty_bytes) * (t - a.period_ms) /
                             (b.period_ms - a.period_ms);
}

double DirtyCurve::last_slope_bytes_per_ms() const {
  const auto& p = points_;
  if (p.size() == 1) return p[0].dirty_bytes / p[0].period_ms;
  const auto& a = p[p.size() - 2];
  const auto& b = p.back();
  return (b.dirty_bytes - a.dirty_bytes) / (b.period_ms - a.period_ms);
}

double DirtyCurve::piecewise_at(double t) const {
  const auto& p = points_;
  if (p.empty()) return 0;
  if (p.size() == 1) return p[0].dirty_bytes * t / p[0].period_ms;
  if (t <= p.front().period_ms) {
    double first_slope = (p[1].dirty_bytes - p[0].dirty_bytes) / (p[1].period_ms - p[0].period_ms);
    return std::max(0.0, p[0].dirty_bytes + first_slope * (t - p[0].period_ms));
  }
  if (t >= p.back().period_ms) {
    return p.back().dirty_bytes + last_slope_bytes_per_ms() * (t - p.back().period_ms);
  }
  return interpolate(t);
}

double DirtyCurve::hybrid_at(double t) const {
  const auto& p = points_;
  if (p.empty()) return 0;
  const double rate_per_ms = write_rate_bytes_per_s_ / 1000;
  if (t <= p.front().period_ms) {
    double at_first = saturating_value(working_set_bytes_, rate_per_ms, p.front().period_ms);
    if (at_first <= 0) return p.front().dirty_bytes * t / p.front().period_ms;
    return p.front().dirty_bytes * saturating_value(working_set_bytes_, rate_per_ms, t) / at_first;
  }
  if (t <= p.back().period_ms) return interpolate(t);
  // Beyond the last point: start with the last measured segment's slope and approach the fitted
  // working set, as the saturating shape does from that point on. Not the fit's own tangent
  // there: within the measurement's reach a sweep (straight until it wraps) and random writes
  // over a large set look alike (the last segment's slope over the rate up to the point before
  // it, every stored run: sweeps 0.82-1.08, random writes over 256-512 MiB 0.61-0.94), and the
  // fit, led by the short periods' noisy readings, bent sweeps down: on the sweep tuning cases
  // (bench.py sweep-1g-*, QEMU 10.0) what the first pass left dirty came out 7-16% short, and
  // 11 of 12 migrations on the two stacks 3-14% short.
  double headroom = working_set_bytes_ - p.back().dirty_bytes;
  double slope = last_slope_bytes_per_ms();
  if (headroom <= 0 || slope <= 0) return p.back().dirty_bytes;
  return p.back().dirty_bytes + saturating_value(headroom, slope, t - p.back().period_ms);
}

double DirtyCurve::dirty_bytes(double period_ms) const {
  if (!(period_ms > 0)) return 0;
  double v = 0;
  switch (kind_) {
    case CurveKind::Saturating:
      v = saturating_value(working_set_bytes_, write_rate_bytes_per_s_ / 1000, period_ms);
      break;
    case CurveKind::PiecewiseLinear: v = piecewise_at(period_ms); break;
    case CurveKind::Hybrid: v = hybrid_at(period_ms); break;
  }
  return std::clamp(v, 0.0, ceiling_bytes_);
}

double DirtyCurve::limit_bytes() const {
  if (kind_ == CurveKind::Saturating) return working_set_bytes_;
  if (points_.empty()) return 0;
  if (last_slope_bytes_per_ms() <= 0) return points_.back().dirty_bytes;
  if (kind_ == CurveKind::Hybrid) return std::max(working_set_bytes_, points_.back().dirty_bytes);
  return ceiling_bytes_;
}

CurveChoice choose_curve(const std::vector<DirtyPoint>& points, double ceiling_bytes,
                         CurvePolicy policy) {
  if (policy == CurvePolicy::PiecewiseLinear) {
    return {CurveKind::PiecewiseLinear, "requested (the 2023 RFC predictor's rule)", std::nullopt};
  }
  auto fit = fit_saturating(points, ceiling_bytes);
  if (!fit) {
    return {CurveKind::PiecewiseLinear,
            "fewer than two measured periods dirtied anything, so no shape can be fitted: "
            "straight lines through the points",
            std::nullopt};
  }
  char fit_text[96];
  std::snprintf(fit_text, sizeof fit_text, "random writes over a working set fit every point within %.1f%%",
                fit->max_relative_error * 100);
  if (policy == CurvePolicy::Saturating) {
    return {CurveKind::Saturating, std::string("requested; ") + fit_text, fit};
  }
  return {CurveKind::Hybrid,
          std::string(policy == CurvePolicy::Hybrid ? "requested" : "default") +
              ": the measured points, and outside them the saturating shape (" + fit_text + ")",
          fit};
}

DirtyCurve build_curve(const std::vector<DirtyPoint>& points, double ceiling_bytes,
                       const CurveChoice& choice) {
  if (choice.kind == CurveKind::Saturating && choice.fit) {
    return DirtyCurve::saturating(choice.fit->working_set_bytes,
                                  choice.fit->write_rate_bytes_per_s, ceiling_bytes);
  }
  if (choice.kind == CurveKind::Hybrid && choice.fit) {
    return DirtyCurve::hybrid(points, *choice.fit, ceiling_bytes);
  }
  return DirtyCurve::piecewise_linear(points, ceiling_bytes);
}

}  // namespace vmp::model
