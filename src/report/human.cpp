#include "report/human.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/format.hpp"
#include "base/virsh.hpp"
#include "report/recommendation.hpp"

namespace vmp::report {

std::string to_string(Source source) {
  switch (source) {
    case Source::CommandLine:
      return "command line";
    case Source::Domain:
      return "domain";
    case Source::Default:
      return "default";
    case Source::None:
      return "none";
  }
  return "none";
}

std::string to_key(Source source) {
  std::string key = to_string(source);
  for (auto& c : key) {
    if (c == ' ') c = '-';
  }
  return key;
}

namespace {

std::string settings_phrase(const Report& r) {
  std::string s;
  if (r.settings.bandwidth_bytes_per_s.value) {
    s += format_rate(*r.settings.bandwidth_bytes_per_s.value) + ", ";
  }
  s += "max downtime " + format_duration(*r.settings.downtime_limit_ms.value);
  return s;
}

std::string padded(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}
std::string right(std::string s, std::size_t width) {
  if (s.size() < width) s.insert(0, width - s.size(), ' ');
  return s;
}

void write_grid(std::ostream& out, const model::Grid& grid, const model::MigrationThread& thread) {
  out << "\nTotal migration time by bandwidth and max downtime (- : does not converge; * : in "
         "effect):\n";
  const std::size_t first = 16, cell = 9;
  out << padded("bandwidth", first);
  for (std::size_t c = 0; c < grid.downtime_limits_ms.size(); ++c) {
    double d = grid.downtime_limits_ms[c];
    std::string head = std::isinf(d) ? "unlimited" : format_duration_compact(d);
    if (grid.downtime_in_effect_column == c) head = "*" + head;
    out << right(head, cell + 1);
  }
  out << "\n";
  for (const auto& row : grid.rows) {
    std::string label = format_link_rate(row.bandwidth_bytes_per_s);
    if (row.in_effect) label = "*" + label;
    out << padded(label, first);
    for (const auto& cell_result : row.cells) {
      out << right(
          cell_result.converges() ? format_duration_compact(cell_result.total_time_ms) : "-",
          cell + 1);
    }
    out << "\n";
  }
  const double ceiling = thread.data_bytes_per_s();
  if (ceiling > 0 && !grid.rows.empty() && grid.rows.back().bandwidth_bytes_per_s > ceiling) {
    out << "Above " << format_link_rate(ceiling)
        << " the migration thread, not the link, sets the pace: its work per page, measured\non "
        << thread.measured_on << " (2 cores); faster cores go further; --parallel is not modelled\n";
  }
}

}  // namespace

namespace {

// "does not converge within 1h (64.0 MiB/s (537 Mbit/s), max downtime 300 ms)"
std::string as_configured_failure(const Report& r) {
  const auto& p = *r.prediction;
  if (r.advice.within_sampling_error) {
    const auto& high = r.interval->high;
    std::string s = "as configured (" + settings_phrase(r) + ") it converges by the measurement (" +
                    format_duration(p.total_time_ms) + ") but not at the unfavourable end of its " +
                    "sampling error";
    if (high.outcome == model::PrecopyOutcome::Deadline) {
      s += " (not within " + format_duration(*r.settings.deadline_ms.value) + ")";
    }
    if (r.profile.measurement.interface == "libvirt") {
      s += "; measuring through QMP (without --no-qmp) samples up to 32 times more pages, which "
           "narrows it";
    }
    return s;
  }
  std::string s = "as configured (" + settings_phrase(r) + ") it does not converge";
  if (p.outcome == model::PrecopyOutcome::Deadline) {
    s += " within " + format_duration(*r.settings.deadline_ms.value);
  } else if (p.outcome == model::PrecopyOutcome::IterationLimit) {
    s += " within " + std::to_string(model::kMaxIterations) +
         " bitmap syncs (a degenerate corner: the dirty set stays under a window's worth but over "
         "the threshold, as for a guest of a few pages)";
  }
  // Near the edge the other way: said, so that "does not converge" is not read as hopeless (a
  // real 1 GiB guest at 24 MiB/s predicted so converged in 34 s, inside this interval).
  if (r.interval && r.interval->low.converges()) {
    s += " by the measurement, though at the favourable end of its sampling error it would (" +
         format_duration(r.interval->low.total_time_ms) + ")";
  }
  return s;
}

std::string pause_phrase(double downtime_ms) {
  return "paused about " + format_duration(downtime_ms);
}

}  // namespace

namespace {

// The report with every string that came from outside (the profile, the domain XML, QEMU)
// made printable: no terminal control, no forged lines.
Report sanitized(const Report& in) {
  Report r = in;
  for (auto* text : {&r.subject, &r.profile.domain, &r.profile.qemu_version, &r.profile.taken_at,
                     &r.profile.measurement.mode, &r.profile.measurement.interface,
                     &r.profile.zero_pages.method, &r.accelerator}) {
    *text = printable(*text);
  }
  for (auto& w : r.warnings) w = printable(w);
  if (r.facts) {
    for (auto* text :
         {&r.facts->name, &r.facts->uuid, &r.facts->virt_type, &r.facts->machine, &r.facts->arch}) {
      *text = printable(*text);
    }
    for (auto& d : r.facts->disks) {
      d.target = printable(d.target);
      d.source = printable(d.source);
    }
    for (auto& v : r.facts->vfio_devices) v = printable(v);
  }
  return r;
}

std::string summary_line_of(const Report& r);
void write_human_of(std::ostream& out, const Report& r);

}  // namespace

std::string summary_line(const Report& r) { return summary_line_of(sanitized(r)); }

void write_human(std::ostream& out, const Report& r) { write_human_of(out, sanitized(r)); }

namespace {

std::string summary_line_of(const Report& r) {
  std::ostringstream s;
  s << r.subject << ": ";
  if (!r.prediction) {
    s << "no migration bandwidth known";
    if (!r.settings.bandwidth_bytes_per_s.note.empty()) {
      s << " (" << r.settings.bandwidth_bytes_per_s.note << ")";
    }
    s << ": give --bandwidth RATE for a verdict; the table below shows common links";
    return s.str();
  }
  const auto& p = *r.prediction;
  const auto rec = recommend(r);
  switch (r.advice.verdict) {
    case model::Verdict::Migrate:
      s << "migrate: " << format_duration(p.total_time_ms) << ", " << pause_phrase(p.downtime_ms)
        << ", " << format_bytes(p.transferred_bytes) << " sent in " << p.iterations
        << (p.iterations == 1 ? " iteration" : " iterations") << " (" << settings_phrase(r) << ")";
      break;
    case model::Verdict::RaiseDowntime:
      s << "raise the max downtime to " << format_duration(rec->downtime_limit_ms) << ": "
        << format_duration(rec->total_time_ms) << ", " << pause_phrase(rec->downtime_ms) << "; "
        << as_configured_failure(r);
      break;
    case model::Verdict::MoreBandwidth:
      s << "give it " << format_rate(rec->bandwidth_bytes_per_s) << ": "
        << format_duration(rec->total_time_ms) << ", " << pause_phrase(rec->downtime_ms) << "; "
        << as_configured_failure(r);
      break;
    case model::Verdict::AutoConverge:
      s << "migrate with auto-converge: " << format_duration(rec->total_time_ms) << ", "
        << pause_phrase(rec->downtime_ms) << ", the guest's vCPUs throttled up to "
        << format_percent(rec->final_throttle_pct / 100) << " for "
        << format_duration(rec->throttled_ms) << "; " << as_configured_failure(r);
      break;
    case model::Verdict::PostCopy:
      s << "migrate with post-copy: " << format_duration(rec->total_time_ms) << ", "
        << pause_phrase(rec->downtime_ms) << ", then "
        << (rec->postcopy_phase_lower_bound ? "at least " : "")
        << format_duration(rec->postcopy_phase_ms) << " of remote page faults; "
        << as_configured_failure(r);
      break;
    case model::Verdict::DoNotMigrate:
    case model::Verdict::NoBandwidth: {
      // Where the verdict was found: the unfavourable end when the sampling error decided it.
      const auto& worst = r.advice.within_sampling_error ? r.interval->high : p;
      s << "do not migrate: " << as_configured_failure(r)
        << ", and nothing allowed converges; every iteration leaves at least "
        << format_bytes(worst.min_pending_bytes) << " dirty where the max downtime allows "
        << format_bytes(worst.threshold_bytes);
      break;
    }
  }
  return s.str();
}

}  // namespace

// What libvirt's job adds before QEMU's migration starts, which every total time includes.
static std::string libvirt_steps_line(const Report& r) {
  const auto& l = r.libvirt_steps;
  std::ostringstream s;
  s << "libvirt:      " << format_duration(l.ms())
    << " before QEMU starts migrating: libvirt starts the destination QEMU";
  if (l.preallocation_ms > 0) {
    s << " (" << format_duration(l.preallocation_ms) << " to preallocate "
      << format_bytes(static_cast<double>(r.profile.ram_bytes)) << ")";
  }
  s << " and sets up both;\n              every time shown includes it (";
  if (l.seen_here && !l.seen_from.empty()) {
    s << "as this host saw it when domain " << vmp::printable(l.seen_from)
      << " migrated here; one host's spread: ";
  } else if (l.seen_here) {
    s << "as this host saw it when the domain migrated here; one host's spread: ";
  } else {
    s << "not timed on this host: between two hosts measured on " << l.measured_on << ", ";
  }
  s << format_duration(l.low_ms()) << " to " << format_duration(l.high_ms()) << ")\n";
  if (r.prediction && r.prediction->converges()) {
    s << "              QEMU's own migration (its total-time): "
      << format_duration(r.prediction->qemu_total_time_ms)
      << "; the iterations count from its start\n";
  }
  s << "              virsh migrate returns " << format_duration(l.after_low_ms) << " to "
    << format_duration(l.after_high_ms)
    << " after the job (the destination resumes the guest, the source QEMU ends)\n";
  return s.str();
}

// The migration thread sends data pages slower than the cap and the link allow.
static bool thread_decides(const Report& r) {
  const auto& st = r.settings;
  const double thread = r.migration_thread.data_bytes_per_s();
  if (thread <= 0 || !st.bandwidth_bytes_per_s.value) return false;
  const double cap = *st.bandwidth_bytes_per_s.value;
  return thread < std::min(cap, st.link_bytes_per_s.value.value_or(cap));
}

std::string interval_line(const model::PredictionInterval& in, const model::PrecopyResult& point,
                          bool mean_reading, bool thread_decides, bool link_unknown) {
  std::ostringstream s;
  const int pct = static_cast<int>(std::lround(100 * std::erf(in.z / std::sqrt(2.0))));
  s << "Interval:     ";
  if (!in.low.converges()) {
    s << "does not converge even at the favourable end";
  } else {
    s << format_duration(in.low.total_time_ms) << " to "
      << (in.high.converges() ? format_duration(in.high.total_time_ms)
                              : std::string("no convergence"))
      << ", paused ";
    // The pause is not monotone in the dirty pages (it is what is left at the switchover, below
    // the threshold either way): the favourable end may pause longer, and both ends may pause
    // longer than the prediction itself (a 1 GiB profile: 252 ms predicted, 274 and 280 ms at
    // the ends). Said as the range of all three, so that it holds the pause the report headlines.
    if (in.high.converges()) {
      double least = std::min(in.low.downtime_ms, in.high.downtime_ms);
      double most = std::max(in.low.downtime_ms, in.high.downtime_ms);
      if (point.converges()) {
        least = std::min(least, point.downtime_ms);
        most = std::max(most, point.downtime_ms);
      }
      s << format_duration(least) << " to " << format_duration(most);
    } else {
      s << format_duration(in.low.downtime_ms) << " to -";
    }
  }
  std::vector<std::string> spans = {"the sampling error of the dirty and zero pages",
                                     "query-dirty-rate's whole MiB/s", "libvirt's steps",
                                     "the pause's cost beyond the RAM"};
  if (thread_decides) spans.emplace_back("the migration thread's work per page");
  if (link_unknown) spans.emplace_back("the link's speed, up to as slow as the bandwidth");
  if (mean_reading) {
    spans.emplace_back("where the load's bursts fell: its mean and the curve as measured");
  }
  s << " (" << pct << "%: ";
  for (std::size_t i = 0; i < spans.size(); ++i) {
    s << (i == 0 ? "" : i + 1 == spans.size() ? ", and " : ", ") << spans[i];
  }
  s << ")\n";
  return s.str();
}

std::vector<std::string> advice_lines(const Report& r) {
  std::vector<std::string> lines;
  const auto& a = r.advice;
  const std::string dom = domain_word(r);
  auto mark = [&](model::Verdict v) { return a.verdict == v ? "* " : "  "; };
  if (a.raise_downtime) {
    const auto& d = *a.raise_downtime;
    std::ostringstream s;
    s << mark(model::Verdict::RaiseDowntime) << "raise the max downtime to "
      << format_duration(d.downtime_limit_ms) << " ("
      << virsh::setmaxdowntime("", dom, d.downtime_limit_ms) << "): converges in "
      << format_duration(d.result.total_time_ms) << ", " << pause_phrase(d.result.downtime_ms)
      << "; beyond " << format_duration(d.no_gain_beyond_ms)
      << " a larger limit shortens it by less than 5%";
    lines.push_back(s.str());
  }
  if (a.more_bandwidth) {
    const auto& b = *a.more_bandwidth;
    std::ostringstream s;
    s << mark(model::Verdict::MoreBandwidth) << "give it at least "
      << format_rate(b.bandwidth_bytes_per_s) << " ("
      << virsh::setspeed("", dom, b.bandwidth_bytes_per_s) << "): converges in "
      << format_duration(b.result.total_time_ms);
    lines.push_back(s.str());
  }
  if (a.auto_converge) {
    const auto& p = a.auto_converge->result;
    std::ostringstream s;
    s << mark(model::Verdict::AutoConverge)
      << "auto-converge (virsh migrate --live --auto-converge " << dom << " ...): converges in "
      << format_duration(p.total_time_ms) << ", " << pause_phrase(p.downtime_ms);
    if (p.final_throttle_pct > 0) {
      s << "; QEMU throttles the vCPUs from " << format_duration(p.throttle_started_ms)
        << " on, up to " << format_percent(p.final_throttle_pct / 100) << ", for "
        << format_duration(p.throttled_ms);
    } else {
      s << "; the throttle never starts";
    }
    if (p.final_throttle_pct >= r.auto_converge_max_pct) {
      s << "; it needs QEMU's largest throttle, after which the time left varies widely (real "
           "runs here: 3 s to over 4 min), so take the time as a lower bound";
    }
    if (r.profile.vcpu_busy_fraction && *r.profile.vcpu_busy_fraction < 0.95) {
      s << "; the busiest vCPU ran " << format_percent(*r.profile.vcpu_busy_fraction)
        << " of the time, so the throttle slows the guest's writes only beyond "
        << format_percent(1 - *r.profile.vcpu_busy_fraction);
    }
    if (!r.limits.allow_auto_converge) s << " [not advised without --allow-auto-converge]";
    lines.push_back(s.str());
  }
  if (a.post_copy) {
    const auto& p = a.post_copy->result;
    std::ostringstream s;
    s << mark(model::Verdict::PostCopy)
      << "post-copy (virsh migrate --live --postcopy --postcopy-after-precopy " << dom << " ...): ";
    if (p.postcopy_started) {
      s << "a pre-copy pass of " << format_duration(p.switchover_ms) << ", paused about "
        << format_duration(p.downtime_ms) << " (device state not counted), then "
        << (p.postcopy_phase_lower_bound ? "at least " : "") << format_duration(p.postcopy_phase_ms)
        << " in which the guest runs on the destination "
        << "with remote page faults for " << format_bytes(p.postcopy_bytes)
        << " it still lacks"
        << (r.profile.host_page_bytes > r.profile.page_size_bytes && p.fault_stall_ms >= 1
                ? " (each fault waits " + format_duration(p.fault_stall_ms) + " for its huge page)"
                : std::string())
        << "; done in " << format_duration(p.total_time_ms)
        << ". If the network fails in "
        << (p.postcopy_phase_lower_bound ? std::string("that time")
                                         : "those " + format_duration(p.postcopy_phase_ms))
        << " the guest is lost unless post-copy recovery (virsh migrate --postcopy-resume) "
           "succeeds";
    } else {
      s << "converges before it would switch, in " << format_duration(p.total_time_ms);
    }
    if (!r.limits.allow_postcopy) s << " [not advised without --allow-postcopy]";
    lines.push_back(s.str());
  } else if (!a.post_copy_refused.empty()) {
    lines.push_back("  post-copy: ruled out: " + a.post_copy_refused);
  }
  if (a.verdict == model::Verdict::DoNotMigrate) {
    std::ostringstream s;
    s << "* do not migrate: no max downtime up to " << format_duration(r.limits.max_downtime_ms)
      << ", no bandwidth up to "
      << (r.limits.max_bandwidth_bytes_per_s ? format_rate(*r.limits.max_bandwidth_bytes_per_s)
                                             : std::string("400 Gbit/s"));
    if (!r.limits.allow_auto_converge || !r.limits.allow_postcopy) s << " and nothing else allowed";
    s << " converges before the deadline";
    if (a.best) {
      s << "; the closest: with " << format_rate(a.best->bandwidth_bytes_per_s) << ", max downtime "
        << format_duration(a.best->downtime_limit_ms)
        << (a.best->auto_converge ? " and auto-converge" : "") << ", every iteration leaves "
        << "at least " << format_bytes(a.best->result.min_pending_bytes) << " dirty where "
        << format_bytes(a.best->result.threshold_bytes) << " would do";
    }
    lines.push_back(s.str());
  }
  return lines;
}

namespace {

void write_human_of(std::ostream& out, const Report& r) {
  out << summary_line_of(r) << "\n";
  const auto options = advice_lines(r);
  if (!options.empty()) {
    // Without a verdict (no bandwidth known) there is no advice: nothing carries the star.
    const bool advised = std::any_of(options.begin(), options.end(),
                                     [](const std::string& l) { return l.rfind("* ", 0) == 0; });
    out << (advised ? "What would converge (* the advice):\n" : "What would converge:\n");
    for (const auto& line : options) out << "  " << line << "\n";
  }
  out << "\n";
  const auto& prof = r.profile;
  const double ram = static_cast<double>(prof.ram_bytes);
  const double zero_fraction =
      static_cast<double>(prof.zero_pages.count) * static_cast<double>(prof.page_size_bytes) / ram;

  out << "Guest:        " << format_bytes(ram) << " RAM, "
      << format_page_size(static_cast<double>(prof.page_size_bytes)) << " pages";
  if (prof.host_page_bytes > prof.page_size_bytes) {
    out << " in " << format_page_size(static_cast<double>(prof.host_page_bytes)) << " huge pages";
  }
  out << ", " << format_percent(zero_fraction) << " zero pages";
  if (prof.zero_pages.method == "none") {
    out << " (not measured: the first pass is assumed to send every page whole)";
  } else {
    out << " (" << prof.zero_pages.method << ", " << prof.zero_pages.sampled_pages
        << " pages sampled)";
  }
  out << "\n";
  if (r.facts) {
    const auto& f = *r.facts;
    out << "Domain:       " << f.name << ", " << f.vcpus << (f.vcpus == 1 ? " vCPU" : " vCPUs")
        << ", " << (r.accelerator.empty() ? f.virt_type : r.accelerator)
        << (f.machine.empty() ? "" : ", " + f.machine);
    if (f.hugepages) {
      out << ", " << vmp::format_page_size(static_cast<double>(f.huge_page_bytes()))
          << " huge pages";
    }
    if (f.preallocated) out << ", preallocated";
    if (!f.vfio_devices.empty()) out << ", " << f.vfio_devices.size() << " VFIO device(s)";
    out << "\n";
  }
  out << "Measurement:  " << prof.measurement.mode << " via " << prof.measurement.interface << ", "
      << prof.measurement.sample_pages_per_gib << " sample pages/GiB, taken " << prof.taken_at;
  if (!prof.qemu_version.empty()) out << ", QEMU " << prof.qemu_version;
  out << "\n";

  out << "Dirty curve:  " << model::to_string(r.curve.kind()) << ": "
      << (r.mean_reading ? "the load's mean over the measurement, as \"model\" below: its rate "
                           "changed while it was measured (see the warning)"
                         : r.curve_choice.reason)
      << "\n";
  if (r.curve.kind() == model::CurveKind::Saturating) {
    out << "              working set " << format_bytes(r.curve.working_set_bytes()) << ", writes "
        << format_bytes(r.curve.write_rate_bytes_per_s()) << "/s\n";
  }
  out << "              " << padded("period", 10) << right("dirtied", 12) << right("model", 12)
      << "\n";
  for (const auto& pt : prof.dirty_curve) {
    out << "              " << padded(format_period(pt.period_ms), 10)
        << right(format_bytes(pt.dirty_bytes), 12)
        << right(format_bytes(r.curve.dirty_bytes(pt.period_ms)), 12) << "\n";
  }

  const auto& st = r.settings;
  out << "Settings:     bandwidth "
      << (st.bandwidth_bytes_per_s.value ? format_rate(*st.bandwidth_bytes_per_s.value)
                                         : std::string("unknown"))
      << " [" << to_string(st.bandwidth_bytes_per_s.source) << "]";
  if (!st.bandwidth_bytes_per_s.note.empty()) out << " " << st.bandwidth_bytes_per_s.note;
  out << "\n";
  out << "              link speed ";
  if (st.link_bytes_per_s.value) {
    out << format_rate(*st.link_bytes_per_s.value) << " [" << to_string(st.link_bytes_per_s.source)
        << "]";
  } else if (!st.bandwidth_bytes_per_s.value) {
    out << "not given";
  } else {
    out << "not given: taken as no slower than the migration thread ("
        << format_rate(r.migration_thread.data_bytes_per_s())
        << "), which sends the paused\n              guest's last pages (QEMU lifts the cap "
           "then); the interval's far end takes it as the bandwidth";
  }
  out << "\n";
  if (thread_decides(r)) {
    out << "              migration thread sends at most "
        << format_rate(r.migration_thread.data_bytes_per_s())
        << " of data pages, less than the "
        << (st.link_bytes_per_s.value ? "cap and link allow" : "cap allows") << ": it decides\n              (measured on " << r.migration_thread.measured_on
        << ", 2 cores; faster cores send more, --parallel is not modelled)\n";
  }
  out << "              max downtime " << format_duration(*st.downtime_limit_ms.value) << " ["
      << to_string(st.downtime_limit_ms.source) << "]\n";
  out << "              deadline " << format_duration(*st.deadline_ms.value) << " ["
      << to_string(st.deadline_ms.source) << "]\n";
  out << libvirt_steps_line(r);

  if (r.prediction) {
    const auto& p = *r.prediction;
    const bool switchover_bandwidth_set =
        r.migration_config &&
        r.migration_config->qemu_parameters.value("avail-switchover-bandwidth", 0.0) > 0;
    // QEMU's threshold is the bandwidth it measures: above the cap from 8.2 on, whose windows
    // carry whole flushes past their share (model::kPagesPerFlush).
    const double downtime_ms = *st.downtime_limit_ms.value;
    const double measured = downtime_ms > 0 ? p.threshold_bytes / downtime_ms * 1000 : 0;
    const auto& cap = st.bandwidth_bytes_per_s.value;
    const bool above_cap = !switchover_bandwidth_set && cap && std::isfinite(measured) &&
                           measured > *cap * 1.001;
    out << "Iterations:   switchover when at most " << format_bytes(p.threshold_bytes)
        << " is dirty ("
        << (switchover_bandwidth_set ? "QEMU's avail-switchover-bandwidth" : "bandwidth")
        << " x max downtime)\n";
    if (above_cap) {
      out << "              the bandwidth as QEMU measures it: " << format_rate(measured)
          << ", its windows passing the cap by whole "
          << static_cast<int>(model::kPagesPerFlush) << "-page flushes (QEMU 8.2+)\n";
    }
    out << "              " << right("#", 5) << right("start", 10) << right("length", 10)
        << right("dirty", 11) << right("sent", 11) << right("redirtied", 11) << "\n";
    // People read the start and the end; --json has every iteration.
    const std::size_t head = 20, tail = 5;
    for (std::size_t i = 0; i < p.trace.size(); ++i) {
      if (p.trace.size() > head + tail && i == head) {
        out << "              " << right("...", 5) << "\n";
        i = p.trace.size() - tail;
      }
      const auto& it = p.trace[i];
      out << "              " << right(std::to_string(it.iteration), 5)
          << right(format_duration(it.start_ms), 10) << right(format_duration(it.duration_ms), 10)
          << right(format_bytes(it.pending_bytes), 11) << right(format_bytes(it.sent_bytes), 11)
          << right(format_bytes(it.dirtied_bytes), 11) << "\n";
    }
    if (p.trace_truncated || p.trace.size() > head + tail) {
      out << "              " << p.iterations << " iterations in all";
      if (p.trace_truncated) out << " (the table stops at " << p.trace.size() << ")";
      out << "\n";
    }
    if (p.converges()) {
      out << "              switchover: " << format_bytes(p.switchover_pending_bytes)
          << " sent while paused";
      const double stop_ms =
          r.libvirt_steps.switchover_qemu_ms + r.libvirt_steps.switchover_libvirt_ms;
      if (stop_ms > 0) {
        out << ", and " << format_duration(stop_ms)
            << " more in the pause: QEMU stops the guest and sends its devices' state, libvirt "
               "resumes it on the destination";
      }
      out << "\n";
    }
    if (r.interval) out << interval_line(*r.interval, p, r.mean_reading, thread_decides(r),
                                                !r.settings.link_bytes_per_s.value);
    out << "Scope:        one migration stream, as virsh migrate without --parallel (multifd), "
           "--compressed or XBZRLE, which are not modelled\n";
  }
  if (r.migration_config) {
    const auto& c = *r.migration_config;
    auto cap = [&](const char* name) {
      auto it = c.qemu_capabilities.find(name);
      return it != c.qemu_capabilities.end() && it->second;
    };
    if (!c.qemu_capabilities.empty()) {
      out << "QEMU:         capabilities on:";
      bool any = false;
      for (const auto& [name, on] : c.qemu_capabilities) {
        if (on) {
          out << " " << name;
          any = true;
        }
      }
      if (!any) out << " none";
      out << "\n";
      if (cap("auto-converge") || cap("xbzrle") || cap("multifd") || cap("compress")) {
        out << "              (the prediction models plain pre-copy; these are not modelled yet)\n";
      }
    }
  }
  if (r.grid) write_grid(out, *r.grid, r.migration_thread);
}

}  // namespace

}  // namespace vmp::report
