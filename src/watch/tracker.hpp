// From samples of a running migration to its iterations. Remaining is a sawtooth: it jumps up at
// each dirty bitmap sync (the pages dirtied meanwhile join) and falls at the sending rate until the
// next. What is comparable from one iteration to the next is the value at the sync that starts
// it, the peak, which samples taken at a steady interval almost never catch: it is reconstructed
// from the bytes sent between the two samples around the sync. Pure: no I/O, no clock.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "model/dirty_curve.hpp"
#include "watch/sample.hpp"

namespace vmp::watch {

// Throughput is measured over this much of the migration's own time: QEMU's figure covers one
// 100 ms rate-limit window and swings with it.
inline constexpr double kThroughputWindowMs = 3000;

struct IterationRecord {
  int iteration = 0;                 // QEMU's dirty-sync-count: 1 is the first pass
  std::optional<double> started_ms;  // the migration's clock at the sync that started it
  std::optional<double> peak_bytes;  // pending at that sync: RAM plus device state
  // The sync was the only one between two samples: the peak is reconstructed from the bytes sent
  // in between. When several syncs fell between two samples, it is an estimate.
  bool peak_measured = false;
  // "samples": rebuilt from the samples around the sync; "qemu": QEMU's expected downtime times
  // its bandwidth, which is what was dirty at its last sync (QEMU 7.2 to 10.x), once a later
  // sample of the iteration showed it and it agreed with the samples.
  std::string peak_source;
  std::optional<double> duration_ms;    // to the sync that ended it
  std::optional<double> dirtied_bytes;  // newly dirty at the sync that ended it
};

class IterationTracker {
 public:
  // `threshold_bytes`: QEMU's bandwidth x max downtime now: QEMU syncs at the first check that
  // finds less than that still to send. `window_bytes`: what QEMU sends in one 100 ms rate-limit
  // window; it sends a window's worth at once and checks after each. Returns the iterations whose
  // start this sample revealed.
  std::vector<int> add(const Sample& sample, double threshold_bytes, double window_bytes);

  std::optional<double> throughput_bytes_per_s() const;
  // The migration's clock at the last sync seen, and the iteration it started.
  std::optional<double> last_sync_ms() const;
  int current_iteration() const { return current_; }
  const std::map<int, IterationRecord>& iterations() const { return iterations_; }
  const IterationRecord* record(int iteration) const;
  // What each ended iteration dirtied over its length: the job's own dirty curve.
  std::vector<model::DirtyPoint> dirty_points() const;
  // The last sample with the migration's figures (time, transferred, remaining).
  std::optional<double> elapsed_ms() const;

 private:
  struct Point {
    double elapsed_ms;
    std::optional<double> transferred_bytes;
    std::optional<double> ram_remaining_bytes;
    double device_remaining_bytes;
    int iteration;
    std::optional<double> qemu_peak_bytes;  // expected downtime x bandwidth
  };
  void boundary(const Point& a, const Point& b, double threshold_bytes, double window_bytes);
  void refine_from_qemu(const Point& p);
  // The bytes the peak of the current iteration can lie between, from its boundary.
  struct Bounds {
    int iteration = 0;
    double low = 0, high = 0, device = 0;
    double leftover = 0;  // what the previous iteration left at the sync
    int previous = 0;
  };
  std::optional<Bounds> bounds_;
  // Of the first pass: remaining cleared per byte sent (zero pages cost next to nothing).
  double first_pass_ratio_ = 1;

  std::deque<Point> history_;
  std::map<int, IterationRecord> iterations_;
  int current_ = 0;
};

// Time of a sample on the migration's clock (the watch's when the migration reports none).
double migration_time_ms(const Sample& s);

}  // namespace vmp::watch
