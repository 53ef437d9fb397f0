// The pure half of a run: a measured profile and the settings in effect, a report out; and the
// settings a live domain brings (libvirt's caps, QEMU's parameters) applied to them.
#include "predict/predict.hpp"

#include <algorithm>
#include <cmath>

#include "base/format.hpp"
#include "model/grid.hpp"
#include "model/precopy.hpp"
#include "model/thread_cost.hpp"

namespace vmp::predict {

report::Settings with_link_as_bandwidth(report::Settings s) {
  if (!s.bandwidth_bytes_per_s.value && s.link_bytes_per_s.value) {
    s.bandwidth_bytes_per_s = {s.link_bytes_per_s.value, s.link_bytes_per_s.source,
                               "(no cap: the link's speed)"};
    s.bandwidth_is_link = true;
  }
  return s;
}

namespace {

// a is the less favourable outcome: it does not converge where b does, or it takes longer.
bool less_favourable(const model::PrecopyResult& a, const model::PrecopyResult& b) {
  if (a.converges() != b.converges()) return !a.converges();
  return a.converges() && a.total_time_ms > b.total_time_ms;
}

// mean: the prediction reads the load at its mean (model::Reading::mean).
std::string rate_change_warning(const model::RateChange& c, bool mean) {
  using Kind = model::RateChange::Kind;
  const auto& s = c.shorter;
  const auto& l = c.longer;
  if (c.kind == Kind::FellAtEnd) {
    return "the dirty curve contradicts itself: " + vmp::format_period(l.period_ms) +
           " dirtied " + vmp::format_bytes(l.dirty_bytes) + " but " +
           vmp::format_period(s.period_ms) + " dirtied " + vmp::format_bytes(s.dirty_bytes) +
           ", which a steady guest cannot do: its load changed (or it was paused) during the "
           "measurement, and " +
           (mean ? "the prediction takes the load's mean over the measurement, its interval "
                   "spanning that and the curve as measured; "
                 : "the prediction follows a curve that may not be the guest's; ") +
           "measure again";
  }
  auto rate = [](const model::SampledPoint& p) {
    return vmp::format_bytes(p.dirty_bytes / (p.period_ms / 1000)) + "/s";
  };
  return "the guest's dirty rate changed during the measurement: " +
         vmp::format_period(s.period_ms) + " dirtied " + vmp::format_bytes(s.dirty_bytes) +
         " (" + rate(s) + ") but " + vmp::format_period(l.period_ms) + " dirtied " +
         vmp::format_bytes(l.dirty_bytes) + " (" + rate(l) +
         "), which a steady load cannot do (bursts or phases); the prediction takes the load's "
         "mean over the measurement, and its interval spans that and the curve as measured";
}

}  // namespace

// What the measurement leaves unknown: its sampling error, the spread of libvirt's steps and
// of the migration thread's cost per page.
model::SamplingError sampling_error(const probe::DirtyProfile& profile,
                                    const model::LibvirtSteps& steps,
                                    const model::MigrationThread& thread) {
  model::SamplingError e;
  e.start_low_ms = steps.low_ms();
  e.start_high_ms = steps.high_ms();
  e.switchover_low_ms = steps.switchover_low_ms;
  e.switchover_high_ms = steps.switchover_high_ms;
  e.thread_cost_low = thread.least;
  e.thread_cost_high = thread.most;
  e.ram_bytes = static_cast<double>(profile.ram_bytes);
  e.page_size_bytes = static_cast<double>(profile.page_size_bytes);
  e.points = probe::sampled_points(profile);
  const auto& z = profile.zero_pages;
  e.zero_pages = static_cast<double>(z.count);
  if (z.standard_error_pages) {
    e.zero_pages_standard_error = *z.standard_error_pages;
  } else if (z.method == "memory-peek" && z.sampled_pages > 0) {
    // A profile from before the error was recorded: as if each 16-page cluster read were one
    // independent draw, all zero or not, which overstates the error of an evenly spread sample.
    const double pages = e.ram_bytes / e.page_size_bytes;
    const double q = std::clamp(e.zero_pages / pages, 0.0, 1.0);
    const double clusters = std::max(1.0, static_cast<double>(z.sampled_pages) / 16);
    e.zero_pages_standard_error = pages * std::sqrt(q * (1 - q) / clusters);
  }
  return e;
}

report::Report make_report(std::string subject, probe::DirtyProfile profile,
                           const Options& options) {
  const double ceiling = profile.nonzero_ram_bytes();
  // A load whose rate changed while it was measured is read at its mean (model::RateChange);
  // one that stopped at the end is left as measured, with the warning to measure again.
  const auto reading = probe::read_curve(profile);
  std::vector<model::DirtyPoint> points;
  for (const auto& p : reading.points) points.push_back({p.period_ms, p.dirty_bytes});
  report::Report r{.subject = std::move(subject),
                   .profile = std::move(profile),
                   .curve_choice = model::choose_curve(points, ceiling, options.curve_policy),
                   .curve = model::DirtyCurve::piecewise_linear({}, 0),
                   .settings = with_link_as_bandwidth(options.settings),
                   .prediction = std::nullopt,
                   .grid = std::nullopt,
                   .advice = {},
                   .limits = options.limits,
                   .auto_converge_max_pct = options.auto_converge.max_pct,
                   .facts = std::nullopt,
                   .migration_config = std::nullopt,
                   .accelerator = {},
                   .warnings = {}};
  r.curve = model::build_curve(points, ceiling, r.curve_choice);
  r.rate_change = reading.change;
  r.mean_reading = reading.mean;
  if (reading.change) r.warnings.push_back(rate_change_warning(*reading.change, reading.mean));

  const std::optional<model::SeenSteps> lent =
      r.profile.libvirt_steps_seen_ms ? std::nullopt : options.lent_libvirt_steps;
  r.libvirt_steps = model::libvirt_steps(
      r.profile.qemu_version, static_cast<double>(r.profile.ram_bytes),
      r.profile.memory_preallocated, r.profile.arch,
      lent ? std::optional<double>(lent->ms) : r.profile.libvirt_steps_seen_ms,
      lent ? lent->domain : std::string());
  model::PrecopyInput input;
  input.start_ms = r.libvirt_steps.ms();
  input.switchover_qemu_ms = r.libvirt_steps.switchover_qemu_ms;
  input.switchover_libvirt_ms = r.libvirt_steps.switchover_libvirt_ms;
  r.migration_thread = model::migration_thread(r.profile.qemu_version);
  input.thread_cost = r.migration_thread.cost;
  input.rate_limit_counts_flushed = model::qemu_at_least(r.profile.qemu_version, 8, 2);
  input.ram_bytes = static_cast<double>(r.profile.ram_bytes);
  input.page_size_bytes = static_cast<double>(r.profile.page_size_bytes);
  input.host_page_bytes = static_cast<double>(r.profile.host_page_bytes);
  if (options.zero_page_detection) {
    input.zero_pages = static_cast<double>(r.profile.zero_pages.count);
    input.zero_page_layout = r.profile.zero_pages.layout;
  }
  input.switchover_bandwidth_bytes_per_s = options.switchover_bandwidth_bytes_per_s;
  input.downtime_limit_ms = *options.settings.downtime_limit_ms.value;
  input.deadline_ms = *options.settings.deadline_ms.value;
  input.auto_converge = options.auto_converge;
  // Unknown: the workload is taken to need all the CPU it gets, as QEMU's design assumes.
  input.auto_converge.cpu_demand = r.profile.vcpu_busy_fraction.value_or(1);
  input.auto_converge.enabled = false;  // as configured: plain pre-copy; auto-converge is advice
  const auto& bandwidth = r.settings.bandwidth_bytes_per_s.value;
  auto unknowns = sampling_error(r.profile, r.libvirt_steps, r.migration_thread);
  auto as_measured = unknowns;
  unknowns.points = reading.points;
  // The reading whose sampling error gives the unfavourable end.
  const model::SamplingError* unfavourable = &unknowns;
  if (bandwidth) {
    input.bandwidth_bytes_per_s = *bandwidth;
    input.link_bytes_per_s = r.settings.link_bytes_per_s.value.value_or(0);
    // Not given: the paused guest's last pages at the migration thread's pace (QEMU lifts the
    // cap then; a cap sits below the link it shares), the cap's pace the interval's far end.
    input.unknown_link_at_thread_pace = !r.settings.link_bytes_per_s.value;
    if (input.unknown_link_at_thread_pace) {
      r.settings.link_bytes_per_s.note =
          "not given: the paused guest's last pages at the migration thread's pace; the "
          "interval's high end at the bandwidth";
    }
    r.prediction = model::simulate_precopy(input, r.curve);
    r.model_input = input;
    r.interval = model::prediction_interval(input, unknowns, options.curve_policy);
    const model::SamplingError* favourable = &unknowns;
    if (reading.mean) {
      // Where the bursts fell is unknown: the interval spans both readings' sampling error.
      const auto other = model::prediction_interval(input, as_measured, options.curve_policy);
      if (less_favourable(r.interval->low, other.low)) {
        r.interval->low = other.low;
        favourable = &as_measured;
      }
      if (less_favourable(other.high, r.interval->high)) {
        r.interval->high = other.high;
        unfavourable = &as_measured;
      }
    }
    r.low_end = model::interval_end(input, *favourable, options.curve_policy, false);
    r.high_end = model::interval_end(input, *unfavourable, options.curve_policy, true);
  }
  if (r.prediction && r.prediction->converges() && !r.interval->high.converges()) {
    // Converging by the measurement but not at its unfavourable end: the sampling error alone
    // could make "migrate" wrong, so the advice is searched where it does not converge.
    r.advice = model::advise(r.high_end->input, r.high_end->curve, options.limits, false,
                             options.postcopy);
    r.advice.within_sampling_error = true;
  } else {
    r.advice =
        model::advise(input, r.curve, options.limits,
                      r.prediction ? std::optional<bool>(r.prediction->converges()) : std::nullopt,
                      options.postcopy);
  }
  if (options.with_grid || !bandwidth) {
    r.grid = model::build_grid(input, r.curve, bandwidth, input.downtime_limit_ms);
  }
  return r;
}

void apply_domain_settings(report::Settings& s, const virt::MigrationConfig& c) {
  if (!s.bandwidth_bytes_per_s.value) {
    if (c.max_speed_bytes_per_s) {
      s.bandwidth_bytes_per_s = {c.max_speed_bytes_per_s, report::Source::Domain,
                                 "(virsh migrate-getspeed)"};
    } else {
      s.bandwidth_bytes_per_s.note =
          "libvirt puts no cap on this domain's migrations (migrate-getspeed: unlimited), so the "
          "link decides";
    }
  }
  if (s.downtime_limit_ms.source != report::Source::CommandLine && c.max_downtime_ms) {
    s.downtime_limit_ms = {c.max_downtime_ms, report::Source::Domain,
                           "(virsh migrate-getmaxdowntime)"};
  }
}

void apply_guest_constraints(Options& o, const virt::MigrationConfig& c,
                             const virt::DomainFacts& facts) {
  const auto& q = c.qemu_parameters;
  auto number = [&](const char* key, double& into) {
    if (q.contains(key) && q.at(key).is_number()) into = q.at(key).get<double>();
  };
  number("throttle-trigger-threshold", o.auto_converge.trigger_threshold_pct);
  number("cpu-throttle-initial", o.auto_converge.initial_pct);
  number("cpu-throttle-increment", o.auto_converge.increment_pct);
  number("max-cpu-throttle", o.auto_converge.max_pct);
  if (q.contains("cpu-throttle-tailslow") && q.at("cpu-throttle-tailslow").is_boolean()) {
    o.auto_converge.tailslow = q.at("cpu-throttle-tailslow").get<bool>();
  }
  number("avail-switchover-bandwidth", o.switchover_bandwidth_bytes_per_s);
  if (q.contains("zero-page-detection") && q.at("zero-page-detection").is_string()) {
    o.zero_page_detection = q.at("zero-page-detection").get<std::string>() != "none";
  }
  o.postcopy.vfio_devices = facts.vfio_devices.size();
  o.postcopy.bandwidth_bytes_per_s = c.postcopy_speed_bytes_per_s.value_or(0);
}

}  // namespace vmp::predict
