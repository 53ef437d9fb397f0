#include "probe/live.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "base/error.hpp"
#include "base/format.hpp"
#include "base/stop_signals.hpp"
#include "virt/dirty_rate_calls.hpp"
#include "virt/errors.hpp"
#include "virt/job_keys.hpp"
#include "virt/live_target.hpp"
#include "virt/monitor.hpp"
#include "virt/transcript.hpp"
#include "vmp_config.h"

namespace vmp::probe {
namespace {

constexpr double kPollIntervalMs = 50;
constexpr double kFirstPollWaitMs = 10;
// Beyond the budget: QEMU hashes the sampled pages after each period, and polls lag.
constexpr double kGraceMs = 5000;
// Stretches of RAM whose zero share the profile keeps: a few clusters read in each at the usual
// sample (a few hundred clusters), fine enough to see a zero or non-zero stretch at RAM's end as
// large as the switchover threshold usually is (tens of MiB on a guest of a few GiB).
constexpr std::size_t kZeroLayoutRegions = 32;

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool migration_running(const std::string& status) {
  return status != "none" && status != "completed" && status != "failed" && status != "cancelled" &&
         !status.empty();
}

std::string version_text(const nlohmann::json& v) {
  const auto& q = v.at("qemu");
  return std::to_string(q.value("major", 0)) + "." + std::to_string(q.value("minor", 0)) + "." +
         std::to_string(q.value("micro", 0));
}

// The busiest vCPU's share of the wall time: a workload that dirties from one vCPU of several
// is slowed by the throttle as that vCPU's demand says, not the average.
std::optional<double> busiest_vcpu_fraction(const std::optional<std::vector<std::uint64_t>>& before,
                                            const std::optional<std::vector<std::uint64_t>>& after,
                                            double wall_ms) {
  if (!before || !after || before->size() != after->size() || wall_ms <= 0) return std::nullopt;
  double busiest = 0;
  for (std::size_t i = 0; i < before->size(); ++i) {
    if ((*after)[i] < (*before)[i]) return std::nullopt;
    busiest = std::max(busiest, static_cast<double>((*after)[i] - (*before)[i]) / 1e6 / wall_ms);
  }
  return std::min(busiest, 1.0);
}

std::string seconds_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::max(0.0, ms) / 1000);
  return buf;
}

// The guard of a live measurement: the stop signal, the connection's lifecycle events (a pause
// and resume between two looks at the state included), and the domain's state read at least
// every kStatePollMs (a lost connection, a vanished domain).
class LiveGuard : public MeasurementGuard {
 public:
  LiveGuard(virt::LiveTarget& target, const LiveOptions& options, Clock& clock)
      : target_(target), stop_(options.stop), clock_(clock), started_ms_(clock.now_ms()) {}

  // Where the stops go, for the unit tests' replays (their time is what a replay re-enacts).
  void record_to(virt::Transcript* transcript) { transcript_ = transcript; }

  void check() override {
    try {
      check_or_throw();
    } catch (const RuntimeError& e) {
      if (transcript_) transcript_->record({{"note", "stopped"}, {"key", e.key()}});
      throw;
    }
  }

  void check_or_throw() {
    if (stop_) {
      if (int sig = stop_->load()) {
        throw Interrupted(sig, std::string("interrupted (") + signal_name(sig) +
                                   ") while measuring domain " + target_.name());
      }
    }
    if (auto why = target_.connection_closed()) lost(*why);
    if (auto e = target_.lifecycle_change()) {
      gone_ = e->ends_qemu;
      changed(e->what);
    }
    if (clock_.now_ms() - last_poll_ms_ < kStatePollMs) return;
    last_poll_ms_ = clock_.now_ms();
    const virt::StateReading state = target_.read_state();
    if (state.running) return;
    if (state.error) {
      if (state.connection_lost) lost(*state.connection_lost);
      throw RuntimeError("domain " + target_.name() +
                         ": cannot read its state during the measurement: " + *state.error);
    }
    gone_ = state.ends_qemu;
    changed(state.what);
  }

  void recheck() override {
    last_poll_ms_ = -1e18;
    check();
  }

  bool qemu_reachable() override { return !lost_ && !gone_; }

 private:
  static constexpr double kStatePollMs = 500;

  [[noreturn]] void lost(const std::string& why) {
    lost_ = true;
    throw virt::ConnectionLost("lost the connection to libvirt while measuring domain " +
                               target_.name() + ": " + why);
  }

  [[noreturn]] void changed(const std::string& what) {
    throw RuntimeError("domain " + target_.name() + " " + what + " " +
                           seconds_text(clock_.now_ms() - started_ms_) +
                           " into the measurement: the dirty rate of a guest whose run state "
                           "changed is not its running load, so nothing is predicted; measure "
                           "again while it runs",
                       "domain-not-running");
  }

  virt::LiveTarget& target_;
  const std::atomic<int>* stop_;
  Clock& clock_;
  double started_ms_;
  double last_poll_ms_ = -1e18;
  bool lost_ = false, gone_ = false;
  virt::Transcript* transcript_ = nullptr;
};

}  // namespace

double period_poll_wait_ms(double past_end_ms, std::size_t together) {
  const double first = std::min(
      kPollIntervalMs, kFirstPollWaitMs * static_cast<double>(std::max<std::size_t>(1, together)));
  return std::clamp(past_end_ms / 4, first, kPollIntervalMs);
}

std::uint64_t default_sample_pages_per_gib(std::uint64_t ram_bytes) {
  double gib = std::max(1.0, static_cast<double>(ram_bytes) / (1ull << 30));
  auto per_gib = static_cast<std::uint64_t>(262144 / gib);
  return std::clamp<std::uint64_t>(per_gib, kQemuDefaultSamplePagesPerGiB, kMaxSamplePagesPerGiB);
}

namespace {

// Sleeps `ms`, checking the guard at least every kGuardIntervalMs.
void wait_checked(Clock& clock, double ms, MeasurementGuard* guard) {
  const double until = clock.now_ms() + ms;
  for (;;) {
    if (guard) guard->check();
    const double left = until - clock.now_ms();
    if (left <= 0) return;
    clock.sleep_ms(std::min(left, kGuardIntervalMs));
  }
}

// Who has QEMU measuring, and until when, for the error and the notes.
std::string other_measurement_text(const RunningMeasurement& other, const Safeguards& safe,
                                   Clock& clock) {
  std::optional<LeftRunning> left;
  if (safe.claim) left = safe.claim->left_by_previous_run(clock.epoch_s());
  // The previous run's word counts when QEMU's measurement ends when it said it would.
  const bool previous_run =
      left && other.ends_in_ms &&
      std::abs(clock.epoch_s() + *other.ends_in_ms / 1000 - left->until_epoch_s) < 3;
  return previous_run ? "the measurement an interrupted run of virt-migrate-predict (pid " +
                            std::to_string(left->pid) + ") left running (" + other.what + ")"
                      : "another client's dirty-rate measurement (" + other.what + ")";
}

// The refusal for another client's measurement QEMU was found running.
[[noreturn]] void throw_busy_with(const RunningMeasurement& other, Clock& clock,
                                  const Safeguards& safe) {
  throw RuntimeError(
      "QEMU is busy with " + other_measurement_text(other, safe, clock) +
          (other.ends_in_ms ? ", which ends in about " + seconds_text(*other.ends_in_ms + 500)
                            : std::string(", and does not say when it ends")) +
          "; QEMU measures one at a time: try again " + (other.ends_in_ms ? "then" : "later"),
      "busy");
}

[[noreturn]] void throw_busy(DirtyRateMeter& meter, Clock& clock, const Safeguards& safe) {
  auto other = meter.running(clock.epoch_s(), clock.monotonic_s());
  if (!other) {
    throw RuntimeError(
        "another client started a dirty-rate measurement between the tool's periods (QEMU: "
        "the dirty rate is already being measured); QEMU measures one at a time: try again later",
        "busy");
  }
  throw_busy_with(*other, clock, safe);
}

// Another client's measurement, running when QEMU was asked, refused (throw_busy_with) unless
// it ends within `max_wait_ms`.
void refuse_unless_ends_within(const std::optional<RunningMeasurement>& other, double max_wait_ms,
                               Clock& clock, const Safeguards& safe) {
  // QEMU's start-time is whole seconds, floored: the end may be up to a second later.
  if (other && (!other->ends_in_ms || *other->ends_in_ms + 1000 > max_wait_ms)) {
    throw_busy_with(*other, clock, safe);
  }
}

// Before the first period: another client's measurement that ends within `max_wait_ms` is
// waited for (noted), a longer one refused at once. Returns the time waited.
double wait_for_other_client(DirtyRateMeter& meter, Clock& clock, double max_wait_ms,
                             const ProgressFn& progress, const Safeguards& safe) {
  const auto other = meter.running(clock.epoch_s(), clock.monotonic_s());
  refuse_unless_ends_within(other, max_wait_ms, clock, safe);
  if (!other) return 0;
  const std::string what = other_measurement_text(*other, safe, clock);
  if (progress) progress("waiting for " + what + " to end");
  const double started = clock.now_ms();
  wait_checked(clock, *other->ends_in_ms, safe.guard);
  while (meter.running(clock.epoch_s(), clock.monotonic_s())) {
    if (clock.now_ms() - started > max_wait_ms) throw_busy(meter, clock, safe);
    wait_checked(clock, kPollIntervalMs, safe.guard);
  }
  const double waited = clock.now_ms() - started;
  if (safe.notes) {
    safe.notes->push_back("waited " + seconds_text(waited) + " for " + what +
                          " to end before measuring (QEMU measures one at a time)");
  }
  return waited;
}

bool stops_the_measurement(const RuntimeError& e) {
  return e.key() == "interrupted" || e.key() == "domain-not-running" || e.key() == "connection";
}

// A stop (the guard's) while QEMU measures a period the tool started: the period is waited out
// when it ends within kWaitOutMs and QEMU can still be asked, else left to end on its own (the
// claim tells the next run); the error is rethrown saying which.
[[noreturn]] void settle_and_rethrow(const RuntimeError& stop, DirtyRateMeter& meter, Clock& clock,
                                     double period_ends_at_ms, const Safeguards& safe) {
  std::string what;
  const double left_ms = period_ends_at_ms - clock.now_ms();
  if (stop.key() == "connection" || (safe.guard && !safe.guard->qemu_reachable())) {
    // A guest that stopped took its QEMU with it; a lost connection cannot ask.
    if (stop.key() == "connection" && left_ms > 0) {
      what =
          "; the guest goes on running, and QEMU ends the dirty-rate period the tool had "
          "started (" +
          seconds_text(left_ms) + " more) on its own";
    }
  } else if (left_ms <= kWaitOutMs) {
    const double started = clock.now_ms();
    bool ended = false;
    // No guard here: the stop is already decided, and a second signal exits at once.
    while (clock.now_ms() - started < std::max(left_ms, 0.0) + kGraceMs) {
      try {
        if (meter.poll()) {
          ended = true;
          break;
        }
      } catch (const std::exception&) {
        break;
      }
      clock.sleep_ms(kPollIntervalMs);
    }
    const double waited = clock.now_ms() - started;
    what = ended ? (waited < 50 ? std::string("; QEMU had ended the dirty-rate period the tool "
                                              "started: nothing is left running")
                                : "; waited " + seconds_text(waited) +
                                      " for QEMU to end the dirty-rate period the tool had "
                                      "started: nothing is left running")
                 : "; QEMU did not end the dirty-rate period the tool had started within " +
                       seconds_text(waited) + ": it ends on its own";
  } else {
    if (safe.claim) safe.claim->leave_running(clock.epoch_s() + left_ms / 1000);
    what = "; QEMU goes on measuring the dirty rate for about " + seconds_text(left_ms) +
           " more (a calc-dirty-rate cannot be cancelled; the next run knows it is this one's)";
  }
  const std::string message = stop.what() + what;
  if (const auto* i = dynamic_cast<const Interrupted*>(&stop)) {
    throw Interrupted(i->signal(), message);
  }
  throw RuntimeError(message, stop.key());
}

// The period QEMU started measuring at `started`, once it ended; nullopt when it has not ended
// by `give_up_at`. A stop meanwhile (the guard's) settles the period (settle_and_rethrow).
std::optional<DirtyRateResult> await_period(DirtyRateMeter& meter, Clock& clock, double period_ms,
                                            double started, double give_up_at,
                                            const Safeguards& safe) {
  std::optional<DirtyRateResult> result;
  try {
    // QEMU cannot be done before the period's end.
    const double ends_at = started + period_ms;
    wait_checked(clock, ends_at - clock.now_ms(), safe.guard);
    while (!(result = meter.poll())) {
      if (clock.now_ms() > give_up_at) return std::nullopt;
      wait_checked(clock, period_poll_wait_ms(clock.now_ms() - ends_at, safe.measured_together),
                   safe.guard);
    }
  } catch (const RuntimeError& e) {
    if (!stops_the_measurement(e)) {
      if (safe.guard) safe.guard->recheck();  // a domain gone meanwhile is the better error
      throw;
    }
    settle_and_rethrow(e, meter, clock, started + period_ms, safe);
  }
  return result;
}

std::string late_text(double period_ms, double waited_ms) {
  return "QEMU did not finish measuring the dirty rate over " + vmp::format_period(period_ms) +
         " after " + vmp::format_duration(waited_ms);
}

}  // namespace

std::vector<CurvePoint> measure_curve(DirtyRateMeter& meter, Clock& clock,
                                      const std::vector<double>& periods_ms,
                                      std::uint64_t sample_pages_per_gib, const std::string& mode,
                                      std::uint64_t ram_bytes, double budget_ms,
                                      const ProgressFn& progress, const Safeguards& safe,
                                      double end_by_ms, double aim_by_ms,
                                      double warm_up_took_ms) {
  const double give_up_at = clock.now_ms() + budget_ms + kGraceMs;
  const bool ms = meter.supports_milliseconds();
  std::vector<double> plan = periods_ms;
  const double ram = static_cast<double>(ram_bytes);
  // Only page-sampling samples; the other modes count every dirtied page.
  const auto sampled = mode != "page-sampling"
                           ? 0
                           : static_cast<std::uint64_t>(std::llround(
                                 static_cast<double>(sample_pages_per_gib) * ram / (1ull << 30)));

  std::vector<CurvePoint> points;
  // On a busy host QEMU's periods end late (20 TCG guests on 2 cores: one of 1 s not done after
  // 5 s). With periods measured already, the curve keeps those rather than fail the domain:
  // a period that could not end in time is not started, one overdue is left to QEMU.
  auto keep_measured = [&](const std::string& why) {
    if (safe.notes) {
      safe.notes->push_back(why + ": the dirty curve rests on the " +
                            std::to_string(points.size()) + " of " +
                            std::to_string(periods_ms.size()) +
                            " planned periods measured before it (QEMU's own measurement ran "
                            "late: a busy host)");
    }
    return points;
  };
  auto could_not_end = [&](double period_ms) {
    return keep_measured("the " + vmp::format_period(period_ms) +
                         " period could not end within the measurement's time");
  };
  // The most a measured period took beyond its length: what each of the rest is planned to take.
  double overhead_ms = 0;
  bool refitted = false;
  std::optional<double> aimed_from;  // the longest period before it gave way to aim_by_ms
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (!points.empty() && std::isfinite(end_by_ms)) {
      const std::vector<double> rest(plan.begin() + static_cast<std::ptrdiff_t>(i), plan.end());
      auto fitted = fit_periods_ms(rest, end_by_ms - clock.now_ms(), overhead_ms, ms);
      if (fitted.empty()) return could_not_end(plan[i]);
      refitted = refitted || fitted != rest;
      if (ms && std::isfinite(aim_by_ms) && fitted == rest) {
        // Only the longest gives way, and stays the longest: the reach is what it measures.
        const double before_longest = plan.size() > 1 ? plan[plan.size() - 2] : 0;
        auto aimed = fit_periods_ms(rest, aim_by_ms - clock.now_ms(), overhead_ms, ms);
        if (aimed.size() == rest.size() && aimed != rest && aimed.back() > before_longest) {
          if (!aimed_from) aimed_from = rest.back();
          fitted = std::move(aimed);
        }
      }
      plan.resize(i);
      plan.insert(plan.end(), fitted.begin(), fitted.end());
    }
    if (!points.empty() && clock.now_ms() + plan[i] > give_up_at) return could_not_end(plan[i]);
    DirtyRateRequest request{plan[i], sample_pages_per_gib, mode};
    if (progress) {
      progress("measuring dirty rate, period " + std::to_string(i + 1) + "/" +
               std::to_string(plan.size()) + " (" + vmp::format_period(plan[i]) + ")");
    }
    if (safe.guard) safe.guard->check();
    const double asked = clock.now_ms();
    if (!meter.start(request)) throw_busy(meter, clock, safe);
    const double started = clock.now_ms();
    const auto result = await_period(meter, clock, plan[i], started, give_up_at, safe);
    if (!result) {
      const std::string late = late_text(plan[i], clock.now_ms() - started);
      if (points.empty()) throw RuntimeError(late);
      // Ours, still running: the next run is told whose it is, as after an interruption.
      if (safe.claim) safe.claim->leave_running(clock.epoch_s() + kGraceMs / 1000);
      return keep_measured(late + " (it ends on its own)");
    }
    if (result->not_ours) {
      throw RuntimeError("another client's dirty-rate measurement replaced ours (" +
                             *result->not_ours + "); QEMU measures one at a time: try again later",
                         "busy");
    }
    CurvePoint p;
    p.period_ms = result->period_ms;
    p.dirty_bytes = std::min(ram, result->mib_per_s * 1048576.0 * result->period_ms / 1000);
    p.sampled_pages = sampled;
    p.dirty_sampled_pages = std::min<std::uint64_t>(
        sampled, static_cast<std::uint64_t>(
                     std::llround(p.dirty_bytes / ram * static_cast<double>(sampled))));
    points.push_back(p);
    overhead_ms = std::max(overhead_ms, clock.now_ms() - asked - plan[i]);
  }
  if (aimed_from && !refitted && safe.notes) {
    safe.notes->push_back(
        "QEMU took up to " + vmp::format_duration(std::round(overhead_ms)) +
        " beyond each dirty-rate period (" +
        (sampled > 0 ? "hashing " + std::to_string(sampled) + " sampled pages at each end; "
                     : std::string()) +
        "more on a busy host): to end within the measurement's time the longest period was " +
        vmp::format_period(plan.back()) + " instead of " + vmp::format_period(*aimed_from));
  }
  if (refitted && safe.notes) {
    // A warm-up late by seconds, not the periods, took the time (a fresh 4 GiB guest on QEMU
    // 10.0, idle host, 2026-12-07: a 125 ms first period answered after 6.7 s; QEMU's first reads
    // of the memory the guest never used, which this project's machines back with new pages, each
    // first touched in their outer host); the next run on this QEMU process has none.
    const bool warm_up_late = warm_up_took_ms > 0;
    safe.notes->push_back(
        (warm_up_late
             ? "QEMU's first dirty-rate measurement in this process (its figures unused) took " +
                   vmp::format_duration(warm_up_took_ms)
             : std::string("QEMU took longer than asked for each dirty-rate period (a busy "
                           "host)")) +
        ": to end within the measurement's time the curve measured " + periods_text(plan) +
        " instead of the " + std::to_string(periods_ms.size()) + " planned up to " +
        vmp::format_period(periods_ms.back()) +
        ", which shortens the prediction's reach into the first pass" +
        (warm_up_late ? "; a second run measures without it" : ""));
  }
  return points;
}

WarmUp start_warm_up(DirtyRateMeter& meter, Clock& clock, std::uint64_t sample_pages_per_gib,
                     const std::string& mode, const ProgressFn& progress, const Safeguards& safe) {
  auto status = meter.status(clock.epoch_s(), clock.monotonic_s());
  if (!status.never_measured) return {false, 0, 0, std::move(status.running)};
  if (progress) progress("warming up QEMU's dirty-rate measurement");
  const double period_ms = meter.supports_milliseconds() ? 125.0 : 1000.0;
  if (safe.guard) safe.guard->check();
  if (!meter.start({period_ms, sample_pages_per_gib, mode})) throw_busy(meter, clock, safe);
  return WarmUp{true, period_ms, clock.now_ms()};
}

std::vector<CurvePoint> measure_dirty_curve(DirtyRateMeter& meter, Clock& clock, double budget_ms,
                                            std::uint64_t sample_pages_per_gib,
                                            const std::string& mode, std::uint64_t ram_bytes,
                                            const ProgressFn& progress, const Safeguards& safe,
                                            double end_by_ms, std::optional<WarmUp> warm_up,
                                            double aim_by_ms) {
  const bool ms = meter.supports_milliseconds();
  // A warm-up started before found QEMU measuring for nobody else; where none was needed,
  // another client may have started one since.
  if (!warm_up || !warm_up->started) {
    budget_ms -= wait_for_other_client(meter, clock, budget_ms * kWaitForOthersShare, progress,
                                       safe);
  }
  // QEMU that measured once never returns to never having measured: asked before, not again.
  if (!warm_up) warm_up = start_warm_up(meter, clock, sample_pages_per_gib, mode, progress, safe);
  auto periods = plan_periods_ms(budget_ms, ms);
  double curve_budget_ms = budget_ms;
  double warm_up_took_ms = 0;
  if (warm_up->started) {
    // QEMU's first hashing of the sampled pages is slow (QEMU 10.0: a 125 ms period measured
    // over 1494 ms); its figures go unused, so whatever QEMU reports ends the warm-up. On a busy
    // host it can take seconds (20 TCG guests on 2 cores: QEMU 7.2's 1 s warm-up answered after
    // 6.0 s, QEMU 10.0's 125 ms one after 5 s and more), so it may take the budget and
    // kGraceMs beyond it; the periods then end within what is left of the budget.
    const double waiting_from = clock.now_ms();
    const double ends_at = warm_up->started_ms + warm_up->period_ms;
    if (!await_period(meter, clock, warm_up->period_ms, warm_up->started_ms,
                      waiting_from + std::max(budget_ms, 0.0) + kGraceMs, safe)) {
      // Ours, still running: the next run is told whose it is, and finds QEMU warmed up.
      if (safe.claim) safe.claim->leave_running(clock.epoch_s() + kGraceMs / 1000);
      throw RuntimeError(late_text(warm_up->period_ms, clock.now_ms() - warm_up->started_ms) +
                         ": it was QEMU's first dirty-rate measurement in this process, slow on "
                         "a busy host; it ends on its own, and the next run measures without it");
    }
    periods = plan_periods_ms(budget_ms - std::max(0.0, ends_at - waiting_from), ms);
    curve_budget_ms = std::max(0.0, budget_ms - (clock.now_ms() - waiting_from));
    // Named in the notes only where it overran by seconds.
    if (const double took = clock.now_ms() - warm_up->started_ms;
        took > kMeasureOverrunMs + warm_up->period_ms) {
      warm_up_took_ms = took;
    }
  }
  return measure_curve(meter, clock, periods, sample_pages_per_gib, mode, ram_bytes,
                       curve_budget_ms, progress, safe, end_by_ms, aim_by_ms, warm_up_took_ms);
}

QmpDirtyRateSupport QmpSchemaCache::get(const std::string& binary,
                                        const std::function<QmpDirtyRateSupport()>& read) {
  std::promise<QmpDirtyRateSupport> mine;
  std::shared_future<QmpDirtyRateSupport> answer;
  {
    std::lock_guard lock(mutex_);
    auto it = known_.find(binary);
    if (it == known_.end()) {
      known_.emplace(binary, mine.get_future().share());
    } else {
      answer = it->second;
    }
  }
  if (answer.valid()) {
    try {
      return answer.get();
    } catch (...) {
      return read();  // the first asker's domain failed; this one may not
    }
  }
  try {
    const auto support = read();
    mine.set_value(support);
    return support;
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      known_.erase(binary);
    }
    mine.set_exception(std::current_exception());
    throw;
  }
}

std::unique_ptr<DirtyRateMeter> qmp_dirty_rate_meter(virt::Monitor& monitor, const std::string& who,
                                                     const std::string& qemu_version,
                                                     QmpSchemaCache* cache,
                                                     const std::string& binary) {
  auto read = [&] {
    const auto schema = monitor.execute("query-qmp-schema");
    return QmpDirtyRateSupport{schema_has_command(schema, "calc-dirty-rate"),
                               schema_has_millisecond_dirty_rate(schema)};
  };
  const auto support = cache && !binary.empty() ? cache->get(binary, read) : read();
  if (!support.calc_dirty_rate) {
    throw RuntimeError(who + ": QEMU " + qemu_version +
                           " cannot measure dirty rates (calc-dirty-rate needs QEMU 5.2 or newer)",
                       "qemu-unsupported");
  }
  return std::make_unique<QmpDirtyRateMeter>(monitor, support.milliseconds);
}

void sample_zero_pages(ZeroPageSampler& sampler, Clock& clock, std::uint64_t target_pages,
                       double budget_ms, MeasurementGuard* guard, bool cold_first_read) {
  // No map of the guest's RAM, nothing to read: the time goes to the dirty rate (before, the loop
  // asked libvirt for the domain's state over and over until the budget was spent).
  if (!sampler.has_ram()) return;
  const double started = clock.now_ms();
  const double stop_at = started + budget_ms;
  const double least_by = stop_at + budget_ms;
  const std::uint64_t unit = sampler.unit_pages();
  const std::uint64_t least = std::min(kMinZeroReads, (target_pages + unit - 1) / unit);
  int reads = 0;
  // Only while the reads still needed to reach the least, at the pace so far, end in time
  // (within the budget, or reading on past it): reads that cannot reach it would only delay the
  // dirty rate's measurement. (20 domains on 2 busy cores: one read each, which waited 2-8 s in
  // libvirtd, which serves guest-memory reads one at a time for all domains: there a fast first
  // read, 0.4 s, was followed by one of 7.5 s.)
  auto more = [&] {
    const double now = clock.now_ms();
    if (reads > 0 && sampler.reads() < least) {
      const double pace_ms = (now - started) / reads;
      const auto needed = static_cast<double>(least - sampler.reads());
      const double slack = reads == 1 && cold_first_read ? 2 : 1;
      if (pace_ms * needed > slack * (least_by - now)) return false;
    }
    return now < stop_at || (sampler.reads() < least && reads > 0);
  };
  while (sampler.sampled() < target_pages && more()) {
    if (guard) guard->check();
    sampler.sample_unit();
    ++reads;
    // Holes in the memory map fail; a guest whose memory cannot be read at all fails always.
    if (sampler.failed() > 50 && sampler.failed() > 4 * sampler.reads()) return;
  }
}

namespace {

// Where the guest's RAM is, to sample zero pages from: QEMU's own map through the monitor, else
// the x86 table; empty, with the reason in `why_not`, when it cannot be known.
std::vector<PhysicalRange> guest_ram_map(virt::Monitor* monitor, std::uint64_t ram_bytes,
                                         const virt::DomainFacts& facts, std::string& why_not) {
  if (!monitor) {
    auto ranges = guest_ram_ranges(ram_bytes, facts.machine, facts.arch);
    if (ranges.empty()) {
      why_not = "without QMP (--no-qmp) the tool cannot ask QEMU where RAM sits in this " +
                facts.arch + " guest, and does not guess";
    }
    return ranges;
  }
  std::optional<std::vector<PhysicalRange>> ranges;
  try {
    auto text = monitor->execute("human-monitor-command", {{"command-line", "info mtree -f"}});
    if (text.is_string()) ranges = ram_ranges_from_flat_view(text.get<std::string>());
  } catch (const virt::QmpError&) {
  }
  double mapped = 0;
  if (ranges) {
    for (const auto& r : *ranges) mapped += static_cast<double>(r.length);
  }
  // More than the domain's memory would be a block the tool mistook for RAM.
  if (!ranges || ranges->empty() || mapped > static_cast<double>(ram_bytes) * 1.001) {
    why_not = "QEMU's memory map (info mtree -f) shows no RAM block the tool knows";
    return {};
  }
  return *ranges;
}

// Guest memory read through the target: QEMU's monitor (xp), or libvirt (virDomainMemoryPeek).
class TargetMemory : public GuestMemory {
 public:
  TargetMemory(virt::LiveTarget& target, bool via_monitor)
      : target_(target), via_monitor_(via_monitor) {}
  bool read(std::uint64_t address, std::size_t length, unsigned char* buffer) override {
    return via_monitor_ ? target_.read_memory_via_monitor(address, length, buffer)
                        : target_.read_memory(address, length, buffer);
  }

 private:
  virt::LiveTarget& target_;
  bool via_monitor_;
};

// The --mode asked for, checked against the guest before QEMU ever sees it. Under TCG,
// calc-dirty-rate mode dirty-bitmap segfaults QEMU 7.2, killing the guest, and reads 0 MiB/s on
// QEMU 10.0 whatever the guest writes; dirty-ring needs KVM's dirty ring.
void check_mode(const std::string& mode, const std::string& accelerator,
                const virt::DomainFacts& facts, const std::string& who) {
  if (mode != "page-sampling" && accelerator != "kvm") {
    throw UsageError(who + " runs under TCG, not KVM: --mode " + mode +
                     " needs KVM (under TCG, QEMU 7.2 crashes the guest on it and QEMU 10.0 "
                     "reads 0 MiB/s); use page-sampling");
  }
  if (mode == "dirty-ring" && !facts.kvm_dirty_ring) {
    throw UsageError(who +
                     ": --mode dirty-ring needs the KVM dirty ring, which the domain does "
                     "not enable (<features><kvm><dirty-ring state='on'/>)");
  }
  if (mode == "dirty-bitmap" && facts.kvm_dirty_ring) {
    throw UsageError(who +
                     ": --mode dirty-bitmap does not work with the KVM dirty ring the "
                     "domain enables; use dirty-ring or page-sampling");
  }
}

// Never measure during a migration: it would disturb the migration, and the figures would be
// the migration's as much as the guest's.
void refuse_during_a_job(virt::LiveTarget& target, virt::Monitor* monitor,
                         const std::string& who) {
  if (target.has_job()) {
    throw RuntimeError(who +
                           " has a job running (a migration, save or dump): not measuring "
                           "while it runs",
                       "busy");
  }
  if (monitor) {
    std::string status = monitor->execute("query-migrate").value("status", "none");
    if (migration_running(status)) {
      throw RuntimeError(who + " is migrating (QEMU migration status: " + status +
                             "): not measuring while it runs",
                         "busy");
    }
  }
}

// The zero pages from the pages read, or, when too few could be read, from the QEMU process's
// RSS (a lower bound), with a warning that says why.
ZeroPageEstimate estimate_zero_pages(const ZeroPageSampler& sampler, virt::LiveTarget& target,
                                     const DirtyProfile& p, const std::string& no_ram_map,
                                     std::size_t measured_together,
                                     std::vector<std::string>& warnings) {
  const std::uint64_t ram_pages = p.ram_bytes / p.page_size_bytes;
  if (sampler.reads() >= kMinZeroReads) {
    return {sampler.estimate(ram_pages), "memory-peek", sampler.sampled(),
            sampler.standard_error_pages(ram_pages), sampler.layout(kZeroLayoutRegions)};
  }
  const std::uint64_t rss = target.rss_bytes();
  if (rss == 0) return {};
  // No map, reads that failed, or reads that were too few for the time the measurement gave
  // them (a short --measure-time; or many domains at once: 20 on a busy 2-core host read 4
  // clusters a second in all): each said as it is, with what reads more.
  const bool by_page = sampler.unit_pages() == 1;  // through QEMU's monitor
  const std::string too_few =
      "too little guest memory was read in the time given (" +
      (by_page ? std::to_string(sampler.reads()) + " pages read one at a time, at least " +
                     std::to_string(kMinZeroReads)
               : std::to_string(sampler.sampled()) + " pages, at least " +
                     std::to_string(kMinZeroSample)) +
      " needed" +
      (measured_together > 1
           ? "; " + std::to_string(measured_together) + " domains were measured at once" +
                 (by_page ? " on a busy host"
                          : ", and libvirt serves their memory reads one at a time") +
                 ": measuring fewer at once reads more)"
           : std::string(": a longer --measure-time reads more)"));
  const std::string why = !no_ram_map.empty() ? "guest memory was not read: " + no_ram_map
                          : sampler.failed() > 0
                              ? "guest memory could not be read (" +
                                    std::to_string(sampler.failed()) + " reads failed)"
                              : too_few;
  warnings.push_back(why + ": zero pages estimated from the QEMU process's RSS, a lower bound");
  return {zero_pages_from_rss(p.ram_bytes, rss, p.page_size_bytes), "rss", 0, {}, {}};
}

// What the measurement cannot see or the model does not cover, said in the report.
void add_warnings(LiveResult& out, const std::string& name, bool through_qmp) {
  const auto& facts = out.facts;
  if (through_qmp) {
    out.warnings.push_back("measured through QMP: libvirt now marks " + name +
                           " tainted (custom-monitor); --no-qmp avoids that");
  }
  for (const auto& d : facts.disks) {
    if (!d.shared) {
      out.warnings.push_back("disk " + d.target + " (" + d.source +
                             ") does not look like shared storage: copying it "
                             "(--copy-storage-all) is not modelled");
    }
  }
  if (!facts.vfio_devices.empty()) {
    out.warnings.push_back(
        "the guest has VFIO host devices; their state is not modelled and "
        "they may block migration");
  }
  if (facts.hugepages) {
    out.warnings.push_back(
        "guest memory is backed by " +
        vmp::format_page_size(static_cast<double>(facts.huge_page_bytes())) +
        " huge pages: pre-copy re-sends the 4 KiB pages dirtied in them (x86, measured on QEMU "
        "7.2 and 10.0) but QEMU looks at whether to stop the guest only after 64 huge pages "
        "holding dirty pages or at the end of a pass, and a switch to post-copy sends each "
        "partly dirty huge page whole; both are counted, with the dirty pages taken as spread "
        "over the working set (writes scattered outside it cost more after a switch)" +
        (facts.arch.rfind("ppc64", 0) == 0
             ? ". On POWER a write re-sends the whole huge page: not counted here (see --watch)"
             : ""));
  }
}

}  // namespace

double periods_end_by_ms(double started_ms, double measure_time_ms, double after_periods_ms) {
  // The periods keep at least half the overrun: QEMU's hashing and the polls after the last one
  // take it on an idle host.
  return started_ms + measure_time_ms +
         std::max(kMeasureOverrunMs / 2, kMeasureOverrunMs - std::max(0.0, after_periods_ms));
}

double periods_aim_by_ms(double started_ms, double measure_time_ms, double after_periods_ms) {
  return started_ms + measure_time_ms - std::max(kAfterPeriodsLeastMs, after_periods_ms);
}

LiveResult measure_domain(virt::LiveTarget& live, const LiveOptions& options, Clock& clock) {
  // Whatever QEMU and libvirt take, the periods end by then (a busy host measures fewer).
  const double started_ms = options.started_ms.value_or(clock.now_ms());
  const double end_by_ms =
      periods_end_by_ms(started_ms, options.measure_time_ms, options.after_periods_ms);
  const std::string who = "domain " + live.name();
  if (live.read_only()) {
    throw RuntimeError(who +
                           ": measuring needs a read-write connection (QEMU's dirty-rate "
                           "measurement and guest memory reads are refused read-only)",
                       "read-only");
  }
  // $VMP_RECORD_EXCHANGES: every answer of libvirt and QEMU kept, for the unit tests' replays.
  std::unique_ptr<virt::Transcript> transcript;
  std::optional<virt::RecordingLiveTarget> recording_target;
  if (!options.record_directory.empty()) {
    transcript = std::make_unique<virt::Transcript>(
        options.record_directory + "/" + live.name() + ".jsonl",
        nlohmann::json{{"domain", live.name()},
                       {"tool", std::string("virt-migrate-predict ") + VMP_VERSION},
                       {"hypervisor_version", live.hypervisor_version()},
                       {"libvirt_version", live.libvirt_version()},
                       {"interface", options.use_qmp ? "qmp" : "libvirt"}});
    recording_target.emplace(live, *transcript);
    // What came before the transcript (the run's connection to libvirt, the domain's) counts in
    // the time.
    transcript->record(
        {{"note", "measurement started"}, {"ms_before", clock.now_ms() - started_ms}});
  }
  virt::LiveTarget& target = recording_target ? *recording_target : live;
  LiveGuard guard(target, options, clock);
  guard.record_to(transcript.get());
  guard.check();
  // Before QEMU is asked anything: a second run of the tool on this domain refuses here.
  MeasurementClaim claim(options.claim_directory, target.uuid(), target.name());
  LiveResult out;
  out.facts = virt::parse_domain_xml(target.domain_xml());
  const auto& facts = out.facts;

  virt::Monitor* monitor = options.use_qmp ? &target.monitor() : nullptr;
  virt::DirtyRateCalls& dirty_rate_calls = target.dirty_rate_calls();

  std::string qemu_version;
  std::string qemu_binary;  // its path and its own account of its version
  if (monitor) {
    const auto version = monitor->execute("query-version");
    qemu_version = version_text(version);
    qemu_binary = facts.emulator + " " + version.dump();
    out.accelerator = monitor->execute("query-kvm").value("enabled", false) ? "kvm" : "tcg";
  } else {
    qemu_version = target.hypervisor_version();
    out.accelerator = facts.virt_type == "kvm" ? "kvm" : "tcg";
  }
  check_mode(options.mode, out.accelerator, facts, who);
  refuse_during_a_job(target, monitor, who);

  std::unique_ptr<DirtyRateMeter> meter =
      monitor
          ? qmp_dirty_rate_meter(*monitor, who, qemu_version, options.schema_cache, qemu_binary)
              : std::make_unique<LibvirtDirtyRateMeter>(dirty_rate_calls);

  DirtyProfile& p = out.profile;
  p.taken_at = utc_now();
  p.domain = target.name();
  p.qemu_version = qemu_version;
  p.ram_bytes = facts.memory_bytes;
  // libvirt preallocates huge pages whatever <allocation> says.
  p.memory_preallocated = facts.preallocated || facts.hugepages;
  p.arch = facts.arch;
  p.page_size_bytes = 4096;
  p.host_page_bytes = facts.huge_page_bytes();
  p.measurement.mode = options.mode;
  p.measurement.interface = meter->interface_name();
  p.measurement.sample_pages_per_gib =
      !meter->controls_sample_pages()    ? kQemuDefaultSamplePagesPerGiB
      : options.sample_pages_per_gib > 0 ? options.sample_pages_per_gib
                                         : default_sample_pages_per_gib(p.ram_bytes);

  const Safeguards safe{&guard, &claim, &out.warnings, options.measured_together};
  // QEMU's first dirty-rate measurement in this process, slow and dropped, runs while the
  // settings, the memory map and guest memory are read (each took seconds with 20 domains).
  if (transcript) transcript->record({{"note", "warm-up check"}});
  const auto warm_up = start_warm_up(*meter, clock, p.measurement.sample_pages_per_gib,
                                     options.mode, options.progress, safe);
  const double zero_budget_ms = options.measure_time_ms * kZeroSampleTimeShare;
  // Another client's measurement that cannot end within the wait the first period allows, even
  // once the memory reads have taken their whole time, is refused before guest memory is read
  // for nothing; one that may end in time is waited for after the reads (measure_dirty_curve).
  if (!warm_up.started) {
    refuse_unless_ends_within(warm_up.running,
                              options.measure_time_ms * kWaitForOthersShare + zero_budget_ms,
                              clock, safe);
  }
  // A stop meanwhile settles the warm-up the tool started.
  auto while_warming_up = [&](const auto& step) {
    try {
      step();
    } catch (const RuntimeError& e) {
      if (warm_up.started && stops_the_measurement(e)) {
        settle_and_rethrow(e, *meter, clock, warm_up.started_ms + warm_up.period_ms, safe);
      }
      throw;
    }
  };
  // Only RAM is ever read: a device's memory (the VGA window, say) answers a read by acting.
  std::string no_ram_map;
  std::vector<PhysicalRange> ram_ranges;
  while_warming_up([&] {
    out.config = target.libvirt_migration_settings();
    if (monitor) virt::add_qemu_migration_settings(out.config, *monitor);
    ram_ranges = guest_ram_map(monitor, p.ram_bytes, facts, no_ram_map);
  });
  // Through QMP a page at a time (a fifth of the cost of libvirt's read, and pages spread over
  // RAM estimate better than clusters: zero_pages.hpp); without it, libvirt's 64 KiB.
  const bool via_monitor = monitor != nullptr && options.zero_pages_via_monitor;
  TargetMemory memory(target, via_monitor);
  ZeroPageSampler sampler(memory, ram_ranges, p.page_size_bytes, options.seed,
                          via_monitor ? p.page_size_bytes : ZeroPageSampler::kClusterBytes);
  if (options.progress) options.progress("sampling guest memory for zero pages");
  const double zero_started = clock.now_ms();
  while_warming_up([&] {
    sample_zero_pages(sampler, clock, options.zero_sample_pages, zero_budget_ms, &guard,
                      warm_up.started);
  });
  const double dirty_budget_ms = options.measure_time_ms - (clock.now_ms() - zero_started);

  if (transcript) {
    transcript->record({{"note", "dirty-rate budget"},
                        {"budget_ms", dirty_budget_ms},
                        {"sample_pages_per_gib", p.measurement.sample_pages_per_gib},
                        {"mode", options.mode},
                        {"ram_bytes", p.ram_bytes}});
  }
  const auto vcpu_before = target.vcpu_times_ns();
  const double curve_started_ms = clock.now_ms();
  p.dirty_curve = measure_dirty_curve(*meter, clock, dirty_budget_ms,
                                      p.measurement.sample_pages_per_gib, options.mode, p.ram_bytes,
                                      options.progress, safe, end_by_ms, warm_up,
                                      periods_aim_by_ms(started_ms, options.measure_time_ms,
                                                        options.after_periods_ms));
  guard.check();  // a change at the very end of the last period
  p.vcpu_busy_fraction =
      busiest_vcpu_fraction(vcpu_before, target.vcpu_times_ns(), clock.now_ms() - curve_started_ms);

  p.zero_pages =
      estimate_zero_pages(sampler, target, p, no_ram_map, options.measured_together, out.warnings);
  const std::uint64_t ram_pages = p.ram_bytes / p.page_size_bytes;
  // The pages measured as dirtied hold data: the zero estimate cannot claim them.
  double max_dirty = 0;
  for (const auto& c : p.dirty_curve) max_dirty = std::max(max_dirty, c.dirty_bytes);
  auto dirty_pages = static_cast<std::uint64_t>(std::ceil(max_dirty / p.page_size_bytes));
  p.zero_pages.count = std::min(p.zero_pages.count, ram_pages - std::min(ram_pages, dirty_pages));

  // Last, and best effort: libvirt's record of how the domain came here, if it did by migration.
  try {
    p.libvirt_steps_seen_ms = incoming_libvirt_steps_ms(target.completed_job());
  } catch (const Interrupted&) {
    throw;
  } catch (const RuntimeError&) {
    // a record that cannot be read is no record: the figure measured elsewhere serves
  }

  add_warnings(out, target.name(), monitor != nullptr);
  if (transcript) {
    transcript->record({{"note", "measured"},
                        {"profile", profile_to_json(p)},
                        {"accelerator", out.accelerator},
                        {"warnings", out.warnings}});
  }
  return out;
}

std::optional<double> incoming_libvirt_steps_ms(const virt::JobStats& job) {
  if (job.type != virt::job::kCompleted || !job.migrating_in()) return std::nullopt;
  const auto elapsed = job.number(virt::job::kTimeElapsed);
  const auto processed = job.number(virt::job::kMemoryProcessed);
  const auto bps = job.number(virt::job::kMemoryBps);
  if (!elapsed || !processed || !bps || *bps <= 0) return std::nullopt;
  const double qemu_ms = job.number(virt::job::kSetupTime).value_or(0) + *processed / *bps * 1000;
  const double steps_ms = *elapsed - qemu_ms;
  if (!(steps_ms > 0) || steps_ms > kMaxLibvirtStepsMs) return std::nullopt;
  return steps_ms;
}

}  // namespace vmp::probe
