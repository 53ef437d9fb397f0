#include "watch/tracker.hpp"

#include <algorithm>
#include <cmath>

namespace vmp::watch {

double migration_time_ms(const Sample& s) { return s.elapsed_ms.value_or(s.at_ms); }

std::vector<int> IterationTracker::add(const Sample& s, double threshold_bytes,
                                       double window_bytes) {
  std::vector<int> started;
  if (!s.iteration || *s.iteration < 1) return started;
  Point p{migration_time_ms(s), s.ram_transferred_bytes, s.ram_remaining_bytes, 0, *s.iteration,
          std::nullopt};
  if (s.remaining_bytes && s.ram_remaining_bytes) {
    p.device_remaining_bytes = std::max(0.0, *s.remaining_bytes - *s.ram_remaining_bytes);
  }
  if (s.qemu_expected_downtime_ms && s.qemu_bandwidth_bytes_per_s &&
      *s.qemu_expected_downtime_ms > 0 && *s.qemu_bandwidth_bytes_per_s > 0) {
    p.qemu_peak_bytes = *s.qemu_expected_downtime_ms / 1000 * *s.qemu_bandwidth_bytes_per_s;
  }
  if (!history_.empty() && p.elapsed_ms < history_.back().elapsed_ms) {
    // A clock that went back: another migration of the same domain. Start over.
    history_.clear();
    iterations_.clear();
    bounds_.reset();
    current_ = 0;
  }
  if (history_.empty()) {
    IterationRecord& r = iterations_[p.iteration];
    r.iteration = p.iteration;
    if (p.iteration == 1) {
      // The first pass starts with every page dirty, right at the start.
      r.started_ms = 0;
      if (s.ram_total_bytes) r.peak_bytes = *s.ram_total_bytes + p.device_remaining_bytes;
      r.peak_measured = true;
      r.peak_source = "samples";
      started.push_back(1);
    }
  } else if (p.iteration > history_.back().iteration) {
    boundary(history_.back(), p, threshold_bytes, window_bytes);
    started.push_back(p.iteration);
  } else {
    const Point& prev = history_.back();
    if (p.iteration == 1 && prev.transferred_bytes && p.transferred_bytes &&
        prev.ram_remaining_bytes && p.ram_remaining_bytes &&
        *p.transferred_bytes > *prev.transferred_bytes) {
      first_pass_ratio_ = std::max(1.0, (*prev.ram_remaining_bytes - *p.ram_remaining_bytes) /
                                            (*p.transferred_bytes - *prev.transferred_bytes));
    }
    refine_from_qemu(p);
  }
  current_ = std::max(current_, p.iteration);
  history_.push_back(p);
  // Keep what the throughput window needs, and at least two points.
  while (history_.size() > 2 &&
         history_[1].elapsed_ms <= history_.back().elapsed_ms - kThroughputWindowMs) {
    history_.pop_front();
  }
  return started;
}

void IterationTracker::boundary(const Point& a, const Point& b, double threshold_bytes,
                                double window_bytes) {
  IterationRecord& next = iterations_[b.iteration];
  next.iteration = b.iteration;
  if (!a.transferred_bytes || !b.transferred_bytes || !b.ram_remaining_bytes ||
      !a.ram_remaining_bytes) {
    return;
  }
  const double dx = std::max(0.0, *b.transferred_bytes - *a.transferred_bytes);
  const double r_a = *a.ram_remaining_bytes;
  // QEMU sends a window's worth at once, then checks: it syncs at the first check that finds
  // less than the threshold left. From sample a, that takes n more windows. In the first pass a
  // window clears more than it sends (zero pages go as 9 bytes).
  const double ratio = a.iteration == 1 ? first_pass_ratio_ : 1.0;
  double sent_after_a = 0;
  if (window_bytes > 0 && r_a > threshold_bytes) {
    const double windows = std::ceil((r_a - threshold_bytes) / (window_bytes * ratio));
    sent_after_a = std::min({windows * window_bytes, r_a / ratio, dx});
  }
  const double leftover = std::max(0.0, r_a - sent_after_a * ratio);
  const double sent_before_b = std::clamp(dx - sent_after_a, 0.0, dx);
  const int syncs = b.iteration - a.iteration;
  // With several syncs in between, the bytes since the last of them are unknown: spread evenly.
  const double peak_ram = *b.ram_remaining_bytes + sent_before_b / syncs;
  next.peak_bytes = peak_ram + b.device_remaining_bytes;
  next.peak_measured = syncs == 1;
  next.peak_source = "samples";
  const double dt = b.elapsed_ms - a.elapsed_ms;
  double sync_ms = b.elapsed_ms;
  if (dx > 0 && dt > 0) {
    sync_ms = b.elapsed_ms - (sent_before_b / syncs) / (dx / dt);
  }
  next.started_ms = std::clamp(sync_ms, a.elapsed_ms, b.elapsed_ms);
  if (syncs == 1) {
    auto prev = iterations_.find(a.iteration);
    if (prev != iterations_.end()) {
      if (prev->second.started_ms) {
        prev->second.duration_ms = *next.started_ms - *prev->second.started_ms;
      }
      prev->second.dirtied_bytes = std::max(0.0, peak_ram - leftover);
    }
    // What the peak can be: at least what b still has, at most that plus all sent since a.
    bounds_ = Bounds{b.iteration,
                     *b.ram_remaining_bytes,
                     *b.ram_remaining_bytes + dx,
                     b.device_remaining_bytes,
                     leftover,
                     a.iteration};
  } else {
    bounds_.reset();
  }
}

void IterationTracker::refine_from_qemu(const Point& p) {
  // QEMU's expected downtime is recomputed every 100 ms window, so a sample right after a sync
  // may still show the previous iteration's: only later samples of the iteration count, and
  // only a figure the samples allow.
  if (!bounds_ || bounds_->iteration != p.iteration || !p.qemu_peak_bytes) return;
  const double q = *p.qemu_peak_bytes;
  const double slack = 65536;  // expected downtime is whole milliseconds
  if (q < bounds_->low - slack || q > bounds_->high + slack) return;
  IterationRecord& r = iterations_[p.iteration];
  r.peak_bytes = q + bounds_->device;
  r.peak_source = "qemu";
  auto prev = iterations_.find(bounds_->previous);
  if (prev != iterations_.end()) prev->second.dirtied_bytes = std::max(0.0, q - bounds_->leftover);
}

std::optional<double> IterationTracker::throughput_bytes_per_s() const {
  if (history_.size() < 2) return std::nullopt;
  const Point& last = history_.back();
  for (const Point& first : history_) {
    const double dt = last.elapsed_ms - first.elapsed_ms;
    if (dt <= 0 || !first.transferred_bytes || !last.transferred_bytes) continue;
    return std::max(0.0, *last.transferred_bytes - *first.transferred_bytes) / dt * 1000;
  }
  return std::nullopt;
}

std::optional<double> IterationTracker::last_sync_ms() const {
  auto it = iterations_.find(current_);
  if (it == iterations_.end()) return std::nullopt;
  return it->second.started_ms;
}

const IterationRecord* IterationTracker::record(int iteration) const {
  auto it = iterations_.find(iteration);
  return it == iterations_.end() ? nullptr : &it->second;
}

std::vector<model::DirtyPoint> IterationTracker::dirty_points() const {
  std::vector<model::DirtyPoint> out;
  for (const auto& [n, r] : iterations_) {
    if (r.duration_ms && r.dirtied_bytes && *r.duration_ms > 0) {
      out.push_back({*r.duration_ms, *r.dirtied_bytes});
    }
  }
  return out;
}

std::optional<double> IterationTracker::elapsed_ms() const {
  if (history_.empty()) return std::nullopt;
  return history_.back().elapsed_ms;
}

}  // namespace vmp::watch
