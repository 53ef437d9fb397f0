#include "watch/watch.hpp"

#include <algorithm>
#include <cmath>

#include "base/format.hpp"
#include "model/libvirt_steps.hpp"
#include "model/thread_cost.hpp"
#include "virt/job_keys.hpp"
#include "virt/monitor.hpp"
#include "watch/summary.hpp"
#include "watch/tracker.hpp"
#include "watch/view.hpp"

namespace vmp::watch {
namespace {

// After QEMU says completed, libvirt still confirms with the destination (about 2 s here)
// before it reports its final figures.
constexpr double kFinalFiguresWaitMs = 8000;
// A domain that vanished: libvirt's events say why within moments, if they come at all.
constexpr double kVanishedWaitMs = 3000;
constexpr double kEventPollMs = 50;
constexpr int kFirstJudgedIteration = 3;

class Watcher {
 public:
  Watcher(WatchTarget& target, const WatchOptions& options, probe::Clock& clock, WatchOutput& out,
          const std::atomic<int>* stop)
      : target_(target),
        options_(options),
        clock_(clock),
        out_(out),
        stop_(stop),
        t0_(clock.now_ms()) {
    seen_.domain = target_.domain;
  }

  int run() {
    try {
      return run_unchecked();
    } catch (const DomainGone& e) {
      return vanished(e.what());
    } catch (const ConnectionLost& e) {
      return finish(error_summary(seen_, e.what(), "connection"));
    } catch (const RuntimeError& e) {
      return finish(error_summary(seen_, e.what(), e.key()));
    }
  }

 private:
  int run_unchecked() {
    Sample s = read_sample();
    if (s.owner == JobOwner::None) return nothing_to_watch(s);
    owner_ = s.owner;
    attach(s);
    for (;;) {
      if (int sig = stopped_by_signal()) return finish(interrupted_summary(seen_, sig));
      clock_.sleep_ms(options_.interval_ms);
      if (int sig = stopped_by_signal()) return finish(interrupted_summary(seen_, sig));
      if (auto end = from_events()) return *end;
      std::optional<Sample> next;
      try {
        next = read_sample();
        failing_since_.reset();
      } catch (const DomainGone& e) {
        return vanished(e.what());
      } catch (const ConnectionLost&) {
        throw;
      } catch (const RuntimeError& e) {
        // One failed reading (a busy daemon) is not the end; readings that keep failing are.
        if (!failing_since_) failing_since_ = clock_.now_ms();
        if (clock_.now_ms() - *failing_since_ > options_.give_up_after_ms) throw;
        continue;
      }
      if (auto end = step(*next)) return *end;
    }
  }

  // ---------------------------------------------------------------- readings

  Sample read_sample() {
    std::optional<JobStats> job;
    if (target_.job) job = target_.job->read(false);
    std::optional<nlohmann::json> q;
    if (target_.monitor) {
      q = target_.monitor->execute("query-migrate", nlohmann::json());
    }
    if (job && job->migrating_in()) {
      throw RuntimeError("domain " + target_.domain +
                         " is the destination of a migration: watch it on the source host");
    }
    return merge_sample(clock_.now_ms() - t0_, job, q);
  }

  std::optional<int> from_events() {
    if (!target_.events) return std::nullopt;
    DomainEvents ev = target_.events->events();
    if (ev.connection_closed) {
      return finish(error_summary(
          seen_, "lost the connection to libvirt (" + target_.uri + "): " + *ev.connection_closed,
          "connection"));
    }
    if (ev.stopped_detail) {
      if (*ev.stopped_detail == virt::stopped::kMigrated) return completed_by_libvirt();
      return finish(
          ended_summary(seen_, Phase::Failed, stopped_detail(stop_reason(*ev.stopped_detail))));
    }
    return std::nullopt;
  }

  static std::string stop_reason(int detail) {
    switch (detail) {
      case virt::stopped::kShutdown:
        return "shut down";
      case virt::stopped::kDestroyed:
        return "destroyed";
      case virt::stopped::kCrashed:
        return "crashed";
      case virt::stopped::kSaved:
        return "saved";
      case virt::stopped::kFailed:
        return "its emulator failed";
      default:
        return "stopped";
    }
  }

  int stopped_by_signal() const { return stop_ ? stop_->load() : 0; }

  // ---------------------------------------------------------------- attach

  int nothing_to_watch(const Sample& s) {
    return finish(
        no_migration_summary(seen_, s, target_.monitor != nullptr, target_.no_monitor_reason));
  }

  // RAM and page size as the migration reports them, once it does (libvirt's job exists before
  // QEMU's migration starts); the domain's XML until then.
  void learn_guest(const Sample& s) {
    if (s.ram_total_bytes) ram_bytes_ = *s.ram_total_bytes;
    if (s.page_size_bytes && *s.page_size_bytes != page_size_) {
      page_size_ = *s.page_size_bytes;
      granularity_ = dirty_granularity(target_.facts, page_size_);
      if (options_.profile) {
        profile_curve_ =
            at_granularity(curve_from_profile(*options_.profile, options_.curve_policy), page_size_,
                           granularity_.bytes);
      }
    }
  }

  void attach(const Sample& s) {
    page_size_ = s.page_size_bytes.value_or(4096);
    ram_bytes_ = s.ram_total_bytes.value_or(static_cast<double>(target_.facts.memory_bytes));
    granularity_ = dirty_granularity(target_.facts, page_size_);
    refresh_downtime_limit();
    if (target_.monitor) {
      try {
        for (const auto& cap :
             target_.monitor->execute("query-migrate-capabilities", nlohmann::json())) {
          if (cap.value("capability", "") == "postcopy-ram")
            postcopy_allowed_ = cap.value("state", false);
        }
      } catch (const virt::QmpError&) {
        // A QEMU that cannot say leaves post-copy unknown, and so not advised.
      }
    }
    if (options_.profile) {
      profile_curve_ = at_granularity(curve_from_profile(*options_.profile, options_.curve_policy),
                                      page_size_, granularity_.bytes);
      zero_pages_ = static_cast<double>(options_.profile->zero_pages.count) *
                    static_cast<double>(options_.profile->page_size_bytes) / page_size_;
    }
    tracker_.add(s, threshold(s), window_bytes(s));
    seen_.last = s;

    AttachView v;
    v.domain = target_.domain;
    v.owner = owner_;
    v.sample = s;
    v.downtime_limit_ms = downtime_limit_ms_;
    v.postcopy_allowed = postcopy_allowed_;
    v.granularity = granularity_;
    v.apply = options_.apply;
    attached_iteration_ = std::max(1, s.iteration.value_or(1));
    v.forecast = forecast_from_sample(s);
    v.curve_origin = curve_origin_;
    seen_.at_attach = v.forecast;
    forecast_ = v.forecast;
    out_.attached(v);
    out_.sample(view(s));
  }

  // From where a sample stands, mid-iteration.
  std::optional<Forecast> forecast_from_sample(const Sample& s) {
    if (!running(s.phase) || s.phase == Phase::PostcopyActive || !s.iteration ||
        !s.ram_remaining_bytes) {
      return std::nullopt;
    }
    model::PrecopyResume r;
    r.pending_bytes = *s.ram_remaining_bytes;
    r.in_first_pass = *s.iteration <= 1;
    r.since_sync_ms = since_sync_at_attach(s);
    return forecast_now(r, migration_time_ms(s), s);
  }

  // When attaching mid-iteration, the last sync is not seen. QEMU's expected downtime (7.2 to
  // 10.x) is what was dirty at that sync over the bandwidth of its last window: the pending then,
  // less what is pending now, was sent since.
  double since_sync_at_attach(const Sample& s) const {
    if (*s.iteration <= 1) return migration_time_ms(s);
    if (!s.qemu_expected_downtime_ms || !s.qemu_bandwidth_bytes_per_s || !s.ram_remaining_bytes ||
        *s.qemu_bandwidth_bytes_per_s <= 0) {
      return 0;
    }
    const double at_sync = *s.qemu_expected_downtime_ms / 1000 * *s.qemu_bandwidth_bytes_per_s;
    return std::max(0.0, at_sync - *s.ram_remaining_bytes) / *s.qemu_bandwidth_bytes_per_s * 1000;
  }

  void refresh_downtime_limit() {
    if (!target_.control) return;
    try {
      if (auto ms = target_.control->max_downtime_ms()) downtime_limit_ms_ = *ms;
    } catch (const DomainGone&) {
      throw;
    } catch (const ConnectionLost&) {
      throw;
    } catch (const RuntimeError&) {
      // Keep the last known limit: reading it again is only to notice someone else's change.
    }
  }

  // ---------------------------------------------------------------- model

  // The bandwidth QEMU works with: its last window's, else ours over kThroughputWindowMs.
  double qemu_bandwidth(const Sample& s) const {
    return s.qemu_bandwidth_bytes_per_s.value_or(tracker_.throughput_bytes_per_s().value_or(0));
  }

  // QEMU syncs when what is left falls to its bandwidth x max downtime.
  double threshold(const Sample& s) const {
    return qemu_bandwidth(s) * downtime_limit_ms_.value_or(model::kDefaultDowntimeLimitMs) / 1000;
  }

  // What QEMU sends in one rate-limit window.
  double window_bytes(const Sample& s) const {
    return qemu_bandwidth(s) * model::kRateLimitWindowMs / 1000;
  }

  // The dirty curve to predict with: the profile's; else the migration's own iterations; else
  // QEMU's dirty rate as a straight line. None before the first pass ends without a profile.
  const model::DirtyCurve* curve(const Sample& s) {
    if (profile_curve_) {
      curve_origin_ = "profile " + options_.profile_path;
      return &*profile_curve_;
    }
    auto points = tracker_.dirty_points();
    if (!points.empty()) {
      job_curve_ = curve_from_iterations(points, ram_bytes_);
      if (job_curve_) {
        curve_origin_ = "the migration's iterations";
        return &*job_curve_;
      }
    }
    // QEMU leaves the dirty rate at 0 until it first measures one, after the first pass (7.2
    // and 10.0 alike: tests/unit/data/watch).
    if (s.dirty_rate_bytes_per_s &&
        (*s.dirty_rate_bytes_per_s > 0 || s.iteration.value_or(1) > 1)) {
      job_curve_ =
          model::DirtyCurve::piecewise_linear({{1000, *s.dirty_rate_bytes_per_s}}, ram_bytes_);
      curve_origin_ = "QEMU's dirty rate";
      return &*job_curve_;
    }
    curve_origin_ =
        "none yet (QEMU reports no dirty rate during the first pass; --profile gives one)";
    return nullptr;
  }

  // Pre-copy from here on sends dirty pages at the rate QEMU measures for itself (ram.mbps,
  // libvirt's memory_bps), the rate its switchover threshold is made of. Our own throughput over
  // kThroughputWindowMs runs low at the end of a mostly-zero guest's first pass (zero pages take
  // time and few bytes): 26 MiB/s at a 32 MiB/s cap in the recorded sawtooth, which made the
  // forecast at iteration 2 22-32% long, where QEMU's figure makes it 1.5-2% short.
  std::optional<model::PrecopyInput> model_input(const Sample& s) const {
    auto bw = s.qemu_bandwidth_bytes_per_s && *s.qemu_bandwidth_bytes_per_s > 0
                  ? s.qemu_bandwidth_bytes_per_s
                  : throughput_bytes_per_s(tracker_.throughput_bytes_per_s(), s);
    if (!bw) return std::nullopt;
    model::PrecopyInput in;
    in.ram_bytes = ram_bytes_;
    in.page_size_bytes = page_size_;
    // On huge pages QEMU looks at its estimate later (model::PrecopyInput::host_page_bytes);
    // where a write dirties the whole huge page (POWER), the curve is in huge pages already.
    if (granularity_.bytes <= page_size_) {
      in.host_page_bytes = static_cast<double>(target_.facts.huge_page_bytes());
    }
    in.zero_pages = zero_pages_;
    in.bandwidth_bytes_per_s = *bw;
    // The pause as the prediction before the migration takes it: the link not given, no slower
    // than the migration thread sends data (a cap is set below the link it leaves room on), nor
    // than the pace QEMU measures; it sets only the pause (QEMU lifts the cap then), the passes
    // keep QEMU's measured pace. And what QEMU and libvirt add beyond the RAM (libvirt's part
    // only when libvirt runs the job: a QMP-driven migration's pause is QEMU's). Their figures
    // are the stack's the profile was measured on; without a profile the newer stack's, as
    // everywhere in the model.
    const std::string qemu_version = options_.profile ? options_.profile->qemu_version : "";
    in.link_bytes_per_s = options_.link_bytes_per_s.value_or(
        std::max(*bw, model::migration_thread(qemu_version).data_bytes_per_s()));
    const auto steps = model::libvirt_steps(qemu_version, ram_bytes_, false);
    in.switchover_qemu_ms = steps.switchover_qemu_ms;
    if (owner_ == JobOwner::Libvirt) in.switchover_libvirt_ms = steps.switchover_libvirt_ms;
    in.downtime_limit_ms = downtime_limit_ms_.value_or(model::kDefaultDowntimeLimitMs);
    in.deadline_ms = options_.deadline_ms;
    return in;
  }

  std::optional<Forecast> forecast_now(const model::PrecopyResume& r, double elapsed_ms,
                                       const Sample& s) {
    auto in = model_input(s);
    const model::DirtyCurve* c = curve(s);
    if (!in || !c) return std::nullopt;
    return forecast(*in, r, *c, elapsed_ms);
  }

  // ---------------------------------------------------------------- each sample

  std::optional<int> step(const Sample& s) {
    if (s.phase == Phase::Completed) {
      seen_.last = s;
      // QMP's client ran it: QEMU's figures, in the sample just kept, are the final ones.
      return owner_ == JobOwner::Libvirt ? completed_by_libvirt()
                                         : finish(completed_summary(seen_, std::nullopt));
    }
    if (s.phase == Phase::Failed || s.phase == Phase::Cancelled) {
      seen_.last = s;
      return finish(ended_summary(seen_, s.phase, ended_detail(s.phase, s.error)));
    }
    if (s.phase == Phase::None || s.owner == JobOwner::None) return job_gone();

    learn_guest(s);
    for (int k : tracker_.add(s, threshold(s), window_bytes(s))) on_iteration(k, s);
    if (!seen_.at_attach && s.iteration && *s.iteration == attached_iteration_) {
      // Attached before any throughput was measured: the prediction "when attached" is the
      // first one possible in the iteration it attached in.
      seen_.at_attach = forecast_from_sample(s);
      if (seen_.at_attach && !forecast_) forecast_ = seen_.at_attach;
    }
    seen_.last = s;
    out_.sample(view(s));
    return std::nullopt;
  }

  void on_iteration(int k, const Sample& s) {
    refresh_downtime_limit();
    const IterationRecord* rec = tracker_.record(k);
    if (!rec) return;
    IterationView v;
    v.record = *rec;
    v.downtime_limit_ms = downtime_limit_ms_;
    seen_.iterations = std::max(seen_.iterations, k);
    const double device = s.remaining_bytes && s.ram_remaining_bytes
                              ? std::max(0.0, *s.remaining_bytes - *s.ram_remaining_bytes)
                              : 0;
    if (k >= 2 && rec->peak_bytes && rec->started_ms && s.phase != Phase::PostcopyActive) {
      model::PrecopyResume r;
      r.pending_bytes = std::max(0.0, *rec->peak_bytes - device);
      r.in_first_pass = false;
      r.since_sync_ms = 0;
      forecast_ = forecast_now(r, *rec->started_ms, s);
      v.forecast = forecast_;
      if (k == 2) seen_.at_second_iteration = forecast_;
      // The second iteration's peak holds what the whole first pass let the guest dirty, a
      // longer stretch than any later iteration: stalls are judged from the third on, between
      // iterations of like length.
      if (k >= kFirstJudgedIteration && detector_.add_peak(k, *rec->started_ms, *rec->peak_bytes)) {
        on_stall(r, s);
      }
    }
    v.curve_origin = curve_origin_;
    out_.iteration(v);
  }

  void on_stall(const model::PrecopyResume& r, const Sample& s) {
    const Stall& stall = *detector_.stall();
    seen_.stall = stall;
    AdviceContext c;
    c.domain = target_.domain;
    c.uri = target_.uri;
    c.libvirt_job = owner_ == JobOwner::Libvirt;
    c.postcopy_allowed = postcopy_allowed_;
    c.vfio_devices = target_.facts.vfio_devices;
    c.max_downtime_ms = options_.max_downtime_ms;
    // The stalled iterations: those after the last low, which did not fall below it.
    for (const auto& [k, rec] : tracker_.iterations()) {
      if (k > stall.since_iteration && rec.peak_bytes) {
        c.stalled_peak_bytes = std::max(c.stalled_peak_bytes.value_or(0), *rec.peak_bytes);
      }
    }
    c.qemu_bandwidth_bytes_per_s = s.qemu_bandwidth_bytes_per_s;
    StallAdvice advice;
    auto in = model_input(s);
    const model::DirtyCurve* cv = curve(s);
    if (in && cv) {
      advice = advise_on_stall(*in, r, *cv, c);
    } else {
      advice.action = Action::Abort;
      advice.command = virsh_command(c, Action::Abort);
      advice.why = "no throughput or dirty figures to model a remedy with";
    }
    out_.stall(stall, advice);
    if (options_.apply && !seen_.applied) apply(advice, s);
  }

  void apply(const StallAdvice& advice, const Sample& s) {
    AppliedAction a;
    a.advice = advice;
    a.at_elapsed_ms = migration_time_ms(s);
    a.iteration = s.iteration.value_or(0);
    const bool libvirt_job = owner_ == JobOwner::Libvirt;
    try {
      switch (advice.action) {
        case Action::RaiseDowntime:
          target_.control->set_max_downtime(*advice.downtime_limit_ms);
          downtime_limit_ms_ = *advice.downtime_limit_ms;
          break;
        case Action::Postcopy:
          target_.control->start_postcopy(libvirt_job);
          break;
        case Action::Abort:
          target_.control->abort(libvirt_job);
          break;
      }
    } catch (const RuntimeError& e) {
      a.ok = false;
      a.error = e.what();
    }
    seen_.applied = a;
    out_.applied(a);
    if (!a.ok) throw RuntimeError("--apply: " + advice.command + " failed: " + a.error);
  }

  SampleView view(const Sample& s) {
    SampleViewInputs in;
    in.measured_throughput_bytes_per_s = tracker_.throughput_bytes_per_s();
    in.last_sync_ms = tracker_.last_sync_ms();
    in.forecast = forecast_ ? &*forecast_ : nullptr;
    in.downtime_limit_ms = downtime_limit_ms_;
    in.link_bytes_per_s = options_.link_bytes_per_s;
    in.stalled = detector_.stall().has_value();
    // A curve is chosen only for a pause the view estimates: choosing one also names it, and the
    // next iteration's line shows that name.
    const double rate = downtime_rate_bytes_per_s(
        options_.link_bytes_per_s, throughput_bytes_per_s(in.measured_throughput_bytes_per_s, s));
    if (estimates_downtime(s, rate)) in.dirty_curve = curve(s);
    return sample_view(s, in);
  }

  // ---------------------------------------------------------------- endings

  // libvirt ran it: its final figures come with the job-completed event (or, for a domain that
  // outlives the migration, as the completed job's statistics) once it has confirmed.
  int completed_by_libvirt() {
    const double until = clock_.now_ms() + kFinalFiguresWaitMs;
    for (;;) {
      if (target_.events) {
        DomainEvents ev = target_.events->events();
        if (ev.completed_job) {
          JobStats j = *ev.completed_job;
          j.type = virt::job::kCompleted;
          return finish(
              completed_summary(seen_, sample_from_finished_job(clock_.now_ms() - t0_, j)));
        }
      }
      if (target_.job) {
        try {
          JobStats j = target_.job->read(true);
          if (j.type == virt::job::kCompleted && j.migrating_out()) {
            return finish(
                completed_summary(seen_, sample_from_finished_job(clock_.now_ms() - t0_, j)));
          }
        } catch (const RuntimeError&) {
          // Gone already (a transient domain): the event is the only source left.
        }
      }
      if (clock_.now_ms() >= until) break;
      clock_.sleep_ms(kEventPollMs * 4);
    }
    // No final figures from libvirt: QEMU's, if it said completed before it went.
    return finish(completed_summary(seen_, std::nullopt));
  }

  // The job is no longer there and QEMU said nothing of its end (--no-qmp, or QEMU's status went).
  int job_gone() {
    if (owner_ == JobOwner::Libvirt && target_.job) {
      JobStats j = target_.job->read(true);
      if (j.type == virt::job::kCompleted) {
        return finish(completed_summary(seen_, sample_from_finished_job(clock_.now_ms() - t0_, j)));
      }
      if (j.type == virt::job::kFailed || j.type == virt::job::kCancelled) {
        auto f = sample_from_finished_job(clock_.now_ms() - t0_, j);
        return finish(ended_summary(seen_, f.phase, ended_detail(f.phase, f.error)));
      }
    }
    if (auto end = wait_for_events()) return *end;
    return finish(ended_summary(seen_, Phase::Failed,
                                "migration ended without completing (cancelled or failed: "
                                "libvirt kept no record of which)"));
  }

  std::optional<int> wait_for_events() {
    if (!target_.events) return std::nullopt;
    const double until = clock_.now_ms() + kVanishedWaitMs;
    while (clock_.now_ms() < until) {
      if (auto end = from_events()) return end;
      clock_.sleep_ms(kEventPollMs);
    }
    return from_events();
  }

  int vanished(const std::string& what) {
    // A transient domain that migrated away is gone from this host: the events say so.
    if (auto end = wait_for_events()) return *end;
    return finish(vanished_summary(seen_, what));
  }

  // The end, whichever it was: the summary goes to the output, its status is the watch's.
  int finish(const WatchSummary& summary) {
    out_.finished(summary);
    return summary.exit_status;
  }

  WatchTarget& target_;
  const WatchOptions& options_;
  probe::Clock& clock_;
  WatchOutput& out_;
  const std::atomic<int>* stop_;
  const double t0_;

  JobOwner owner_ = JobOwner::None;
  IterationTracker tracker_;
  StallDetector detector_{options_.stall_rule};
  std::optional<model::DirtyCurve> profile_curve_, job_curve_;
  std::string curve_origin_;
  DirtyGranularity granularity_;
  double page_size_ = 4096, ram_bytes_ = 0, zero_pages_ = 0;
  std::optional<double> downtime_limit_ms_;
  std::optional<bool> postcopy_allowed_;
  std::optional<Forecast> forecast_;
  int attached_iteration_ = 0;
  std::optional<double> failing_since_;
  Observed seen_;  // what the summary is made of, whatever the ending
};

}  // namespace

int watch_migration(WatchTarget& target, const WatchOptions& options, probe::Clock& clock,
                    WatchOutput& out, const std::atomic<int>* stop) {
  return Watcher(target, options, clock, out, stop).run();
}

}  // namespace vmp::watch
